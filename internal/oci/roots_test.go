package oci_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
)

// addRoot writes v as a blob of the layout in dir and lists it in
// index.json.
func addRoot(t *testing.T, dir, mt string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()), b, 0o644); err != nil {
		t.Fatal(err)
	}
	addRootDescriptor(t, dir, d)
	return d
}

// TestSplitRoots checks that referrers listed in index.json beside the
// image (as affix build --output and oras attach --oci-layout write them)
// are not taken for images, and that an image listed twice counts once.
func TestSplitRoots(t *testing.T) {
	ctx := context.Background()
	dir, res := writeVariants(t, fixture.Variants())
	sbom := []byte(`{"spdxVersion":"SPDX-2.3"}`)
	layer := ocispec.Descriptor{MediaType: "application/spdx+json", Digest: digest.FromBytes(sbom), Size: int64(len(sbom))}
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", layer.Digest.Encoded()), sbom, 0o644); err != nil {
		t.Fatal(err)
	}
	subject := res.Manifests[1]
	referrer := addRoot(t, dir, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/spdx+json",
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{layer},
		Subject:      &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations:  map[string]string{ocispec.AnnotationCreated: "2026-01-02T03:04:05Z"},
	})
	addRootDescriptor(t, dir, referrer) // listed twice, returned once
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", ocispec.DescriptorEmptyJSON.Digest.Encoded()), ocispec.DescriptorEmptyJSON.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	// The same index under a second name.
	idx := res.Index
	idx.Annotations = map[string]string{ocispec.AnnotationRefName: "second"}
	addRootDescriptor(t, dir, idx)

	l, err := oci.OpenLayout(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n := len(l.Roots()); n != 4 {
		t.Fatalf("index.json lists %d roots, want 4", n)
	}
	images, refs, err := oci.SplitRoots(ctx, l, l.Roots())
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 1 || images[0].Digest != res.Index.Digest {
		t.Errorf("images = %v, want only the index %s", images, res.Index.Digest)
	}
	if got := refs[subject.Digest]; len(got) != 1 || got[0].Digest != referrer.Digest {
		t.Errorf("referrers of %s = %v, want %s", subject.Digest, got, referrer.Digest)
	} else if got[0].ArtifactType != "application/spdx+json" || got[0].Annotations[ocispec.AnnotationCreated] != "2026-01-02T03:04:05Z" {
		// index.json's entry has neither: they come from the manifest,
		// as the referrers API gives them.
		t.Errorf("referrer descriptor = %+v, want the manifest's artifactType and annotations", got[0])
	}
	walked, err := oci.Walk(ctx, l, images...)
	if err != nil {
		t.Fatal(err)
	}
	if len(walked) != len(res.Manifests) {
		t.Errorf("Walk found %d images, want %d", len(walked), len(res.Manifests))
	}

	// One root is returned as is, without reading it.
	one := []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("missing"), Size: 1}}
	if images, refs, err := oci.SplitRoots(ctx, l, one); err != nil || len(images) != 1 || refs != nil {
		t.Errorf("SplitRoots(one) = %v, %v, %v", images, refs, err)
	}
	// A root whose blob is missing is an error naming it; ClassifyRoots
	// sets it aside and classifies the rest.
	two := append(one, res.Index)
	if _, _, err := oci.SplitRoots(ctx, l, two); err == nil || !strings.Contains(err.Error(), one[0].Digest.String()) {
		t.Errorf("SplitRoots with a missing blob: %v, want an error naming %s", err, one[0].Digest)
	}
	images, _, bad := oci.ClassifyRoots(ctx, l, two)
	if len(images) != 1 || images[0].Digest != res.Index.Digest || len(bad) != 1 || bad[one[0].Digest] == nil {
		t.Errorf("ClassifyRoots = %v, unreadable %v; want the index, and the missing root set aside", images, bad)
	}
}

// addRootDescriptor lists d (whose blob exists) in index.json again.
func addRootDescriptor(t *testing.T, dir string, d ocispec.Descriptor) {
	t.Helper()
	var idx ocispec.Index
	ib, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ib, &idx); err != nil {
		t.Fatal(err)
	}
	idx.Manifests = append(idx.Manifests, d)
	if ib, err = json.Marshal(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), ib, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSplitRootsReferrersTag: a referrers tag schema index in index.json
// (regctl artifact put on an ocidir:// layout) is no image; what it lists
// are referrers of the digest its tag names. A tag that only looks like
// one is an image tag.
func TestSplitRootsReferrersTag(t *testing.T) {
	ctx := context.Background()
	dir, res := writeVariants(t, fixture.Variants())
	subject := res.Manifests[0]
	entry := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("vex manifest"), Size: 12,
		ArtifactType: "application/vnd.example.vex+json", Annotations: map[string]string{"org.example": "x"}}
	tagIdx := addRoot(t, dir, ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{entry}})
	// addRoot listed it unnamed; name it as the referrers tag.
	var idx ocispec.Index
	b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	json.Unmarshal(b, &idx)
	idx.Manifests[len(idx.Manifests)-1].Annotations = map[string]string{ocispec.AnnotationRefName: "sha256-" + subject.Digest.Encoded()}
	// An image whose tag merely resembles one.
	lookalike := res.Index
	lookalike.Annotations = map[string]string{ocispec.AnnotationRefName: "sha256-abc"}
	idx.Manifests = append(idx.Manifests, lookalike)
	b, _ = json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644)

	l, err := oci.OpenLayout(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	images, refs, err := oci.SplitRoots(ctx, l, l.Roots())
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 1 || images[0].Digest != res.Index.Digest {
		t.Errorf("images %v, want only the index (the tag index %s is none)", images, tagIdx.Digest)
	}
	if got := refs[subject.Digest]; len(got) != 1 || got[0].Digest != entry.Digest || got[0].ArtifactType != entry.ArtifactType {
		t.Errorf("referrers of %s = %+v, want the tag index's entry", subject.Digest, got)
	}
}
