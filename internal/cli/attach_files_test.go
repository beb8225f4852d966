package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSplitFileArg: FILE:MEDIATYPE splits at the last colon before a
// media type, unless the whole argument is a file whose path has a colon
// and a slash after it.
func TestSplitFileArg(t *testing.T) {
	dir := t.TempDir()
	timed := filepath.Join(dir, "2024-01-01T10:00", "vex.json")
	if err := os.MkdirAll(filepath.Dir(timed), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(timed, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ arg, path, mt string }{
		{"vex.json", "vex.json", ""},
		{"vex.json:application/vnd.example+json", "vex.json", "application/vnd.example+json"},
		{"C:notes.txt", "C:notes.txt", ""},
		{":text/plain", ":text/plain", ""},
		{timed, timed, ""},
		{timed + ":text/plain", timed, "text/plain"},
	} {
		if path, mt := splitFileArg(tt.arg); path != tt.path || mt != tt.mt {
			t.Errorf("splitFileArg(%q) = %q, %q; want %q, %q", tt.arg, path, mt, tt.path, tt.mt)
		}
	}
}
