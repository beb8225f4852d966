//go:build unix

package tmpdir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// hold opens directory p and takes an exclusive flock on it, which lasts
// until the file is closed or the process ends, however it ends. Where
// the file system has no flock (some NFS and FUSE mounts), it holds
// nothing and reports no error: the directory is then neither locked nor
// ever swept, since a sweep cannot lock it either.
func hold(p string) (*os.File, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, err
		}
		return nil, nil
	}
	return f, nil
}

// made reports whether name is one os.MkdirTemp(parent, prefix) makes:
// prefix and then its random decimal suffix. A directory of the user's
// that merely starts with the prefix (affix-build-results) is not one.
func made(name, prefix string) bool {
	suffix, ok := strings.CutPrefix(name, prefix)
	if !ok || suffix == "" {
		return false
	}
	for _, c := range suffix {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Sweep removes the directories in parent that Make made with prefix
// (prefix and a random number), that are older than Grace, belong to the effective user, and that no
// process holds: those whose makers ended without removing them. It
// removes what it can and reports nothing: a directory it cannot remove
// costs only space.
func Sweep(parent, prefix string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !made(e.Name(), prefix) {
			continue
		}
		p := filepath.Join(parent, e.Name())
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < Grace {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() {
			continue
		}
		f, err := hold(p)
		if err != nil || f == nil {
			continue // held: its maker is alive; or it cannot be told
		}
		os.RemoveAll(p)
		f.Close()
	}
}
