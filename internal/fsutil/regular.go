package fsutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular means a file a command reads is not a regular file: a
// named pipe (FIFO), a socket, a device or a directory. Reading a FIFO
// with no writer would block for ever (in open(2), where not even a
// signal ends the wait), a device may never end; such a file is refused
// before it is opened for real.
var ErrNotRegular = errors.New("not a regular file")

// Kind describes, for messages, what mode m is when it is not a regular
// file: "a directory", "a named pipe (FIFO)", "a socket", "a device",
// else "a special file".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// NotRegular is the error for path, of mode m, not being a regular file:
// an *fs.PathError of op, "PATH: a named pipe (FIFO), not a regular
// file", wrapping ErrNotRegular.
func NotRegular(op, path string, m fs.FileMode) error {
	return &fs.PathError{Op: op, Path: path, Err: fmt.Errorf("%s, %w", Kind(m), ErrNotRegular)}
}

// OpenRegular opens path (following symbolic links) for reading when it
// is a regular file, and otherwise fails with ErrNotRegular (NotRegular)
// without blocking: the file is checked before it is opened, opened
// non-blocking (a FIFO put in its place meanwhile does not wait for a
// writer) and checked again once open.
func OpenRegular(path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, NotRegular("open", path, fi.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return nil, err
	}
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, NotRegular("open", path, fi.Mode())
	}
	return f, nil
}

// ReadRegular reads the file path names, as os.ReadFile does, when it is
// a regular file (OpenRegular), else fails with ErrNotRegular.
func ReadRegular(path string) ([]byte, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
