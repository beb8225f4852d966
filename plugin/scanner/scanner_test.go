package scanner

//lint:file-ignore SA1019 statements are decoded with in-toto-golang's Statement on purpose: BuildKit decodes scanner output with it.
import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	intoto "github.com/in-toto/in-toto-golang/in_toto"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/epoch"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/sbomtest"
	"github.com/affix-oci/affix/sbomgen"
)

// rootfs is the content of the test root filesystem: a Debian dpkg
// database, node and Python packages and a Go binary.
func rootfs(t *testing.T) fixture.Layer {
	t.Helper()
	bin, err := fixture.GoBinary(context.Background(), "amd64", "")
	if err != nil {
		t.Fatal(err)
	}
	return fixture.Layer{
		{Path: "etc/os-release", Data: []byte(fixture.DebianOSRelease)},
		{Path: "var/lib/dpkg/status", Data: []byte("Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\nDescription: libc\n\nPackage: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\nDescription: tz\n\n")},
		{Path: "app/node_modules/left-pad/package.json", Data: []byte(`{"name":"left-pad","version":"1.3.0","license":"MIT"}`)},
		{Path: "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", Data: []byte("Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n")},
		{Path: fixture.GoBinaryPath, Data: bin, Mode: 0o755},
	}
}

// writeDir writes l into dir as a plain directory tree.
func writeDir(t *testing.T, dir string, l fixture.Layer) {
	t.Helper()
	for _, f := range l {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if f.Mode != 0 {
			mode = os.FileMode(f.Mode)
		}
		if err := os.WriteFile(p, f.Data, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// protocolDirs makes the directories BuildKit mounts: source (core/sbom),
// extras (extras/sbom-*) and the destination, and returns the environment.
func protocolDirs(t *testing.T, core fixture.Layer, extras map[string]fixture.Layer) ([]string, string) {
	t.Helper()
	root := t.TempDir()
	src := filepath.Join(root, "src", "core", "sbom")
	out := filepath.Join(root, "out")
	for _, d := range []string{src, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeDir(t, src, core)
	env := []string{EnvSource + "=" + src, EnvDestination + "=" + out, "PATH=/usr/bin"}
	if extras != nil {
		ex := filepath.Join(root, "src", "extras")
		for name, l := range extras {
			d := filepath.Join(ex, name)
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			writeDir(t, d, l)
		}
		env = append(env, EnvSourceExtras+"="+ex+"/")
	}
	return env, out
}

func TestConfigFromEnv(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "sbom")
	dest := filepath.Join(root, "out")
	extras := filepath.Join(root, "extras")
	for _, d := range []string{src, dest, filepath.Join(extras, "sbom-build"), filepath.Join(extras, "sbom-base")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o644)
	os.WriteFile(filepath.Join(extras, "not-a-dir"), nil, 0o644)
	os.Symlink(root, filepath.Join(extras, "sbom-link"))
	base := []string{EnvSource + "=" + src, EnvDestination + "=" + dest}
	clash := filepath.Join(root, "clash")
	os.MkdirAll(filepath.Join(clash, "sbom"), 0o755)

	tests := []struct {
		name       string
		env        []string
		wantErr    error
		wantNames  []string
		wantParams Params
		ignored    []string
		wantText   string // the error must say this
	}{
		{name: "minimal", env: base, wantNames: []string{"sbom"}},
		{name: "extras sorted, files and symlinks skipped", env: append(base, EnvSourceExtras+"="+extras+"/"), wantNames: []string{"sbom", "sbom-base", "sbom-build"}},
		{name: "extras empty", env: append(base, EnvSourceExtras+"="), wantNames: []string{"sbom"}},
		{name: "extra named as the source", env: append(base, EnvSourceExtras+"="+clash), wantErr: ErrProtocol},
		{name: "extras missing", env: append(base, EnvSourceExtras+"="+filepath.Join(root, "nope")), wantNames: []string{"sbom"}},
		{name: "no destination", env: base[:1], wantErr: ErrProtocol},
		{name: "no source", env: base[1:], wantErr: ErrProtocol},
		{name: "source missing", env: []string{EnvSource + "=" + filepath.Join(root, "nope"), base[1]}, wantErr: os.ErrNotExist},
		{name: "destination a file", env: []string{base[0], EnvDestination + "=" + file}, wantErr: ErrProtocol},
		{name: "params", env: append(base, "BUILDKIT_SCAN_NAME=registry.example.com/app:1", "BUILDKIT_SCAN_SOURCE_DATE_EPOCH=1700000000"), wantNames: []string{"sbom"},
			wantParams: Params{Name: "registry.example.com/app:1", Created: time.Unix(1700000000, 0).UTC()}},
		{name: "keys case-insensitive", env: append(base, "BUILDKIT_SCAN_name=x", "BUILDKIT_SCAN_source_date_epoch=0"), wantNames: []string{"sbom"}, wantParams: Params{Name: "x", Created: time.Unix(0, 0).UTC()}},
		{name: "disabled", env: append(base, "BUILDKIT_SCAN_DISABLED=true"), wantNames: []string{"sbom"}, wantParams: Params{Disabled: true}},
		{name: "not disabled", env: append(base, "BUILDKIT_SCAN_disabled=false"), wantNames: []string{"sbom"}},
		{name: "disabled not a boolean", env: append(base, "BUILDKIT_SCAN_DISABLED=maybe"), wantErr: ErrInvalidParam, wantText: `BUILDKIT_SCAN_DISABLED="maybe"`},
		{name: "type ignored", env: append(base, "BUILDKIT_SCAN_type=sbom"), wantNames: []string{"sbom"}, ignored: []string{"BUILDKIT_SCAN_type"}},
		{name: "bad epoch", env: append(base, "BUILDKIT_SCAN_SOURCE_DATE_EPOCH=yesterday"), wantErr: ErrInvalidParam},
		{name: "negative epoch", env: append(base, "BUILDKIT_SCAN_SOURCE_DATE_EPOCH=-1"), wantErr: ErrInvalidParam},
		{name: "last epoch RFC 3339 can write", env: append(base, "BUILDKIT_SCAN_SOURCE_DATE_EPOCH=253402300799"), wantNames: []string{"sbom"},
			wantParams: Params{Created: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}},
		{name: "epoch past year 9999", env: append(base, "BUILDKIT_SCAN_SOURCE_DATE_EPOCH=99999999999999"), wantErr: ErrInvalidParam, wantText: "BUILDKIT_SCAN_SOURCE_DATE_EPOCH"},
		// One rule with affix sbom, attach, push and build (epoch.Parse).
		{name: "epoch past year 9999 is epoch's", env: append(base, "BUILDKIT_SCAN_SOURCE_DATE_EPOCH=99999999999999"), wantErr: epoch.ErrTooLate, wantText: `BUILDKIT_SCAN_SOURCE_DATE_EPOCH="99999999999999": want at most 253402300799`},
		{name: "epoch with spaces", env: append(base, "BUILDKIT_SCAN_SOURCE_DATE_EPOCH= 1700000000\n"), wantErr: epoch.ErrInvalid, wantText: `BUILDKIT_SCAN_SOURCE_DATE_EPOCH=" 1700000000\n"`},
		{name: "epoch with a sign", env: append(base, "BUILDKIT_SCAN_SOURCE_DATE_EPOCH=+1700000000"), wantErr: epoch.ErrInvalid},
		{name: "negative epoch is epoch's", env: append(base, "BUILDKIT_SCAN_SOURCE_DATE_EPOCH=-1"), wantErr: epoch.ErrNegative},
		{name: "syft-scanner parameter", env: append(base, "BUILDKIT_SCAN_SELECT_CATALOGERS=+sbom-cataloger"), wantErr: ErrUnsupportedParam},
		{name: "unknown parameter", env: append(base, "BUILDKIT_SCAN_MODE=fast"), wantErr: ErrUnknownParam},
		{name: "one key in two cases, two values", env: append(base, "BUILDKIT_SCAN_NAME=a", "BUILDKIT_SCAN_name=b"), wantErr: ErrInvalidParam,
			wantText: `BUILDKIT_SCAN_NAME="a" and BUILDKIT_SCAN_name="b": one parameter (keys are case-insensitive) given twice`},
		{name: "other variables ignored", env: append(base, "HOME=/root", "BUILDKIT_HOST=tcp://x"), wantNames: []string{"sbom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ConfigFromEnv(tt.env)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantText) {
					t.Errorf("err = %v, want it to say %q", err, tt.wantText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for i, tg := range cfg.Targets {
				names = append(names, tg.Name)
				if tg.Core != (i == 0) {
					t.Errorf("target %s: core %v", tg.Name, tg.Core)
				}
			}
			if !slices.Equal(names, tt.wantNames) {
				t.Errorf("targets %v, want %v", names, tt.wantNames)
			}
			if cfg.Destination != dest {
				t.Errorf("destination %s", cfg.Destination)
			}
			if cfg.Params != tt.wantParams {
				t.Errorf("params %+v, want %+v", cfg.Params, tt.wantParams)
			}
			if !slices.Equal(cfg.Ignored, tt.ignored) {
				t.Errorf("ignored %v, want %v", cfg.Ignored, tt.ignored)
			}
		})
	}
}

// decodeLikeBuildKit decodes a statement file as BuildKit's
// exporter/attestation unbundle does: one in-toto statement, nothing after.
func decodeLikeBuildKit(t *testing.T, b []byte) intoto.Statement {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var stmt intoto.Statement
	if err := dec.Decode(&stmt); err != nil {
		t.Fatalf("cannot decode in-toto statement: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("in-toto statement is not a single JSON object")
	}
	if stmt.PredicateType != PredicateSPDX {
		t.Fatalf("predicate type %q", stmt.PredicateType)
	}
	if len(stmt.Subject) != 0 {
		t.Errorf("subject %v: BuildKit fills it in", stmt.Subject)
	}
	return stmt
}

// spdxPackages returns the packages of an SPDX document as sorted "type
// name version" lines, without the package the document describes (the
// directory or the image).
func spdxPackages(t *testing.T, doc []byte) []string {
	t.Helper()
	out, err := sbomtest.SPDXPackages(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// imageSBOM scans l as a one-layer linux/amd64 image with sbomgen.
func imageSBOM(t *testing.T, l fixture.Layer) []byte {
	t.Helper()
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, fixture.Spec{Images: []fixture.Image{{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Layers: []fixture.Layer{l}}}})
	if err != nil {
		t.Fatal(err)
	}
	lay, err := oci.OpenLayout(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lay.Close()
	g, err := sbomgen.New(sbomgen.Options{NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := g.Image(context.Background(), lay, res.Manifests[0])
	if err != nil {
		t.Fatal(err)
	}
	return r.Documents[0].Data
}

func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("scans with syft")
	}
	t.Setenv(sbomgen.EnvSourceDateEpoch, "")
	core := rootfs(t)
	// A stage is a root filesystem: what is installed, not what a lock
	// file declares; the context is a source tree: what its go.mod and
	// lock files declare.
	lock := func(name, version string) []byte {
		return []byte(`{"name":"web","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{` +
			`"":{"name":"web","version":"1.0.0","dependencies":{"` + name + `":"` + version + `"}},` +
			`"node_modules/` + name + `":{"version":"` + version + `"}}}`)
	}
	build := fixture.Layer{
		{Path: "app/node_modules/ms/package.json", Data: []byte(`{"name":"ms","version":"2.1.3"}`)},
		{Path: "src/package-lock.json", Data: lock("is-odd", "3.0.1")},
	}
	srcTree := fixture.Layer{
		{Path: "go.mod", Data: []byte("module example.com/app\n\ngo 1.22\n\nrequire github.com/pkg/errors v0.9.1\n")},
		{Path: "web/package-lock.json", Data: lock("is-even", "1.0.0")},
	}
	env, out := protocolDirs(t, core, map[string]fixture.Layer{"sbom-build": build, ContextTarget: srcTree})
	env = append(env, "BUILDKIT_SCAN_SOURCE_DATE_EPOCH=1700000000")
	cfg, err := ConfigFromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	outs, err := Run(context.Background(), cfg, Options{Logf: func(f string, a ...any) { log = append(log, f) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 3 || len(log) != 3 {
		t.Fatalf("outputs %v, log %v", outs, log)
	}
	ents, _ := os.ReadDir(out)
	var files []string
	for _, e := range ents {
		files = append(files, e.Name())
	}
	if want := []string{"sbom-build.spdx.json", "sbom-context.spdx.json", "sbom.spdx.json"}; !slices.Equal(files, want) {
		t.Fatalf("destination holds %v, want %v", files, want)
	}

	b, err := os.ReadFile(filepath.Join(out, "sbom.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	stmt := decodeLikeBuildKit(t, b)
	pred, _ := json.Marshal(stmt.Predicate)
	var doc struct {
		Name         string `json:"name"`
		CreationInfo struct {
			Created  string   `json:"created"`
			Creators []string `json:"creators"`
		} `json:"creationInfo"`
	}
	json.Unmarshal(pred, &doc)
	if doc.Name != "sbom" || doc.CreationInfo.Created != "2023-11-14T22:13:20Z" || len(doc.CreationInfo.Creators) != 1 || !strings.HasPrefix(doc.CreationInfo.Creators[0], "Tool: affix-") {
		t.Errorf("document name %q, creation info %+v", doc.Name, doc.CreationInfo)
	}

	// The same package set as affix's image scan of the same files.
	got, want := spdxPackages(t, pred), spdxPackages(t, imageSBOM(t, core))
	if !slices.Equal(got, want) {
		t.Errorf("directory scan packages:\n%v\nimage scan packages:\n%v", got, want)
	}
	for _, p := range []string{"deb libc6 2.36-9+deb12u4", "npm left-pad 1.3.0", "pypi requests 2.31.0", "golang golang.org/x/sync v0.24.0"} {
		if !slices.Contains(got, p) {
			t.Errorf("package %v missing from %v", p, got)
		}
	}

	// The extra target: its own name, its own packages.
	b, _ = os.ReadFile(filepath.Join(out, "sbom-build.spdx.json"))
	extra := decodeLikeBuildKit(t, b)
	pred, _ = json.Marshal(extra.Predicate)
	json.Unmarshal(pred, &doc)
	if doc.Name != "sbom-build" {
		t.Errorf("extra document name %q", doc.Name)
	}
	if got := spdxPackages(t, pred); !slices.Equal(got, []string{"npm ms 2.1.3"}) {
		t.Errorf("extra packages %v", got)
	}
	b, _ = os.ReadFile(filepath.Join(out, ContextTarget+".spdx.json"))
	ctxStmt := decodeLikeBuildKit(t, b)
	pred, _ = json.Marshal(ctxStmt.Predicate)
	if got, want := spdxPackages(t, pred), []string{"golang github.com/pkg/errors v0.9.1", "npm is-even 1.0.0", "npm web 1.0.0"}; !slices.Equal(got, want) {
		t.Errorf("context packages %v, want %v", got, want)
	}

	// Deterministic: a second run writes the same bytes.
	first, _ := os.ReadFile(filepath.Join(out, "sbom.spdx.json"))
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(out, "sbom.spdx.json"))
	if !bytes.Equal(first, second) {
		t.Error("second run wrote different bytes")
	}
}

// TestRunDisabled: DISABLED=true scans nothing and writes nothing.
func TestRunDisabled(t *testing.T) {
	env, out := protocolDirs(t, rootfs(t), nil)
	cfg, err := ConfigFromEnv(append(env, "BUILDKIT_SCAN_DISABLED=1"))
	if err != nil {
		t.Fatal(err)
	}
	outs, err := Run(context.Background(), cfg, Options{})
	if err != nil || len(outs) != 0 {
		t.Fatalf("Run: %v, %v; want nothing", outs, err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("destination holds %v", ents)
	}
}

// TestRunName checks that NAME names the main target's document and not
// its file: BuildKit finds the final image's statement by the file name
// (sbom.*), and affix convert by BuildKit's order, so a NAME with the
// extra targets' prefix "sbom-" is fine.
func TestRunName(t *testing.T) {
	if testing.Short() {
		t.Skip("scans with syft")
	}
	for _, name := range []string{"registry.example.com/app:1.0", "sbom-app"} {
		t.Run(name, func(t *testing.T) {
			env, out := protocolDirs(t, fixture.Layer{{Path: "etc/os-release", Data: []byte(fixture.AlpineOSRelease)}}, nil)
			cfg, err := ConfigFromEnv(append(env, "BUILDKIT_SCAN_NAME="+name))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Run(context.Background(), cfg, Options{}); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(out, "sbom.spdx.json"))
			if err != nil {
				t.Fatal(err)
			}
			var stmt struct {
				Predicate struct {
					Name string `json:"name"`
				} `json:"predicate"`
			}
			json.Unmarshal(b, &stmt)
			if stmt.Predicate.Name != name {
				t.Errorf("document name %q, want %q", stmt.Predicate.Name, name)
			}
		})
	}
}

func TestStatement(t *testing.T) {
	for _, bad := range []string{"", "[]", "{", `"x"`} {
		if _, err := Statement([]byte(bad)); err == nil {
			t.Errorf("Statement(%q) accepted", bad)
		}
	}
	b, err := Statement([]byte("{\"spdxVersion\":\"SPDX-2.3\",\"name\":\"<a>\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[],"predicate":{"spdxVersion":"SPDX-2.3","name":"<a>"}}` + "\n"
	if string(b) != want {
		t.Errorf("statement\n%s\nwant\n%s", b, want)
	}
}

func TestMainExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"version"}, nil, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "affix-") {
		t.Errorf("version: %d %q", code, out.String())
	}
	out.Reset()
	if code := Main(context.Background(), []string{"scan", "now"}, nil, &out, &errb); code != 2 {
		t.Errorf("arguments: exit %d", code)
	}
	errb.Reset()
	if code := Main(context.Background(), nil, []string{"HOME=/"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), EnvDestination) {
		t.Errorf("no protocol variables: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	env, _ := protocolDirs(t, nil, nil)
	if code := Main(context.Background(), nil, append(env, "BUILDKIT_SCAN_BOGUS=1"), &out, &errb); code != 1 || !strings.Contains(errb.String(), "BUILDKIT_SCAN_BOGUS") {
		t.Errorf("unknown parameter: exit %d, %q", code, errb.String())
	}
}

func TestRunFailsOnUnwritableDestination(t *testing.T) {
	env, out := protocolDirs(t, nil, nil)
	cfg, err := ConfigFromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Destination = filepath.Join(out, "missing")
	if _, err := Run(context.Background(), cfg, Options{}); err == nil {
		t.Fatal("no error writing to a missing directory")
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 0 {
		t.Errorf("left %v behind", ents)
	}
}

func TestRunRefusesTooLargeStatement(t *testing.T) {
	if testing.Short() {
		t.Skip("scans with syft")
	}
	env, out := protocolDirs(t, fixture.Layer{{Path: "etc/os-release", Data: []byte(fixture.AlpineOSRelease)}}, nil)
	cfg, err := ConfigFromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	old := maxStatementSize
	maxStatementSize = 100
	t.Cleanup(func() { maxStatementSize = old })
	if _, err := Run(context.Background(), cfg, Options{}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "target sbom: statement of ") {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("wrote %v", ents)
	}
}
