package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/affix-oci/affix/internal/registrytest"
)

// TestEarlierOutputsKeptOnUsageError: a usage error found after a
// command removed its earlier --metadata-file (--iidfile) puts it back,
// content and mode, whatever the command; a failure after it removes it;
// nothing is left beside it.
func TestEarlierOutputsKeptOnUsageError(t *testing.T) {
	cliEnv(t)
	nobody := registrytest.ClosedHost(t) // nothing listens: a runtime failure
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string // before --metadata-file FILE
		code int
	}{
		{"attach missing FILE", []string{"attach", "--artifact-type", "a/b", nobody + "/app:v1", filepath.Join(ctxDir, "missing")}, 2},
		{"attach FILE as --metadata-file", []string{"attach", "--artifact-type", "a/b", nobody + "/app:v1", "META"}, 2},
		{"push SOURCE as --metadata-file", []string{"push", "oci-archive:META", nobody + "/app:v1"}, 2},
		{"attach bare local layout", []string{"attach", "--artifact-type", "a/b", "Dockerfile", filepath.Join(ctxDir, "Dockerfile")}, 2},
		{"convert bad reference", []string{"convert", "not a ref"}, 2},
		{"merge bad source", []string{"merge", nobody + "/app:v1", "not a ref"}, 2},
		{"build bad platform", []string{"build", "--platform", "bogus", ctxDir}, 2},
		{"push missing layout", []string{"push", "oci-layout:" + filepath.Join(ctxDir, "none"), nobody + "/app:v1"}, 2},
		{"attach unreachable registry", []string{"attach", "--artifact-type", "a/b", nobody + "/app:v1", filepath.Join(ctxDir, "Dockerfile")}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(ctxDir)
			dir := t.TempDir()
			meta := filepath.Join(dir, "meta.json")
			if err := os.WriteFile(meta, []byte("{\"earlier\":1}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append(append([]string{}, tt.args[:1]...), "--metadata-file", meta)
			for _, a := range tt.args[1:] {
				args = append(args, strings.ReplaceAll(a, "META", meta))
			}
			_, errs, code := affix(t, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tt.code, errs)
			}
			fi, err := os.Stat(meta)
			if kept := err == nil; kept != (tt.code == 2) {
				t.Errorf("exit %d: earlier metadata file kept: %v, want %v", code, kept, tt.code == 2)
			}
			if err == nil {
				if b, _ := os.ReadFile(meta); string(b) != "{\"earlier\":1}\n" || fi.Mode().Perm() != 0o600 {
					t.Errorf("put back as %q, mode %v", b, fi.Mode().Perm())
				}
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != "meta.json" {
					t.Errorf("left beside it: %s", e.Name())
				}
			}
		})
	}
}
