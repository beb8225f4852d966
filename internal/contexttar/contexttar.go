// Package contexttar reads a build context sent on stdin, as `docker
// build -` takes it: a tar (plain, gzip or bzip2), unpacked into a
// directory without letting any entry write outside it, or a Dockerfile
// alone.
package contexttar

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// ErrUnsupported is a context in a compression affix does not read (xz,
// zstd).
var ErrUnsupported = errors.New("unsupported context compression")

// Read reads the build context on r into dir, an existing empty
// directory. A tar, plain or compressed with gzip or bzip2, is unpacked
// there: regular files, directories, symbolic and hard links (other
// entries are skipped), each confined to dir (os.Root: an entry that
// would be written through a link out of dir fails). Anything else is
// taken for a Dockerfile, as docker build - does: it is written to
// dir/Dockerfile and dockerfile is true.
func Read(r io.Reader, dir string) (dockerfile bool, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, _ := br.Peek(512)
	var in io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return false, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		in = zr
	case bytes.HasPrefix(head, []byte("BZh")):
		in = bzip2.NewReader(br)
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return false, fmt.Errorf("xz: %w (decompress it first, or send a gzip tar)", ErrUnsupported)
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return false, fmt.Errorf("zstd: %w (decompress it first, or send a gzip tar)", ErrUnsupported)
	case !isTar(head):
		return true, writeDockerfile(br, dir)
	}
	return false, unpack(in, dir)
}

// isTar reports whether head starts a tar archive (the ustar magic of
// POSIX and GNU tar).
func isTar(head []byte) bool {
	return len(head) >= 263 && string(head[257:262]) == "ustar"
}

func writeDockerfile(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	f, err := root.OpenFile("Dockerfile", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// unpack writes the tar on r into dir, confined to it.
func unpack(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the tar: %w", err)
		}
		name, ok := entryName(h.Name)
		if !ok {
			continue // the root itself
		}
		if err := unpackEntry(root, tr, h, name); err != nil {
			return fmt.Errorf("tar entry %q: %w", h.Name, err)
		}
	}
}

// entryName cleans a tar entry's name into a path relative to the root;
// false for the root itself.
func entryName(n string) (string, bool) {
	n = path.Clean("/" + strings.TrimPrefix(n, "./"))
	if n == "/" {
		return "", false
	}
	return n[1:], true
}

func unpackEntry(root *os.Root, tr *tar.Reader, h *tar.Header, name string) error {
	if d := path.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	mode := os.FileMode(h.Mode).Perm()
	// A later entry replaces what an earlier one left at its path (the
	// tar's last entry wins, as docker unpacks it), rather than write
	// through a link left there; directories merge.
	if fi, err := root.Lstat(name); err == nil && (h.Typeflag != tar.TypeDir || !fi.IsDir()) {
		if h.Typeflag == tar.TypeLink {
			if target, _ := entryName(h.Linkname); target == name {
				return nil // a link to itself: the file stays
			}
		}
		if err := root.RemoveAll(name); err != nil {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if err := root.MkdirAll(name, 0o755); err != nil {
			return err
		}
		return root.Chmod(name, mode|0o700)
	case tar.TypeReg:
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode|0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	case tar.TypeSymlink:
		return root.Symlink(h.Linkname, name)
	case tar.TypeLink:
		target, ok := entryName(h.Linkname)
		if !ok {
			return fmt.Errorf("hard link to the root")
		}
		return root.Link(target, name)
	}
	return nil // devices, FIFOs: not build context
}
