package dockercli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       []string
		want     []string
		env      []string
		warnings int
		metadata bool
	}{
		{"metadata", []string{"docker-cli-plugin-metadata"}, nil, nil, 0, true},
		{"plain", []string{"affix", "version"}, []string{"version"}, nil, 0, false},
		{"no command", []string{"affix"}, []string{}, nil, 0, false},
		{"by hand", []string{"version"}, []string{"version"}, nil, 0, false},
		{"by hand with flags", []string{"build", "--platform", "linux/amd64", "."}, []string{"build", "--platform", "linux/amd64", "."}, nil, 0, false},
		{"by hand, affix flag first", []string{"--platform", "x", "affix"}, []string{"--platform", "x", "affix"}, nil, 0, false},
		{"none", nil, nil, nil, 0, false},
		{"affix args keep their flags", []string{"affix", "ls", "--debug", "-c", "x"}, []string{"ls", "--debug", "-c", "x"}, nil, 0, false},
		{"config", []string{"--config", "/cfg", "affix", "ls", "r/a"}, []string{"ls", "r/a"}, []string{"DOCKER_CONFIG=/cfg"}, 0, false},
		{"config=", []string{"--config=/cfg", "affix", "ls"}, []string{"ls"}, []string{"DOCKER_CONFIG=/cfg"}, 0, false},
		{"config named affix", []string{"--config", "affix", "affix", "ls"}, []string{"ls"}, []string{"DOCKER_CONFIG=affix"}, 0, false},
		{"-D", []string{"-D", "affix", "version"}, []string{"--debug", "version"}, nil, 0, false},
		{"--debug", []string{"--debug", "affix", "ls"}, []string{"--debug", "ls"}, nil, 0, false},
		{"-l debug", []string{"-l", "debug", "affix", "version"}, []string{"--debug", "version"}, nil, 0, false},
		{"--log-level=info", []string{"--log-level=info", "affix", "version"}, []string{"version"}, nil, 0, false},
		{"-Dl warn", []string{"-Dl", "warn", "affix", "version"}, []string{"--debug", "version"}, nil, 0, false},
		{"-ldebug", []string{"-ldebug", "affix", "version"}, []string{"--debug", "version"}, nil, 0, false},
		{"context", []string{"--context", "default", "affix", "version"}, []string{"version"}, []string{"DOCKER_CONTEXT=default"}, 0, false},
		{"-c", []string{"-c", "remote", "affix", "version"}, []string{"version"}, []string{"DOCKER_CONTEXT=remote", "DOCKER_HOST="}, 0, false},
		{"-c and -H", []string{"-c", "remote", "-H", "tcp://h:2376", "affix", "version"}, []string{"version"}, []string{"DOCKER_CONTEXT=remote", "DOCKER_HOST=tcp://h:2376"}, 0, false},
		{"docker help affix", []string{"help", "affix", "build"}, []string{"help", "build"}, nil, 0, false},
		{"docker -D help affix", []string{"-D", "help", "affix", "ls"}, []string{"--debug", "help", "ls"}, nil, 0, false},
		{"completion", []string{"__complete", "affix", "l"}, []string{"__complete", "l"}, nil, 0, false},
		{"completion of flags", []string{"__completeNoDesc", "affix", "build", "--pla"}, []string{"__completeNoDesc", "build", "--pla"}, nil, 0, false},
		{"by hand, help", []string{"help", "build"}, []string{"help", "build"}, nil, 0, false},
		{"-H", []string{"-H", "tcp://h:2376", "affix", "version"}, []string{"version"}, []string{"DOCKER_HOST=tcp://h:2376"}, 0, false},
		{"all", []string{"--config", "/c", "-D", "--context", "x", "affix", "build", "-t", "r/a", "."}, []string{"--debug", "build", "-t", "r/a", "."},
			[]string{"DOCKER_CONFIG=/c", "DOCKER_CONTEXT=x", "DOCKER_HOST="}, 0, false},
		{"--help", []string{"--help", "affix"}, []string{"--help"}, nil, 0, false},
		{"-h command", []string{"-h", "affix", "build"}, []string{"build", "--help"}, nil, 0, false},
		{"--help command flags", []string{"--help", "affix", "build", "-t", "x", "--", "y"}, []string{"build", "--help", "-t", "x", "--", "y"}, nil, 0, false},
		{"--version", []string{"--version", "affix"}, []string{"version"}, nil, 0, false},
		{"-v", []string{"-v", "affix"}, []string{"version"}, nil, 0, false},
		{"metadata after flags is a command", []string{"-D", "affix", "docker-cli-plugin-metadata"}, []string{"--debug", "docker-cli-plugin-metadata"}, nil, 0, false},
	}
	saved := getenv
	getenv = func(k string) string { return map[string]string{"HOME": "/home/u"}[k] }
	defer func() { getenv = saved }()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := Parse(tt.in)
			if inv.Metadata != tt.metadata || !slices.Equal(inv.Args, tt.want) {
				t.Errorf("Parse(%q) = %q, metadata %v; want %q, %v", tt.in, inv.Args, inv.Metadata, tt.want, tt.metadata)
			}
			if !slices.Equal(inv.Env, tt.env) {
				t.Errorf("Parse(%q).Env = %q, want %q", tt.in, inv.Env, tt.env)
			}
			if len(inv.Warnings) != tt.warnings {
				t.Errorf("Parse(%q).Warnings = %q, want %d", tt.in, inv.Warnings, tt.warnings)
			}
			for _, w := range inv.Warnings {
				if !strings.Contains(w, "--tls") {
					t.Errorf("warning %q does not name the flag", w)
				}
			}
		})
	}
}

// TestEngineTLS: DOCKER_CERT_PATH is passed when it makes the builder's
// docker commands use the files docker uses: those the flags name, and
// the defaults that exist.
func TestEngineTLS(t *testing.T) {
	home := t.TempDir()
	defaults := filepath.Join(home, ".docker")
	write := func(dir string, names ...string) string {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	root := t.TempDir()
	caOnly := write(filepath.Join(root, "ca-only"), "ca.pem")
	all := write(filepath.Join(root, "all"), "ca.pem", "cert.pem", "key.pem", "my-ca.crt")
	pair := write(filepath.Join(root, "pair"), "cert.pem", "key.pem")
	other := write(filepath.Join(root, "other"), "key.pem")
	saved := getenv
	getenv = func(k string) string { return map[string]string{"HOME": home}[k] }
	defer func() { getenv = saved }()
	tests := []struct {
		name        string
		defaultPair bool // ~/.docker holds cert.pem and key.pem
		args        []string
		certPath    string // "" for none
		warnings    int
	}{
		{"a CA alone, no default key pair", false, []string{"--tlsverify", "--tlscacert", caOnly + "/ca.pem"}, caOnly, 0},
		{"a CA alone beside the default key pair", true, []string{"--tlsverify", "--tlscacert", caOnly + "/ca.pem"}, "", 1},
		{"all three, docker's names", true, []string{"--tlsverify", "--tlscacert", all + "/ca.pem", "--tlscert", all + "/cert.pem", "--tlskey", all + "/key.pem"}, all, 0},
		{"a key pair without verifying: the CA does not count", false, []string{"--tls", "--tlscert", pair + "/cert.pem", "--tlskey", pair + "/key.pem"}, pair, 0},
		{"a CA of another name", false, []string{"--tlsverify", "--tlscacert", all + "/my-ca.crt"}, "", 1},
		{"two directories", false, []string{"--tls", "--tlscert", pair + "/cert.pem", "--tlskey", other + "/key.pem"}, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.RemoveAll(defaults)
			if tt.defaultPair {
				write(defaults, "cert.pem", "key.pem")
			}
			inv := Parse(append(tt.args, "affix", "version"))
			got := ""
			for _, kv := range inv.Env {
				if v, ok := strings.CutPrefix(kv, "DOCKER_CERT_PATH="); ok {
					got = v
				}
			}
			if got != tt.certPath || len(inv.Warnings) != tt.warnings {
				t.Errorf("DOCKER_CERT_PATH %q, %d warnings %q; want %q, %d", got, len(inv.Warnings), inv.Warnings, tt.certPath, tt.warnings)
			}
		})
	}
}

func TestDockerCertDir(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HOME": "/home/u"}, "/home/u/.docker"},
		{map[string]string{"HOME": "/home/u", "DOCKER_CONFIG": "/cfg"}, "/cfg"},
		{map[string]string{"HOME": "/home/u", "DOCKER_CONFIG": "/cfg", "DOCKER_CERT_PATH": "/certs"}, "/certs"},
	} {
		if got := dockerCertDir(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("dockerCertDir(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestInvoked(t *testing.T) {
	for in, want := range map[string]bool{
		"/root/.docker/cli-plugins/docker-affix": true,
		"docker-affix.exe":                       true,
		"/usr/local/bin/affix":                   false,
		"docker":                                 false,
	} {
		if got := Invoked(in); got != want {
			t.Errorf("Invoked(%q) = %v", in, got)
		}
	}
}

func TestWriteMetadata(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMetadata(&b, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	var m Metadata
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != "0.1.0" || m.Vendor == "" || m.Version != "v1.2.3" {
		t.Errorf("metadata = %+v", m)
	}
}
