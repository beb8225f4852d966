package discover

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

// ErrNotVerified means `affix get --verify` could not show that an SBOM
// describes the platform manifest it was found for.
var ErrNotVerified = errors.New("SBOM verification failed")

// Source is the SBOM `affix get` chose and the manifest it came in.
type Source struct {
	// Manifest is the manifest holding the document: an SBOM or in-toto
	// referrer, or a BuildKit attestation manifest of the index. Its
	// digest was verified when it was read.
	Manifest ocispec.Descriptor
	// InIndex is true for a BuildKit attestation manifest of the index
	// (not a referrer).
	InIndex bool
	// OfIndex is the index the referrer is attached to when it is not
	// the platform manifest's own (an SBOM attached to the index, taken
	// for want of one of the platform); "" otherwise.
	OfIndex digest.Digest
	// Tag is cosign's tag (sha256-<hex>.sbom, .att) the document was
	// found under, for want of a referrer; "" otherwise. The tag's name
	// is all that ties it to the platform manifest: it has no subject.
	Tag string
	// Subject is the manifest's subject field as read; nil when absent.
	Subject *ocispec.Descriptor
	// Annotations are the manifest's own annotations as read (not the
	// referrers list's copy): of a referrer's, those get reads (its
	// created time, generator and predicate type).
	Annotations map[string]string
	// Statement is the in-toto statement Doc came in; nil for a bare
	// document.
	Statement *oci.Statement
	// Doc is the SBOM document, as printed.
	Doc []byte

	// parsed is what get reads of Doc (info), once read.
	parsed *docInfo
}

// ImageName names img in messages: its platform, or "index" for the
// index itself (get --referrer of an SBOM attached to it).
func ImageName(img oci.Image) string {
	if oci.IsIndex(img.Descriptor.MediaType) {
		return "index"
	}
	return img.String()
}

// Describe names the source in messages.
func (s *Source) Describe() string {
	of := ""
	if s.OfIndex != "" {
		of = " of the index " + s.OfIndex.String()
	}
	switch {
	case s.InIndex:
		return "BuildKit attestation manifest " + s.Manifest.Digest.String() + " (in the index)"
	case s.Tag != "":
		return "cosign manifest " + s.Manifest.Digest.String() + " (tag " + s.Tag + ")"
	case s.Statement != nil:
		return "in-toto SBOM referrer " + s.Manifest.Digest.String() + of
	}
	return "SBOM referrer " + s.Manifest.Digest.String() + of
}

// generator is the dev.affix.sbom.generator annotation of the manifest,
// else the first "Tool:" creator of an SPDX document (oci.SPDXTool), else
// the first tool of a CycloneDX document's metadata.tools (1.5's
// components, or 1.4's list), else "".
func (s *Source) generator() string {
	if g := s.Annotations[oci.AnnotationGenerator]; g != "" {
		return g
	}
	return s.docGenerator()
}

// docGenerator is generator for a manifest without the annotation: the
// first "Tool:" creator of doc, an SPDX document, else the first tool of
// doc's metadata.tools, a CycloneDX document's, else "".
func docGenerator(doc []byte) string {
	var v struct {
		CreationInfo struct {
			Creators []string `json:"creators"`
		} `json:"creationInfo"`
		Metadata struct {
			Tools json.RawMessage `json:"tools"`
		} `json:"metadata"`
	}
	if json.Unmarshal(doc, &v) != nil {
		return ""
	}
	return docFieldsGenerator(v.CreationInfo.Creators, v.Metadata.Tools)
}

// docFieldsGenerator is docGenerator for a document's
// creationInfo.creators and metadata.tools.
func docFieldsGenerator(creators []string, tools json.RawMessage) string {
	if t := oci.SPDXTool(creators); t != "" {
		return t
	}
	return cdxTool(tools)
}

// cdxTool returns NAME-VERSION of the first tool in a CycloneDX
// metadata.tools: {"components": [...]} (1.5+) or a list (1.4); "" when
// there is none.
func cdxTool(raw json.RawMessage) string {
	type tool struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	var tools []tool
	var v15 struct {
		Components []tool `json:"components"`
	}
	if json.Unmarshal(raw, &v15) == nil && len(v15.Components) > 0 {
		tools = v15.Components
	} else if json.Unmarshal(raw, &tools) != nil {
		return ""
	}
	for _, t := range tools {
		if t.Name == "" {
			continue
		}
		if t.Version == "" {
			return t.Name
		}
		return t.Name + "-" + t.Version
	}
	return ""
}

// checkSubjects reports why the statement does not bind its predicate, a
// document of format, to want alone: every subject must carry want's
// digest (of want's algorithm), and there must be at least one.
func checkSubjects(s *oci.Statement, want digest.Digest, format sbomgen.Format) error {
	if !s.IsStatement() {
		return fmt.Errorf("_type %q is not an in-toto statement", s.Type)
	}
	if !isPredicateOf(format, s.PredicateType) {
		return fmt.Errorf("predicate type %q is not %s", s.PredicateType, predicateName(format))
	}
	if len(s.Subject) == 0 {
		return errors.New("the in-toto statement has no subject")
	}
	if err := want.Validate(); err != nil {
		return fmt.Errorf("image digest %s: %w", quoteDigest(want), err)
	}
	alg := want.Algorithm().String()
	for _, sub := range s.Subject {
		v, ok := sub.Digest[alg]
		if !ok {
			return fmt.Errorf("in-toto subject %q has no %s digest", sub.Name, alg)
		}
		if v != want.Encoded() {
			return fmt.Errorf("in-toto subject %q is %s:%s", clip(sub.Name), alg, clip(v))
		}
	}
	return nil
}

// verifySBOM checks that src describes the platform manifest img it was
// found for (or the index img, for an SBOM get --referrer took from the
// index's referrers), and returns the line to print when it does. The
// error wraps ErrNotVerified and names ref, the platform, the manifest src
// came in, the digest it describes and the one expected.
func verifySBOM(ref string, img oci.Image, format sbomgen.Format, src *Source) (string, error) {
	want := img.Descriptor.Digest
	manifest := "platform manifest"
	if oci.IsIndex(img.Descriptor.MediaType) {
		manifest = "index"
	}
	gen := src.generator()
	genNote := "generator not named"
	if gen != "" {
		genNote = fmt.Sprintf("generator %q", gen)
	}
	what := fmt.Sprintf("%s (%s)", src.Describe(), genNote)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s (%s): %s", ErrNotVerified, ref, ImageName(img), fmt.Sprintf(format, args...))
	}

	// The manifest that holds the document must point at the platform
	// manifest itself; a referrers list entry is only an index of them.
	// An SBOM attached to the index (taken for want of the platform's)
	// is bound to the platform manifest only by the document naming it.
	switch {
	case src.OfIndex != "" && (src.Subject == nil || src.Subject.Digest != src.OfIndex):
		return "", fail("%s has subject %s, not the index %s", what, SubjectOf(ocispec.Manifest{Subject: src.Subject}), src.OfIndex)
	case src.OfIndex == "" && src.Subject != nil && src.Subject.Digest != want:
		return "", fail("%s has subject %s, not the %s %s", what, src.Subject.Digest, manifest, want)
	case src.Subject == nil && !src.InIndex && src.Tag == "":
		return "", fail("%s has no subject; expected the %s %s", what, manifest, want)
	}

	described, derr := src.describedDigest(format)
	if derr != nil && !errors.Is(derr, sbomgen.ErrNoSubject) {
		return "", fail("%s: cannot read the document: %v", what, derr)
	}
	if src.OfIndex != "" && (derr != nil || described != want) {
		names := "names no image"
		if derr == nil {
			names = "describes image " + described.String()
		}
		return "", fail("%s is attached to the index, not to the platform manifest %s, and %s: nothing ties it to that platform", what, want, names)
	}
	if derr == nil && described != want {
		return "", fail("%s describes image %s, not the %s %s it is attached to", what, described, manifest, want)
	}
	how := ""
	if src.Statement != nil {
		// The statement's subject is the build system's binding of the
		// document to the image; it must not point anywhere else, and
		// carries the check alone when the document names no image.
		// A statement without subjects adds nothing to a document that
		// names the image itself.
		err := checkSubjects(src.Statement, want, format)
		if err != nil && (derr != nil || len(src.Statement.Subject) > 0) {
			return "", fail("%s: %v; expected the %s %s", what, err, manifest, want)
		}
		if derr != nil {
			how = "by its in-toto statement's subject; "
		}
	} else if derr != nil {
		return "", fail("cannot verify %s: %v: nothing in it ties it to the %s %s "+
			"(verifiable documents name the image by a pkg:oci purl with its digest, or come in an in-toto statement whose subject is that digest)",
			what, derr, manifest, want)
	}
	return fmt.Sprintf("verified: SBOM %s describes %s (%s%s)", src.Manifest.Digest, want, how, genNote), nil
}
