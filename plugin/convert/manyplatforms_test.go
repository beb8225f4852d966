package convert_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/heapwatch"
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

// BenchmarkConvertManyPlatforms converts 2 and 8 platforms whose
// attestations share one 14 MiB statement, on distribution 2.8 (out of process, so
// that the heap is the convert's alone; in-process olareg keeps every
// blob pushed in memory), at --max-concurrency 1 and 4, and reports the
// peak live heap of the convert (above the heap before it) in MiB
// (peak-live-MiB) and over the statement's size (peak-x-doc): it is to
// grow with the concurrency, not with the platforms (the documents wait
// for the write in temporary files).
func BenchmarkConvertManyPlatforms(b *testing.B) {
	reg := registrytest.Start(b, registrytest.Distribution, registrytest.Options{})
	for _, bb := range []struct{ platforms, conc int }{{2, 1}, {8, 1}, {8, 4}} {
		platforms, conc := bb.platforms, bb.conc
		b.Run(fmt.Sprintf("platforms=%d/concurrency=%d", platforms, conc), func(b *testing.B) {
			src, idx, size := sharedStatementLayout(b, platforms, 60000)
			defer debug.SetGCPercent(debug.SetGCPercent(5))
			b.SetBytes(size)
			b.ReportAllocs()
			var peak uint64
			for i := range b.N {
				b.StopTimer()
				r, _ := remote(b, reg.Host, fmt.Sprintf("app-p%d-c%d-%d", platforms, conc, i))
				push(b, r, src, idx, "v1")
				var res *convert.Result
				var err error
				peak = max(peak, heapwatch.Peak(time.Millisecond, func() {
					b.StartTimer()
					res, err = convert.Convert(context.Background(), r, "v1", convert.Options{MaxConcurrency: conc})
					b.StopTimer()
				}))
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

// spoolDirs returns the entries of dir, where Convert's temporary
// directories go (TMPDIR), failing t unless every one is a directory
// Convert made.
func spoolDirs(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "affix-convert-") {
			t.Errorf("unexpected %s in TMPDIR", e.Name())
		}
		out = append(out, e.Name())
	}
	return out
}

// TestConvertRemovesSpool: the documents Convert prepares wait for the
// write in a temporary directory, which is gone once Convert returns:
// after a convert that wrote them, one that refused after preparing them
// (stripping statements it does not publish), one whose write failed,
// and one cancelled during the write. A rerun that has nothing to write
// makes none.
func TestConvertRemovesSpool(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})

	// A failed write: the referrer manifest PUTs are refused.
	src, idx, _ := sharedStatementLayout(t, 3, 10)
	r, _ := remote(t, reg.Host, "failed")
	push(t, r, src, idx, "v1")
	proxy := registrytest.StartProxy(t, reg.Host)
	proxy.Inject(registrytest.Fault{Method: http.MethodPut, Path: "/manifests/sha256:", Action: registrytest.Status, Code: http.StatusForbidden})
	via, _ := remote(t, proxy.Host, "failed")
	if _, err := convert.Convert(ctx, via, "v1", convert.Options{}); err == nil {
		t.Fatal("convert through a registry refusing manifests succeeded")
	}
	if proxy.Injected() == 0 {
		t.Fatal("no referrer manifest PUT was refused")
	}
	if d := spoolDirs(t, tmp); len(d) > 0 {
		t.Errorf("after a failed write: %v left", d)
	}
	proxy.Clear()

	// Cancelled while the push waits on a held request.
	release := make(chan struct{})
	defer close(release)
	proxy.Inject(registrytest.Fault{Method: http.MethodPut, Path: "/manifests/sha256:", Action: registrytest.Hold, Release: release})
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		for proxy.Injected() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		if d := spoolDirs(t, tmp); len(d) != 1 {
			t.Errorf("during the write: %v, want one directory", d)
		}
		cancel()
	}()
	if _, err := convert.Convert(cctx, via, "v1", convert.Options{}); err == nil {
		t.Fatal("cancelled convert succeeded")
	}
	cancel()
	if d := spoolDirs(t, tmp); len(d) > 0 {
		t.Errorf("after a cancelled write: %v left", d)
	}
	proxy.Clear()

	// Written, then nothing to write.
	for run := range 2 {
		res, err := convert.Convert(ctx, via, "v1", convert.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{3, 0}[run]; res.Written() != want {
			t.Errorf("run %d wrote %d referrers, want %d", run, res.Written(), want)
		}
		if d := spoolDirs(t, tmp); len(d) > 0 {
			t.Errorf("after run %d: %v left", run, d)
		}
	}

	// Refused after prepare: stripping would drop the provenance.
	bsrc, bidx, _ := buildkitLayout(t, crafted{provenance: true})
	r, _ = remote(t, reg.Host, "refused")
	push(t, r, bsrc, bidx, "v1")
	_, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true})
	if !errors.Is(err, convert.ErrUnconverted) {
		t.Fatalf("strip with provenance: %v, want ErrUnconverted", err)
	}
	if d := spoolDirs(t, tmp); len(d) > 0 {
		t.Errorf("after a refusal: %v left", d)
	}
}
