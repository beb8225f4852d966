package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/version"
	"github.com/affix-oci/affix/sbomgen"
)

// formatSPDXInToto is the --sbom-format of an SPDX document wrapped in an
// in-toto statement.
const formatSPDXInToto = "spdx-intoto"

// referrerFormat is one --sbom-format: the document sbomgen encodes and
// whether the referrer carries it bare (artifactType = the document's
// media type, what Trivy and Ratify read) or as the predicate of an
// in-toto statement (application/vnd.in-toto+json, what BuildKit's
// attestations and Docker Scout use).
type referrerFormat struct {
	doc    sbomgen.Format
	inToto bool
}

func (f referrerFormat) String() string {
	if f.inToto {
		return formatSPDXInToto
	}
	return f.doc.String()
}

// artifactType is the referrer's artifactType and layer media type.
func (f referrerFormat) artifactType() string {
	if f.inToto {
		return oci.MediaTypeInToto
	}
	return f.doc.MediaType()
}

// sbomFormats parses --sbom-format values: spdx-json (the default),
// cyclonedx-json, spdx-intoto; each once, in the order given.
func sbomFormats(values []string) ([]referrerFormat, error) {
	var out []referrerFormat
	for _, s := range values {
		var f referrerFormat
		if strings.EqualFold(strings.TrimSpace(s), formatSPDXInToto) {
			f = referrerFormat{doc: sbomgen.SPDXJSON, inToto: true}
		} else {
			d, err := sbomgen.ParseFormat(s)
			if err != nil || !oci.IsSBOMType(d.MediaType()) {
				return nil, usageError(fmt.Errorf("--sbom-format %q: want spdx-json, cyclonedx-json or %s (the formats published as referrers)", s, formatSPDXInToto))
			}
			f = referrerFormat{doc: d}
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		out = []referrerFormat{{doc: sbomgen.SPDXJSON}}
	}
	return out, nil
}

// docFormats returns the document formats sbomgen encodes for formats,
// each once.
func docFormats(formats []referrerFormat) []sbomgen.Format {
	var out []sbomgen.Format
	for _, f := range formats {
		if !slices.Contains(out, f.doc) {
			out = append(out, f.doc)
		}
	}
	return out
}

// sbomReferrer is one referrer to attach to a platform image, and the
// --sbom-format it answers.
type sbomReferrer struct {
	format   referrerFormat
	artifact exporter.Artifact
}

// sbomReferrers returns the referrers of img's documents in res, one per
// format, in order. name is the image name the SBOMs use; an in-toto
// statement names its subject by its repository (sbomgen.ImageName) and
// the platform manifest's digest.
func sbomReferrers(img oci.Image, res *sbomgen.Result, formats []referrerFormat, name string) ([]sbomReferrer, error) {
	subject := ocispec.Descriptor{MediaType: img.Descriptor.MediaType, Digest: img.Descriptor.Digest, Size: img.Descriptor.Size}
	out := make([]sbomReferrer, 0, len(formats))
	for _, f := range formats {
		doc, ok := res.Document(f.doc)
		if !ok {
			return nil, fmt.Errorf("SBOM of %s: no %s document generated", img, f.doc)
		}
		ann := map[string]string{
			oci.AnnotationGenerator: version.Generator(),
			oci.AnnotationPlatform:  oci.FormatPlatform(img.Platform()),
			oci.AnnotationFormat:    doc.Format.String(),
		}
		if !f.inToto {
			a := exporter.SBOM(subject, doc.MediaType, doc.Data, res.Created, ann)
			// Hashed, or checked, by the generator: not hashed again.
			a.Blobs[0].Digest = doc.Digest
			out = append(out, sbomReferrer{f, a})
			continue
		}
		a, err := inTotoSPDX(subject, doc.Data, res.Created, ann, name)
		if err != nil {
			return nil, fmt.Errorf("SBOM of %s: %w", img, err)
		}
		out = append(out, sbomReferrer{f, a})
	}
	return out, nil
}

// inTotoSPDX returns the referrer of subject that carries the SPDX
// document doc as the predicate of an in-toto statement, whose subject is
// named by its repository (sbomgen.ImageName of name) and digest.
func inTotoSPDX(subject ocispec.Descriptor, doc []byte, created time.Time, ann map[string]string, name string) (exporter.Artifact, error) {
	var stmt bytes.Buffer
	enc := json.NewEncoder(&stmt)
	enc.SetEscapeHTML(false) // the predicate keeps the document's bytes
	if err := enc.Encode(oci.Statement{
		Type:          oci.InTotoStatementType,
		PredicateType: oci.PredicateSPDX,
		Subject:       []oci.Subject{{Name: sbomgen.ImageName(name), Digest: map[string]string{subject.Digest.Algorithm().String(): subject.Digest.Encoded()}}},
		Predicate:     bytes.TrimSpace(doc),
	}); err != nil {
		return exporter.Artifact{}, fmt.Errorf("in-toto statement: %w", err)
	}
	return exporter.InToto(subject, oci.PredicateSPDX, stmt.Bytes(), created, ann), nil
}

// wrapReused makes the spdx-intoto referrer that missing asks for from the
// bare SPDX document found reuses, when it does, rather than from a new
// scan: both referrers of the platform then carry one document, as when
// they are generated together. It returns found with that referrer added
// and the formats still missing.
func wrapReused(found []sbomReferrer, missing []referrerFormat, name string) ([]sbomReferrer, []referrerFormat, error) {
	i := slices.IndexFunc(missing, func(f referrerFormat) bool { return f.inToto })
	j := slices.IndexFunc(found, func(r sbomReferrer) bool { return r.format == referrerFormat{doc: sbomgen.SPDXJSON} })
	if i < 0 || j < 0 {
		return found, missing, nil
	}
	bare := found[j].artifact
	ann := maps.Clone(bare.Annotations)
	var created time.Time
	if c, ok := ann[ocispec.AnnotationCreated]; ok {
		t, err := time.Parse(time.RFC3339, c)
		if err != nil {
			return nil, nil, fmt.Errorf("SBOM referrer of %s: annotation %s %q: %w", bare.Subject.Digest, ocispec.AnnotationCreated, c, err)
		}
		created = t
		delete(ann, ocispec.AnnotationCreated)
	}
	a, err := inTotoSPDX(bare.Subject, bare.Blobs[0].Data, created, ann, name)
	if err != nil {
		return nil, nil, fmt.Errorf("SBOM of %s: %w", bare.Subject.Digest, err)
	}
	return append(slices.Clone(found), sbomReferrer{missing[i], a}), slices.Delete(slices.Clone(missing), i, i+1), nil
}

// warnUnreadable warns (see NewWarnf) when the scan of img found files it could not
// read (sbomgen.Result.Unreadable): its SBOM lacks what they hold.
func warnUnreadable(warn func(format string, args ...any), img oci.Image, res *sbomgen.Result) {
	if u := res.UnreadableSummary(); u != "" {
		warn("%s (%s): the SBOM lacks what the scan could not read: %s", img, img.Descriptor.Digest, u)
	}
}

// skipNotImage reports whether err says that a platform manifest is not a
// container image (an artifact such as a wasm module listed under a
// platform, whose config is no image config): then it warns that the
// manifest gets no SBOM, and the caller goes on with the other platforms
// instead of failing the whole push.
func skipNotImage(warn func(format string, args ...any), img oci.Image, err error) bool {
	if !errors.Is(err, sbomgen.ErrNotImage) {
		return false
	}
	warn("%s (%s) is not a container image, so it gets no SBOM: %v", img, img.Descriptor.Digest, err)
	return true
}
