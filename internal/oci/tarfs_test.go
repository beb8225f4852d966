//go:build unix

package oci_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/affix-oci/affix/internal/fsutil"
	"github.com/affix-oci/affix/internal/oci"
)

// TestOpenArchiveNotRegular: an archive that is a FIFO (no writer: open
// would block for ever), a link to one, a socket or a device is refused
// before it is opened, naming the path and what it is (the wrong kind of
// path: ErrSourcePath), as a layout's index.json is.
func TestOpenArchiveNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "a.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	link := filepath.Join(dir, "link.tar")
	if err := os.Symlink("a.fifo", link); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("unix socket: %v", err)
	}
	defer l.Close()
	for _, c := range []struct {
		name, src, path, want string
	}{
		{"FIFO", "oci-archive:" + fifo, fifo, "a named pipe (FIFO), not a regular file"},
		{"bare FIFO path", fifo, fifo, "a named pipe (FIFO), not a regular file"},
		{"link to a FIFO", "oci-archive:" + link, link, "a named pipe (FIFO), not a regular file"},
		{"socket", "oci-archive:" + sock, sock, "a socket, not a regular file"},
		{"device", "oci-archive:" + os.DevNull, os.DevNull, "a device, not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := oci.OpenLayout(context.Background(), c.src)
			if err == nil {
				l.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, oci.ErrNotLayout) || !errors.Is(err, fsutil.ErrNotRegular) || !errors.Is(err, oci.ErrSourcePath) {
				t.Errorf("err = %v, want ErrNotLayout, fsutil.ErrNotRegular and ErrSourcePath", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("err = %v, want %q naming %s", err, c.want, c.path)
			}
		})
	}
}
