package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/affix-oci/affix/internal/fsutil"
)

// rootFS is the read-only fs.FS of a layout directory, opened through an
// os.Root: a symbolic link is followed only while it stays inside the
// layout (a layout's blobs may link to each other), and a name opens only
// a regular file. A layout is untrusted input: a blob that links to the
// user's ~/.ssh/id_rsa would otherwise be read, and pushed, as the blob's
// content before its digest is found wrong, and a FIFO or device as a blob
// would hang the read.
type rootFS struct {
	root *os.Root
}

// inside reports whether the absolute path p names something within the
// root's directory.
func (r *rootFS) inside(p string) bool {
	dir, err := filepath.EvalSymlinks(r.root.Name())
	if err != nil {
		dir = r.root.Name()
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func openRootFS(dir string) (*rootFS, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &rootFS{root: r}, nil
}

// Close closes the root.
func (r *rootFS) Close() error { return r.root.Close() }

// Open implements fs.FS: it opens name when it is a regular file inside
// the layout, else fails with ErrUnsafeLayout (fs.ErrNotExist when it is
// missing).
func (r *rootFS) Open(name string) (fs.File, error) {
	if _, err := r.Stat(name); err != nil {
		return nil, err
	}
	// Non-blocking: a FIFO put in its place since the Stat does not
	// block the open; the Stat of the open file then refuses it.
	f, err := r.root.OpenFile(name, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return nil, r.pathErr("open", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(name, fi)
	}
	return f, nil
}

// Stat implements fs.StatFS, with Open's rules: name must be a regular
// file inside the layout.
func (r *rootFS) Stat(name string) (fs.FileInfo, error) {
	fi, err := r.root.Stat(name)
	if err != nil {
		return nil, r.pathErr("stat", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(name, fi)
	}
	return fi, nil
}

// pathErr returns err, from opening name through the root, as
// ErrUnsafeLayout naming the symbolic link in name's path that the root
// would not follow: one leading out of the layout, an absolute one (a root
// follows none), or one that loops. Any other error is returned as it is.
func (r *rootFS) pathErr(op, name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return err
	}
	link, target, linkErr := r.unfollowedLink(name)
	if link == "" {
		return err
	}
	what := "a symbolic link to " + target + ", out of the layout"
	switch {
	case errors.Is(linkErr, syscall.ELOOP):
		// Not "out of the layout": it leads nowhere.
		what = "a symbolic link to " + target + " that loops (it cannot be resolved)"
	case filepath.IsAbs(target) && r.inside(target):
		what = "an absolute symbolic link to " + target + " (a layout's links are followed only when relative and inside it)"
	}
	if link != name {
		what = "through " + link + ", " + what
	}
	return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%s: %w", what, ErrUnsafeLayout)}
}

// unfollowedLink returns the first element of name's path that is a
// symbolic link the root does not resolve (it fails for another reason
// than a missing target), the link's target and the error resolving it
// (ELOOP for a loop); "" when there is none.
func (r *rootFS) unfollowedLink(name string) (link, target string, err error) {
	parts := strings.Split(name, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		fi, err := r.root.Lstat(p)
		if err != nil {
			return "", "", nil
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if _, err := r.root.Stat(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t, _ := r.root.Readlink(p)
			return p, t, err
		}
	}
	return "", "", nil
}

// notRegular is the error for name, which fi describes, not being a
// regular file.
func notRegular(name string, fi fs.FileInfo) error {
	return &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%s, not a regular file: %w", fsutil.Kind(fi.Mode()), ErrUnsafeLayout)}
}

var _ fs.StatFS = (*rootFS)(nil)
