package frontend

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// smallDir mounts a tmpfs of size bytes for the test (unmounted when it
// ends); it skips where mounting is not permitted (not root).
func smallDir(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// TestIntegrationNoRoom: an image that does not fit where the build
// writes it (a layer of 4 MB of random bytes, 2 MB of room) fails the
// build naming that directory and, for the temporary layout, TMPDIR,
// rather than with containerd's ingest file; nothing is left behind.
func TestIntegrationNoRoom(t *testing.T) {
	d := sharedDaemon(t)
	big := make([]byte, 4<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY big /big\n", "big": string(big)}, false)
	for _, tc := range []struct {
		name   string
		output bool // the layout is the output directory, not a temporary one
		want   string
	}{
		{"temporary layout", false, "for the compressed image in SMALL, where the build keeps it until the command ends (set TMPDIR to a larger file system): no space left on device"},
		{"output directory", true, "for the compressed image in the output directory SMALL/out: no space left on device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			small := smallDir(t, "2m")
			opts := Options{ContextDir: ctxDir, Builder: d.Addr, Platforms: []string{"linux/amd64"}}
			if tc.output {
				opts.Output = filepath.Join(small, "out")
			} else {
				t.Setenv("TMPDIR", small)
			}
			res, err := Build(t.Context(), opts)
			if err == nil {
				res.Close()
				t.Fatal("the build fitted in 2 MB")
			}
			want := strings.ReplaceAll(tc.want, "SMALL", small)
			if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrBuildFailed) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "ingest") {
				t.Errorf("error:\n%v\nwant ENOSPC, not ErrBuildFailed, saying %q, not naming the ingest file", err, want)
			}
			if entries, _ := os.ReadDir(small); len(entries) > 0 && !tc.output {
				t.Errorf("the failed build left %v in TMPDIR", entries)
			}
		})
	}
}
