package discover

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

// The shapes other tools give SBOMs, which affix get reads besides its own.
const (
	// MediaTypeCosignSBOM is the config media type, and so the artifact
	// type, of `cosign attach sbom --registry-referrers-mode=oci-1-1`;
	// its one layer says the format (text/spdx+json, ...).
	MediaTypeCosignSBOM = "application/vnd.dev.cosign.artifact.sbom.v1+json"
	// mediaTypeSigstoreBundle starts the artifact type of a Sigstore
	// bundle referrer (application/vnd.dev.sigstore.bundle.v0.3+json):
	// cosign attest (v3) stores an attestation so, the in-toto
	// statement in the bundle's DSSE envelope.
	mediaTypeSigstoreBundle = "application/vnd.dev.sigstore.bundle"
	// AnnotationBundlePredicateType is the predicate type cosign puts
	// on a bundle referrer.
	AnnotationBundlePredicateType = "dev.sigstore.bundle.predicateType"
	// MediaTypeDSSE is the layer media type of a DSSE envelope (cosign's
	// sha256-<hex>.att attestations).
	MediaTypeDSSE = "application/vnd.dsse.envelope.v1+json"
	// MediaTypeDSSEPayloadInToto is the payloadType of a DSSE envelope
	// around an in-toto statement.
	MediaTypeDSSEPayloadInToto = "application/vnd.in-toto+json"
	// MediaTypeCycloneDXUntyped is the CycloneDX media type without a
	// suffix, which names no encoding: tools give it JSON and XML
	// documents alike (cosign does not: it writes
	// application/vnd.cyclonedx+json or +xml). A layer of it is taken
	// as a generic one, by its content.
	MediaTypeCycloneDXUntyped = "application/vnd.cyclonedx"
)

// docTypes returns the media types a bare document in format f is
// published under, as artifact and layer type: the format's own, and
// cosign's spelling of it (text/spdx+json; cosign's CycloneDX JSON type
// is the format's own).
func docTypes(f sbomgen.Format) []string {
	switch f {
	case sbomgen.SPDXJSON:
		return []string{oci.MediaTypeSPDX, "text/spdx+json"}
	case sbomgen.CycloneDXJSON:
		return []string{oci.MediaTypeCycloneDX}
	case sbomgen.SyftJSON:
		return []string{oci.MediaTypeSyftJSON}
	}
	return nil
}

// genericLayerTypes are the layer media types tools give a file they were
// not told the type of: oras attach FILE without :TYPE gives
// application/vnd.oci.image.layer.v1.tar (the file is not made a tar),
// others application/octet-stream or application/json. Such a layer is an
// SBOM when its content is one (sniffFormat).
var genericLayerTypes = []string{ocispec.MediaTypeImageLayer, "application/octet-stream", "application/json"}

// isGenericLayer reports whether a layer of media type t holds what its
// content is (sniffFormat): a generic type, or one that names no
// encoding (MediaTypeCycloneDXUntyped).
func isGenericLayer(t string) bool {
	return slices.Contains(genericLayerTypes, t) || t == MediaTypeCycloneDXUntyped
}

// genericLayerWhy says, for the note on a document taken from a layer of
// the generic type t, where such a type comes from.
func genericLayerWhy(t string) string {
	switch t {
	case ocispec.MediaTypeImageLayer:
		return " (oras attach gives a FILE without :TYPE that one)"
	case MediaTypeCycloneDXUntyped:
		return " (which says neither JSON nor XML)"
	}
	return ""
}

// contentName says, in a note on a generic layer that holds no document
// of format f, what doc holds instead.
func contentName(doc []byte, f sbomgen.Format) string {
	if got, ok := sniffFormat(doc); ok {
		return fmt.Sprintf("a %s document, not a %s one", got, f)
	}
	if b := bytes.TrimSpace(doc); len(b) > 0 && b[0] == '<' {
		// CycloneDX XML, most likely: not the JSON get prints.
		return fmt.Sprintf("XML, not a %s document (get reads JSON documents only)", f)
	}
	return fmt.Sprintf("no SBOM document, not a %s one", f)
}

// sniffFormat returns the format of doc when it is a JSON SBOM document:
// SPDX 2 (spdxVersion SPDX-2.x), CycloneDX (bomFormat CycloneDX) or syft
// JSON (artifacts, and a schema URL of syft's: the descriptor names the
// tool that wrote it, affix for affix's); false for anything else.
func sniffFormat(doc []byte) (sbomgen.Format, bool) {
	var v struct {
		SPDXVersion string `json:"spdxVersion"`
		BOMFormat   string `json:"bomFormat"`
		Schema      struct {
			URL string `json:"url"`
		} `json:"schema"`
		Artifacts json.RawMessage `json:"artifacts"`
	}
	if json.Unmarshal(doc, &v) != nil {
		return "", false
	}
	return sniffFields(v.SPDXVersion, v.BOMFormat, v.Schema.URL, v.Artifacts != nil)
}

// sniffFields is sniffFormat for a document's spdxVersion, bomFormat,
// schema.url, and whether it has artifacts.
func sniffFields(spdxVersion, bomFormat, schemaURL string, artifacts bool) (sbomgen.Format, bool) {
	switch {
	case strings.HasPrefix(spdxVersion, "SPDX-2."):
		return sbomgen.SPDXJSON, true
	case bomFormat == "CycloneDX":
		return sbomgen.CycloneDXJSON, true
	case strings.Contains(schemaURL, "/anchore/syft/") && artifacts:
		return sbomgen.SyftJSON, true
	}
	return "", false
}

// isPredicateOf reports whether the in-toto predicate type pt is that of a
// document in format f: SPDX 2 (oci.IsSPDX2Predicate) or CycloneDX (any
// version); no predicate type is syft JSON's.
func isPredicateOf(f sbomgen.Format, pt string) bool {
	switch f {
	case sbomgen.SPDXJSON:
		return oci.IsSPDX2Predicate(pt)
	case sbomgen.CycloneDXJSON:
		return strings.HasPrefix(pt, "https://cyclonedx.org/bom")
	}
	return false
}

// predicateName names the predicate type of format f in messages.
func predicateName(f sbomgen.Format) string {
	if f == sbomgen.CycloneDXJSON {
		return "https://cyclonedx.org/bom"
	}
	return oci.PredicateSPDX + " (SPDX 2)"
}

// isBundleType reports whether t is the artifact (or layer) type of a
// Sigstore bundle.
func isBundleType(t string) bool { return strings.HasPrefix(t, mediaTypeSigstoreBundle) }

// statementPredicateType returns the predicate type the referrer r says
// its in-toto statement has ("" when r carries none): the
// in-toto.io/predicate-type annotation of an in-toto referrer (affix
// convert --keep-intoto, --sbom-format spdx-intoto), cosign's
// dev.sigstore.bundle.predicateType of a Sigstore bundle referrer.
func statementPredicateType(r ocispec.Descriptor) string {
	switch {
	case r.ArtifactType == oci.MediaTypeInToto:
		return r.Annotations[oci.AnnotationPredicateType]
	case isBundleType(r.ArtifactType):
		return r.Annotations[AnnotationBundlePredicateType]
	}
	return ""
}

// decodeStatement decodes b, a layer of media type mt that carries an
// in-toto statement: the statement itself (application/vnd.in-toto+json),
// a DSSE envelope around it, or a Sigstore bundle holding such an
// envelope. Signatures are not checked: get --verify is a consistency
// check, not an authenticity check.
func decodeStatement(mt string, b []byte) (*oci.Statement, error) {
	switch {
	case mt == oci.MediaTypeInToto:
	case mt == MediaTypeDSSE:
		p, err := dssePayload(b)
		if err != nil {
			return nil, err
		}
		b = p
	case isBundleType(mt):
		var bundle struct {
			DSSEEnvelope json.RawMessage `json:"dsseEnvelope"`
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			return nil, fmt.Errorf("decoding Sigstore bundle: %w", err)
		}
		if bundle.DSSEEnvelope == nil {
			return nil, errors.New("the Sigstore bundle holds no DSSE envelope (a signature of the image, not an attestation)")
		}
		p, err := dssePayload(bundle.DSSEEnvelope)
		if err != nil {
			return nil, err
		}
		b = p
	default:
		return nil, fmt.Errorf("layer media type %s holds no in-toto statement", mt)
	}
	var stmt oci.Statement
	if err := json.Unmarshal(b, &stmt); err != nil {
		return nil, fmt.Errorf("decoding in-toto statement: %w", err)
	}
	return &stmt, nil
}

// dssePayload returns the payload of the DSSE envelope b, which must be an
// in-toto statement.
func dssePayload(b []byte) ([]byte, error) {
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("decoding DSSE envelope: %w", err)
	}
	if env.PayloadType != MediaTypeDSSEPayloadInToto {
		return nil, fmt.Errorf("DSSE payload type %q is not %s", env.PayloadType, MediaTypeDSSEPayloadInToto)
	}
	// DSSE allows standard or URL-safe base64, padded or not.
	s := strings.TrimRight(env.Payload, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if p, err := enc.DecodeString(s); err == nil {
			return bytes.TrimSpace(p), nil
		}
	}
	return nil, errors.New("DSSE payload is not base64")
}

// CosignTag returns the tag cosign's tag scheme gives what it stores for
// subject: sha256-<hex>.sbom (cosign attach sbom), sha256-<hex>.att
// (cosign attest before v3's bundles). A subject that is no valid digest
// (a registry's list may hold anything) has no such tag: the error names
// it.
func CosignTag(subject digest.Digest, suffix string) (string, error) {
	if err := subject.Validate(); err != nil {
		return "", fmt.Errorf("cosign's tag of %s: %w", quoteDigest(subject), err)
	}
	return subject.Algorithm().String() + "-" + subject.Encoded() + "." + suffix, nil
}

// quoteDigest quotes d, a digest that may not be one, for messages: Go
// syntax, its control characters escaped, clipped.
func quoteDigest(d digest.Digest) string { return strconv.Quote(clip(string(d))) }

// clip returns s, cut to its first maxShown bytes (and "...") when longer:
// a registry's string in a message.
func clip(s string) string {
	if len(s) <= maxShown {
		return s
	}
	return strings.ToValidUTF8(s[:maxShown], "") + "..."
}

// maxShown bounds what a message shows of a string a registry gave: a
// digest (sha512's is shorter), a media type.
const maxShown = 160

// cosignTagSBOM returns the SBOM of subject in the format that cosign
// stored under its tag scheme, which no referrers list shows: the
// document of the sha256-<hex>.sbom tag (cosign attach sbom), else the
// predicate of the last (newest: cosign appends) attestation of the
// sha256-<hex>.att tag whose predicate is a document of the format
// (cosign attest --new-bundle-format=false, cosign v2's default). nil
// when the store has no tags (a layout) or neither tag holds one; a tag
// the registry does not have (404) holds none, while any other failure
// to read one is an error naming it. Signatures are not checked.
func (r *Search) cosignTagSBOM(ctx context.Context, subject digest.Digest) (*Source, error) {
	st, ok := r.tgt.(ManifestByTag)
	if !ok {
		return nil, nil
	}
	for _, suffix := range []string{"sbom", "att"} {
		tag, err := CosignTag(subject, suffix)
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
		src, what, err := r.cosignTagDoc(ctx, tag, d, m)
		if err != nil {
			return nil, err
		}
		if src != nil {
			r.notef("no %s SBOM referrer of %s; taking %s", r.format, subject, what)
			return src, nil
		}
	}
	return nil, nil
}

// cosignTagDoc returns the document of the format that the manifest m
// (digest d) of cosign's tag holds, and what (for a note) it is: for a
// .sbom tag, its one layer when that is of a document type of the format;
// for a .att tag, the predicate of the last (newest: cosign appends)
// attestation whose predicate is a document of the format. nil when it
// holds none.
func (r *Search) cosignTagDoc(ctx context.Context, tag string, d ocispec.Descriptor, m *ocispec.Manifest) (*Source, string, error) {
	if strings.HasSuffix(tag, ".sbom") {
		if len(m.Layers) != 1 || !slices.Contains(docTypes(r.format), m.Layers[0].MediaType) {
			return nil, "", nil
		}
		b, err := oci.ReadBlob(ctx, r.tgt, m.Layers[0], MaxSBOMSize)
		if err != nil {
			return nil, "", fmt.Errorf("reading SBOM %s of cosign's tag %s: %w", m.Layers[0].Digest, tag, err)
		}
		return &Source{Manifest: d, Tag: tag, Annotations: m.Annotations, Doc: b},
			fmt.Sprintf("the SBOM of cosign's tag %s (cosign attach sbom: no referrer, no signature)", tag), nil
	}
	for i := len(m.Layers) - 1; i >= 0; i-- {
		l := m.Layers[i]
		if l.MediaType != MediaTypeDSSE || !isPredicateOf(r.format, l.Annotations["predicateType"]) {
			continue
		}
		stmt, err := r.readPredicate(ctx, l)
		if skippable(err) {
			r.notef("skipped attestation %s of cosign's tag %s: %v", l.Digest, tag, err)
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("reading attestation %s of cosign's tag %s: %w", l.Digest, tag, err)
		}
		return &Source{Manifest: d, Tag: tag, Annotations: m.Annotations, Statement: stmt, Doc: append(stmt.Predicate, '\n')},
			fmt.Sprintf("the predicate of attestation %s of cosign's tag %s (its signature is not checked)", l.Digest, tag), nil
	}
	return nil, "", nil
}

// readCosignTag reads the manifest of cosign's tag; nil when the registry
// has no such tag (404). Any other failure (a refusal, a registry that
// fails after retries, a manifest that is no JSON) is an error naming the
// tag: it is not known to hold nothing.
func (r *Search) readCosignTag(ctx context.Context, st ManifestByTag, tag string) (ocispec.Descriptor, *ocispec.Manifest, error) {
	d, b, _, err := st.FetchManifest(ctx, tag)
	if errors.Is(err, exporter.ErrNotFound) {
		return d, nil, nil
	}
	if err != nil {
		return d, nil, fmt.Errorf("reading cosign's tag %s: %w", tag, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return d, nil, fmt.Errorf("reading cosign's tag %s: manifest %s: %w", tag, d.Digest, err)
	}
	return d, &m, nil
}

// attestationSBOM returns the predicate of the format (SPDX, as BuildKit
// writes it; or CycloneDX, from a generator that writes that) of a
// BuildKit attestation manifest for subject that accept takes: one the
// index lists, else one that is only a referrer of subject (BuildKit
// v0.32+ gives them a subject; a registry with the referrers API lists
// them, also after the index dropped them). nil when there is none, with
// why each that accept refused, or whose manifest is broken, was skipped
// (their notes are pending, as referrerSBOM's). A layer whose statement
// is gone, broken or not what its annotation says is skipped with a note.
func (r *Search) attestationSBOM(ctx context.Context, subject digest.Digest, refs []ocispec.Descriptor, accept acceptFunc) (*Source, namedList, error) {
	var cands []ocispec.Descriptor
	inIndex := map[digest.Digest]bool{}
	for _, img := range r.images {
		if img.Attestation && img.Descriptor.Annotations[oci.AnnotationDockerReferenceDigest] == subject.String() {
			cands = append(cands, img.Descriptor)
			inIndex[img.Descriptor.Digest] = true
		}
	}
	for _, d := range refs {
		if d.ArtifactType == oci.ArtifactTypeBuildKitAttestation && !inIndex[d.Digest] {
			cands = append(cands, d)
		}
	}
	var skipped namedList
	for _, d := range cands {
		src, err := r.attestationCandidate(ctx, subject, d, inIndex[d.Digest])
		if broken(err) {
			why := fmt.Sprintf("BuildKit attestation %s: %v", d.Digest, err)
			skipped.add(why)
			r.pending.add("skipped " + why)
			continue
		}
		if err != nil {
			return nil, namedList{}, err
		}
		if src != nil && accept != nil {
			if err := accept(src); err != nil {
				why := fmt.Sprintf("BuildKit attestation %s: %v", d.Digest, err)
				skipped.add(why)
				r.pending.add("skipped " + why)
				continue
			}
		}
		if src != nil {
			where := ""
			if !src.InIndex {
				where = " (a referrer, not in the index)"
			}
			r.notef("no %s SBOM referrer of %s; taking BuildKit attestation %s%s", r.format, subject, d.Digest, where)
			return src, namedList{}, nil
		}
	}
	return nil, skipped, nil
}

// attestationCandidate returns the predicate of the format in the BuildKit
// attestation manifest d of subject (inIndex: one the index lists, else
// one only a referrer of subject); nil when it holds none. A
// referrer whose manifest is gone or names another subject holds none; a
// layer whose statement is gone, broken or not what its annotation says
// is skipped with a note. A manifest that is broken is an error for which
// broken is true.
func (r *Search) attestationCandidate(ctx context.Context, subject digest.Digest, d ocispec.Descriptor, inIndex bool) (*Source, error) {
	m, err := r.readReferrer(ctx, d)
	if !inIndex && gone(err) {
		return nil, nil // deleted; a referrers tag still lists it
	}
	if err != nil {
		return nil, err
	}
	if !inIndex && (m.Subject == nil || m.Subject.Digest != subject) {
		return nil, nil // a referrers list that is wrong
	}
	for _, l := range m.Layers {
		if !isPredicateOf(r.format, l.Annotations[oci.AnnotationPredicateType]) {
			continue
		}
		stmt, err := r.readPredicate(ctx, l)
		if skippable(err) {
			r.notef("skipped layer %s of BuildKit attestation %s: %v", l.Digest, d.Digest, err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("attestation layer %s: %w", l.Digest, err)
		}
		return &Source{Manifest: d, InIndex: inIndex, Subject: m.Subject, Annotations: m.Annotations, Statement: stmt,
			Doc: append(stmt.Predicate, '\n')}, nil
	}
	return nil, nil
}
