package dockercli

import (
	"bytes"
	"encoding/json"
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
		{"tls, the default directory's files", []string{"-H", "tcp://h:2376", "--tlsverify", "--tlscacert", "/home/u/.docker/ca.pem", "affix", "version"}, []string{"version"},
			[]string{"DOCKER_HOST=tcp://h:2376", "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=/home/u/.docker"}, 0, false},
		{"tls, a CA elsewhere beside the default key pair", []string{"-H", "tcp://h:2376", "--tlsverify", "--tlscacert", "certs/ca.pem", "affix", "version"}, []string{"version"},
			[]string{"DOCKER_HOST=tcp://h:2376", "DOCKER_TLS_VERIFY=1"}, 1, false},
		{"tls, a key pair elsewhere beside the default CA", []string{"--tlscert", "/c/cert.pem", "--tlskey", "/c/key.pem", "affix", "version"}, []string{"version"},
			nil, 2, false},
		{"tls, docker's names", []string{"--tls", "--tlscacert", "/c/ca.pem", "--tlscert", "/c/cert.pem", "--tlskey", "/c/key.pem", "affix", "version"}, []string{"version"},
			[]string{"DOCKER_TLS=1", "DOCKER_CERT_PATH=/c"}, 0, false},
		{"tls, other names", []string{"--tlsverify", "--tlscacert", "/c/my-ca.crt", "--tlscert", "/c/cert.pem", "--tlskey", "/c/key.pem", "affix", "version"}, []string{"version"},
			[]string{"DOCKER_TLS_VERIFY=1"}, 3, false},
		{"tls, two directories", []string{"--tlscert", "/a/cert.pem", "--tlskey", "/b/key.pem", "affix", "version"}, []string{"version"},
			nil, 2, false},
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
