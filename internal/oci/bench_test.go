package oci_test

import (
	"context"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
)

// BenchmarkLayoutFetch reads a 64 MiB incompressible layer, digest
// verified, from a layout directory and from an OCI archive (read in
// place, no extraction). B/op staying far below the layer size shows that
// blobs stream; MB/s is the verify-and-read throughput.
func BenchmarkLayoutFetch(b *testing.B) {
	const size = 64 << 20
	ctx := context.Background()
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{2}).Read(data)
	dir := b.TempDir()
	spec := fixture.Spec{Images: []fixture.Image{{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers:   []fixture.Layer{{{Path: "big.bin", Data: data}}},
	}}}
	res, err := fixture.WriteLayout(dir, spec)
	if err != nil {
		b.Fatal(err)
	}
	archive := filepath.Join(b.TempDir(), "image.tar")
	if err := fixture.WriteArchive(dir, archive); err != nil {
		b.Fatal(err)
	}
	for _, src := range []string{oci.SchemeLayout + ":" + dir, oci.SchemeArchive + ":" + archive} {
		scheme, _, _ := strings.Cut(src, ":")
		b.Run(scheme, func(b *testing.B) {
			l, err := oci.OpenLayout(ctx, src)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			var m ocispec.Manifest
			if _, err := oci.ReadJSON(ctx, l, res.Manifests[0], &m); err != nil {
				b.Fatal(err)
			}
			layer := m.Layers[0]
			b.SetBytes(layer.Size)
			b.ReportAllocs()
			for b.Loop() {
				rc, err := l.Fetch(ctx, layer)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
	}
}
