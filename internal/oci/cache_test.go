package oci_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// TestManifestCache: a manifest or index is read once and served again
// from memory, verified; a blob is read each time; a descriptor of the
// same digest and another size is read again and refused, as a fresh
// read is.
func TestManifestCache(t *testing.T) {
	ctx := context.Background()
	content := map[digest.Digest][]byte{}
	reads := map[digest.Digest]int{}
	add := func(mt, s string) ocispec.Descriptor {
		b := []byte(s)
		d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
		content[d.Digest] = b
		return d
	}
	c := oci.NewManifestCache(oci.FetcherFunc(func(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
		reads[d.Digest]++
		return io.NopCloser(bytes.NewReader(content[d.Digest])), nil
	}))
	var _ oci.VerifyingFetcher = c
	manifest := add(ocispec.MediaTypeImageManifest, `{"schemaVersion":2}`)
	index := add(ocispec.MediaTypeImageIndex, `{"schemaVersion":2,"manifests":[]}`)
	blob := add(ocispec.MediaTypeImageLayer, "layer")
	for _, tc := range []struct {
		d     ocispec.Descriptor
		reads int
	}{{manifest, 1}, {index, 1}, {blob, 3}} {
		for range 3 {
			rc, err := c.Fetch(ctx, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := io.ReadAll(rc); err != nil || !bytes.Equal(b, content[tc.d.Digest]) {
				t.Fatalf("%s: %q, %v", tc.d.MediaType, b, err)
			}
			rc.Close()
		}
		if reads[tc.d.Digest] != tc.reads {
			t.Errorf("%s read %d times, want %d", tc.d.MediaType, reads[tc.d.Digest], tc.reads)
		}
	}
	wrong := manifest
	wrong.Size++
	if _, err := c.Fetch(ctx, wrong); err == nil || reads[manifest.Digest] != 2 {
		t.Errorf("a descriptor of another size: %v after %d reads, want a failed second read", err, reads[manifest.Digest])
	}
	// Put spares the read of one read otherwise (by tag).
	other := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("{}"), Size: 2}
	c.Put(other.Digest, []byte("{}"))
	if rc, err := c.Fetch(ctx, other); err != nil || reads[other.Digest] != 0 {
		t.Errorf("after Put: %v, %d reads", err, reads[other.Digest])
	} else {
		rc.Close()
	}
}
