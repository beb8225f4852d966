//go:build unix

package sbomgen

import "syscall"

// openFileLimit returns the process's open-file limit (RLIMIT_NOFILE,
// the soft one: Go raises it to the hard one when a program starts).
func openFileLimit() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return uint64(r.Cur), true
}
