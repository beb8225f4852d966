package sbomgen

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestDocumentDigest: a scan that writes the cache, and a cache hit, give
// each document's digest (the one the cache entry records, checked
// against the document); a scan without a cache gives none.
func TestDocumentDigest(t *testing.T) {
	dir, res := standard(t)
	l := openLayout(t, dir)
	ctx := context.Background()
	formats := []Format{SPDXJSON, CycloneDXJSON, SyftJSON}
	check := func(what string, r *Result, want bool) {
		t.Helper()
		for _, d := range r.Documents {
			switch {
			case !want && d.Digest != "":
				t.Errorf("%s: %s document has digest %s, want none", what, d.Format, d.Digest)
			case want && d.Digest != digest.FromBytes(d.Data):
				t.Errorf("%s: %s document has digest %q, want %s", what, d.Format, d.Digest, digest.FromBytes(d.Data))
			}
		}
	}
	r, err := newGen(t, Options{Formats: formats}).Image(ctx, l, res.Manifests[0])
	if err != nil {
		t.Fatal(err)
	}
	check("no cache", r, false)

	g := newGen(t, Options{Formats: formats, CacheDir: t.TempDir()})
	r, err = g.Image(ctx, l, res.Manifests[0])
	if err != nil {
		t.Fatal(err)
	}
	if r.Cached {
		t.Fatal("first scan: from the cache")
	}
	check("scan", r, true)
	r, err = g.Image(ctx, l, res.Manifests[0])
	if err != nil {
		t.Fatal(err)
	}
	if !r.Cached {
		t.Fatal("second scan: not from the cache")
	}
	check("cache hit", r, true)
}
