package discover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/affix-oci/affix/internal/oci"
)

// missingSBOMError means no usable SBOM of the format was found for a subject;
// it says what was skipped and which SBOMs of other formats there are.
type missingSBOMError struct{ msg string }

// Error says what was looked for and why nothing was taken.
func (e *missingSBOMError) Error() string { return e.msg }

// Is makes a missingSBOMError ErrNoSBOM.
func (e *missingSBOMError) Is(target error) bool { return target == ErrNoSBOM }

// ErrNoSBOM is what PlatformSBOM's error is when the image has no usable
// SBOM of the format (the error says what was skipped and why), as
// opposed to a registry that could not be read.
var ErrNoSBOM = errors.New("no usable SBOM")

// PlatformSBOM returns the SBOM of img (findSBOM), verified with --verify
// (the "verified" line goes to stderr). The notes on SBOM referrers
// skipped on the way are printed, whichever way was taken, unless the
// error (no SBOM was found) lists them.
func (r *Search) PlatformSBOM(ctx context.Context, img oci.Image) (*Source, error) {
	r.pending = namedList{}
	src, err := r.findSBOM(ctx, img)
	var missing *missingSBOMError
	if errors.As(err, &missing) {
		r.pending = namedList{}
	}
	r.flushNotes()
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", r.refStr, img, err)
	}
	if r.verify {
		line, err := verifySBOM(r.refStr, img, r.format, src)
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(r.stderr, line)
	}
	return src, nil
}

// findSBOM returns the SBOM of img from the first of these that has one:
// its referrers and BuildKit attestations (chooseSBOM), cosign's tag
// schemes (cosignTagSBOM), the referrers of the index that lists it
// (indexSBOM). Among img's own, one whose document describes another
// image the index lists (otherImage, lists: another platform's) is no
// SBOM of img: it is skipped, with a note, with or without --verify; one
// that names an image the index does not list is taken, with a note
// (--verify then refuses it). A
// *missingSBOMError says why there is none, and, when some of img's own
// were skipped so, how to print one of those anyway.
func (r *Search) findSBOM(ctx context.Context, img oci.Image) (*Source, error) {
	subject := img.Descriptor.Digest
	list, err := r.readReferrers(ctx, img.String(), subject)
	if err != nil {
		return nil, err
	}
	// First an SBOM that names img (or no image); failing that, one
	// that names an image the index does not list.
	others, unlisted := 0, 0
	var named digest.Digest
	accept := func(takeUnlisted bool) acceptFunc {
		return func(src *Source) error {
			d := otherImage(img, r.namedImages(subject, src))
			switch {
			case d == "":
			case r.lists(d):
				others++
				return otherImageError(img, d)
			case !takeUnlisted:
				unlisted++
				return fmt.Errorf("it names image %s, which %s does not list", d, r.refStr)
			default:
				named = d
			}
			return nil
		}
	}
	src, err := r.chooseSBOM(ctx, subject, list, accept(false))
	var missing *missingSBOMError
	if errors.As(err, &missing) && unlisted > 0 {
		r.pending = namedList{} // the second look says it all
		others = 0
		src, err = r.chooseSBOM(ctx, subject, list, accept(true))
		if err == nil && !r.verify {
			r.notef("%s (%s): %s names image %s, which %s does not list (a scan of a local image, such as syft's of a Docker daemon's, names a digest of its own): taken as the platform's SBOM; --verify refuses it", r.refStr, img, src.Describe(), named, r.refStr)
		}
	}
	if !errors.As(err, &missing) {
		return src, err
	}
	if src, err := r.cosignTagSBOM(ctx, subject); src != nil || err != nil {
		return src, err
	}
	if oci.IsIndex(img.Parent.MediaType) {
		if src, err = r.indexSBOM(ctx, img, missing); !errors.As(err, &missing) {
			return src, err
		}
	}
	if others > 0 {
		missing.msg += referrerHint
	}
	return nil, missing
}

// referrerHint ends the error that no SBOM of a platform was found when
// some of its own were skipped for describing another image.
const referrerHint = "; affix get --referrer DIGEST prints a given one anyway (and --verify fails it)"

// indexSBOM returns, for the platform image img that has no SBOM of the
// format (missing says why, and is returned, saying more, when the index
// has none either), the SBOM of the format attached to the index that
// lists it, with a note: some tools attach an image's SBOM to the tag
// (oras attach REF:TAG, cosign attest REF:TAG), and so to the index. One
// whose document names another image (another platform's manifest) is
// no SBOM of img: it is skipped, as one of another subject is, with or
// without --verify; so is, with --all-platforms, one that names no image
// (each platform would get the same document), and, with --verify, one
// that does not name img's manifest (verifySBOM would refuse it).
func (r *Search) indexSBOM(ctx context.Context, img oci.Image, missing *missingSBOMError) (*Source, error) {
	index := img.Parent.Digest
	list, ok := r.indexRefs[index]
	if !ok {
		var err error
		if list, err = r.readReferrers(ctx, "index", index); err != nil {
			return nil, fmt.Errorf("referrers of the index %s: %w", index, err)
		}
		r.indexRefs[index] = list
	}
	src, skipped, err := r.referrerSBOM(ctx, index, list, func(src *Source) error {
		_, err := r.indexNaming(img, src)
		return err
	})
	if err != nil {
		return nil, err
	}
	if src == nil {
		msg := missing.msg
		if skipped.len() > 0 {
			msg += fmt.Sprintf("; none of the %s SBOM referrers of the index %s fits: %s", r.format, index, skipped.join("; "))
		} else if other := r.otherSBOMFormats(ctx, list.refs); len(other) > 0 {
			msg += "; the index " + index.String() + " has " + strings.Join(other, " and ") + " SBOM referrers"
		}
		return nil, &missingSBOMError{msg}
	}
	src.OfIndex = index
	names, _ := r.indexNaming(img, src)
	r.notef("%s (%s): no %s SBOM of the platform manifest %s; taking %s, attached to the whole image: %s", r.refStr, img, r.format, img.Descriptor.Digest, src.Describe(), names)
	return src, nil
}

// indexNaming says what the document src, attached to the index that
// lists img, names (namedImages): img's manifest, the index (the whole
// image) or no image. It is an error when src is no SBOM of img: it names
// another image (otherImage), or (--all-platforms) no image.
func (r *Search) indexNaming(img oci.Image, src *Source) (string, error) {
	want, index := img.Descriptor.Digest, img.Parent.Digest
	names := r.namedImages(want, src)
	if d := otherImage(img, names); d != "" {
		return "", otherImageError(img, d)
	}
	switch {
	case r.verify && !slices.Contains(names, want):
		// Taken, it would fail the verification: an older one that
		// names the manifest may not.
		return "", fmt.Errorf("--verify takes an SBOM of the index only when it names %s's manifest %s", img, want)
	case len(names) == 0 && r.all:
		return "", errors.New("it names no image, and --all-platforms takes an SBOM of the index only when it names the platform's manifest or the index")
	case len(names) == 0:
		return fmt.Sprintf("it names no image: it may describe another platform (--verify takes it only if it names %s)", want), nil
	case slices.Contains(names, index):
		return fmt.Sprintf("it describes the index, the whole image, not %s alone (--verify takes it only if it names %s)", img, want), nil
	}
	return fmt.Sprintf("it names %s's manifest %s", img, want), nil
}

// namedImages returns the images the document src names, by digests of
// want's algorithm: the document's own word (its described package's
// purl, sbomgen.DescribedDigest), else the subjects of the in-toto
// statement it came in (BuildKit's attestations, --keep-intoto and
// cosign attest referrers) whose digest is valid; none when neither names
// one (a document that cannot be read names none).
func (r *Search) namedImages(want digest.Digest, src *Source) []digest.Digest {
	if d, err := src.describedDigest(r.format); err == nil {
		return []digest.Digest{d}
	}
	if src.Statement == nil {
		return nil
	}
	var names []digest.Digest
	if want.Validate() != nil {
		return nil
	}
	for _, s := range src.Statement.Subject {
		if v, ok := s.Digest[want.Algorithm().String()]; ok {
			// A statement may say anything: a digest that is none
			// names no image.
			if d := digest.NewDigestFromEncoded(want.Algorithm(), v); d.Validate() == nil {
				names = append(names, d)
			}
		}
	}
	return names
}

// lists reports whether d is a manifest (or index) the image read lists:
// a document that names one of them, attached to another platform's
// manifest, is surely not that platform's SBOM. One that names a digest
// the image does not list may be a scan of the same image made elsewhere
// (a local Docker image's, whose manifest digest its tool computed).
func (r *Search) lists(d digest.Digest) bool {
	return slices.ContainsFunc(r.images, func(img oci.Image) bool {
		return img.Descriptor.Digest == d || img.Parent.Digest == d
	})
}

// otherImage returns the first of names that is another image than img's
// manifest and the index that lists it (the whole image); "" when there
// is none. A document that names one is no SBOM of img, wherever it is
// attached: get skips it, with or without --verify.
func otherImage(img oci.Image, names []digest.Digest) digest.Digest {
	want, index := img.Descriptor.Digest, img.Parent.Digest
	if i := slices.IndexFunc(names, func(d digest.Digest) bool { return d != want && (index == "" || d != index) }); i >= 0 {
		return names[i]
	}
	return ""
}

// otherImageError says that a document found for img describes the
// image named instead.
func otherImageError(img oci.Image, named digest.Digest) error {
	if img.Parent.Digest == "" {
		return fmt.Errorf("it describes image %s, not %s's manifest %s", named, img, img.Descriptor.Digest)
	}
	return fmt.Errorf("it describes image %s, not %s's manifest %s nor the index", named, img, img.Descriptor.Digest)
}
