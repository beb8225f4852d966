package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestVersion: the text and JSON forms, every JSON key present even when
// the commit is unknown (a test binary has no VCS information), and
// arguments refused as a usage error.
func TestVersion(t *testing.T) {
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"text", []string{"version"}, 0, []string{"affix ", "\n commit:   ", "\n syft:     ", "\n buildkit: "}, ""},
		{"json", []string{"version", "--json"}, 0, []string{`"commit": `}, ""},
		{"extra argument", []string{"version", "extra"}, 2, nil, "affix: error: version takes no arguments, got 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := affix(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.stderr) {
				t.Fatalf("exit %d, want %d; stderr %q, want %q", code, tt.code, errs, tt.stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			if slices.Contains(tt.args, "--json") {
				var m map[string]any
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					t.Fatal(err)
				}
				for _, k := range []string{"version", "commit", "go", "syft", "buildkit"} {
					if _, ok := m[k].(string); !ok {
						t.Errorf("key %q missing or not a string: %s", k, out)
					}
				}
			}
		})
	}
}
