package exporter_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/registrytest"
)

// BenchmarkPush pushes the two-platform fixture with one SBOM per platform
// to a new repository of an in-process registry, with and without the
// referrers API, and reports the registry requests of each push (req/op)
// beside time and allocations. The no-API figure includes the referrers
// tag's jittered verify delays.
func BenchmarkPush(b *testing.B) {
	ctx := context.Background()
	l, res := source(b, twoPlatforms(false))
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI} {
		b.Run(string(kind), func(b *testing.B) {
			reg := registrytest.Start(b, kind, registrytest.Options{})
			var requests int
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				c, counter := client(nil)
				tgt := target(b, reg.Host, fmt.Sprintf("app%d", i), c)
				i++
				if _, err := pushAll(ctx, tgt, l, res, exporter.Options{Tag: "v1"}); err != nil {
					b.Fatal(err)
				}
				requests += counter.Total()
			}
			b.ReportMetric(float64(requests)/float64(b.N), "req/op")
		})
	}
}

// BenchmarkPushLargeLayer pushes an image with one 64 MiB incompressible
// layer to a new repository: B/op staying far below the layer size shows
// that blobs stream from the layout to the registry, never held whole.
func BenchmarkPushLargeLayer(b *testing.B) {
	const size = 64 << 20
	ctx := context.Background()
	data := make([]byte, size)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(data)
	spec := twoPlatforms(false)
	spec.Images = spec.Images[:1]
	spec.Images[0].Layers = append(spec.Images[0].Layers, fixture.Layer{{Path: "big.bin", Data: data}})
	l, res := source(b, spec)
	// A registry in its own process: olareg in-process would count its
	// own copy of the blob in B/op.
	reg := registrytest.Start(b, registrytest.Distribution, registrytest.Options{})
	i := 0
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		c, _ := client(nil)
		tgt := target(b, reg.Host, fmt.Sprintf("big%d", i), c)
		i++
		if _, err := pushAll(ctx, tgt, l, res, exporter.Options{Tag: "v1"}); err != nil {
			b.Fatal(err)
		}
	}
}
