package oci_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
)

// TestLayoutFileLimits: an index.json or oci-layout over MaxManifestSize
// fails saying so (not as JSON cut short), in a directory and in an
// archive; JSON followed by anything but white space (a second document,
// garbage) is refused naming the file, not read as its first value.
func TestLayoutFileLimits(t *testing.T) {
	dir, _ := writeVariants(t, fixture.Variants())
	index, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	index = bytes.TrimSpace(index)
	// Valid JSON, larger than the limit: white space inside the object.
	big := append(append([]byte("{"), bytes.Repeat([]byte(" "), oci.MaxManifestSize)...), index[1:]...)
	for _, tt := range []struct {
		name, file string
		content    []byte
		err        error
		msg        string
	}{
		{"index.json too large", "index.json", big, oci.ErrTooLarge, "index.json: larger than the 4 MiB limit"},
		{"oci-layout too large", "oci-layout", append([]byte(`{"imageLayoutVersion":"1.0.0"}`), bytes.Repeat([]byte(" "), oci.MaxManifestSize)...), oci.ErrTooLarge, "oci-layout: larger than the 4 MiB limit"},
		{"index.json with garbage after it", "index.json", append(append([]byte(nil), index...), "GARBAGE"...), oci.ErrNotLayout, "decoding index.json: invalid character 'G' after top-level value"},
		{"index.json twice", "index.json", append(append([]byte(nil), index...), index...), oci.ErrNotLayout, "decoding index.json: invalid character '{' after top-level value"},
		{"index.json with trailing white space", "index.json", append(append([]byte(nil), index...), " \n\t"...), nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			if err := os.CopyFS(d, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, tt.file), tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			archive := filepath.Join(t.TempDir(), "image.tar")
			if err := fixture.WriteArchive(d, archive); err != nil {
				t.Fatal(err)
			}
			for _, src := range []string{"oci-layout:" + d, "oci-archive:" + archive} {
				l, err := oci.OpenLayout(context.Background(), src)
				if err == nil {
					l.Close()
				}
				if !errors.Is(err, tt.err) || (err != nil && (!strings.Contains(err.Error(), tt.msg) || !strings.HasPrefix(err.Error(), src))) {
					t.Errorf("%s: err = %v, want %v: %q naming the source", src, err, tt.err, tt.msg)
				}
			}
		})
	}
}

// TestOpenSourcePath: a source path that is missing or of the wrong kind
// for its scheme is ErrSourcePath (the user named the wrong path), and a
// path of the right kind whose content is no layout is not; the message
// names the path either way, and says what is missing from an empty
// layout directory.
func TestOpenSourcePath(t *testing.T) {
	good, _ := writeVariants(t, fixture.Variants())
	tmp := t.TempDir()
	archive := filepath.Join(tmp, "img.tar")
	if err := fixture.WriteArchive(good, archive); err != nil {
		t.Fatal(err)
	}
	notTar := filepath.Join(tmp, "not.tar")
	if err := os.WriteFile(notTar, []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	missing := filepath.Join(tmp, "missing")
	loop := filepath.Join(tmp, "loop")
	if err := os.Symlink("loop", loop); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, src string
		path      bool   // ErrSourcePath
		msg       string // in the message
	}{
		{"missing layout", "oci-layout:" + missing, true, missing + ": no such file or directory"},
		{"missing archive", "oci-archive:" + missing, true, missing + ": no such file or directory"},
		{"missing bare path", missing, true, missing + ": no such file or directory"},
		{"layout is a symlink loop", "oci-layout:" + loop, true, loop},
		{"file as layout", "oci-layout:" + archive, true, "not a directory (use oci-archive: for a tar)"},
		{"directory as archive", "oci-archive:" + good, true, "is a directory (use oci-layout: for a directory)"},
		{"empty layout directory", "oci-layout:" + empty, false, "not an OCI image layout: no oci-layout file in " + empty},
		{"empty bare directory", empty, false, "no oci-layout file in " + empty},
		{"not a tar", "oci-archive:" + notTar, false, "not a tar archive"},
		{"empty source", "", false, "empty source"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, err := oci.OpenLayout(context.Background(), tt.src)
			if err == nil {
				l.Close()
				t.Fatal("no error")
			}
			if errors.Is(err, oci.ErrSourcePath) != tt.path || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v; want ErrSourcePath %v and %q", err, tt.path, tt.msg)
			}
		})
	}
}
