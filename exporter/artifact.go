package exporter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// EmptyConfig is the OCI empty descriptor, the config of every referrer
// manifest affix writes. Its Data holds the two bytes "{}".
var EmptyConfig = ocispec.DescriptorEmptyJSON

// Blob is one layer of an artifact.
type Blob struct {
	// MediaType is the layer's media type; empty means the artifact type.
	MediaType string
	// Data is the layer content.
	Data []byte
	// Digest is Data's sha256 digest (digest.Canonical), when the caller
	// has it from Data itself: computed from it, or checked against it
	// when Data was read. Empty, or of another algorithm: the layer's
	// digest is computed from Data. It saves hashing an SBOM of tens of
	// MB again; a caller that changes Data must clear it.
	Digest digest.Digest
	// Annotations are the layer descriptor's annotations (for example
	// org.opencontainers.image.title); nil for none.
	Annotations map[string]string
}

// Artifact is content to attach to a subject manifest as an OCI referrer:
// an image manifest with artifactType, the empty config, one layer per Blob
// and subject.
type Artifact struct {
	// Subject is the manifest the artifact refers to. Only its media type,
	// digest and size are written.
	Subject ocispec.Descriptor
	// ArtifactType is the manifest's artifactType (required).
	ArtifactType string
	// Blobs are the layers, in order (at least one).
	Blobs []Blob
	// Annotations are the manifest's annotations. They are copied into the
	// referrers index entry.
	Annotations map[string]string
}

// SBOM returns the artifact of one SBOM document: artifactType and the
// single layer's media type are mediaType (application/spdx+json or
// application/vnd.cyclonedx+json), and the annotations are
// org.opencontainers.image.created (created, in UTC, RFC 3339) plus extra.
// created must be deterministic (the SBOM's own creation time), so that an
// identical SBOM gives an identical referrer digest.
func SBOM(subject ocispec.Descriptor, mediaType string, doc []byte, created time.Time, extra map[string]string) Artifact {
	ann := maps.Clone(extra)
	if ann == nil {
		ann = map[string]string{}
	}
	if !created.IsZero() {
		ann[ocispec.AnnotationCreated] = created.UTC().Format(time.RFC3339)
	}
	return Artifact{
		Subject:      subject,
		ArtifactType: mediaType,
		Blobs:        []Blob{{MediaType: mediaType, Data: doc}},
		Annotations:  ann,
	}
}

// InToto returns the artifact of one in-toto statement (as BuildKit stores
// attestations, and Docker Scout reads them as referrers): artifactType
// and the single layer's media type application/vnd.in-toto+json, the
// layer and the manifest annotated with in-toto.io/predicate-type (so the
// referrers index says what the statement is about without a fetch), the
// manifest with org.opencontainers.image.created (created, when not zero)
// plus extra.
func InToto(subject ocispec.Descriptor, predicateType string, statement []byte, created time.Time, extra map[string]string) Artifact {
	a := SBOM(subject, oci.MediaTypeInToto, statement, created, extra)
	a.Annotations[oci.AnnotationPredicateType] = predicateType
	a.Blobs[0].Annotations = map[string]string{oci.AnnotationPredicateType: predicateType}
	return a
}

// Validate reports why a cannot be attached, wrapping ErrInvalidArtifact:
// a subject that is not a manifest or index (or an SBOM on an index), or
// content CheckContent refuses.
func (a Artifact) Validate() error {
	if err := a.Subject.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: subject digest %q: %w", ErrInvalidArtifact, a.Subject.Digest, err)
	}
	if a.Subject.MediaType == "" || a.Subject.Size <= 0 {
		return fmt.Errorf("%w: subject %s needs a media type and size", ErrInvalidArtifact, a.Subject.Digest)
	}
	if !oci.IsManifest(a.Subject.MediaType) && !oci.IsIndex(a.Subject.MediaType) {
		return fmt.Errorf("%w: subject %s has media type %q, not a manifest or index", ErrInvalidArtifact, a.Subject.Digest, a.Subject.MediaType)
	}
	if err := a.CheckContent(); err != nil {
		return err
	}
	if oci.IsSBOMType(a.ArtifactType) && oci.IsIndex(a.Subject.MediaType) {
		// Trivy scanning a tag would take an SBOM on the index as the
		// whole image's SBOM; SBOMs go on platform manifests.
		return fmt.Errorf("%w: SBOM (%s) on index %s: attach SBOMs to platform manifests (--platform)", ErrInvalidArtifact, a.ArtifactType, a.Subject.Digest)
	}
	return nil
}

// CheckContent reports why a's artifact type, blobs or annotations cannot
// be attached to any subject, wrapping ErrInvalidArtifact; it ignores
// Subject, so that a command can check its input before it contacts a
// registry. The rules:
//
//   - the artifact type and every blob's media type are RFC 6838 media
//     types, type/subtype (no parameters), as the image spec requires;
//   - an SPDX or CycloneDX JSON artifact (oci.MediaTypeSPDX,
//     oci.MediaTypeCycloneDX) has exactly one blob, whose media type is the
//     artifact type: the shape consumers (Trivy, Ratify, affix get) read;
//   - org.opencontainers.image.created, when present, is RFC 3339, as the
//     image spec says and oras-go checks;
//   - there is at least one blob.
func (a Artifact) CheckContent() error {
	if err := CheckMediaType(a.ArtifactType); err != nil {
		return fmt.Errorf("%w: artifact type: %w", ErrInvalidArtifact, err)
	}
	if len(a.Blobs) == 0 {
		return fmt.Errorf("%w: no content for %s", ErrInvalidArtifact, a.ArtifactType)
	}
	for i, b := range a.Blobs {
		if b.MediaType == "" {
			continue
		}
		if err := CheckMediaType(b.MediaType); err != nil {
			return fmt.Errorf("%w: layer %d: %w", ErrInvalidArtifact, i+1, err)
		}
	}
	if a.ArtifactType == oci.MediaTypeSPDX || a.ArtifactType == oci.MediaTypeCycloneDX {
		if len(a.Blobs) != 1 {
			return fmt.Errorf("%w: an SBOM referrer (%s) has exactly one layer, of media type %s; got %d layers", ErrInvalidArtifact, a.ArtifactType, a.ArtifactType, len(a.Blobs))
		}
		if mt := a.Blobs[0].MediaType; mt != "" && mt != a.ArtifactType {
			return fmt.Errorf("%w: an SBOM referrer (%s) has exactly one layer, of media type %s; got %s", ErrInvalidArtifact, a.ArtifactType, a.ArtifactType, mt)
		}
	}
	if v, ok := a.Annotations[ocispec.AnnotationCreated]; ok {
		if _, err := oci.ParseTime(v); err != nil {
			return fmt.Errorf("%w: annotation %s=%q is not an RFC 3339 date-time (2006-01-02T15:04:05Z)", ErrInvalidArtifact, ocispec.AnnotationCreated, v)
		}
	}
	return nil
}

// CheckMediaType reports why mt is not an RFC 6838 media type without
// parameters: type "/" subtype, each a restricted-name (a letter or digit,
// then up to 126 letters, digits or ! # $ & - ^ _ . +).
func CheckMediaType(mt string) error {
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || !restrictedName(typ) || !restrictedName(sub) {
		return fmt.Errorf("%q is not a media type: want type/subtype (RFC 6838: letters, digits and !#$&-^_.+, starting with a letter or digit)", mt)
	}
	return nil
}

// restrictedName reports whether s is an RFC 6838 restricted-name.
func restrictedName(s string) bool {
	if len(s) == 0 || len(s) > 127 {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && strings.IndexByte("!#$&-^_.+", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// layers returns the layer descriptors with their data attached.
func (a Artifact) layers() []ocispec.Descriptor {
	out := make([]ocispec.Descriptor, 0, len(a.Blobs))
	for _, b := range a.Blobs {
		mt := b.MediaType
		if mt == "" {
			mt = a.ArtifactType
		}
		var d ocispec.Descriptor
		if b.Digest.Validate() == nil && b.Digest.Algorithm() == digest.Canonical {
			d = ocispec.Descriptor{MediaType: mt, Digest: b.Digest, Size: int64(len(b.Data))}
		} else {
			d = oci.DescriptorFor(mt, b.Data)
		}
		if len(b.Annotations) > 0 {
			d.Annotations = maps.Clone(b.Annotations)
		}
		d.Data = b.Data
		out = append(out, d)
	}
	return out
}

// Manifest returns the referrer manifest's bytes and its descriptor (with
// ArtifactType and Annotations set, as a referrers index lists it). The
// bytes are a pure function of a: the same artifact always has the same
// digest.
func (a Artifact) Manifest() (ocispec.Descriptor, []byte, error) {
	if err := a.Validate(); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	return a.manifest(a.layers())
}

// manifest is Manifest with the layer descriptors (layers' result, which
// hashes every blob) given, so that Attach hashes each blob once.
func (a Artifact) manifest(withData []ocispec.Descriptor) (ocispec.Descriptor, []byte, error) {
	layers := slices.Clone(withData)
	for i := range layers {
		layers[i].Data = nil
	}
	// The config keeps its data field ("e30="), as oras-go and the
	// image-spec's empty descriptor guidance write it; the blob is still
	// uploaded, since registries check that it exists.
	cfg := EmptyConfig
	subject := ocispec.Descriptor{MediaType: a.Subject.MediaType, Digest: a.Subject.Digest, Size: a.Subject.Size}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: a.ArtifactType,
		Config:       cfg,
		Layers:       layers,
		Subject:      &subject,
		Annotations:  a.Annotations,
	}
	if len(m.Annotations) == 0 {
		m.Annotations = nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("encoding referrer manifest for %s: %w", a.Subject.Digest, err)
	}
	d := oci.DescriptorFor(ocispec.MediaTypeImageManifest, b)
	d.ArtifactType = a.ArtifactType
	d.Annotations = maps.Clone(m.Annotations)
	return d, b, nil
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
