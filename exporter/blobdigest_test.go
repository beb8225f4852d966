package exporter_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
)

// TestBlobDigest: a blob's sha256 digest, given, is the layer's digest
// without hashing the data; one of another algorithm, or none, is
// computed, and all give the same manifest for the same bytes.
func TestBlobDigest(t *testing.T) {
	data := []byte(`{"spdxVersion":"SPDX-2.3"}` + "\n")
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("img"), Size: 10}
	manifest := func(d digest.Digest) (ocispec.Descriptor, []byte) {
		a := exporter.SBOM(subject, "application/spdx+json", data, time.Time{}, nil)
		a.Blobs[0].Digest = d
		desc, b, err := a.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		return desc, b
	}
	want, wantBytes := manifest("")
	for _, d := range []digest.Digest{digest.FromBytes(data), digest.SHA512.FromBytes(data), "sha256:nothex"} {
		got, gotBytes := manifest(d)
		if got.Digest != want.Digest || !bytes.Equal(gotBytes, wantBytes) {
			t.Errorf("Digest %s: manifest %s, want %s", d, got.Digest, want.Digest)
		}
	}
	// The given digest is taken as it is: the caller vouches for it.
	other := digest.FromString("other")
	_, b := manifest(other)
	if !bytes.Contains(b, []byte(other)) {
		t.Errorf("manifest %s does not carry the given digest %s", b, other)
	}
}

// BenchmarkArtifactManifest builds the referrer manifest of a 32 MiB SBOM
// (as push does for each SBOM it attaches) with its digest hashed from the
// data and given (a cached or layout SBOM, checked when read).
func BenchmarkArtifactManifest(b *testing.B) {
	data := make([]byte, 32<<20)
	rand.NewChaCha8([32]byte{2}).Read(data)
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("img"), Size: 10}
	for _, c := range []struct {
		name string
		d    digest.Digest
	}{{"hashed", ""}, {"given", digest.FromBytes(data)}} {
		b.Run(c.name, func(b *testing.B) {
			a := exporter.SBOM(subject, "application/spdx+json", data, time.Time{}, nil)
			a.Blobs[0].Digest = c.d
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := a.Manifest(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
