//go:build unix

package registrytest

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// TestClosedHost: a connection to ClosedHost's address is refused, and
// no listener can take its port while the test runs.
func TestClosedHost(t *testing.T) {
	host := ClosedHost(t)
	if c, err := net.Dial("tcp", host); err == nil {
		c.Close()
		t.Fatalf("a connection to %s was accepted", host)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s: %v, want connection refused", host, err)
	}
	if l, err := net.Listen("tcp", host); err == nil {
		l.Close()
		t.Errorf("a listener took %s", host)
	}
}
