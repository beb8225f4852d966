package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/affix-oci/affix/internal/oci"
)

// missingSBOMError means no usable SBOM of the format was found for a subject;
// it says what was skipped and which SBOMs of other formats there are.
type missingSBOMError struct{ msg string }

// Error says what was looked for and why nothing was taken.
func (e *missingSBOMError) Error() string { return e.msg }

// platformSBOM returns the SBOM of img (findSBOM), verified with --verify
// (the "verified" line goes to stderr). The notes on SBOM referrers
// skipped on the way are printed, whichever way was taken, unless the
// error (no SBOM was found) lists them.
func (r *getRun) platformSBOM(img oci.Image) (*sbomSource, error) {
	r.pending = nil
	src, err := r.findSBOM(img)
	var missing *missingSBOMError
	if errors.As(err, &missing) {
		r.pending = nil
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
		fmt.Fprintln(r.cmd.ErrOrStderr(), line)
	}
	return src, nil
}

// findSBOM returns the SBOM of img from the first of these that has one:
// its referrers and BuildKit attestations (chooseSBOM), cosign's tag
// schemes (cosignTagSBOM), the referrers of the index that lists it
// (indexSBOM). A *missingSBOMError says why there is none.
func (r *getRun) findSBOM(img oci.Image) (*sbomSource, error) {
	subject := img.Descriptor.Digest
	list, err := r.readReferrers(img.String(), subject)
	if err != nil {
		return nil, err
	}
	src, err := r.chooseSBOM(subject, list)
	var missing *missingSBOMError
	if !errors.As(err, &missing) {
		return src, err
	}
	if src, err := r.cosignTagSBOM(subject); src != nil || err != nil {
		return src, err
	}
	if !oci.IsIndex(img.Parent.MediaType) {
		return nil, missing
	}
	return r.indexSBOM(img, missing)
}

// indexSBOM returns, for the platform image img that has no SBOM of the
// format (missing says why), the SBOM of the format attached to the index
// that lists it, with a note: some tools attach an image's SBOM to the
// tag (oras attach REF:TAG, cosign attest REF:TAG), and so to the index.
// Such a document may describe another platform, or all of them; --verify
// takes it only when it names img's manifest. When the index has none
// either, missing is returned, saying so.
func (r *getRun) indexSBOM(img oci.Image, missing *missingSBOMError) (*sbomSource, error) {
	index := img.Parent.Digest
	list, ok := r.indexRefs[index]
	if !ok {
		var err error
		if list, err = r.readReferrers("index", index); err != nil {
			return nil, fmt.Errorf("referrers of the index %s: %w", index, err)
		}
		r.indexRefs[index] = list
	}
	src, _, err := r.referrerSBOM(index, list)
	if err != nil {
		return nil, err
	}
	if src == nil {
		msg := missing.msg
		if other := r.otherSBOMFormats(list.refs); len(other) > 0 {
			msg += "; the index " + index.String() + " has " + strings.Join(other, " and ") + " SBOM referrers"
		}
		return nil, &missingSBOMError{msg}
	}
	src.OfIndex = index
	r.notef("%s (%s): %s; taking %s, attached to the whole image: it may describe another platform (--verify takes it only if it names %s)",
		r.refStr, img, missing.msg, src.describe(), img.Descriptor.Digest)
	return src, nil
}
