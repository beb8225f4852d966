package sbomgen

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
)

// TestLargeLayerHeapBounded: a layer holding a file far larger than the
// heap a scan may use is streamed to disk, never held whole: the live heap
// at the scan's peak grows by a fraction of the file's size. A memory
// bound, not a timing: a scan that read the layer or the file into
// memory would hold at least the file. The first scan builds what every
// scan shares (syft's license classifier, about 40 MiB, once per
// process); the second, by another generator, is measured.
func TestLargeLayerHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 256 MiB file")
	}
	const size = 256 << 20
	const bound = size / 8
	dir, res := func() (string, *fixture.Result) {
		spec := fixture.Spec{Images: []fixture.Image{{
			Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
			Layers: []fixture.Layer{{
				{Path: "etc/os-release", Data: []byte(fixture.DebianOSRelease)},
				{Path: "var/lib/dpkg/status", Data: []byte("Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\nDescription: libc\n\n")},
				{Path: "opt/big.bin", Data: make([]byte, size)},
			}},
		}}}
		return writeLayout(t, spec)
	}()
	l := openLayout(t, dir)
	ctx := context.Background()
	if _, err := newGen(t, Options{Formats: Formats()}).Image(ctx, l, res.Manifests[0]); err != nil {
		t.Fatal(err)
	}
	g := newGen(t, Options{Formats: Formats()})
	// The live heap is known at the end of each collection: collect
	// often, so that the peak is seen.
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	runtime.GC() // the fixture's file and the first scan are garbage now
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	p := startPeakHeap(false)
	r, err := g.Image(ctx, l, res.Manifests[0])
	p.end()
	if err != nil {
		t.Fatal(err)
	}
	grew := int64(p.max) - int64(base)
	t.Logf("%s; live heap %.1f MiB, at the scan's peak %.1f MiB", r.PackageSummary(), float64(base)/(1<<20), float64(p.max)/(1<<20))
	if grew > bound {
		t.Errorf("the live heap grew by %.1f MiB scanning a layer with a %d MiB file, want at most %d MiB", float64(grew)/(1<<20), size>>20, bound>>20)
	}
}
