package convert_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/plugin/convert"
)

// TestConvertStripRootReads pins the reads of the root index in a strip:
// one GET by tag to resolve it (whose bytes the walk and the push's load
// reuse) and one GET by tag right before the tag is moved (the guard
// against a push meanwhile); none by digest.
func TestConvertStripRootReads(t *testing.T) {
	ctx := context.Background()
	src, root, _ := buildkitLayout(t, crafted{})
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	r, counter := remote(t, reg.Host, "reads")
	push(t, r, src, root, "v1")
	counter.Reset()
	res, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Index.Data != nil || res.NewIndex.Data != nil {
		t.Errorf("the result carries the index bytes")
	}
	byTag, byDigest := 0, 0
	for _, l := range counter.Log() {
		switch {
		case strings.HasPrefix(l, "GET /v2/reads/manifests/v1"):
			byTag++
		case strings.HasPrefix(l, "GET /v2/reads/manifests/"+root.Digest.String()):
			byDigest++
		}
	}
	if byTag != 2 || byDigest != 0 {
		t.Errorf("root index read %d times by tag, %d by digest; want 2 and 0:\n%s", byTag, byDigest, strings.Join(counter.Log(), "\n"))
	}
}

// TestConvertAttestationReads pins the reads of an attestation manifest
// listed without hints: the walk reads it to tell what it is, pair for
// its subject, the conversion for its layers; one GET serves all three.
func TestConvertAttestationReads(t *testing.T) {
	ctx := context.Background()
	src, root, manifests := buildkitLayout(t, crafted{noHints: true})
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	r, counter := remote(t, reg.Host, "attreads")
	push(t, r, src, root, "v1")
	counter.Reset()
	res, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Platforms) != len(manifests) || len(res.Stripped) != len(manifests) {
		t.Fatalf("%d platforms, %d stripped; want %d each", len(res.Platforms), len(res.Stripped), len(manifests))
	}
	for _, p := range res.Platforms {
		n := 0
		for _, l := range counter.Log() {
			if strings.HasPrefix(l, "GET /v2/attreads/manifests/"+p.Attestation.Digest.String()) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("attestation manifest %s read %d times, want once:\n%s", p.Attestation.Digest, n, strings.Join(counter.Log(), "\n"))
		}
	}
}

// TestConvertRerunRequests pins what a second convert of a converted,
// not stripped, two-platform index costs on distribution (no referrers
// API), as docs/plugin.md gives it: GETs of the tag, the attestation
// manifests, their statements and the referrers (API probe, referrers
// tag), and one HEAD per platform checking that the referrer its
// referrers tag lists is still there; no write. One platform at a time,
// the referrers API is probed once (GET 8); platforms read at once may
// each probe it (GET 9).
func TestConvertRerunRequests(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.Distribution, registrytest.Options{})
	src, root, _ := buildkitLayout(t, crafted{})
	r, counter := remote(t, reg.Host, "rerun")
	push(t, r, src, root, "v1")
	if _, err := convert.Convert(ctx, r, "v1", convert.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		concurrency int
		gets        []int
	}{{1, []int{8}}, {0, []int{8, 9}}} {
		counter.Reset()
		res, err := convert.Convert(ctx, r, "v1", convert.Options{MaxConcurrency: tt.concurrency})
		if err != nil {
			t.Fatal(err)
		}
		got := counter.Counts()
		if res.Written() != 0 || !slices.Contains(tt.gets, got["GET"]) || got["HEAD"] != 2 || counter.Total() != got["GET"]+2 {
			t.Errorf("second run, concurrency %d: written %d, requests %v; want 0, GET %v and HEAD 2:\n%s", tt.concurrency, res.Written(), got, tt.gets, strings.Join(counter.Log(), "\n"))
		}
	}
}
