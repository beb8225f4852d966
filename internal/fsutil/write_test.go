//go:build unix

package fsutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWriteFileWith: a regular file (or none) is replaced whole or not
// at all: a write that fails as on a full disk leaves an earlier file as
// it was, and no file (nor a temporary one) when there was none. A
// symbolic link or FIFO is written through, not replaced (a link to
// /dev/full is a real full disk).
func TestWriteFileWith(t *testing.T) {
	full := func(w io.Writer) error {
		if _, err := io.WriteString(w, "part"); err != nil {
			return err
		}
		return &os.PathError{Op: "write", Path: "tmp", Err: syscall.ENOSPC}
	}
	good := func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }
	for _, c := range []struct {
		name    string
		old     string // content of an earlier file; "" for none
		mode    os.FileMode
		link    string // make path a symbolic link to this (relative to the dir, or absolute)
		write   func(io.Writer) error
		err     error  // wanted error, else nil
		want    string // content of path (through a link) afterwards; "" for no file
		wantMod os.FileMode
	}{
		{name: "new file", write: good, want: "new", wantMod: 0o644},
		{name: "earlier file replaced", old: "old", mode: 0o600, write: good, want: "new", wantMod: 0o600},
		{name: "full disk, earlier file kept", old: "old", mode: 0o644, write: full, err: syscall.ENOSPC, want: "old", wantMod: 0o644},
		{name: "full disk, no file", write: full, err: syscall.ENOSPC},
		{name: "link written through", old: "old", mode: 0o644, link: "target", write: good, want: "new", wantMod: 0o644},
		{name: "link to /dev/full", link: "/dev/full", write: good, err: syscall.ENOSPC},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.json")
			if c.link != "" {
				if err := os.Symlink(c.link, path); err != nil {
					t.Fatal(err)
				}
			}
			if c.old != "" {
				if err := os.WriteFile(path, []byte(c.old), c.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, c.mode); err != nil {
					t.Fatal(err)
				}
			}
			err := WriteFileWith(path, c.write)
			if !errors.Is(err, c.err) || (err != nil && !strings.HasPrefix(err.Error(), "writing "+path+": ")) {
				t.Fatalf("WriteFileWith = %v, want %v naming %s", err, c.err, path)
			}
			if c.link != "" {
				if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("the link was replaced (%v, %v)", fi.Mode(), err)
				}
			}
			if c.link == "/dev/full" {
				return
			}
			b, err := os.ReadFile(path)
			switch {
			case c.want == "" && !errors.Is(err, os.ErrNotExist):
				t.Errorf("path holds %q (%v), want no file", b, err)
			case c.want != "" && string(b) != c.want:
				t.Errorf("path holds %q (%v), want %q", b, err, c.want)
			}
			if fi, err := os.Stat(path); c.want != "" && (err != nil || fi.Mode().Perm() != c.wantMod) {
				t.Errorf("mode %v (%v), want %v", fi.Mode(), err, c.wantMod)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != "out.json" && e.Name() != "target" {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
}

// TestWriteFileFIFO: a FIFO is written through, for the process that
// reads it, not replaced by a file.
func TestWriteFileFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		b, err := os.ReadFile(path)
		got <- fmt.Sprint(string(b), err)
	}()
	if err := WriteFile(path, []byte("data")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "data<nil>" {
		t.Errorf("reader got %q, want data", s)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced (%v, %v)", fi.Mode(), err)
	}
}

// TestWriteFileFIFONoReader: waiting for a FIFO's reader (named through
// a link here) ends with the context, and a reader that comes later gets
// nothing.
func TestWriteFileFIFONoReader(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	path := fifo + ".link"
	if err := os.Symlink(fifo, path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- WriteFileContext(ctx, path, []byte("data")) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteFileContext = %v, want context.Canceled", err)
	}
	// A late reader (not blocking: the open may not have begun before
	// the cancel) gets nothing; an abandoned open completes and is closed
	// unwritten.
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, _ := r.Read(make([]byte, 16)); n != 0 {
		t.Errorf("late reader got %d bytes, want none", n)
	}
}

// TestWriteFileContextCanceled: with a context already done nothing is
// opened, so nothing is truncated (a link to a regular file).
func TestWriteFileContextCanceled(t *testing.T) {
	dir := t.TempDir()
	target, link := filepath.Join(dir, "target"), filepath.Join(dir, "link")
	if err := os.WriteFile(target, []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteFileContext(ctx, link, []byte("new")); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteFileContext = %v, want context.Canceled", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "kept" {
		t.Errorf("target %q, want kept", b)
	}
}
