package frontend

import (
	"errors"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/affix-oci/affix/internal/epoch"
)

// TestParseSSH checks the ssh forms, the agent taken from $SSH_AUTH_SOCK
// for an ID without a path.
func TestParseSSH(t *testing.T) {
	dir, err := os.MkdirTemp("", "affix-ssh-") // short: a socket path has a length limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, c := range []struct {
		name      string
		authSock  string
		in        []string
		wantPaths [][]string
		wantErr   string
	}{
		{name: "default", authSock: sock, in: []string{"default"}, wantPaths: [][]string{nil}},
		{name: "empty path falls back to SSH_AUTH_SOCK", authSock: sock, in: []string{"default=", "other="}, wantPaths: [][]string{nil, nil}},
		{name: "explicit socket", authSock: "", in: []string{"default=" + sock}, wantPaths: [][]string{{sock}}},

		{name: "empty path without an agent", authSock: "", in: []string{"default="}, wantErr: "SSH_AUTH_SOCK"},
		{name: "empty path among paths", authSock: sock, in: []string{"default=" + sock + ","}, wantErr: "empty path"},
		{name: "same id twice", authSock: sock, in: []string{"default", "default="}, wantErr: `id "default" given twice`},
		{name: "missing socket", authSock: sock, in: []string{"x=" + filepath.Join(dir, "none.sock")}, wantErr: "none.sock"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SSH_AUTH_SOCK", c.authSock)
			got, err := parseSSH(c.in)
			if optErrCase(t, err, c.wantErr) {
				return
			}
			if len(got) != len(c.wantPaths) {
				t.Fatalf("got %+v", got)
			}
			for i, cfg := range got {
				if strings.Join(cfg.Paths, ",") != strings.Join(c.wantPaths[i], ",") || (cfg.Paths == nil) != (c.wantPaths[i] == nil) {
					t.Errorf("%s: paths %q, want %q", cfg.ID, cfg.Paths, c.wantPaths[i])
				}
			}
		})
	}
}

func TestParseLabels(t *testing.T) {
	got, err := parseLabels([]string{"a=1", "flag", "b=", "c=x=y"})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"a": "1", "flag": "", "b": "", "c": "x=y"} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %q (%v), want %q", k, g, ok, v)
		}
	}
	for _, bad := range []string{"=v", " =v", ""} {
		if _, err := parseLabels([]string{bad}); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestParseSecretEnv(t *testing.T) {
	lookup := env(map[string]string{"TOKEN": "t", "OTHER": "o"})
	for _, c := range []struct {
		in, env, file, wantErr string
	}{
		{in: "id=TOKEN,type=env", env: "TOKEN"},
		{in: "id=tok,type=env,src=OTHER", env: "OTHER"},
		{in: "id=tok,env=OTHER", env: "OTHER"},
		{in: "id=TOKEN", env: "TOKEN"},
		// An unset variable is an empty secret, as in BuildKit's store.
		{in: "id=MISSING,type=env", env: "MISSING"},
		{in: "id=tok,type=env,env=MISSING", env: "MISSING"},
		{in: "id=MISSING", wantErr: "MISSING: no such file"},
	} {
		src, err := parseSecret(c.in, lookup)
		if c.wantErr != "" {
			if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: err = %v, want ErrInvalidOption containing %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || src.Env != c.env || src.FilePath != c.file {
			t.Errorf("%s: %+v, %v; want env %q file %q", c.in, src, err, c.env, c.file)
		}
	}
}

// TestSetEpochParsesAsEpoch: an integer SOURCE_DATE_EPOCH is parsed by
// epoch.Parse, as affix sbom, attach, push and the scanner parse it: no
// sign, no spaces, 0 to epoch.Max, an out-of-range integer refused with
// epoch's sentinel. Non-integers go on to the names BuildKit resolves.
func TestSetEpochParsesAsEpoch(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    string // the build argument; "" for an error
		wantErr error  // besides ErrInvalidOption
	}{
		{in: "1700000000", want: "1700000000"},
		{in: "0001700000000", want: "1700000000"},
		{in: "0", want: "0"},
		{in: "253402300799", want: "253402300799"},
		{in: "context", want: "context"},
		{in: "+1700000000"},
		{in: " 1700000000"},
		{in: "1700000000\n"},
		{in: "-1", wantErr: epoch.ErrNegative},
		{in: "-99999999999999999999", wantErr: epoch.ErrNegative},
		{in: "253402300800", wantErr: epoch.ErrTooLate},
		{in: "99999999999999999999", wantErr: epoch.ErrTooLate},
	} {
		t.Run(c.in, func(t *testing.T) {
			p := &plan{attrs: map[string]string{}, exportAttrs: map[string]string{}}
			args := map[string]string{}
			err := p.setEpoch(c.in, args, env(nil))
			if c.want == "" {
				if !errors.Is(err, ErrInvalidOption) || (c.wantErr != nil && !errors.Is(err, c.wantErr)) {
					t.Fatalf("err = %v, want ErrInvalidOption and %v", err, c.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "SourceDateEpoch "+strconv.Quote(c.in)+": ") {
					t.Errorf("err = %v, want it to name the value", err)
				}
				return
			}
			if err != nil || args["SOURCE_DATE_EPOCH"] != c.want {
				t.Fatalf("build arg %q, err %v; want %q", args["SOURCE_DATE_EPOCH"], err, c.want)
			}
			want, err := epoch.Parse(c.in)
			switch {
			case err == nil && (p.epoch == nil || !p.epoch.Equal(want)):
				t.Errorf("epoch %v, want %v", p.epoch, want)
			case err != nil && p.epoch != nil:
				t.Errorf("epoch %v for a name", p.epoch)
			}
		})
	}
}

// TestAddAnnotation: --annotation takes buildx's [TYPES:]KEY=VALUE, TYPES
// a comma-separated list of TYPE[PLATFORM], one exporter attribute per
// type; a prefix that is no type list is refused, as buildx refuses it.
func TestAddAnnotation(t *testing.T) {
	built, err := parsePlatforms([]string{"linux/amd64,linux/arm64"})
	if err != nil {
		t.Fatal(err)
	}
	amd64, arm64 := built[0], built[1]
	for _, c := range []struct {
		in        string
		attrs     map[string]string
		platAttrs []annotation
		err       string
	}{
		{in: "org.example.a=1", attrs: map[string]string{"annotation.org.example.a": "1"}},
		{in: "manifest:k=v=w", attrs: map[string]string{"annotation-manifest.k": "v=w"}},
		{in: "index:k=", attrs: map[string]string{"annotation-index.k": ""}},
		{in: "index,manifest:multi=5", attrs: map[string]string{"annotation-index.multi": "5", "annotation-manifest.multi": "5"}},
		{in: "index,manifest,manifest-descriptor,index-descriptor:k=v", attrs: map[string]string{
			"annotation-index.k": "v", "annotation-manifest.k": "v", "annotation-manifest-descriptor.k": "v", "annotation-index-descriptor.k": "v"}},
		{in: "manifest:org.example:thing=1", attrs: map[string]string{"annotation-manifest.org.example:thing": "1"}},
		{in: "index,manifest[linux/arm64]:k=v", attrs: map[string]string{"annotation-index.k": "v"},
			platAttrs: []annotation{{platform: arm64, key: "annotation-manifest[linux/arm64].k", value: "v"}}},
		{in: "manifest[linux/amd64],manifest-descriptor[linux/amd64]:k=v", platAttrs: []annotation{
			{platform: amd64, key: "annotation-manifest[linux/amd64].k", value: "v"},
			{platform: amd64, key: "annotation-manifest-descriptor[linux/amd64].k", value: "v"}}},

		{in: "manfest:foo=bar", err: `annotation "manfest:foo=bar": unknown type "manfest"`},
		{in: "index,manfest:foo=bar", err: `unknown type "manfest"`},
		{in: "org.example:thing=1", err: `annotation "org.example:thing=1": type "org.example": want TYPE or TYPE[PLATFORM]`},
		{in: ":k=v", err: `type "": want TYPE`},
		{in: "index,:k=v", err: `type "": want TYPE`},
		{in: "Manifest:k=v", err: `type "Manifest"`},
		{in: "index[linux/amd64]:k=v", err: "index annotations take no platform"},
		{in: "manifest[linux/s390x]:k=v", err: "platform linux/s390x is not built"},
		{in: "manifest[bogus]:k=v", err: `platform "bogus"`},
		{in: "manifest:=v", err: "bad key"},
		{in: "a b=c", err: "bad key"},
		{in: "index:k", err: "want [TYPE[PLATFORM]:]KEY=VALUE"},
		{in: "=v", err: "want [TYPE[PLATFORM]:]KEY=VALUE"},
	} {
		p := &plan{exportAttrs: map[string]string{}, platforms: built}
		err := p.addAnnotation(c.in)
		if c.err != "" {
			if !isOptionErr(err) || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), strconv.Quote(c.in)) {
				t.Errorf("%q: error %v, want one quoting the value with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if c.attrs == nil {
			c.attrs = map[string]string{}
		}
		if !maps.Equal(p.exportAttrs, c.attrs) || !reflect.DeepEqual(p.platAnnotations, c.platAttrs) {
			t.Errorf("%q: attrs %v, platform attrs %+v; want %v, %+v", c.in, p.exportAttrs, p.platAnnotations, c.attrs, c.platAttrs)
		}
	}
}

// TestCheckPlatforms: the check a command runs on platforms from
// elsewhere than Options (DOCKER_DEFAULT_PLATFORM) is parsePlatforms'.
func TestCheckPlatforms(t *testing.T) {
	for _, c := range []struct {
		in  []string
		err string
	}{
		{in: nil},
		{in: []string{"linux/amd64,linux/arm64/v8", "local"}},
		{in: []string{"arm64,aarch64"}},
		{in: []string{"bogus"}, err: `platform "bogus": no known OS or architecture: want os[(os.version)]/arch[/variant], or an architecture or OS alone`},
		{in: []string{"linux/amd64,"}, err: `platform ""`},
	} {
		err := CheckPlatforms(c.in)
		if c.err == "" && err != nil || c.err != "" && (!errors.Is(err, ErrInvalidPlatform) || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("CheckPlatforms(%q) = %v, want %q", c.in, err, c.err)
		}
	}
}

// TestSecretEnvUnsetWarns: a --secret whose environment variable is not
// set is not refused (BuildKit's store reads it as empty when the build
// asks, and buildx builds so: an optional secret of a fork's CI job), but
// Plan.Warnings says so before the build; a set one says nothing.
func TestSecretEnvUnsetWarns(t *testing.T) {
	for _, c := range []struct {
		secret string
		want   []string
	}{
		{"id=tok,env=MISSING", []string{`secret "id=tok,env=MISSING": environment variable MISSING is not set: the build sees the secret empty`}},
		{"id=MISSING,type=env", []string{"environment variable MISSING is not set"}},
		{"id=tok,env=TOKEN", nil},
	} {
		t.Run(c.secret, func(t *testing.T) {
			p, err := NewPlan(Options{ContextDir: testContext(t), LookupEnv: env(map[string]string{"TOKEN": "t"}), Secrets: []string{c.secret}})
			if err != nil {
				t.Fatal(err)
			}
			checkWarnings(t, p.Warnings(), c.want)
		})
	}
}
