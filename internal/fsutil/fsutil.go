// Package fsutil holds small file-system helpers shared by the engines
// and the commands.
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// NearestExisting returns the nearest of path and its parents that
// exists (os.Stat, so symlinks are followed), with its FileInfo: path
// itself when it exists. It is how a check finds what stands in the way
// of a directory or file that is made later: a file there, or the
// directory whose permissions decide. A parent that is a file makes the
// paths below it ENOTDIR, and the walk goes on up to that file. An error
// other than not-existing stops the walk and is returned, naming the
// path; when nothing up to the root exists the error is fs.ErrNotExist.
func NearestExisting(path string) (string, fs.FileInfo, error) {
	for p := filepath.Clean(path); ; {
		fi, err := os.Stat(p)
		if err == nil {
			return p, fi, nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return p, nil, err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p, nil, fmt.Errorf("%s: no part of it exists: %w", path, fs.ErrNotExist)
		}
		p = parent
	}
}
