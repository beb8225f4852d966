package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestNearestExisting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path, want string
		isDir            bool
	}{
		{"existing directory", dir, dir, true},
		{"existing file", file, file, false},
		{"symlink to a file", link, link, false},
		{"missing below a directory", filepath.Join(dir, "a", "b"), dir, true},
		{"unclean path", dir + "/a/../a/b/", dir, true},
		{"below a file", filepath.Join(file, "sub", "x"), file, false},
		{"relative", "no-such-dir-here/x", ".", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, fi, err := NearestExisting(c.path)
			if err != nil {
				t.Fatal(err)
			}
			if p != c.want || fi.IsDir() != c.isDir {
				t.Errorf("NearestExisting(%q) = %q (dir %v), want %q (dir %v)", c.path, p, fi.IsDir(), c.want, c.isDir)
			}
		})
	}
	if os.Geteuid() != 0 {
		locked := filepath.Join(dir, "locked")
		if err := os.Mkdir(locked, 0o000); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(locked, 0o755)
		if _, _, err := NearestExisting(filepath.Join(locked, "x", "y")); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("below an unreadable directory: %v, want fs.ErrPermission", err)
		}
	}
}
