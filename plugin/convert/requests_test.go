package convert_test

import (
	"context"
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
