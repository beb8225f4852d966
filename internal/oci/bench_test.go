package oci_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
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

// BenchmarkReadBlob reads a blob whole, digest-verified, as get and
// convert read an SBOM document or an in-toto statement: 32 MiB streamed
// from a fetcher that does not verify (a registry's blob body), and a
// 4 MiB blob (MaxManifestSize, the largest a Layout verifies before
// Fetch returns) from a layout directory. B/op over the blob size is what
// reading it costs beside the bytes themselves.
func BenchmarkReadBlob(b *testing.B) {
	ctx := context.Background()
	b.Run("stream-32MiB", func(b *testing.B) {
		data := make([]byte, 32<<20)
		rand.NewChaCha8([32]byte{3}).Read(data)
		desc := ocispec.Descriptor{MediaType: "application/spdx+json", Digest: digest.FromBytes(data), Size: int64(len(data))}
		f := oci.FetcherFunc(func(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
			return io.NopCloser(onlyReader{bytes.NewReader(data)}), nil
		})
		b.SetBytes(desc.Size)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := oci.ReadBlob(ctx, f, desc, 64<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("layout-4MiB", func(b *testing.B) {
		data := make([]byte, oci.MaxManifestSize-64<<10) // gzip adds a little
		rand.NewChaCha8([32]byte{4}).Read(data)
		dir := b.TempDir()
		spec := fixture.Spec{Images: []fixture.Image{{
			Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
			Layers:   []fixture.Layer{{{Path: "f", Data: data}}},
		}}}
		res, err := fixture.WriteLayout(dir, spec)
		if err != nil {
			b.Fatal(err)
		}
		l, err := oci.OpenLayout(ctx, oci.SchemeLayout+":"+dir)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		var m ocispec.Manifest
		if _, err := oci.ReadJSON(ctx, l, res.Manifests[0], &m); err != nil {
			b.Fatal(err)
		}
		layer := m.Layers[0]
		if layer.Size > oci.MaxManifestSize {
			b.Fatalf("layer of %d bytes: want at most MaxManifestSize", layer.Size)
		}
		b.SetBytes(layer.Size)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := oci.ReadBlob(ctx, l, layer, oci.MaxManifestSize); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// onlyReader hides every method of its reader but Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
