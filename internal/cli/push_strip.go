package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// warnStripped warns, before push --strip-attestations writes anything,
// about each attestation manifest among images (a push source's
// oci.Walk) that holds statements the pushed index loses and affix does
// not publish as referrers: SLSA provenance and any other predicate, and
// the SBOM statements too when sboms is false (--no-sbom), since then no
// SBOM replaces them. convert refuses to strip such statements without
// --drop-unconverted; push, asked to strip, strips, but says what goes.
func warnStripped(ctx context.Context, warn func(format string, args ...any), f oci.Fetcher, images []oci.Image, sboms bool) {
	platformOf := map[string]string{}
	for _, img := range images {
		if !img.Attestation {
			platformOf[img.Descriptor.Digest.String()] = img.String()
		}
	}
	for _, img := range images {
		if !img.Attestation {
			continue
		}
		of := "attestation manifest " + img.Descriptor.Digest.String()
		if p := platformOf[img.Descriptor.Annotations[oci.AnnotationDockerReferenceDigest]]; p != "" {
			of = p + "'s " + of
		}
		lost, err := lostStatements(ctx, f, img.Descriptor, sboms)
		switch {
		case err != nil:
			warn("--strip-attestations leaves out %s, which cannot be read to say what it holds: %v", of, err)
		case len(lost) > 0:
			warn("--strip-attestations leaves out %s, with %s: no referrer replaces them (push without --strip-attestations to keep them in the index)", of, strings.Join(lost, ", "))
		}
	}
}

// lostStatements reads the attestation manifest d from f and returns what
// its layers hold that a stripped push loses, each as "WHAT (PREDICATE)":
// every statement but the SBOMs when sboms, every one otherwise.
func lostStatements(ctx context.Context, f oci.Fetcher, d ocispec.Descriptor, sboms bool) ([]string, error) {
	b, err := oci.ReadBlob(ctx, f, d, 0)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", d.Digest, err)
	}
	var lost []string
	for _, l := range m.Layers {
		pt := l.Annotations[oci.AnnotationPredicateType]
		if sboms && oci.IsSBOMPredicate(pt) {
			continue
		}
		lost = append(lost, predicateKind(pt))
	}
	return lost, nil
}

// predicateKind names an in-toto statement by its predicate type pt.
func predicateKind(pt string) string {
	switch {
	case pt == "":
		return "a layer without a predicate type"
	case strings.HasPrefix(pt, "https://slsa.dev/provenance/"):
		return "SLSA provenance (" + pt + ")"
	case oci.IsSBOMPredicate(pt):
		return "an SBOM (" + pt + ")"
	}
	return "a statement (" + pt + ")"
}
