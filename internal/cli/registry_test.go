package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote/auth"
)

func TestParseRef(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	for _, tt := range []struct {
		in, registry, repository, reference string
		err                                 string
	}{
		{"alpine", "docker.io", "library/alpine", "", ""},
		{"alpine:3", "docker.io", "library/alpine", "3", ""},
		{"team/app:v1", "docker.io", "team/app", "v1", ""},
		{"localhost:5000/app:v1", "localhost:5000", "app", "v1", ""},
		{"127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", "", ""},
		{"ghcr.io/o/r@" + d, "ghcr.io", "o/r", d, ""},
		{"ghcr.io/o/r:v1@" + d, "ghcr.io", "o/r", d, ""},
		{"not a ref", "", "", "", `reference "not a ref": want [HOST/]REPOSITORY`},
		{"ghcr.io/Upper/r:v1", "", "", "", "want [HOST/]REPOSITORY"},
		{"oci-layout:./out", "", "", "", "not a local layout"},
		{"oci-archive:x.tar", "", "", "", "not a local layout"},
		// A host and port alone is not Docker Hub's library/HOST:PORT.
		{"localhost:5000", "", "", "", `reference "localhost:5000" names no repository: want HOST:PORT/REPOSITORY`},
		{"127.0.0.1:5000", "", "", "", "names no repository"},
		{"registry.example.com:443", "", "", "", "names no repository"},
		{"my.app:v1", "docker.io", "library/my.app", "v1", ""},
		{"app:5000", "docker.io", "library/app", "5000", ""},
	} {
		t.Run(tt.in, func(t *testing.T) {
			ref, err := parseRef(tt.in)
			if tt.err != "" {
				var ee *exitError
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &ee) || ee.code != 2 {
					t.Fatalf("parseRef = %+v, %v; want a usage error with %q", ref, err, tt.err)
				}
				return
			}
			if err != nil || ref.Registry != tt.registry || ref.Repository != tt.repository || ref.Reference != tt.reference {
				t.Errorf("parseRef = %+v, %v; want %s/%s ref %q", ref, err, tt.registry, tt.repository, tt.reference)
			}
		})
	}
}

// TestNameFlagChecked: every command that writes --name into documents
// refuses one no registry could hold, before reading anything.
func TestNameFlagChecked(t *testing.T) {
	for _, args := range [][]string{
		{"push", "--name", "BAD NAME", "oci-layout:/nonexistent", "localhost:1/app:v1"},
		{"attach", "--name", "BAD NAME", "localhost:1/app:v1"},
		{"sbom", "--name", "BAD NAME", "oci-layout:/nonexistent"},
		{"convert", "--name", "BAD NAME", "localhost:1/app:v1"},
	} {
		out, errs, code := affix(t, args...)
		if code != 2 || out != "" || !strings.Contains(errs, `--name "BAD NAME": want [HOST/]REPOSITORY`) {
			t.Errorf("affix %s: exit %d, stdout %q, stderr %q; want exit 2 naming --name", args[0], code, out, errs)
		}
	}
}

// basicAuthRegistry starts a registry that asks every request for basic
// auth and refuses it, and returns its host.
func basicAuthRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestCredentialErrorsNamed: credentials that cannot be read (an auth
// field that does not decode, a credential helper that fails, is not
// installed or hangs) fail naming the host, the config file and the
// helper, and never quote the auth field (oras-go's error does, decoded,
// password and all, when it has no colon).
func TestCredentialErrorsNamed(t *testing.T) {
	cliEnv(t)
	host, bin := basicAuthRegistry(t), t.TempDir()
	for name, script := range map[string]string{
		"affixfails": "#!/bin/sh\necho 'helper store locked' >&2\nexit 1\n",
		// Not exec: the shell's child keeps the helper's stdout open
		// after the shell is killed (3 s, far past the bound).
		"affixhangs": "#!/bin/sh\nsleep 3\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, "docker-credential-"+name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	long := helperTimeout
	defer func() { helperTimeout = long }()
	// Only the helper that hangs runs under the short bound: a helper
	// that answers (a shell started, run and ended) may take longer
	// than 100ms on a loaded machine, and would be reported as hanging.
	const short = 100 * time.Millisecond
	config := filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json")
	const secret = "aliceS3cretAlicePW"
	for _, tt := range []struct {
		name, config string
		want         []string
		hangs        bool // helperTimeout is short
	}{
		{"auth that does not decode", `{"auths":{"` + host + `":{"auth":"!!!"}}}`,
			[]string{"reading the credentials for " + host + ": the auth field for " + host + " in " + config + " is not base64(username:password)"}, false},
		{"auth without a colon", `{"auths":{"` + host + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte(secret)) + `"}}}`,
			[]string{"the auth field for " + host + " in " + config + " is not base64(username:password)"}, false},
		{"auths entry not an object", `{"auths":{"` + host + `":"x"}}`,
			[]string{"the auths entry for " + host + " in " + config + " is not what docker login writes"}, false},
		{"helper that fails", `{"credHelpers":{"` + host + `":"affixfails"}}`,
			[]string{"reading the credentials for " + host + ": the credential helper docker-credential-affixfails (of " + config + ") failed", "exit status 1"}, false},
		{"helper that hangs", `{"credsStore":"affixhangs"}`,
			[]string{"the credential helper docker-credential-affixhangs (of " + config + ") did not answer within 100ms"}, true},
		{"helper not installed", `{"credsStore":"affixmissing"}`,
			[]string{"reading the credentials for " + host + ": " + config + " names the credential helper docker-credential-affixmissing, which is not installed: install it, or remove credsStore/credHelpers naming it"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(config, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			helperTimeout = long
			if tt.hangs {
				helperTimeout = short
			}
			_, errs, code := affix(t, "ls", "--insecure-registry", host, host+"/app:v1")
			if code != 1 {
				t.Errorf("exit %d, want 1:\n%s", code, errs)
			}
			for _, want := range tt.want {
				if !strings.Contains(errs, want) {
					t.Errorf("want %q in:\n%s", want, errs)
				}
			}
			if strings.Contains(errs, secret) {
				t.Errorf("the auth field is quoted:\n%s", errs)
			}
		})
	}
}

// TestDetectedHelperFails: with a config that names no credentials, the
// platform's helper found on PATH is asked, as the docker CLI asks it;
// when it fails (pass with no gpg key), that is noted, naming it, and the
// command goes on without credentials rather than failing reads that need
// none.
func TestDetectedHelperFails(t *testing.T) {
	cliEnv(t)
	host, bin := basicAuthRegistry(t), t.TempDir()
	for name, script := range map[string]string{
		"pass":                   "#!/bin/sh\nexit 1\n",
		"docker-credential-pass": "#!/bin/sh\necho 'pass not initialized'\nexit 1\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	config := filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json")
	_, errs, code := affix(t, "ls", "--insecure-registry", host, host+"/app:v1")
	for _, want := range []string{
		"the credential helper docker-credential-pass (of " + config + ") failed: pass not initialized",
		"going on without credentials",
		"no credentials for " + host + " in " + config,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("want %q in:\n%s", want, errs)
		}
	}
	if code != 1 || strings.Count(errs, "pass not initialized") != 1 {
		t.Errorf("exit %d, want 1 and the helper noted once:\n%s", code, errs)
	}
}

// TestCredentialsHostCase: credentials saved for a host in lower case
// are found for the host spelt with capitals; an exact match comes first.
func TestCredentialsHostCase(t *testing.T) {
	saved := map[string]auth.Credential{
		"localhost:5610":   {Username: "lower", Password: "pw"},
		"Mixed.Example":    {Username: "mixed", Password: "pw"},
		"mixed.example":    {Username: "other", Password: "pw"},
		"UPPER.EXAMPLE:80": {Username: "upper", Password: "pw"},
	}
	cred := credentialsFrom(func(_ context.Context, host string) (auth.Credential, error) {
		return saved[host], nil
	}, "config.json", nil)
	for _, tt := range []struct{ host, user string }{
		{"localhost:5610", "lower"},
		{"LOCALHOST:5610", "lower"},
		{"Mixed.Example", "mixed"},
		{"MIXED.example", "other"},
		{"UPPER.EXAMPLE:80", "upper"},
		{"upper.example:80", ""},
	} {
		c, err := cred(context.Background(), tt.host)
		if err != nil || c.Username != tt.user {
			t.Errorf("%s: %+v, %v; want user %q", tt.host, c, err, tt.user)
		}
	}
}

// TestInsecureRegistryChecked: --insecure-registry takes HOST[:PORT]; a
// URL or a repository, which would match no host, is a usage error.
func TestInsecureRegistryChecked(t *testing.T) {
	cliEnv(t)
	for _, v := range []string{"http://localhost:5077", "localhost:5077/app", ""} {
		out, errs, code := affix(t, "ls", "--insecure-registry", v, "localhost:5077/app:v1")
		if code != 2 || out != "" || !strings.Contains(errs, "the flag takes a registry HOST[:PORT]") {
			t.Errorf("--insecure-registry %q: exit %d, stdout %q, stderr %q; want exit 2 naming HOST[:PORT]", v, code, out, errs)
		}
	}
}

// TestHelpShowsNoEmptyDefault: no flag of any command shows an empty
// list or an empty string as its default in --help ("(default [])",
// `(default "")`): pflag leaves out a default that is its type's zero
// value, which a flag.Value of affix's own must give as "" too.
func TestHelpShowsNoEmptyDefault(t *testing.T) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, s := range []string{"(default [])", `(default "")`, "(default <nil>)"} {
			if u := c.LocalFlags().FlagUsages(); strings.Contains(u, s) {
				t.Errorf("%s --help shows %s:\n%s", c.CommandPath(), s, u)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCommand("affix"))
	var h hostList
	for _, tt := range []struct {
		add  []string
		want string
	}{{nil, ""}, {[]string{"localhost:5000"}, "[localhost:5000]"}, {[]string{"reg.example"}, "[localhost:5000,reg.example]"}} {
		for _, s := range tt.add {
			if err := h.Set(s); err != nil {
				t.Fatal(err)
			}
		}
		if got := h.String(); got != tt.want {
			t.Errorf("--insecure-registry %v: String() = %q, want %q", []string(h), got, tt.want)
		}
	}
}

// TestHostListSet: --insecure-registry takes a registry HOST[:PORT] and
// refuses, when parsed, what no reference's host could match.
func TestHostListSet(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want string // "" for accepted
	}{
		{"localhost:5000", ""},
		{"reg.example.com", ""},
		{"REG.example.com:443", ""},
		{"[::1]:5000", ""},
		{"10.0.0.2:5000", ""},
		{"", "not a URL or a repository"},
		{"https://reg.example.com", "not a URL or a repository"},
		{"reg.example.com/app", "not a URL or a repository"},
		{"host:port", "not a registry HOST[:PORT]"},
		{"a b", "not a registry HOST[:PORT]"},
		{"host:99999", `port "99999": want a number from 1 to 65535`},
		{"host:0", `port "0": want a number from 1 to 65535`},
	} {
		var h hostList
		err := h.Set(tt.s)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.s, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: %v, want %q", tt.s, err, tt.want)
		}
	}
}

// TestCheckOutputFile: an output file's directory that is missing or
// takes no files is named as the user wrote it, without the name of the
// probe file.
func TestCheckOutputFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{"/nonexist/m.json", "--metadata-file: the directory /nonexist does not exist"},
		{filepath.Join(file, "m.json"), "--metadata-file: " + file + " is not a directory"},
		{dir, "--metadata-file: is a directory"},
		{filepath.Join(dir, "m.json"), ""},
		{os.DevNull, ""}, // a device is written through, whatever /dev takes
		// procfs answers ENOENT for a file created in a directory that
		// exists: not "does not exist".
		{"/proc/m.json", "--metadata-file: cannot create a file in the directory /proc"},
	} {
		err := checkOutputFile("--metadata-file", tt.path)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.path, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), ".affix-output")):
			t.Errorf("%s: %v, want %q and no probe file", tt.path, err, tt.want)
		}
	}
}

// TestRegistryHostCase: a registry host is case-insensitive, its
// repository path is not: --insecure-registry covers the host however
// REF spells it, and refName (the SBOM name's source) lower-cases the
// host alone.
func TestRegistryHostCase(t *testing.T) {
	o := registryOptions{insecure: []string{"localhost:15028", "Registry.Example.com"}}
	for _, tt := range []struct {
		ref, name string
		plain     bool
	}{
		{"localhost:15028/upper:1", "localhost:15028/upper:1", true},
		{"LOCALHOST:15028/upper:1", "localhost:15028/upper:1", true},
		{"LocalHost:15028/a/b@sha256:" + strings.Repeat("ab", 32), "localhost:15028/a/b@sha256:" + strings.Repeat("ab", 32), true},
		{"registry.example.com/app", "registry.example.com/app:latest", true},
		{"REGISTRY.EXAMPLE.COM/app:v1", "registry.example.com/app:v1", true},
		{"localhost:15029/app:v1", "localhost:15029/app:v1", false},
		{"Other.Example.com/app:v1", "other.example.com/app:v1", false},
	} {
		t.Run(tt.ref, func(t *testing.T) {
			ref, err := parseRef(tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			if got := refName(ref, ref.ReferenceOrDefault()); got != tt.name {
				t.Errorf("refName = %q, want %q", got, tt.name)
			}
			if got := o.plain(ref.Registry); got != tt.plain {
				t.Errorf("plain(%s) = %v, want %v", ref.Registry, got, tt.plain)
			}
		})
	}
}

func TestHintHTTPHosts(t *testing.T) {
	https := func(host string) error {
		return fmt.Errorf(`Get "https://%s/v2/": http: server gave HTTP response to HTTPS client`, host)
	}
	tests := []struct {
		name  string
		err   error
		hosts []string
		want  string // the host the hint names; "" for no hint
	}{
		{name: "REF's host", err: https("ref.test:5000"), hosts: []string{"ref.test:5000", "src.test:5000"}, want: "ref.test:5000"},
		{name: "a source's host", err: https("src.test:5000"), hosts: []string{"ref.test:5000", "src.test:5000"}, want: "src.test:5000"},
		{name: "a prefix of another host", err: https("src.test:50001"), hosts: []string{"ref.test", "src.test:5000"}, want: "ref.test"},
		{name: "an answer that is no TLS record", err: fmt.Errorf(`Get "https://ref.test:5000/v2/": tls: first record does not look like a TLS handshake`), hosts: []string{"ref.test:5000"}, want: "ref.test:5000"},
		{name: "not an HTTP answer", err: errors.New("denied"), hosts: []string{"ref.test"}},
		{name: "no error", hosts: []string{"ref.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := hintHTTPHosts(tt.err, tt.hosts...)
			if !errors.Is(err, tt.err) {
				t.Fatalf("hintHTTPHosts dropped the error: %v", err)
			}
			hinted := err != nil && strings.Contains(err.Error(), "--insecure-registry")
			if tt.want == "" {
				if hinted {
					t.Errorf("hint on %v", err)
				}
				return
			}
			if !strings.HasSuffix(err.Error(), "--insecure-registry "+tt.want+")") {
				t.Errorf("hint %v, want it to name %s", err, tt.want)
			}
		})
	}
}

// TestCheckPlatformFlag: the --platform of get, sbom and attach takes
// what buildx takes (an architecture alone, aliases); what names no
// platform is a usage error quoting it.
func TestCheckPlatformFlag(t *testing.T) {
	for _, tt := range []struct {
		in  string
		err string
	}{
		{in: ""},
		{in: "linux/amd64"},
		{in: "linux/arm64/v8"},
		{in: "arm64"},
		{in: "aarch64"},
		{in: "x86_64"},
		{in: "armhf"},
		{in: "linux"},
		{in: "bogus", err: `--platform: platform "bogus": no known OS or architecture`},
		{in: "linux/amd64,linux/arm64", err: `--platform: platform "linux/amd64,linux/arm64": one platform, not a list`},
		{in: "linux/amd 64", err: `--platform: platform "linux/amd 64": want os[(os.version)]/arch[/variant], or an architecture or OS alone, each part letters`},
	} {
		err := checkPlatformFlag(tt.in)
		var ee *exitError
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("checkPlatformFlag(%q): %v", tt.in, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &ee) || ee.code != 2):
			t.Errorf("checkPlatformFlag(%q) = %v, want a usage error with %q", tt.in, err, tt.err)
		}
	}
}
