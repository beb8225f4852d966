//go:build unix

package fsutil

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadRegular: a regular file (and a link to one) is read; a FIFO
// (with no writer: opening it would block), a socket, a directory and a
// device are refused with ErrNotRegular naming the path and saying what
// it is, before they are opened.
func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("file", link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	fifoLink := filepath.Join(dir, "fifo-link")
	if err := os.Symlink("fifo", fifoLink); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("unix socket: %v", err)
	}
	defer l.Close()
	for _, c := range []struct {
		name, path string
		want       string // "" for success; else in the error
		err        error
	}{
		{"regular file", file, "", nil},
		{"link to a regular file", link, "", nil},
		{"FIFO", fifo, "a named pipe (FIFO), not a regular file", ErrNotRegular},
		{"link to a FIFO", fifoLink, "a named pipe (FIFO), not a regular file", ErrNotRegular},
		{"socket", sock, "a socket, not a regular file", ErrNotRegular},
		{"directory", dir, "a directory, not a regular file", ErrNotRegular},
		{"device", os.DevNull, "a device, not a regular file", ErrNotRegular},
		{"missing", filepath.Join(dir, "missing"), "no such file", fs.ErrNotExist},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := ReadRegular(c.path)
			if c.err == nil {
				if err != nil || string(b) != "data" {
					t.Fatalf("ReadRegular(%s) = %q, %v, want data", c.path, b, err)
				}
				return
			}
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
				t.Fatalf("ReadRegular(%s) = %v, want %q (%v) naming the path", c.path, err, c.want, c.err)
			}
		})
	}
}
