package sbomgen

import (
	"bytes"
	"context"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/sbomgen/internal/manypkgs"
)

var manyLayouts = map[string]*sharedLayout{"owned-files": {}, "no-files": {}}

// manyCounts are the images of about 5000 packages the tests scan: with
// two files owned by each deb package, which syft digests (the peak is in
// syft's cataloging), and with none (the peak is in encoding).
var manyCounts = map[string]manypkgs.Counts{
	"owned-files": manypkgs.Default,
	"no-files":    {Deb: manypkgs.Default.Deb, NPM: manypkgs.Default.NPM, Python: manypkgs.Default.Python},
}

// many returns the (shared, read-only) layout of manyCounts[name].
func many(t testing.TB, name string) (string, *fixture.Result) {
	return manyLayouts[name].get(t, "many-"+name, func() (fixture.Spec, error) { return manypkgs.Spec(manyCounts[name]), nil })
}

// peakHeap polls the live heap (as of the last garbage collection) every
// few milliseconds until stopped, and keeps the heap profile taken when it
// was largest: the memory a scan holds at its peak, by allocation site.
type peakHeap struct {
	stop    chan struct{}
	done    sync.WaitGroup
	max     uint64
	profile []byte
}

func startPeakHeap(withProfile bool) *peakHeap {
	p := &peakHeap{stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > p.max {
				p.max = v
				if withProfile {
					var buf bytes.Buffer
					if pprof.Lookup("heap").WriteTo(&buf, 0) == nil {
						p.profile = buf.Bytes()
					}
				}
			}
		}
	}()
	return p
}

func (p *peakHeap) end() { close(p.stop); p.done.Wait() }

// TestManyPackagesPeakHeap writes the heap profile at the peak of a scan
// of about 5000 packages (SPDX) to $AFFIX_PEAK_HEAPPROFILE-NAME.pb.gz, NAME
// a key of manyCounts (go tool pprof -sample_index=inuse_space FILE);
// skipped when the variable is unset.
func TestManyPackagesPeakHeap(t *testing.T) {
	out := os.Getenv("AFFIX_PEAK_HEAPPROFILE")
	if out == "" {
		t.Skip("AFFIX_PEAK_HEAPPROFILE not set")
	}
	for name := range manyCounts {
		t.Run(name, func(t *testing.T) { peakHeapProfile(t, name, out+"-"+name+".pb.gz") })
	}
}

func peakHeapProfile(t *testing.T, name, out string) {
	dir, res := many(t, name)
	l := openLayout(t, dir)
	g := newGen(t, Options{Formats: []Format{SPDXJSON}})
	ctx := context.Background()
	if _, err := g.Image(ctx, l, res.Manifests[0]); err != nil { // one-time setup out of the way
		t.Fatal(err)
	}
	p := startPeakHeap(true)
	r, err := g.Image(ctx, l, res.Manifests[0])
	p.end()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; peak live heap %.1f MiB", r.PackageSummary(), float64(p.max)/(1<<20))
	if err := os.WriteFile(out, p.profile, 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkScanManyPackages scans an image of about 5000 packages
// (manyCounts) into SPDX, or into every format, after one warm-up scan. peak-live-MiB is
// the largest live heap seen during the scans (sampled at garbage
// collections).
func BenchmarkScanManyPackages(b *testing.B) {
	for _, c := range []struct {
		layout, name string
		formats      []Format
	}{
		{"owned-files", "spdx", []Format{SPDXJSON}},
		{"no-files", "spdx", []Format{SPDXJSON}},
		{"no-files", "all", []Format{SPDXJSON, CycloneDXJSON, SyftJSON}},
	} {
		fs := c.formats
		b.Run(c.layout+"/"+c.name, func(b *testing.B) {
			dir, res := many(b, c.layout)
			l := openLayout(b, dir)
			g := newGen(b, Options{Formats: fs})
			ctx := context.Background()
			if _, err := g.Image(ctx, l, res.Manifests[0]); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			p := startPeakHeap(false)
			for b.Loop() {
				if _, err := g.Image(ctx, l, res.Manifests[0]); err != nil {
					b.Fatal(err)
				}
			}
			p.end()
			b.ReportMetric(float64(p.max)/(1<<20), "peak-live-MiB")
		})
	}
}
