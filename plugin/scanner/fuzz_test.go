package scanner

//lint:file-ignore SA1019 statements are decoded with in-toto-golang's Statement on purpose: BuildKit decodes scanner output with it.
import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	intoto "github.com/in-toto/in-toto-golang/in_toto"

	"github.com/affix-oci/affix/internal/epoch"
	"github.com/affix-oci/affix/internal/oci"
)

// FuzzConfigFromEnv reads fuzzed BUILDKIT_SCAN_* parameters (two given
// as KEY and VALUE, one as a whole line, which may also be any other
// variable), with a fuzzed path to the source under a real directory. It
// checks that a failure wraps one of the package's sentinels and names
// each variable at fault; that parameters mean what the protocol says
// (NAME trimmed, SOURCE_DATE_EPOCH as epoch.Parse reads it, keys
// case-insensitive); that every statement file lands directly in the
// destination, whatever the source's name; and that the order of the
// environment does not matter.
func FuzzConfigFromEnv(f *testing.F) {
	root := f.TempDir()
	dest := filepath.Join(root, "out")
	extras := filepath.Join(root, "extras")
	for _, d := range []string{filepath.Join(root, "src", "sbom"), dest, filepath.Join(extras, "sbom-build"), filepath.Join(extras, "sbom-context")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(extras, "a-file"), nil, 0o644)
	os.Symlink(root, filepath.Join(extras, "sbom-link"))
	extraNames := []string{"sbom-build", "sbom-context"}

	for _, s := range [][5]string{
		{"src/sbom", "NAME", "app", "SOURCE_DATE_EPOCH", "1700000000"},
		{"src/sbom/", "name", "  app  ", "source_date_epoch", ""},
		{"src/sbom", "SOURCE_DATE_EPOCH", " 1", "TYPE", "sbom"},
		{"src/sbom", "SOURCE_DATE_EPOCH", "253402300800", "DISABLED", "false"},
		{"src/sbom", "SELECT_CATALOGERS", "+sbom-cataloger", "FILE_METADATA", "true"},
		{"src/sbom", "MODE", "max", "", ""},
		{"src/sbom", "NAME=x", "y", "NAME", "z"},
		{"extras/sbom-build", "NAME", "sbom-build", "", ""},
		{"src/sbom/../..", "", "", "", ""},
		{"src/sbom/../../../../../../../..", "SOURCE", "/etc", "DESTINATION", "/"},
		{"src", "SOURCE_EXTRAS", "/", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], "")
	}
	f.Add("src/sbom", "NAME", "a", "NAME", "b", "BUILDKIT_SCAN_name=c")
	f.Add("src/sbom", "", "", "", "", "BUILDKIT_SCAN_SOURCE_DATE_EPOCH=-1")
	f.Add("src/sbom", "", "", "", "", "BUILDKIT_SCAN_")
	f.Add("src/sbom", "", "", "", "", "BUILDKIT_SCAN_DESTINATION=/nonexistent")
	f.Add("src/sbom", "", "", "", "", "PATH=/usr/bin")
	f.Fuzz(func(t *testing.T, srcRel, k1, v1, k2, v2, line string) {
		src := root + "/" + srcRel
		if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
			return // the source must be a directory; that is requiredDir's test
		}
		params := []string{EnvPrefix + k1 + "=" + v1, EnvPrefix + k2 + "=" + v2}
		if k1 == "" && v1 == "" {
			params[0] = ""
		}
		if k2 == "" && v2 == "" {
			params[1] = ""
		}
		// The protocol's variables come last, so the fuzzed ones cannot
		// replace them (the last of a name wins).
		environ := append([]string{line}, params...)
		environ = append(environ, EnvDestination+"="+dest, EnvSource+"="+src, EnvSourceExtras+"="+extras)

		cfg, err := ConfigFromEnv(environ)

		// What the environment holds, as a process sees it.
		env := map[string]string{}
		for _, kv := range environ {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
		srcName := filepath.Base(filepath.Clean(src))
		var wantErrs []error
		var wantBad []string // variables an error must name
		var want Params
		var wantIgnored []string
		seen := map[string]string{}
		for _, k := range slices.Sorted(mapsKeys(env)) {
			if !strings.HasPrefix(k, EnvPrefix) || k == EnvDestination || k == EnvSource || k == EnvSourceExtras {
				continue
			}
			v := env[k]
			key := strings.ToUpper(k[len(EnvPrefix):])
			if other, ok := seen[key]; ok {
				if env[other] != v {
					wantErrs, wantBad = append(wantErrs, ErrInvalidParam), append(wantBad, k)
				}
				continue
			}
			seen[key] = k
			switch key {
			case "NAME":
				want.Name = strings.TrimSpace(v)
			case "SOURCE_DATE_EPOCH":
				tm, perr := epoch.Parse(v)
				if perr != nil {
					wantErrs, wantBad = append(wantErrs, ErrInvalidParam), append(wantBad, k)
					continue
				}
				want.Created = tm
			case "DISABLED":
				b, perr := strconv.ParseBool(strings.TrimSpace(v))
				if perr != nil {
					wantErrs, wantBad = append(wantErrs, ErrInvalidParam), append(wantBad, k)
					continue
				}
				want.Disabled = b
			case "TYPE":
				wantIgnored = append(wantIgnored, k)
			case "SELECT_CATALOGERS", "FILE_METADATA":
				wantErrs, wantBad = append(wantErrs, ErrUnsupportedParam), append(wantBad, k)
			default:
				wantErrs, wantBad = append(wantErrs, ErrUnknownParam), append(wantBad, k)
			}
		}
		if slices.Contains(extraNames, srcName) {
			wantErrs = []error{ErrProtocol}
			wantBad = []string{EnvSourceExtras}
		}

		if len(wantErrs) > 0 {
			if err == nil {
				t.Fatalf("ConfigFromEnv(%q) = %+v; want %v", environ, cfg, wantErrs)
			}
			for _, e := range wantErrs {
				if !errors.Is(err, e) {
					t.Errorf("ConfigFromEnv(%q): %v; want it to wrap %v", environ, err, e)
				}
			}
			for _, k := range wantBad {
				if !strings.Contains(err.Error(), k) {
					t.Errorf("ConfigFromEnv(%q): %v does not name %s", environ, err, k)
				}
			}
			return
		}
		if err != nil {
			t.Fatalf("ConfigFromEnv(%q): %v", environ, err)
		}
		if cfg.Params.Name != want.Name || !cfg.Params.Created.Equal(want.Created) || cfg.Params.Disabled != want.Disabled || !slices.Equal(cfg.Ignored, wantIgnored) {
			t.Errorf("ConfigFromEnv(%q): params %+v, ignored %q; want %+v, %q", environ, cfg.Params, cfg.Ignored, want, wantIgnored)
		}
		if cfg.Destination != dest || len(cfg.Targets) != 1+len(extraNames) || !cfg.Targets[0].Core || cfg.Targets[0].Path != src || cfg.Targets[0].Name != srcName {
			t.Fatalf("ConfigFromEnv(%q): %+v", environ, cfg)
		}
		for i, tg := range cfg.Targets {
			if i > 0 && (tg.Core || tg.Name != extraNames[i-1] || tg.Path != filepath.Join(extras, tg.Name)) {
				t.Errorf("extra target %d: %+v; want %s, not core", i, tg, extraNames[i-1])
			}
			// Run writes DESTINATION/<Name>.spdx.json: one file directly
			// in the destination, whatever the source directory is called.
			if file := filepath.Join(cfg.Destination, tg.Name+Ext); filepath.Dir(file) != filepath.Clean(cfg.Destination) {
				t.Errorf("target %q writes %s, outside %s", tg.Name, file, cfg.Destination)
			}
		}

		// Shuffled, the same environment gives the same Config.
		shuffled := slices.Clone(environ[:len(environ)-3])
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if dup := len(env) != countKeys(environ); !dup {
			again, err := ConfigFromEnv(append(shuffled, environ[len(environ)-3:]...))
			if err != nil || !reflect.DeepEqual(again, cfg) {
				t.Errorf("ConfigFromEnv depends on the order of the environment: %+v, %v; then %+v", again, err, cfg)
			}
		}
	})
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// countKeys counts the KEY=VALUE entries of environ.
func countKeys(environ []string) int {
	n := 0
	for _, kv := range environ {
		if strings.Contains(kv, "=") {
			n++
		}
	}
	return n
}

// FuzzStatement wraps fuzzed documents. A document that is not a JSON
// object is refused; one that is gives a single-line statement whose
// predicate is the document, compacted, and (when the document decodes
// at all) one that BuildKit's unbundling decodes.
func FuzzStatement(f *testing.F) {
	for _, s := range []string{
		`{"spdxVersion":"SPDX-2.3","name":"<a>","packages":[]}`,
		" \n{\"spdxVersion\" : \"SPDX-2.3\" ,\n \"x\": [1, 2.5e3, null, true]}\n\n",
		`{"name":"\u2028\u003c\ud800"}`,
		`{"big":1e999}`,
		"{\"bad\":\"\xff\xfe\"}",
		`[]`, `"x"`, `{`, ``, `{}{}`, `{} x`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		b, err := Statement(doc)
		trimmed := bytes.TrimSpace(doc)
		isObject := json.Valid(trimmed) && len(trimmed) > 0 && trimmed[0] == '{'
		if !isObject {
			if err == nil {
				t.Fatalf("Statement(%q) accepted a document that is not a JSON object", doc)
			}
			return
		}
		if err != nil {
			t.Fatalf("Statement(%q): %v", doc, err)
		}
		if !bytes.HasSuffix(b, []byte("\n")) || bytes.Count(b, []byte("\n")) != 1 {
			t.Errorf("statement %q is not one line", b)
		}
		s, err := oci.ParseStatement(b)
		if err != nil {
			t.Fatalf("statement %s does not parse: %v", b, err)
		}
		var compact bytes.Buffer
		json.Compact(&compact, trimmed)
		if s.Type != StatementType || s.PredicateType != PredicateSPDX || s.Subject == nil || len(s.Subject) != 0 || !bytes.Equal(s.Predicate, compact.Bytes()) {
			t.Errorf("statement %s: want type %s, predicate type %s, an empty subject list and the document compacted", b, StatementType, PredicateSPDX)
		}
		var v any
		if json.Unmarshal(doc, &v) != nil {
			return // 1e999: no float64 holds it, for BuildKit either
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		var stmt intoto.Statement
		if err := dec.Decode(&stmt); err != nil {
			t.Fatalf("BuildKit cannot decode statement %s: %v", b, err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			t.Fatalf("statement %s is not a single JSON object", b)
		}
	})
}
