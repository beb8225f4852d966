package oci_test

import (
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

func TestIsSBOMReferrer(t *testing.T) {
	inToto := func(pt string) ocispec.Descriptor {
		return ocispec.Descriptor{ArtifactType: oci.MediaTypeInToto, Annotations: map[string]string{oci.AnnotationPredicateType: pt}}
	}
	for _, tc := range []struct {
		name string
		r    ocispec.Descriptor
		want bool
	}{
		{"spdx", ocispec.Descriptor{ArtifactType: oci.MediaTypeSPDX}, true},
		{"cyclonedx", ocispec.Descriptor{ArtifactType: oci.MediaTypeCycloneDX}, true},
		{"cosign spdx", ocispec.Descriptor{ArtifactType: "text/spdx+json"}, true},
		{"cyclonedx unsuffixed", ocispec.Descriptor{ArtifactType: "application/vnd.cyclonedx"}, true},
		{"in-toto spdx (BuildKit)", inToto(oci.PredicateSPDX), true},
		{"in-toto spdx versioned", inToto("https://spdx.dev/Document/v2.3"), true},
		{"in-toto cyclonedx", inToto("https://cyclonedx.org/bom"), true},
		{"in-toto cyclonedx versioned", inToto("https://cyclonedx.org/bom/v1.6"), true},
		{"in-toto provenance", inToto("https://slsa.dev/provenance/v0.2"), false},
		{"in-toto spdx lookalike", inToto("https://spdx.dev/Documents"), false},
		{"in-toto without predicate", ocispec.Descriptor{ArtifactType: oci.MediaTypeInToto}, false},
		{"signature", ocispec.Descriptor{ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json"}, false},
		{"spdx predicate on another type", ocispec.Descriptor{ArtifactType: "application/vnd.example", Annotations: map[string]string{oci.AnnotationPredicateType: oci.PredicateSPDX}}, false},
		{"syft json", ocispec.Descriptor{ArtifactType: oci.MediaTypeSyftJSON}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := oci.IsSBOMReferrer(tc.r); got != tc.want {
				t.Errorf("IsSBOMReferrer(%s, %v) = %v, want %v", tc.r.ArtifactType, tc.r.Annotations, got, tc.want)
			}
		})
	}
}

func TestIsSPDX2Predicate(t *testing.T) {
	for pt, want := range map[string]bool{
		oci.PredicateSPDX:                true,
		"https://spdx.dev/Document/v2.3": true,
		"https://spdx.dev/Document/v2.2": true,
		"https://spdx.dev/Document/v3.0": false,
		"https://spdx.dev/Documents":     false,
		"https://cyclonedx.org/bom":      false,
	} {
		if got := oci.IsSPDX2Predicate(pt); got != want {
			t.Errorf("IsSPDX2Predicate(%q) = %v, want %v", pt, got, want)
		}
	}
}
