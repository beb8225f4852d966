package ocidir

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFileAtomic: dest gets what write wrote, mode 0644; a failed
// write leaves dest as it was, and no temporary file either way.
func TestWriteFileAtomic(t *testing.T) {
	failed := errors.New("write failed")
	for _, tc := range []struct {
		name  string
		write func(io.Writer) error
		want  string
		err   error
	}{
		{name: "written", write: func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }, want: "new"},
		{name: "write fails", write: func(w io.Writer) error { io.WriteString(w, "half"); return failed }, want: "old", err: failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dest := filepath.Join(dir, "index.json")
			if err := os.WriteFile(dest, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := WriteFileAtomic(dest, tc.write); !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if b, err := os.ReadFile(dest); err != nil || string(b) != tc.want {
				t.Errorf("dest holds %q (%v), want %q", b, err, tc.want)
			}
			if fi, err := os.Stat(dest); err == nil && tc.err == nil && fi.Mode().Perm() != 0o644 {
				t.Errorf("mode %v, want 0644", fi.Mode().Perm())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("directory holds %d files, want dest alone", len(entries))
			}
		})
	}
}
