package oci

import (
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// IsSBOMType reports whether t is an SBOM artifact (or layer) media type:
// SPDX or CycloneDX JSON, including cosign's text/spdx+json and the
// unsuffixed application/vnd.cyclonedx.
func IsSBOMType(t string) bool {
	switch t {
	case MediaTypeSPDX, MediaTypeCycloneDX, "text/spdx+json", "application/vnd.cyclonedx":
		return true
	}
	return false
}

// IsSPDX2Predicate reports whether pt is the in-toto predicate type of an
// SPDX 2 document, what affix get prints as spdx-json: PredicateSPDX, as
// BuildKit writes it, or with a 2.x version after it
// (https://spdx.dev/Document/v2.3, as in-toto's predicate list names it).
func IsSPDX2Predicate(pt string) bool {
	return pt == PredicateSPDX || strings.HasPrefix(pt, PredicateSPDX+"/v2.")
}

// IsSBOMPredicate reports whether pt is the in-toto predicate type of an
// SBOM: SPDX (https://spdx.dev/Document, as BuildKit writes it, or with a
// version after it) or CycloneDX (https://cyclonedx.org/bom, any version).
func IsSBOMPredicate(pt string) bool {
	return pt == PredicateSPDX || strings.HasPrefix(pt, PredicateSPDX+"/") ||
		strings.HasPrefix(pt, "https://cyclonedx.org/bom")
}

// IsSBOMReferrer reports whether r, a referrer descriptor (its
// annotations those of the referrer manifest), is an SBOM: an SBOM
// artifact type, or an in-toto statement whose predicate type annotation
// is an SBOM's. Every command that tells SBOM referrers from other
// artifacts (push, convert, ls) decides with it.
func IsSBOMReferrer(r ocispec.Descriptor) bool {
	return IsSBOMType(r.ArtifactType) ||
		r.ArtifactType == MediaTypeInToto && IsSBOMPredicate(r.Annotations[AnnotationPredicateType])
}
