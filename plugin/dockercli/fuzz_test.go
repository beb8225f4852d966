package dockercli

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParse parses fuzzed plugin command lines (arguments separated by
// NUL). It checks that Parse leaves its argument alone; that arguments
// without the plugin's shape go through unchanged; that otherwise the
// affix arguments are what follows the plugin name (after --debug, with
// --help inserted, or "version"); and that the environment it passes on
// holds only the docker variables it documents, with values from the
// command line.
func FuzzParse(f *testing.F) {
	for _, args := range [][]string{
		{"docker-cli-plugin-metadata"},
		{"affix", "version"},
		{"--config", "/cfg", "-D", "--context", "x", "affix", "build", "-t", "r/a", "."},
		{"-H", "tcp://h:2376", "--tlsverify", "--tlscacert", "certs/ca.pem", "--tlscert", "certs/cert.pem", "--tlskey", "certs/key.pem", "affix", "ls"},
		{"--help", "affix", "build", "-t", "x", "--", "y"},
		{"-v", "affix"}, {"-Dl", "warn", "affix", "version"}, {"--log-level=TRACE", "affix"},
		{"--", "affix"}, {"-", "affix"}, {"--config"}, {"-H"}, {"--tls=maybe", "affix"}, {"-Dhv", "affix", "-x"},
		{"--unknown", "affix"}, {"build", "."}, {},
	} {
		f.Add(strings.Join(args, "\x00"))
	}
	envKeys := []string{"DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH"}
	f.Fuzz(func(t *testing.T, s string) {
		var args []string
		if s != "" {
			args = strings.Split(s, "\x00")
		}
		orig := slices.Clone(args)
		inv := Parse(args)
		if !slices.Equal(args, orig) {
			t.Fatalf("Parse changed its argument %q to %q", orig, args)
		}
		if inv.Metadata != (len(args) == 1 && args[0] == MetadataSubcommand) {
			t.Fatalf("Parse(%q).Metadata = %v", args, inv.Metadata)
		}
		if inv.Metadata {
			return
		}
		if !slices.Contains(args, Name) {
			if !slices.Equal(inv.Args, args) || inv.Env != nil || inv.Warnings != nil {
				t.Fatalf("Parse(%q) = %+v; want the arguments as they are", args, inv)
			}
			return
		}
		if slices.Equal(inv.Args, args) {
			return // not the plugin's shape (docker flags it does not know)
		}
		isSuffix := func(a []string) bool {
			return len(a) < len(args) && slices.Equal(args[len(args)-len(a):], a) && args[len(args)-len(a)-1] == Name
		}
		ok := func(a []string) bool {
			if isSuffix(a) || slices.Equal(a, []string{"version"}) {
				return true
			}
			i := slices.Index(a, "--help")
			return i >= 0 && isSuffix(slices.Delete(slices.Clone(a), i, i+1))
		}
		if !ok(inv.Args) && !(len(inv.Args) > 0 && inv.Args[0] == "--debug" && ok(inv.Args[1:])) {
			t.Fatalf("Parse(%q).Args = %q: not what follows %q", args, inv.Args, Name)
		}
		for _, kv := range inv.Env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || !slices.Contains(envKeys, k) {
				t.Errorf("Parse(%q) passes %q", args, kv)
			}
			if v != "1" && !strings.Contains(s, v) {
				t.Errorf("Parse(%q) passes %q, a value not on the command line", args, kv)
			}
		}
	})
}
