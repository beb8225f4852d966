package discover

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

// maxUndatedNamed bounds the undated referrers undatedNote names.
const maxUndatedNamed = 3

// acceptFunc says why an SBOM that was read is not one of the subject it
// was looked for (an error), or nil. A nil acceptFunc takes every one.
type acceptFunc func(*Source) error

// chooseSBOM returns the SBOM of subject in the format that accept takes,
// from the first of these that has one:
//
//  1. the newest bare SBOM referrer (bareSBOM): affix's, oras's, regctl's,
//     cosign attach sbom's;
//  2. the newest in-toto statement referrer whose predicate is a document
//     of the format (statementSBOM): affix convert --keep-intoto, cosign
//     attest's Sigstore bundles;
//  3. a BuildKit attestation manifest (attestationSBOM).
//
// Referrers that cannot be used, or that accept refuses, are skipped with
// a note on stderr; when none is left the error (a *missingSBOMError)
// lists them.
func (r *Search) chooseSBOM(ctx context.Context, subject digest.Digest, list referrerList, accept acceptFunc) (*Source, error) {
	src, skipped, err := r.referrerSBOM(ctx, subject, list, accept)
	if src != nil || err != nil {
		return src, err
	}
	src, attSkipped, err := r.attestationSBOM(ctx, subject, list.refs, accept)
	if src != nil || err != nil {
		return src, err
	}
	if skipped.addAll(attSkipped); skipped.len() > 0 {
		return nil, &missingSBOMError{fmt.Sprintf("no usable %s SBOM referrer of %s: %s", r.format, subject, skipped.join("; "))}
	}
	msg := fmt.Sprintf("no %s SBOM referrer of %s", r.format, subject)
	switch r.format {
	case sbomgen.SPDXJSON:
		msg += " (nor an SPDX in-toto referrer or BuildKit SPDX attestation)"
	case sbomgen.CycloneDXJSON:
		msg += " (nor a CycloneDX in-toto referrer)"
	}
	if other := r.otherSBOMFormats(ctx, list.refs); len(other) > 0 {
		msg += "; it has " + strings.Join(other, " and ") + " SBOM referrers: --format " + other[0]
	}
	return nil, &missingSBOMError{msg}
}

// referrerSBOM returns the SBOM of subject in the format among its
// referrers that accept takes: a bare one (bareSBOM), else one in an
// in-toto statement (statementSBOM); nil when there is none, with why
// each candidate was skipped, the first few named (their notes are
// pending: printed before the next note, unless the error that no SBOM
// was found lists them).
func (r *Search) referrerSBOM(ctx context.Context, subject digest.Digest, list referrerList, accept acceptFunc) (*Source, namedList, error) {
	src, skipped, err := r.bareSBOM(ctx, subject, list, accept)
	if src != nil || err != nil {
		return src, namedList{}, err
	}
	for _, s := range skipped.named {
		r.pending.add(fmt.Sprintf("skipped %s SBOM referrer %s", r.format, s))
	}
	r.pending.more += skipped.more
	src, stmtSkipped, err := r.statementSBOM(ctx, subject, list, accept, skipped.len() == 0)
	if src != nil || err != nil {
		return src, namedList{}, err
	}
	skipped.addAll(stmtSkipped)
	return nil, skipped, nil
}

// bareTypes are the artifact types of a bare SBOM referrer in format f:
// its document types (docTypes), cosign's SBOM artifact type (whose layer
// says the format), and for CycloneDX the type without a suffix, which
// names no encoding (its content decides).
func bareTypes(f sbomgen.Format) []string {
	types := append(docTypes(f), MediaTypeCosignSBOM)
	if f == sbomgen.CycloneDXJSON {
		types = append(types, MediaTypeCycloneDXUntyped)
	}
	return types
}

// bareSBOM returns the newest bare SBOM referrer of subject in the format
// (bareCandidate) that accept takes. The others are returned as skipped,
// each with why (the first few named); their notes are printed only when
// one is taken.
func (r *Search) bareSBOM(ctx context.Context, subject digest.Digest, list referrerList, accept acceptFunc) (*Source, namedList, error) {
	types := bareTypes(r.format)
	cands := exporter.NewestFirst(r.withAnnotations(ctx, list, types), types...)
	var skipped namedList
	for _, d := range cands {
		src, generic, why, err := r.bareCandidate(ctx, subject, d)
		if err != nil {
			return nil, namedList{}, err
		}
		if src != nil && accept != nil {
			if err := accept(src); err != nil {
				src, why = nil, err.Error()
			}
		}
		if src == nil {
			if why != "" {
				skipped.add(d.Digest.String() + ": " + why)
			}
			continue
		}
		for _, s := range skipped.named {
			r.notef("skipped %s SBOM referrer %s; taking the next newest", r.format, s)
		}
		if skipped.more > 0 {
			r.notef("skipped %d more %s SBOM referrers (the first %d are named above)", skipped.more, r.format, len(skipped.named))
		}
		r.genericNote(d, generic)
		r.undatedNote(cands, fmt.Sprintf("%s SBOM referrers of %s", r.format, subject), d)
		return src, namedList{}, nil
	}
	return nil, skipped, nil
}

// bareCandidate reads the bare SBOM referrer d of subject: one whose
// manifest names subject and holds exactly one layer of a document type
// of the format (sbomShape), or of a generic type whose content is a
// document of the format (oras attach FILE without :TYPE; generic is then
// that type); either way the content must be a document of the format.
// Else src is nil and why says why it was skipped ("" for cosign's SBOM
// of another format, which is passed over): so is one whose manifest or
// SBOM blob is gone or broken. err is a failure to read that says
// nothing of the content (a registry that failed).
func (r *Search) bareCandidate(ctx context.Context, subject digest.Digest, d ocispec.Descriptor) (src *Source, generic, why string, err error) {
	m, err := r.readReferrer(ctx, d)
	switch {
	case gone(err):
		// Deleted, while the referrers tag still lists it (a registry
		// without the API keeps the entry).
		return nil, "", fmt.Sprintf("listed, but its manifest is gone: %v", err), nil
	case broken(err):
		// An entry another tool wrote wrong (its size), or content
		// that is not what the entry names: the next one may be fine.
		return nil, "", fmt.Sprintf("listed, but its manifest cannot be used: %v", err), nil
	case err != nil:
		return nil, "", "", err
	}
	if d.ArtifactType == MediaTypeCosignSBOM && len(m.Layers) == 1 && !slices.Contains(docTypes(r.format), m.Layers[0].MediaType) {
		return nil, "", "", nil
	}
	if m.Subject == nil || m.Subject.Digest != subject {
		// Listed under subject by a referrers tag (or a registry)
		// that is wrong: not an SBOM of subject.
		return nil, "", fmt.Sprintf("listed, but its manifest's subject is %s, not %s", SubjectOf(*m), subject), nil
	}
	if err := sbomShape(m, docTypes(r.format)); err != nil {
		if len(m.Layers) != 1 || !isGenericLayer(m.Layers[0].MediaType) {
			return nil, "", err.Error(), nil
		}
		generic = m.Layers[0].MediaType
	}
	src, err = r.readSBOM(ctx, d, m)
	switch {
	case gone(err):
		return nil, "", fmt.Sprintf("its SBOM blob is gone: %v", err), nil
	case broken(err):
		return nil, "", fmt.Sprintf("its SBOM blob cannot be used: %v", err), nil
	case err != nil:
		return nil, "", "", err
	}
	// The content, whatever the layer's type says: a file attached
	// under an SBOM type is not the SBOM (a license list under
	// application/spdx+json).
	if f, ok := src.sniffed(); !ok || f != r.format {
		return nil, "", fmt.Sprintf("its one layer (%s) holds %s", m.Layers[0].MediaType, contentName(src.Doc, r.format)), nil
	}
	return src, generic, "", nil
}

// genericNote notes, when generic is not "", that the SBOM referrer d
// was taken from a layer of that generic type for its content.
func (r *Search) genericNote(d ocispec.Descriptor, generic string) {
	if generic == "" {
		return
	}
	r.notef("SBOM referrer %s: its layer's media type is %s%s, not %s, but it holds a %s document: taken (Trivy and Ratify skip such a referrer; attach FILE:%s)",
		d.Digest, generic, genericLayerWhy(generic), r.format.MediaType(), r.format, r.format.MediaType())
}

// statementSBOM returns the document of the format in the newest usable
// in-toto statement referrer of subject whose predicate is one and that
// accept takes: an in-toto referrer (affix's --sbom-format spdx-intoto,
// affix convert --keep-intoto) or a Sigstore bundle referrer (cosign
// attest), nil when there is none, with why each candidate was skipped
// (their notes are pending, as referrerSBOM's). One that is gone, or
// whose manifest or statement is not what it claims (another tool's DSSE
// envelope under the same artifact type, another predicate, another
// subject), or that accept refuses, is skipped, as a bare SBOM referrer
// of the wrong shape is. first says whether no bare SBOM referrer was
// even listed (the note then says so).
func (r *Search) statementSBOM(ctx context.Context, subject digest.Digest, list referrerList, accept acceptFunc, first bool) (*Source, namedList, error) {
	var types []string
	for _, d := range list.refs {
		if isStatementType(d.ArtifactType) && !slices.Contains(types, d.ArtifactType) {
			types = append(types, d.ArtifactType)
		}
	}
	var stmts []ocispec.Descriptor
	for _, d := range r.withAnnotations(ctx, list, types) {
		if isStatementType(d.ArtifactType) && isPredicateOf(r.format, statementPredicateType(d)) {
			stmts = append(stmts, d)
		}
	}
	cands := exporter.NewestFirst(stmts, types...)
	var skipped namedList
	for _, d := range cands {
		src, err := r.readStatementSBOM(ctx, subject, d)
		if err == nil && accept != nil {
			if aerr := accept(src); aerr != nil {
				err = unusableError{fmt.Errorf("%s %s: %w", statementKind(d), d.Digest, aerr)}
			}
		}
		if skippable(err) {
			skipped.add(err.Error())
			r.pending.add("skipped " + err.Error())
			continue
		}
		if err != nil {
			return nil, namedList{}, err
		}
		what := statementKind(d)
		if isBundleType(d.ArtifactType) {
			what += " (cosign attest; its signature is not checked)"
		}
		none := "no usable"
		if first {
			none = "no"
		}
		r.notef("%s %s SBOM referrer of %s; taking the predicate of %s %s", none, r.format, subject, what, d.Digest)
		r.undatedNote(cands, fmt.Sprintf("%s statement referrers of %s", r.format, subject), d)
		return src, namedList{}, nil
	}
	return nil, skipped, nil
}

// isStatementType reports whether t is the artifact type of an in-toto
// statement referrer: an in-toto statement, or a Sigstore bundle.
func isStatementType(t string) bool { return t == oci.MediaTypeInToto || isBundleType(t) }

// undatedNote notes, when taking chosen of several candidates (newest
// first, as exporter.NewestFirst orders them) some of which carry no
// org.opencontainers.image.created (regctl artifact put, cosign and hand-
// made manifests write none), that the choice among those is no choice by
// time. It names the first few of those.
func (r *Search) undatedNote(cands []ocispec.Descriptor, what string, chosen ocispec.Descriptor) {
	if len(cands) < 2 {
		return
	}
	var undated []string
	for _, c := range cands {
		if exporter.Created(c).IsZero() {
			undated = append(undated, c.Digest.String())
		}
	}
	if len(undated) == 0 {
		return
	}
	named := strings.Join(undated[:min(len(undated), maxUndatedNamed)], ", ")
	if len(undated) > maxUndatedNamed {
		named += fmt.Sprintf(" and %d more", len(undated)-maxUndatedNamed)
	}
	r.notef("took %s of %d %s, but %d of them (%s) carry no valid %s annotation: those count as older than any that has one, "+
		"and among themselves the one listed last counts as newest, which is the registry's (or referrers tag's) order, not a time",
		chosen.Digest, len(cands), what, len(undated), named, ocispec.AnnotationCreated)
}

// otherSBOMFormats returns the SBOM formats other than the one asked for
// that refs has bare referrers of, in the order sbomgen lists its
// formats: by artifact type, or for cosign's SBOM referrers (whose
// artifact type says no format) by the type of their one layer.
func (r *Search) otherSBOMFormats(ctx context.Context, refs []ocispec.Descriptor) []string {
	var cosignLayers []string
	for _, d := range refs {
		if d.ArtifactType != MediaTypeCosignSBOM {
			continue
		}
		// Read already, as a candidate of every format.
		if m, err := r.readReferrer(ctx, d); err == nil && len(m.Layers) == 1 {
			cosignLayers = append(cosignLayers, m.Layers[0].MediaType)
		}
	}
	var out []string
	for _, f := range sbomgen.Formats() {
		if f == r.format {
			continue
		}
		types := docTypes(f)
		if slices.ContainsFunc(refs, func(d ocispec.Descriptor) bool { return slices.Contains(types, d.ArtifactType) }) ||
			slices.ContainsFunc(cosignLayers, func(t string) bool { return slices.Contains(types, t) }) {
			out = append(out, f.String())
		}
	}
	return out
}
