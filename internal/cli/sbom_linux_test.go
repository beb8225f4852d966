//go:build linux

package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/affix-oci/affix/internal/fixture"
)

// fullDir returns a directory on a file system with no space left (a
// small tmpfs, filled), holding the file "old" with content "old" (and
// the filler), or skips the test where it cannot mount one (not root).
func fullDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("mounting a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	if err := os.WriteFile(filepath.Join(dir, "old"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, ".filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for err == nil {
		_, err = f.Write(make([]byte, 4096))
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v", err)
	}
	return dir
}

// TestSbomOutputFullDisk: sbom -o FILE and -o DIR on a full disk fail
// naming the file, and leave an earlier FILE as it was, and no
// truncated, empty or temporary file; an -o that is a link to /dev/full
// (written through, not replaced) fails likewise.
func TestSbomOutputFullDisk(t *testing.T) {
	sbomEnv(t)
	spec := fixture.Variants()
	spec.Images = spec.Images[2:3]
	src, _ := writeFixture(t, spec)
	full := fullDir(t)
	link := filepath.Join(t.TempDir(), "sbom.json")
	if err := os.Symlink("/dev/full", link); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, out, file string // -o, the file written
	}{
		{"-o FILE over an earlier one", filepath.Join(full, "old"), filepath.Join(full, "old")},
		{"-o DIR", full, filepath.Join(full, "linux-arm-v7.spdx.json")},
		{"-o link to /dev/full", link, link},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runAffix(t, "sbom", "-o", tt.out, "oci-layout:"+src)
			if code != 1 || !strings.Contains(stderr, "writing "+tt.file+": no space left on device") {
				t.Fatalf("exit %d, want 1; stderr %q", code, stderr)
			}
			if b, err := os.ReadFile(filepath.Join(full, "old")); string(b) != "old" {
				t.Errorf("earlier file holds %q (%v)", b, err)
			}
			entries, _ := os.ReadDir(full)
			for _, e := range entries {
				if e.Name() != "old" && e.Name() != ".filler" {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
}

// TestWriteJSONFullDisk: a --metadata-file (writeJSON) that does not fit
// fails naming the file and leaves an earlier one as it was.
func TestWriteJSONFullDisk(t *testing.T) {
	full := fullDir(t)
	p := filepath.Join(full, "old")
	err := writeJSON(context.Background(), p, map[string]string{"digest": strings.Repeat("x", 8192)})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "writing "+p) {
		t.Fatalf("writeJSON = %v, want ENOSPC naming %s", err, p)
	}
	if b, err := os.ReadFile(p); string(b) != "old" {
		t.Errorf("earlier file holds %q (%v)", b, err)
	}
}
