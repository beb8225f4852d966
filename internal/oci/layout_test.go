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
