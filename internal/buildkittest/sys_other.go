//go:build !linux

package buildkittest

import "syscall"

// ownGroup returns no process attributes: buildkitd runs on Linux only,
// so on other systems the package compiles (for the tests that import it)
// and StartDaemon fails to start the daemon.
func ownGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

// onTmpfs reports false: tmpfs detection is Linux's statfs.
func onTmpfs(string) bool { return false }

// unmountBelow does nothing: daemons mount nothing off Linux.
func unmountBelow(string) {}
