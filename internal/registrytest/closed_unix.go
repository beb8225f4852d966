//go:build unix

package registrytest

import (
	"fmt"
	"syscall"
	"testing"
)

// ClosedHost returns 127.0.0.1:PORT where nothing listens until the test
// ends, for a test that wants a connection refused (or no request at
// all). The port is held by a socket bound to it that never listens: a
// connection to it is refused, and no server another test starts
// meanwhile (tests run in parallel, packages side by side) can take it,
// as one can take the port FreePort found free a moment ago.
func ClosedHost(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("closed port: socket: %v", err)
	}
	syscall.CloseOnExec(fd)
	t.Cleanup(func() { syscall.Close(fd) })
	// No SO_REUSEADDR: a listener (which sets it) cannot share the port.
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("closed port: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("closed port: getsockname: %v", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		t.Fatalf("closed port: bound to %T", sa)
	}
	return fmt.Sprintf("127.0.0.1:%d", in4.Port)
}
