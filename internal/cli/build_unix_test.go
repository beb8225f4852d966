//go:build unix

package cli

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRemoveOldOutputsKinds: only a regular file of an earlier build is
// removed; a symlink (--iidfile /dev/stdout) or a FIFO is left alone, to
// be written through after the build.
func TestRemoveOldOutputsKinds(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	target := filepath.Join(outside, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	regular := filepath.Join(dir, "iid")
	if err := os.WriteFile(regular, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path string
		kind       fs.FileMode // of what is left; removed: none is
		removed    bool
	}{
		{name: "symlink to a file outside", path: link, kind: fs.ModeSymlink},
		{name: "FIFO", path: fifo, kind: fs.ModeNamedPipe},
		{name: "regular file", path: regular, removed: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := removeOldOutputs(context.Background(), []outputFile{{"--iidfile", c.path}}); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(c.path)
			if c.removed {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: %v, want it removed", c.path, err)
				}
				return
			}
			if err != nil || fi.Mode().Type() != c.kind {
				t.Fatalf("%s: %v %v, want it kept (%v)", c.path, fi, err, c.kind)
			}
		})
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "keep" {
		t.Errorf("symlink target: %q, %v", b, err)
	}
}
