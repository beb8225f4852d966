//go:build !unix

package registrytest

import (
	"fmt"
	"testing"
)

// ClosedHost returns 127.0.0.1:PORT where nothing listened a moment ago
// (FreePort); on Unix the port is held until the test ends.
func ClosedHost(t testing.TB) string {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}
