package sbomgen

import (
	"context"
	"os"
	"testing"

	"github.com/affix-oci/affix/internal/oci"
)

// TestLargeImagePeakHeap scans the first platform image of the layout
// $AFFIX_LARGE_LAYOUT (hack/largeimage gen) and writes the heap profile at
// the peak to $AFFIX_LARGE_LAYOUT_HEAPPROFILE when set; skipped without
// the layout.
func TestLargeImagePeakHeap(t *testing.T) {
	dir := os.Getenv("AFFIX_LARGE_LAYOUT")
	if dir == "" {
		t.Skip("AFFIX_LARGE_LAYOUT not set")
	}
	ctx := context.Background()
	l := openLayout(t, dir)
	images, err := oci.Walk(ctx, l, l.Roots()...)
	if err != nil {
		t.Fatal(err)
	}
	g := newGen(t, Options{Formats: []Format{SPDXJSON}})
	out := os.Getenv("AFFIX_LARGE_LAYOUT_HEAPPROFILE")
	p := startPeakHeap(out != "")
	r, err := g.Image(ctx, l, images[0].Descriptor)
	p.end()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; peak live heap %.1f MiB", r.PackageSummary(), float64(p.max)/(1<<20))
	if out != "" {
		if err := os.WriteFile(out, p.profile, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
