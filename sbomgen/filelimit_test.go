package sbomgen

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/sbom"
)

// TestOutOfFiles: a note of syft's that a file under the scan's
// directories (here /scan and /tmp) could not be read or written for
// want of file descriptors, disk space or quota fails the scan (the
// document would depend on the host), naming the first such file by path
// and wrapping the errno; other notes do not, whatever text of the image
// they end with.
func TestOutOfFiles(t *testing.T) {
	emfile := "java-archive-cataloger: unable to process java archive: unable to create archive: open /tmp/syft-cataloger-1/x.jar: too many open files"
	tests := []struct {
		name     string
		unknowns map[file.Coordinates][]string
		want     string // "" for no error
		errno    syscall.Errno
	}{
		{"none", nil, "", 0},
		{"other notes", map[file.Coordinates][]string{{RealPath: "/a.jar"}: {"archive not cataloged", "unable to read: unexpected EOF"}}, "", 0},
		{"a file so named", map[file.Coordinates][]string{{RealPath: "/too many open files"}: {"open /x/: too many open files: unexpected EOF"}}, "", 0},
		{"one", map[file.Coordinates][]string{{RealPath: "/b.jar"}: {"archive not cataloged", emfile}}, "cataloging /b.jar: " + emfile, syscall.EMFILE},
		{"first by path", map[file.Coordinates][]string{
			{RealPath: "/c.jar"}: {emfile},
			{RealPath: "/b.jar"}: {emfile},
			{RealPath: "/a.jar"}: {"unable to read: unexpected EOF"},
		}, "cataloging /b.jar: " + emfile, syscall.EMFILE},
		{"system table", map[file.Coordinates][]string{{RealPath: "/b"}: {"open /scan/x: too many open files in system"}}, "cataloging /b: open /scan/x: too many open files in system", syscall.ENFILE},
		{"the directory scanned", map[file.Coordinates][]string{{RealPath: "/e"}: {"unable to read file: openat /scan: too many open files"}}, "cataloging /e: unable to read file: openat /scan: too many open files", syscall.EMFILE},
		{"a line of a joined error", map[file.Coordinates][]string{{RealPath: "/f"}: {"first: unexpected EOF\nopen /tmp/syft-cataloger-2/f: too many open files\nthird"}}, "cataloging /f: first", syscall.EMFILE},
		{"image text: a duplicate dpkg field", map[file.Coordinates][]string{{RealPath: "/var/lib/dpkg/status"}: {`dpkg-db-cataloger: unable to catalog dpkg DB="/var/lib/dpkg/status": duplicate key discovered: too many open files`}}, "", 0},
		{"a path outside the scan", map[file.Coordinates][]string{{RealPath: "/g"}: {"open /etc/x: too many open files"}}, "", 0},
		{"a prefix of a directory", map[file.Coordinates][]string{{RealPath: "/h"}: {"open /scanner/x: too many open files"}}, "", 0},
		{"no file operation", map[file.Coordinates][]string{{RealPath: "/i"}: {"pipe2: too many open files"}}, "", 0},
		{"disk full", map[file.Coordinates][]string{{RealPath: "/c.jar"}: {"unable to create archive: write /tmp/syft-cataloger-1/c.jar: no space left on device"}},
			"cataloging /c.jar: unable to create archive: write /tmp/syft-cataloger-1/c.jar: no space left on device", syscall.ENOSPC},
		{"quota", map[file.Coordinates][]string{{RealPath: "/d.jar"}: {"write /tmp/x: disk quota exceeded"}}, "cataloging /d.jar: write /tmp/x: disk quota exceeded", syscall.EDQUOT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sbom.SBOM{}
			s.Artifacts.Unknowns = tt.unknowns
			err := outOfFiles(s, "/scan", "/tmp/")
			if tt.want == "" {
				if err != nil {
					t.Errorf("outOfFiles = %v, want nil", err)
				}
				return
			}
			if err == nil || !errors.Is(err, tt.errno) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("outOfFiles = %v, want %q wrapping %v", err, tt.want, tt.errno)
			}
		})
	}
}

// TestWithFileLimit: an error that says the process ran out of file
// descriptors becomes one that names the image's layer count and suggests
// a limit (the process's own is TestOpenFileLimit's to check), once
// however often it is passed; others are left as they are.
func TestWithFileLimit(t *testing.T) {
	other := errors.New("unexpected EOF")
	emfile := fmt.Errorf("reading layers: open x: %w", syscall.EMFILE)
	text := errors.New("failed to run tasks: open y: too many open files")
	tests := []struct {
		name   string
		err    error
		layers int
		want   []string // nil: err unchanged
	}{
		{"nil", nil, 3, nil},
		{"other", other, 3, nil},
		{"errno", emfile, 600, []string{"too many open files: ", "this image has 600 layers", "raise the limit, for example to ", "reading layers: open x: too many open files"}},
		{"text only", text, 0, []string{"too many open files: ", "raise the limit", "failed to run tasks"}},
		{"system", fmt.Errorf("open z: %w", syscall.ENFILE), 2, []string{"too many open files in the system: ", "fs.file-max", "open z: too many open files in system"}},
		{"text in a path", errors.New(`open "/too many open files": not a tar`), 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withFileLimit(tt.err, tt.layers)
			if tt.want == nil {
				if got != tt.err {
					t.Errorf("withFileLimit = %v, want %v unchanged", got, tt.err)
				}
				return
			}
			var oe *openFilesError
			if !errors.As(got, &oe) || !errors.Is(got, tt.err) {
				t.Fatalf("withFileLimit = %#v, want an *openFilesError wrapping %v", got, tt.err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got.Error(), w) {
					t.Errorf("%q does not say %q", got, w)
				}
			}
			if again := withFileLimit(fmt.Errorf("scanning: %w", got), tt.layers); strings.Count(again.Error(), "raise ") != 1 {
				t.Errorf("wrapped twice: %q", again)
			}
		})
	}
}

func TestSuggestFileLimit(t *testing.T) {
	tests := []struct {
		layers int
		limit  uint64
		want   uint64
	}{
		{0, 0, 1024},
		{0, 256, 1024},
		{600, 256, 2048},
		{600, 1024, 2048},
		{10, 1024, 2048},
		{5000, 4096, 16384},
		{10, 1 << 62, 1024}, // unlimited, or as good as
	}
	for _, tt := range tests {
		if got := suggestFileLimit(tt.layers, tt.limit); got != tt.want {
			t.Errorf("suggestFileLimit(%d, %d) = %d, want %d", tt.layers, tt.limit, got, tt.want)
		}
	}
}
