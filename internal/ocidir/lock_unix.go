//go:build unix

package ocidir

import (
	"fmt"
	"os"
	"syscall"
)

// lock takes an exclusive advisory lock on the directory dir (flock),
// waiting for other holders, and returns its release. Two affix
// processes writing one layout's index.json take turns; nothing is left
// in the directory.
func lock(dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
