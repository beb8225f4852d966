package discover

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/printable"
	"github.com/affix-oci/affix/sbomgen"
)

// pickKind is what holds the manifest --referrer names.
type pickKind int

const (
	// pickReferrer: the subject's referrers list (API or referrers tag).
	pickReferrer pickKind = iota
	// pickAttestation: a BuildKit attestation manifest the index lists
	// for the platform manifest.
	pickAttestation
	// pickCosignTag: cosign's sha256-<hex>.sbom or .att tag.
	pickCosignTag
)

// pickSubject is a manifest whose attachments get --referrer searches: a
// platform manifest, or an index.
type pickSubject struct {
	img   oci.Image // an index is Image{Descriptor: index}
	index bool
	list  referrerList
	// atts are the BuildKit attestation manifests the index lists for
	// a platform manifest.
	atts []ocispec.Descriptor
	// tags are cosign's tags of the subject that exist, and their
	// manifests.
	tags []cosignTagRead
}

// cosignTagRead is one of cosign's tags as read.
type cosignTagRead struct {
	tag string
	d   ocispec.Descriptor
	m   *ocispec.Manifest
}

// picked is the manifest --referrer names, where it was found.
type picked struct {
	s    *pickSubject
	d    ocispec.Descriptor
	kind pickKind
	tag  *cosignTagRead
}

// DigestSBOM is PlatformSBOM for get --referrer: the SBOM in the manifest
// want (pickedSBOM) and the image it is an SBOM of, verified with
// --verify (the "verified" line goes to stderr).
func (r *Search) DigestSBOM(ctx context.Context, imgs []oci.Image, root ocispec.Descriptor, want digest.Digest, formats []sbomgen.Format, explicit bool) (oci.Image, *Source, error) {
	img, src, err := r.pickedSBOM(ctx, imgs, root, want, formats, explicit)
	r.flushNotes()
	if err != nil {
		return img, nil, err
	}
	if r.verify {
		line, err := verifySBOM(r.refStr, img, r.format, src)
		if err != nil {
			return img, nil, err
		}
		fmt.Fprintln(r.stderr, line)
	}
	return img, src, nil
}

// pickedSBOM returns the SBOM in the manifest want, as get --referrer
// selects it, and the image it is an SBOM of. want is searched among what
// affix ls shows under each image of imgs (one, or every platform image
// when REF is a multi-platform index and no --platform was given), in
// order, then under the indexes that list them: the referrers (API or
// referrers tag), the BuildKit attestation manifests the index lists for
// a platform; only when none of those is want, cosign's .sbom and .att
// tags (two reads per manifest). formats are the formats to read it in:
// --format's, else every format, the first that the manifest holds a
// document of winning. r.format is left at the format taken.
//
// A referrer of the index is taken for the one platform image of imgs
// only when its document may describe it (indexNaming, as for get's
// fallback to the index); with several (no --platform), it is an SBOM of
// the index itself, and --verify checks it against the index.
func (r *Search) pickedSBOM(ctx context.Context, imgs []oci.Image, root ocispec.Descriptor, want digest.Digest, formats []sbomgen.Format, explicit bool) (oci.Image, *Source, error) {
	subjects := r.pickSubjects(imgs, root)
	p, err := r.findPicked(ctx, subjects, want)
	if err != nil {
		return oci.Image{}, nil, err
	}
	img, s := p.s.img, p.s
	if s.index && len(imgs) == 1 {
		img = imgs[0]
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s (%s): %s", r.refStr, ImageName(img), fmt.Sprintf(format, args...))
	}
	what := pickedName(p)
	cands := pickedFormats(p)
	if len(cands) == 0 {
		return img, nil, fail("%s is not an SBOM: its artifact type %q is none that get reads (SBOM, in-toto, Sigstore bundle or BuildKit attestation)", what, p.d.ArtifactType)
	}
	if explicit && !slices.Contains(cands, formats[0]) {
		return img, nil, fail("%s holds no %s document (it may hold %s): --format %s, or leave --format out", what, formats[0], formatNames(cands), cands[0])
	}
	var whys []string
	for _, f := range formats {
		if !slices.Contains(cands, f) {
			continue
		}
		r.format = f
		src, why, err := r.pickedDoc(ctx, p)
		if err != nil {
			return img, nil, fmt.Errorf("%s: %w", what, err)
		}
		if src == nil {
			whys = append(whys, fmt.Sprintf("%s: %s", f, why))
			if !explicit {
				continue
			}
			// Named by --format: say which format it holds, if any
			// (a probe: its notes, on a format not asked for, are
			// dropped).
			for _, g := range cands {
				if g == f {
					continue
				}
				r.format = g
				var other *Source
				r.quietly(func() { other, _, err = r.pickedDoc(ctx, p) })
				if err == nil && other != nil {
					r.format = f
					return img, nil, fail("%s is a %s SBOM, not %s: --format %s, or leave --format out", what, g, f, g)
				}
			}
			r.format = f
			break
		}
		if s.index {
			src.OfIndex = s.img.Descriptor.Digest
			if len(imgs) == 1 {
				names, err := r.indexNaming(img, src)
				if err != nil {
					return img, nil, fail("%s of the index %s is no SBOM of %s: %v", what, s.img.Descriptor.Digest, ImageName(img), err)
				}
				r.notef("%s (%s): %s is attached to the index %s, the whole image: %s", r.refStr, ImageName(img), what, s.img.Descriptor.Digest, names)
			} else {
				// The index's own SBOM: verified against the index.
				src.OfIndex = ""
				r.notef("%s (index): %s is attached to the index %s, the whole image (--verify checks it against the index)", r.refStr, what, s.img.Descriptor.Digest)
			}
		}
		return img, src, nil
	}
	return img, nil, fail("%s is not a usable SBOM: %s", what, strings.Join(whys, "; "))
}

// pickSubjects returns the manifests get --referrer searches: imgs, then
// the indexes that list them, then root when it is an index they do not
// name (a nested index), each once.
func (r *Search) pickSubjects(imgs []oci.Image, root ocispec.Descriptor) []*pickSubject {
	var out []*pickSubject
	seen := map[digest.Digest]bool{}
	for _, img := range imgs {
		out = append(out, &pickSubject{img: img})
		seen[img.Descriptor.Digest] = true
	}
	indexes := make([]ocispec.Descriptor, 0, len(imgs)+1)
	for _, img := range imgs {
		if oci.IsIndex(img.Parent.MediaType) {
			indexes = append(indexes, img.Parent)
		}
	}
	if oci.IsIndex(root.MediaType) {
		indexes = append(indexes, root)
	}
	for _, d := range indexes {
		if !seen[d.Digest] {
			seen[d.Digest] = true
			out = append(out, &pickSubject{img: oci.Image{Descriptor: ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}}, index: true})
		}
	}
	return out
}

// findPicked finds the manifest want among what subjects show: the
// referrers and BuildKit attestations of each in order, then cosign's
// tags of each. Not found, the error lists what each has.
func (r *Search) findPicked(ctx context.Context, subjects []*pickSubject, want digest.Digest) (*picked, error) {
	for _, s := range subjects {
		if err := r.readSubject(ctx, s); err != nil {
			return nil, err
		}
		if i := slices.IndexFunc(s.list.refs, func(d ocispec.Descriptor) bool { return d.Digest == want }); i >= 0 {
			return &picked{s: s, d: s.list.refs[i], kind: pickReferrer}, nil
		}
		if i := slices.IndexFunc(s.atts, func(d ocispec.Descriptor) bool { return d.Digest == want }); i >= 0 {
			return &picked{s: s, d: s.atts[i], kind: pickAttestation}, nil
		}
	}
	if st, ok := r.tgt.(ManifestByTag); ok {
		// Not referrers: read only when no referrer is want.
		for _, s := range subjects {
			for _, suffix := range []string{"sbom", "att"} {
				tag, err := CosignTag(s.img.Descriptor.Digest, suffix)
				if err != nil {
					return nil, err
				}
				d, m, err := r.readCosignTag(ctx, st, tag)
				if err != nil {
					return nil, err
				}
				if m == nil {
					continue
				}
				s.tags = append(s.tags, cosignTagRead{tag: tag, d: d, m: m})
				if d.Digest == want {
					return &picked{s: s, d: d, kind: pickCosignTag, tag: &s.tags[len(s.tags)-1]}, nil
				}
			}
		}
	}
	var have []string
	for _, s := range subjects {
		have = append(have, s.listing())
	}
	return nil, fmt.Errorf("%s: no referrer %s: %s", r.refStr, want, strings.Join(have, "; "))
}

// readSubject reads the referrers of s (those of an index once per run)
// and, for a platform manifest, the BuildKit attestation manifests the
// index lists for it.
func (r *Search) readSubject(ctx context.Context, s *pickSubject) error {
	d := s.img.Descriptor.Digest
	if !s.index {
		list, err := r.readReferrers(ctx, s.img.String(), d)
		if err != nil {
			return fmt.Errorf("%s (%s): %w", r.refStr, s.img, err)
		}
		s.list = list
		for _, img := range r.images {
			if img.Attestation && img.Descriptor.Annotations[oci.AnnotationDockerReferenceDigest] == d.String() {
				s.atts = append(s.atts, img.Descriptor)
			}
		}
		return nil
	}
	list, ok := r.indexRefs[d]
	if !ok {
		var err error
		if list, err = r.readReferrers(ctx, "index", d); err != nil {
			return fmt.Errorf("%s: referrers of the index %s: %w", r.refStr, d, err)
		}
		r.indexRefs[d] = list
	}
	s.list = list
	return nil
}

// listing says, for the error that --referrer is not found, what s has.
func (s *pickSubject) listing() string {
	var items []string
	for _, d := range s.list.refs {
		t := d.ArtifactType
		if t == "" {
			t = d.MediaType
		}
		items = append(items, printable.String(t)+" "+d.Digest.String())
	}
	for _, d := range s.atts {
		items = append(items, "BuildKit attestation "+d.Digest.String())
	}
	for _, t := range s.tags {
		items = append(items, "cosign tag "+t.tag+" "+t.d.Digest.String())
	}
	what := s.img.String() + " " + s.img.Descriptor.Digest.String()
	if s.index {
		what = "the index " + s.img.Descriptor.Digest.String()
	}
	if len(items) == 0 {
		return what + " has none"
	}
	return what + " has " + strings.Join(items, ", ")
}

// pickedName names p in messages.
func pickedName(p *picked) string {
	switch p.kind {
	case pickAttestation:
		return "BuildKit attestation manifest " + p.d.Digest.String() + " (in the index)"
	case pickCosignTag:
		return "cosign manifest " + p.d.Digest.String() + " (tag " + p.tag.tag + ")"
	}
	return "referrer " + p.d.Digest.String() + " (" + printable.String(p.d.ArtifactType) + ")"
}

// pickedFormats returns the formats p may hold a document of, in the
// order sbomgen lists them, by its kind and artifact type: none means it
// is no SBOM of any kind get reads.
func pickedFormats(p *picked) []sbomgen.Format {
	statements := []sbomgen.Format{sbomgen.SPDXJSON, sbomgen.CycloneDXJSON}
	switch {
	case p.kind == pickCosignTag && strings.HasSuffix(p.tag.tag, ".att"):
		return statements
	case p.kind == pickCosignTag:
		return sbomgen.Formats()
	case p.kind == pickAttestation, p.d.ArtifactType == oci.ArtifactTypeBuildKitAttestation, isStatementType(p.d.ArtifactType):
		return statements
	}
	var out []sbomgen.Format
	for _, f := range sbomgen.Formats() {
		if slices.Contains(bareTypes(f), p.d.ArtifactType) {
			out = append(out, f)
		}
	}
	return out
}

// formatNames joins the names of fs with "or".
func formatNames(fs []sbomgen.Format) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.String()
	}
	return strings.Join(names, " or ")
}

// pickedDoc reads the document of r.format that p holds: nil, with why,
// when it holds none (or its manifest or content is gone, or not what
// it claims).
func (r *Search) pickedDoc(ctx context.Context, p *picked) (*Source, string, error) {
	subject := p.s.img.Descriptor.Digest
	none := fmt.Sprintf("it holds no %s document", r.format)
	switch {
	case p.kind == pickCosignTag:
		src, _, err := r.cosignTagDoc(ctx, p.tag.tag, p.tag.d, p.tag.m)
		if src == nil && err == nil {
			return nil, none, nil
		}
		return src, "", err
	case p.kind == pickAttestation || p.d.ArtifactType == oci.ArtifactTypeBuildKitAttestation:
		src, err := r.attestationCandidate(ctx, subject, p.d, p.kind == pickAttestation)
		if src == nil && err == nil {
			return nil, fmt.Sprintf("it holds no %s statement (or its manifest is gone, or names another subject)", predicateName(r.format)), nil
		}
		return src, "", err
	case isStatementType(p.d.ArtifactType):
		src, err := r.readStatementSBOM(ctx, subject, p.d)
		if skippable(err) {
			// The message names p, which the error names again.
			return nil, strings.TrimPrefix(err.Error(), statementKind(p.d)+" "+p.d.Digest.String()+": "), nil
		}
		return src, "", err
	}
	src, generic, why, err := r.bareCandidate(ctx, subject, p.d)
	if err != nil || src == nil {
		if why == "" {
			why = none
		}
		return nil, why, err
	}
	r.genericNote(p.d, generic)
	return src, "", nil
}
