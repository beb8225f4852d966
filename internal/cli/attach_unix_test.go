//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/affix-oci/affix/internal/registrytest"
)

// TestNotRegularInputs: a FIFO (no writer: opening it would block for
// ever, deaf to the first SIGTERM) or a device named as an archive to
// sbom, ls, get or push, or as a FILE to attach, fails at once naming it
// and what it is, before any request (the registry named does not
// exist): a usage error (exit 2), the wrong kind of path.
func TestNotRegularInputs(t *testing.T) {
	cliEnv(t)
	host := registrytest.ClosedHost(t)
	fifo := filepath.Join(t.TempDir(), "a.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"sbom FIFO archive", []string{"sbom", "oci-archive:" + fifo}, 2, fifo + ": a named pipe (FIFO), not a regular file"},
		{"sbom bare FIFO", []string{"sbom", fifo}, 2, fifo + ": a named pipe (FIFO), not a regular file"},
		{"sbom device archive", []string{"sbom", "oci-archive:" + os.DevNull}, 2, os.DevNull + ": a device, not a regular file"},
		{"ls FIFO archive", []string{"ls", "oci-archive:" + fifo}, 2, fifo + ": a named pipe (FIFO), not a regular file"},
		{"get FIFO archive", []string{"get", "oci-archive:" + fifo}, 2, fifo + ": a named pipe (FIFO), not a regular file"},
		{"push FIFO archive", []string{"push", "--insecure-registry", host, "oci-archive:" + fifo, host + "/app:v1"}, 2, fifo + ": a named pipe (FIFO), not a regular file"},
		{"attach FIFO file", []string{"attach", "--insecure-registry", host, "--artifact-type", "application/vnd.example", host + "/app:v1", fifo}, 2, fifo + ": a named pipe (FIFO), not a regular file: attach takes regular files"},
		{"attach device file", []string{"attach", "--insecure-registry", host, "--artifact-type", "application/vnd.example", host + "/app:v1", os.DevNull}, 2, os.DevNull + ": a device, not a regular file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := affix(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.msg) || out != "" {
				t.Fatalf("exit %d, want %d; stderr %q does not contain %q (stdout %q)", code, tt.code, errs, tt.msg, out)
			}
		})
	}
}
