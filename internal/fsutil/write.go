package fsutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes data to path as WriteFileWith does.
func WriteFile(path string, data []byte) error {
	return WriteFileContext(context.Background(), path, data)
}

// WriteFileContext is WriteFile, except that waiting to open a FIFO that
// has no reader yet ends when ctx does (a ^C must not wait for a reader
// that never comes); nothing is written then.
func WriteFileContext(ctx context.Context, path string, data []byte) error {
	return writeFileWith(ctx, path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileWith writes what write writes to path, an output file a user
// named, so that it is never left half-written: into a temporary file in
// path's directory, synced, then renamed over path (mode 0644, or an
// earlier file's mode). When anything fails (a full disk) the temporary
// file is removed and an earlier file at path is left as it was. A path
// that is a symbolic link, a FIFO or a device (/dev/stdout, a process
// substitution) is not replaced: it is opened and written through, as
// before. Errors name path.
func WriteFileWith(path string, write func(io.Writer) error) error {
	return writeFileWith(context.Background(), path, write)
}

func writeFileWith(ctx context.Context, path string, write func(io.Writer) error) error {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		err = writeThrough(ctx, path, fi, write)
	case err == nil || errors.Is(err, fs.ErrNotExist):
		perm := fs.FileMode(0o644)
		if fi != nil {
			perm = fi.Mode().Perm()
		}
		err = writeReplace(path, perm, write)
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// writeThrough writes path (fi) in place, truncating it. Opening a FIFO
// blocks until a reader opens it: that open is left behind when ctx ends
// first, and the file it opens, if any, closed unwritten.
func writeThrough(ctx context.Context, path string, fi fs.FileInfo, write func(io.Writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := openThrough(ctx, path, fi)
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeReplace writes a temporary file next to path and renames it over
// path; on failure it removes the temporary file.
func writeReplace(path string, perm fs.FileMode, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// openThrough opens path (fi) for writeThrough; a FIFO's open, which
// waits for a reader, ends with ctx.
func openThrough(ctx context.Context, path string, fi fs.FileInfo) (*os.File, error) {
	open := func() (*os.File, error) { return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644) }
	if fi.Mode()&fs.ModeSymlink != 0 {
		if target, err := os.Stat(path); err == nil {
			fi = target
		}
	}
	if fi.Mode()&fs.ModeNamedPipe == 0 {
		// A device or a regular file (through a link) opens at once.
		return open()
	}
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := open()
		ch <- opened{f, err}
	}()
	select {
	case o := <-ch:
		return o.f, o.err
	case <-ctx.Done():
		go func() {
			if o := <-ch; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, ctx.Err()
	}
}
