package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// MkdirAll makes directory dir and the parents it lacks, as os.MkdirAll
// does, and returns the topmost directory it made (Missing): what
// RemoveMade removes again when the work that needed dir fails.
func MkdirAll(dir string) (made string, err error) {
	made = Missing(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return made, nil
}

// Missing returns the topmost of dir and its parents that does not exist
// (dir itself when only dir is missing), "" when dir exists.
func Missing(dir string) string {
	missing := ""
	for p := filepath.Clean(dir); ; {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			return missing
		}
		missing = p
		parent := filepath.Dir(p)
		if parent == p {
			return missing
		}
		p = parent
	}
}

// RemoveMade removes dir, when empty, and each of its parents up to made
// (what MkdirAll made or Missing found missing: dir or one of its
// parents), each only when empty: what another process put there
// meanwhile stays. One already gone is passed over. A made of "" removes
// nothing.
func RemoveMade(dir, made string) {
	if made == "" {
		return
	}
	dir, made = filepath.Clean(dir), filepath.Clean(made)
	for p := dir; ; p = filepath.Dir(p) {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) || p == made || filepath.Dir(p) == p {
			return
		}
	}
}
