package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
)

// layoutReferrerMeta is a referrer of the layout that push published as
// it is (not one of its own SBOMs).
type layoutReferrerMeta struct {
	Subject      digest.Digest `json:"subject"`
	Digest       digest.Digest `json:"digest"`
	ArtifactType string        `json:"artifactType"`
}

// layoutReferrers publishes the referrers a layout lists beside the image
// it pushes (what oras attach --oci-layout added: signatures, VEX
// documents, license reports) as they are, so that a push loses nothing
// the layout holds for the image. The SBOMs the push publishes itself are
// not among them: a layout SBOM of a format the push publishes was either
// reused (pushed already, same digest) or replaced by a new scan (--name,
// --no-cache), and with --no-sbom no SBOM is pushed.
type layoutReferrers struct {
	l *oci.Layout
	// refs are the layout's referrers by subject (oci.SplitRoots).
	refs map[digest.Digest][]ocispec.Descriptor
	// own reports whether a referrer of a platform manifest is an SBOM of
	// a kind the push publishes itself (or, with --no-sbom, withholds).
	own func(ocispec.Descriptor) bool
	// ownWhy says why such an SBOM is not pushed from the layout.
	ownWhy string
	// warn receives a line per referrer left out.
	warn io.Writer
}

// ownSBOM reports whether r is an SBOM referrer in one of formats, or, with
// noSBOM, any SBOM referrer (SPDX or CycloneDX, or an SPDX in-toto
// statement).
func ownSBOM(r ocispec.Descriptor, formats []referrerFormat, noSBOM bool) bool {
	spdxStatement := r.ArtifactType == oci.MediaTypeInToto && r.Annotations[oci.AnnotationPredicateType] == oci.PredicateSPDX
	if noSBOM {
		return exporter.IsSBOMType(r.ArtifactType) || spdxStatement
	}
	for _, f := range formats {
		if r.ArtifactType == f.artifactType() && (!f.inToto || spdxStatement) {
			return true
		}
	}
	return false
}

// push attaches, level by level, every referrer of the written manifests
// (and of the referrers written, in turn) that the push has not written
// yet, each after its subject. images are the manifests the push writes,
// the root among them unless its digest changes; written holds every
// referrer written already. Referrers of what is not written (a replaced
// SBOM, a stripped attestation, an index that gets a new digest) are left
// out with a warning naming them and why. It returns the referrers it
// published.
func (x *layoutReferrers) push(ctx context.Context, p *exporter.Push, images []digest.Digest, written map[digest.Digest]bool, notWritten map[digest.Digest]string) ([]layoutReferrerMeta, error) {
	var out []layoutReferrerMeta
	isImage := map[digest.Digest]bool{}
	for _, d := range images {
		isImage[d] = true
	}
	seen := map[digest.Digest]bool{}
	subjects := images
	for len(subjects) > 0 {
		var next []digest.Digest
		var work []layoutReferrerMeta
		var descs []ocispec.Descriptor
		for _, s := range subjects {
			for _, r := range x.refs[s] {
				if seen[r.Digest] {
					continue
				}
				seen[r.Digest] = true
				switch {
				case written[r.Digest]:
					next = append(next, r.Digest) // a reused SBOM: its own referrers go too
				case isImage[s] && x.own(r):
					notWritten[r.Digest] = x.ownWhy
				default:
					work = append(work, layoutReferrerMeta{Subject: s, Digest: r.Digest, ArtifactType: r.ArtifactType})
					descs = append(descs, r)
				}
			}
		}
		eg, ectx := errgroup.WithContext(ctx)
		for i, r := range descs {
			eg.Go(func() error {
				if _, err := p.AttachFrom(ectx, x.l, r); err != nil {
					return fmt.Errorf("%s: referrer %s (%s) of %s: %w", x.l.Source(), r.Digest, r.ArtifactType, work[i].Subject, err)
				}
				return nil
			})
		}
		if err := eg.Wait(); err != nil {
			return nil, err
		}
		for _, w := range work {
			written[w.Digest] = true
			next = append(next, w.Digest)
		}
		out = append(out, work...)
		subjects = next
	}
	for _, s := range slices.Sorted(maps.Keys(notWritten)) {
		why := notWritten[s]
		for _, r := range x.refs[s] {
			if !written[r.Digest] {
				fmt.Fprintf(x.warn, "affix: warning: %s: referrer %s (%s) not pushed: its subject %s is %s\n", x.l.Source(), r.Digest, r.ArtifactType, s, why)
			}
		}
	}
	return out, nil
}
