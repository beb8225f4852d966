package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/printable"
	"github.com/affix-oci/affix/internal/version"
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
// documents, license reports, other SBOMs) as they are, so that a push
// loses nothing the layout holds for the image without saying so.
type layoutReferrers struct {
	l *oci.Layout
	// refs are the layout's referrers by subject (oci.SplitRoots).
	refs map[digest.Digest][]ocispec.Descriptor
	// drop says why the referrer r of subject is not to be pushed, ""
	// when it is.
	drop func(subject digest.Digest, r ocispec.Descriptor) string
	// warn receives a warning per referrer left out (see NewWarnf).
	warn func(format string, args ...any)
}

// madeByAffix reports whether a referrer with these (manifest)
// annotations is an SBOM affix made: its generator annotation names affix.
func madeByAffix(annotations map[string]string) bool {
	return strings.HasPrefix(annotations[oci.AnnotationGenerator], version.GeneratorPrefix)
}

// sameSBOMKind reports whether a and b are SBOM referrers of one kind:
// artifact type and, for in-toto statements, predicate type.
func sameSBOMKind(a, b ocispec.Descriptor) bool {
	return a.ArtifactType == b.ArtifactType && a.Annotations[oci.AnnotationPredicateType] == b.Annotations[oci.AnnotationPredicateType]
}

// push attaches, level by level, every referrer of subjects (and of the
// referrers written, in turn) that is not written yet, each after its
// subject, unless drop says otherwise. written holds every referrer the
// push wrote already (its SBOMs, reused ones among them, whose own
// referrers then go too); notWritten names the subjects of the layout the
// push does not write, and why. Each referrer left out, and each referrer
// of one left out, gets a warning naming it, its subject and why. It
// returns the referrers it published.
func (x *layoutReferrers) push(ctx context.Context, p *exporter.Push, subjects []digest.Digest, written map[digest.Digest]bool, notWritten map[digest.Digest]string) ([]layoutReferrerMeta, error) {
	var out []layoutReferrerMeta
	seen := map[digest.Digest]bool{}
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
				if written[r.Digest] {
					next = append(next, r.Digest)
					continue
				}
				why := x.drop(s, r)
				if why == "" && r.MediaType != ocispec.MediaTypeImageManifest {
					why = fmt.Sprintf("it is a %s; affix pushes referrers that are image manifests", r.MediaType)
				}
				if why != "" {
					x.warnf(r, s, why)
					notWritten[r.Digest] = "a referrer not pushed"
					continue
				}
				work = append(work, layoutReferrerMeta{Subject: s, Digest: r.Digest, ArtifactType: r.ArtifactType})
				descs = append(descs, r)
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
	// The referrers of what is not written, and theirs in turn.
	subjects = slices.Sorted(maps.Keys(notWritten))
	for len(subjects) > 0 {
		var next []digest.Digest
		for _, s := range subjects {
			for _, r := range x.refs[s] {
				if seen[r.Digest] || written[r.Digest] {
					continue
				}
				seen[r.Digest] = true
				x.warnf(r, s, fmt.Sprintf("its subject is %s", notWritten[s]))
				notWritten[r.Digest] = "a referrer not pushed"
				next = append(next, r.Digest)
			}
		}
		subjects = next
	}
	return out, nil
}

// warnf warns that the layout's referrer r of subject is not pushed, and
// why; the artifact type and the reason, which another tool wrote, are
// printed escaped.
func (x *layoutReferrers) warnf(r ocispec.Descriptor, subject digest.Digest, why string) {
	x.warn("%s: referrer %s (%s) of %s not pushed: %s", x.l.Source(), r.Digest, printable.String(r.ArtifactType), subject, printable.String(why))
}
