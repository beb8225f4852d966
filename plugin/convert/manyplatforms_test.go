package convert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/plugin/convert"
)

// manyPlatforms are the platforms of sharedStatementLayout.
var manyPlatforms = []ocispec.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64", Variant: "v8"},
	{OS: "linux", Architecture: "arm", Variant: "v6"},
	{OS: "linux", Architecture: "arm", Variant: "v7"},
	{OS: "linux", Architecture: "386"},
	{OS: "linux", Architecture: "ppc64le"},
	{OS: "linux", Architecture: "s390x"},
	{OS: "linux", Architecture: "riscv64"},
}

// sharedStatementLayout writes a layout of n platform images (n at most
// len(manyPlatforms)) whose BuildKit attestation manifests all list one
// SPDX statement, of the image's SBOM with packages packages beside its
// root, naming every platform manifest: as a build whose platforms share
// one scan stores it. It returns the layout, its index and the size of
// the statement.
func sharedStatementLayout(tb testing.TB, n, packages int) (*oci.Layout, ocispec.Descriptor, int64) {
	tb.Helper()
	var s fixture.Spec
	for _, p := range manyPlatforms[:n] {
		s.Images = append(s.Images, fixture.Image{Platform: p, Layers: []fixture.Layer{{
			{Path: "etc/platform", Data: []byte(oci.FormatPlatform(p) + "\n")},
		}}})
	}
	dir := tb.TempDir()
	res, err := fixture.WriteLayout(dir, s)
	if err != nil {
		tb.Fatal(err)
	}
	put := func(mt string, b []byte) ocispec.Descriptor {
		d := oci.DescriptorFor(mt, b)
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()), b, 0o644); err != nil {
			tb.Fatal(err)
		}
		return d
	}
	putJSON := func(mt string, v any) ocispec.Descriptor {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		return put(mt, b)
	}
	var subj []any
	for _, m := range res.Manifests {
		subj = append(subj, map[string]any{"name": "pkg:docker/example/app@v1?platform=" + oci.FormatPlatform(*m.Platform), "digest": map[string]string{"sha256": m.Digest.Encoded()}})
	}
	doc := spdxDoc("sbom")
	pkgs := doc["packages"].([]any)
	for i := range packages {
		name := fmt.Sprintf("pkg%07d", i)
		pkgs = append(pkgs, map[string]any{"SPDXID": "SPDXRef-Package-npm-" + name, "name": name, "versionInfo": "1.0.0", "licenseConcluded": "NOASSERTION",
			"externalRefs": []any{map[string]any{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:npm/" + name + "@1.0.0"}}})
	}
	doc["packages"] = pkgs
	pt := "https://spdx.dev/Document"
	stmt := putJSON(oci.MediaTypeInToto, map[string]any{"_type": "https://in-toto.io/Statement/v1", "predicateType": pt, "subject": subj, "predicate": doc})
	stmt.Annotations = map[string]string{"in-toto.io/predicate-type": pt}
	putJSON(ocispec.MediaTypeEmptyJSON, map[string]any{})
	entries := append([]ocispec.Descriptor{}, res.Manifests...)
	for _, m := range res.Manifests {
		am := putJSON(ocispec.MediaTypeImageManifest, ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
			ArtifactType: oci.ArtifactTypeBuildKitAttestation, Config: ocispec.DescriptorEmptyJSON,
			Layers: []ocispec.Descriptor{stmt}, Subject: &ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size},
		})
		am.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
		am.Annotations = map[string]string{oci.AnnotationDockerReferenceType: oci.DockerReferenceTypeAttestation, oci.AnnotationDockerReferenceDigest: m.Digest.String()}
		entries = append(entries, am)
	}
	idx := putJSON(ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: entries})
	top, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{idx}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), top, 0o644); err != nil {
		tb.Fatal(err)
	}
	l, err := oci.OpenLayout(context.Background(), dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l, idx, stmt.Size
}

// BenchmarkConvertManyPlatforms converts 8 platforms whose attestations
// share one 16 MiB statement, on in-process olareg with the referrers
// API, at --max-concurrency 1 and 4, and reports the peak live heap of
// the convert (above the heap before it) in MiB (peak-live-MiB) and over
// the statement's size (peak-x-doc): it is to grow with the concurrency,
// not with the platforms. olareg runs in the process: what it holds is
// counted too.
func BenchmarkConvertManyPlatforms(b *testing.B) {
	const platforms = 8
	src, idx, size := sharedStatementLayout(b, platforms, 60000)
	reg := registrytest.Start(b, registrytest.OlaregAPI, registrytest.Options{})
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("platforms=%d/concurrency=%d", platforms, conc), func(b *testing.B) {
			defer debug.SetGCPercent(debug.SetGCPercent(5))
			b.SetBytes(size)
			b.ReportAllocs()
			var peak uint64
			for i := range b.N {
				b.StopTimer()
				r, _ := remote(b, reg.Host, fmt.Sprintf("app-c%d-%d", conc, i))
				push(b, r, src, idx, "v1")
				runtime.GC()
				s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
				metrics.Read(s)
				base := s[0].Value.Uint64()
				stop, done := make(chan struct{}), make(chan uint64)
				go func() {
					var hi uint64
					for {
						select {
						case <-stop:
							done <- hi
							return
						case <-time.After(time.Millisecond):
						}
						metrics.Read(s)
						hi = max(hi, s[0].Value.Uint64())
					}
				}()
				b.StartTimer()
				res, err := convert.Convert(context.Background(), r, "v1", convert.Options{MaxConcurrency: conc})
				b.StopTimer()
				close(stop)
				if m := <-done; m > base {
					peak = max(peak, m-base)
				}
				if err != nil {
					b.Fatal(err)
				}
				if n := res.Written(); n != platforms {
					b.Fatalf("wrote %d referrers, want %d", n, platforms)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-live-MiB")
			b.ReportMetric(float64(peak)/float64(size), "peak-x-doc")
		})
	}
}
