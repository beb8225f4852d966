package ocitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/schema"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrNoSchema means ValidateDocument has no schema for a media type.
var ErrNoSchema = errors.New("no OCI schema for this media type")

// Docker schema 2 media types: a subject or an index entry may name them.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
)

// validators are the image-spec schemas by media type.
var validators = map[string]schema.Validator{
	ocispec.MediaTypeImageManifest: schema.ValidatorMediaTypeManifest,
	ocispec.MediaTypeImageIndex:    schema.ValidatorMediaTypeImageIndex,
	ocispec.MediaTypeImageConfig:   schema.ValidatorMediaTypeImageConfig,
	ocispec.MediaTypeDescriptor:    schema.ValidatorMediaTypeDescriptor,
	ocispec.MediaTypeLayoutHeader:  schema.ValidatorMediaTypeLayoutHeader,
}

// HasSchema reports whether ValidateDocument validates documents of
// mediaType (rather than failing with ErrNoSchema).
func HasSchema(mediaType string) bool {
	_, ok := validators[mediaType]
	return ok || mediaType == ocispec.MediaTypeEmptyJSON
}

// problems collects the problems found in one document.
type problems struct{ errs []error }

func (p *problems) addf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

func (p *problems) add(err error) {
	if err != nil {
		p.errs = append(p.errs, err)
	}
}

func (p *problems) err() error { return errors.Join(p.errs...) }

// ValidateDocument validates data, a document of mediaType (an OCI image
// manifest, image index, image config, descriptor, the oci-layout file, or
// the empty blob), against the image-spec v1.1.1 JSON schema for it and
// the rules listed in the package documentation. It reports every problem
// found, each naming its rule.
func ValidateDocument(mediaType string, data []byte) error {
	var p problems
	if mediaType == ocispec.MediaTypeEmptyJSON {
		if string(data) != "{}" {
			p.addf("the empty blob is %q, want {} (image-spec manifest.md, Guidance for an Empty Descriptor)", data)
		}
		return p.err()
	}
	v, ok := validators[mediaType]
	if !ok {
		return fmt.Errorf("%s: %w", mediaType, ErrNoSchema)
	}
	if err := checkKeys(data); err != nil {
		p.add(err)
	}
	if err := v.Validate(bytes.NewReader(data)); err != nil {
		p.addf("%s schema: %w", mediaType, err)
	}
	switch mediaType {
	case ocispec.MediaTypeImageManifest:
		checkManifest(&p, data)
	case ocispec.MediaTypeImageIndex:
		checkIndex(&p, data)
	case ocispec.MediaTypeImageConfig:
		checkConfig(&p, data)
	case ocispec.MediaTypeDescriptor:
		var d ocispec.Descriptor
		if err := json.Unmarshal(data, &d); err != nil {
			p.addf("descriptor: %w", err)
			break
		}
		checkDescriptor(&p, "descriptor", d)
	}
	return p.err()
}

// checkKeys reports a JSON object with a key twice (annotations.md: keys
// MUST be unique), or data after the JSON value.
func checkKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				if seen[k] {
					return fmt.Errorf("%s: key %q appears twice (keys MUST be unique: image-spec annotations.md, Rules)", path, k)
				}
				seen[k] = true
				if err := walk(path + "." + k); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	if err := walk("$"); err != nil {
		return fmt.Errorf("not one JSON value: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

var (
	// mediaTypeRE is RFC 6838 type "/" subtype, as the image-spec schema
	// writes it (defs-descriptor.json).
	mediaTypeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`)
	// digestRE is the digest grammar of descriptor.md.
	digestRE = regexp.MustCompile(`^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)
	// refNameRE is the org.opencontainers.image.ref.name grammar of
	// annotations.md.
	refNameRE = regexp.MustCompile(`^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$`)
)

// IsRFC3339 reports whether s is an RFC 3339 (section 5.6) date-time, as
// image-spec wants org.opencontainers.image.created and a config's
// created (oci.ParseTime).
func IsRFC3339(s string) bool {
	_, err := oci.ParseTime(s)
	return err == nil
}

// ociAnnotations are the org.opencontainers keys the OCI specifications
// define (image-spec annotations.md and conversion.md); annotations.md
// reserves the prefix for them.
var ociAnnotations = map[string]bool{
	ocispec.AnnotationCreated: true, ocispec.AnnotationAuthors: true, ocispec.AnnotationURL: true,
	ocispec.AnnotationDocumentation: true, ocispec.AnnotationSource: true, ocispec.AnnotationVersion: true,
	ocispec.AnnotationRevision: true, ocispec.AnnotationVendor: true, ocispec.AnnotationLicenses: true,
	ocispec.AnnotationRefName: true, ocispec.AnnotationTitle: true, ocispec.AnnotationDescription: true,
	ocispec.AnnotationBaseImageDigest: true, ocispec.AnnotationBaseImageName: true,
	// conversion.md
	"org.opencontainers.image.os": true, "org.opencontainers.image.architecture": true,
	"org.opencontainers.image.variant": true, "org.opencontainers.image.os.version": true,
	"org.opencontainers.image.os.features": true, "org.opencontainers.image.author": true,
	"org.opencontainers.image.stopSignal": true, "org.opencontainers.image.exposedPorts": true,
}

// checkAnnotations checks the annotations of where.
func checkAnnotations(p *problems, where string, ann map[string]string) {
	for k, v := range ann {
		switch {
		case k == ocispec.AnnotationCreated && !IsRFC3339(v):
			p.addf("%s: annotation %s=%q is not an RFC 3339 date-time (image-spec annotations.md)", where, k, v)
		case k == ocispec.AnnotationRefName && !refNameRE.MatchString(v):
			p.addf("%s: annotation %s=%q does not follow the ref grammar (image-spec annotations.md)", where, k, v)
		case k == ocispec.AnnotationBaseImageDigest && !digestRE.MatchString(v):
			p.addf("%s: annotation %s=%q is not a digest (image-spec annotations.md)", where, k, v)
		case strings.HasPrefix(k, "org.opencontainers.") && !ociAnnotations[k]:
			p.addf("%s: annotation key %q uses the reserved org.opencontainers prefix but no OCI specification defines it (image-spec annotations.md, Rules: MUST NOT)", where, k)
		}
	}
}

// checkDigest checks d against the digest grammar, and the encoding of
// the algorithms image-spec registers (descriptor.md, Digests).
func checkDigest(p *problems, where string, d digest.Digest) {
	if !digestRE.MatchString(string(d)) {
		p.addf("%s: digest %q does not follow the digest grammar (image-spec descriptor.md, Digests)", where, d)
		return
	}
	switch d.Algorithm() {
	case digest.SHA256, digest.SHA384, digest.SHA512:
		if err := d.Validate(); err != nil {
			p.addf("%s: digest %q: %v (image-spec descriptor.md, Registered algorithms)", where, d, err)
		}
	}
}

// emptyDigest is the digest of {}.
var emptyDigest = ocispec.DescriptorEmptyJSON.Digest

// checkDescriptor checks the descriptor d found at where.
func checkDescriptor(p *problems, where string, d ocispec.Descriptor) {
	if !mediaTypeRE.MatchString(d.MediaType) {
		p.addf("%s: mediaType %q is not an RFC 6838 media type (image-spec descriptor.md)", where, d.MediaType)
	}
	checkDigest(p, where, d.Digest)
	if d.Size < 0 {
		p.addf("%s: size %d is negative (image-spec descriptor.md: the size in bytes of the content)", where, d.Size)
	}
	if d.Data != nil {
		if int64(len(d.Data)) != d.Size {
			p.addf("%s: data holds %d bytes, size says %d (image-spec descriptor.md: decoded data MUST be identical to the referenced content)", where, len(d.Data), d.Size)
		} else if d.Digest.Validate() == nil && d.Digest.Algorithm().Available() && d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			p.addf("%s: data is not the content %s (image-spec descriptor.md: decoded data MUST be identical to the referenced content)", where, d.Digest)
		}
	}
	for _, u := range d.URLs {
		if pu, err := url.Parse(u); err != nil || pu.Scheme == "" {
			p.addf("%s: url %q is not an RFC 3986 URI (image-spec descriptor.md)", where, u)
		}
	}
	if d.ArtifactType != "" && !mediaTypeRE.MatchString(d.ArtifactType) {
		p.addf("%s: artifactType %q is not an RFC 6838 media type (image-spec descriptor.md)", where, d.ArtifactType)
	}
	if d.MediaType == ocispec.MediaTypeEmptyJSON && (d.Digest != emptyDigest || d.Size != 2) {
		p.addf("%s: an empty descriptor (%s) names %s, %d bytes: the empty blob is {} (%s, size 2; image-spec manifest.md, Guidance for an Empty Descriptor)", where, d.MediaType, d.Digest, d.Size, emptyDigest)
	}
	if d.Platform != nil {
		if d.Platform.OS == "" || d.Platform.Architecture == "" {
			p.addf("%s: platform %+v lacks os or architecture (REQUIRED, image-spec image-index.md)", where, *d.Platform)
		}
	}
	checkAnnotations(p, where, d.Annotations)
}

// isManifestType reports whether mt is an image manifest or index media
// type (OCI or Docker schema 2): what a subject or an index entry names.
func isManifestType(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, mediaTypeDockerManifest, mediaTypeDockerManifestList:
		return true
	}
	return false
}

// manifestDoc is an image manifest as written, with the presence of its
// optional fields kept.
type manifestDoc struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     *string              `json:"mediaType"`
	ArtifactType  *string              `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// indexDoc is an image index as written, with the presence of its
// optional fields kept.
type indexDoc struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     *string              `json:"mediaType"`
	ArtifactType  *string              `json:"artifactType"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// checkMediaTypeField checks the mediaType field mt of a document of type want.
func checkMediaTypeField(p *problems, mt *string, want, spec string) {
	switch {
	case mt == nil:
		p.addf("mediaType is absent: it SHOULD be used (image-spec %s; distribution-spec Pushing Manifests: all manifests SHOULD include a mediaType field)", spec)
	case *mt != want:
		p.addf("mediaType is %q: when used it MUST be %s (image-spec %s)", *mt, want, spec)
	}
}

func checkSubject(p *problems, s *ocispec.Descriptor) {
	if s == nil {
		return
	}
	checkDescriptor(p, "subject", *s)
	if !isManifestType(s.MediaType) {
		p.addf("subject: mediaType %q is not a manifest or index (image-spec manifest.md: subject is a descriptor of another manifest)", s.MediaType)
	}
}

func checkManifest(p *problems, data []byte) {
	var m manifestDoc
	if err := json.Unmarshal(data, &m); err != nil {
		p.addf("manifest: %w", err)
		return
	}
	checkMediaTypeField(p, m.MediaType, ocispec.MediaTypeImageManifest, "manifest.md")
	if m.Config != nil {
		checkDescriptor(p, "config", *m.Config)
		if m.Config.MediaType == ocispec.MediaTypeEmptyJSON && (m.ArtifactType == nil || *m.ArtifactType == "") {
			p.addf("artifactType is not set while config is the empty descriptor (image-spec manifest.md: MUST be set when config.mediaType is the empty value)")
		}
	}
	for i, l := range m.Layers {
		checkDescriptor(p, fmt.Sprintf("layers[%d]", i), l)
	}
	checkSubject(p, m.Subject)
	checkAnnotations(p, "annotations", m.Annotations)
}

func checkIndex(p *problems, data []byte) {
	var idx indexDoc
	if err := json.Unmarshal(data, &idx); err != nil {
		p.addf("index: %w", err)
		return
	}
	checkMediaTypeField(p, idx.MediaType, ocispec.MediaTypeImageIndex, "image-index.md")
	for i, d := range idx.Manifests {
		checkDescriptor(p, fmt.Sprintf("manifests[%d]", i), d)
	}
	checkSubject(p, idx.Subject)
	checkAnnotations(p, "annotations", idx.Annotations)
}

func checkConfig(p *problems, data []byte) {
	var c struct {
		Created      *string `json:"created"`
		OS           string  `json:"os"`
		Architecture string  `json:"architecture"`
		RootFS       struct {
			Type    string          `json:"type"`
			DiffIDs []digest.Digest `json:"diff_ids"`
		} `json:"rootfs"`
		History []struct {
			Created *string `json:"created"`
		} `json:"history"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		p.addf("config: %w", err)
		return
	}
	if c.Created != nil && !IsRFC3339(*c.Created) {
		p.addf("config created %q is not an RFC 3339 date-time (image-spec config.md)", *c.Created)
	}
	for i, h := range c.History {
		if h.Created != nil && !IsRFC3339(*h.Created) {
			p.addf("config history[%d].created %q is not an RFC 3339 date-time (image-spec config.md)", i, *h.Created)
		}
	}
	if c.OS == "" || c.Architecture == "" {
		p.addf("config os %q, architecture %q: both are REQUIRED (image-spec config.md)", c.OS, c.Architecture)
	}
	if c.RootFS.Type != "layers" {
		p.addf("config rootfs.type %q: MUST be layers (image-spec config.md)", c.RootFS.Type)
	}
	for i, d := range c.RootFS.DiffIDs {
		checkDigest(p, fmt.Sprintf("config rootfs.diff_ids[%d]", i), d)
	}
}
