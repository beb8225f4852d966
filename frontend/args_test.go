package frontend

import (
	"errors"
	"net"
	"os"
	"path/filepath"
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
		{in: "id=MISSING,type=env", wantErr: "environment variable MISSING is not set"},
		{in: "id=tok,type=env,env=MISSING", wantErr: "environment variable MISSING is not set"},
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
