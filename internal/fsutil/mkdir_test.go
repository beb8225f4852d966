package fsutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMkdirAllRemoveMade(t *testing.T) {
	root := t.TempDir()
	for _, tt := range []struct {
		name     string
		existing string // made before, relative to root ("" for none)
		dir      string // relative to root
		made     string // relative to root, "" for none
	}{
		{"all new", "", "a/b/c", "a"},
		{"parent exists", "a", "a/b/c", "a/b"},
		{"exists", "a/b/c", "a/b/c", ""},
		{"leaf only", "a/b", "a/b/c", "a/b/c"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := filepath.Join(root, tt.name)
			if err := os.MkdirAll(filepath.Join(base, tt.existing), 0o755); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(base, tt.dir)
			made, err := MkdirAll(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tt.made != "" {
				want = filepath.Join(base, tt.made)
			}
			if made != want {
				t.Fatalf("made %q, want %q", made, want)
			}
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				t.Fatalf("%s not made: %v", dir, err)
			}
			RemoveMade(dir, made)
			if _, err := os.Stat(filepath.Join(base, tt.existing)); err != nil {
				t.Errorf("removed what existed: %v", err)
			}
			if made != "" {
				if _, err := os.Stat(made); !os.IsNotExist(err) {
					t.Errorf("%s left: %v", made, err)
				}
			}
		})
	}
	// What another process put in a made directory stays, with the path
	// to it.
	base := filepath.Join(root, "shared")
	made, err := MkdirAll(filepath.Join(base, "x", "y"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "x", "other"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	RemoveMade(filepath.Join(base, "x", "y"), made)
	if _, err := os.Stat(filepath.Join(base, "x", "other")); err != nil {
		t.Errorf("another's file removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(base, "x", "y")); !os.IsNotExist(err) {
		t.Errorf("the empty leaf left: %v", err)
	}
}
