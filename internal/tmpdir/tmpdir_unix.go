//go:build unix

package tmpdir

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// hold opens directory p and takes an exclusive flock on it, which lasts
// until the file is closed or the process ends, however it ends.
func hold(p string) (*os.File, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Sweep removes the directories in parent whose names start with prefix,
// that are older than Grace, belong to the effective user, and that no
// process holds: those whose makers ended without removing them. It
// removes what it can and reports nothing: a directory it cannot remove
// costs only space.
func Sweep(parent, prefix string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
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
		if err != nil {
			continue // held: its maker is alive
		}
		os.RemoveAll(p)
		f.Close()
	}
}
