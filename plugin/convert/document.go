package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

// In-toto names.
const (
	// PredicateSPDX is the predicate type of an SPDX document.
	PredicateSPDX = oci.PredicateSPDX
	// AnnotationPredicateType is the annotation BuildKit puts on every
	// attestation layer, and convert on in-toto referrers.
	AnnotationPredicateType = oci.AnnotationPredicateType
)

// buildkitCreator starts the creator BuildKit adds to the final image's
// SPDX document, and to no other (exporter/containerimage supplementSBOM).
const buildkitCreator = "Tool: buildkit-"

// parseStatement decodes an in-toto statement with an SPDX predicate. A
// statement that is no such one (another predicate type, a predicate that
// is no object) is returned with the error, so that the caller can name
// its predicate type without decoding it again.
func parseStatement(b []byte) (*oci.Statement, error) {
	s, err := oci.ParseStatement(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrBadAttestation)
	}
	if s.PredicateType != PredicateSPDX {
		return s, fmt.Errorf("predicate type %q is not %s: %w", s.PredicateType, PredicateSPDX, ErrBadAttestation)
	}
	p := bytes.TrimSpace(s.Predicate)
	if len(p) == 0 || p[0] != '{' {
		return s, fmt.Errorf("predicate is not a JSON object: %w", ErrBadAttestation)
	}
	return s, nil
}

// spdxInfo is what convert reads from an SPDX document.
type spdxInfo struct {
	created   time.Time // zero when absent or malformed
	generator string    // first "Tool:" creator, "" when none
	buildkit  bool      // BuildKit marked it as the final image's (buildkitCreator)
}

func readSPDX(doc []byte) (spdxInfo, error) {
	var v struct {
		SPDXVersion  string `json:"spdxVersion"`
		CreationInfo struct {
			Created  string   `json:"created"`
			Creators []string `json:"creators"`
		} `json:"creationInfo"`
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return spdxInfo{}, fmt.Errorf("decoding SPDX document: %w: %w", err, ErrBadAttestation)
	}
	if !strings.HasPrefix(v.SPDXVersion, "SPDX-2.") {
		return spdxInfo{}, fmt.Errorf("spdxVersion %q is not SPDX 2.x: %w", v.SPDXVersion, ErrBadAttestation)
	}
	var info spdxInfo
	if t, err := time.Parse(time.RFC3339, v.CreationInfo.Created); err == nil {
		info.created = t.UTC()
	}
	info.generator = oci.SPDXTool(v.CreationInfo.Creators)
	info.buildkit = slices.ContainsFunc(v.CreationInfo.Creators, func(c string) bool { return strings.HasPrefix(c, buildkitCreator) })
	return info, nil
}

// coreIndex returns the index of the statement that describes the final
// image among the SPDX statements of one attestation manifest (docs, in
// the order BuildKit stored them), or -1 when it cannot be told. BuildKit
// adds its own creator "Tool: buildkit-<version>" to the core target's
// documents only (supplementSBOM: the scanner's files whose name up to
// the first dot is "sbom", as it tells by strings.Cut; sbom.spdx.json and
// sbom.extra.spdx.json alike) and stores them first. So it is the first
// statement with BuildKit's creator. Without one (BuildKit leaves a
// document it cannot decode as it is), a lone statement is the image's;
// of several, none is taken: the extra targets' documents (stages, the
// build context) would be as likely, and publishing one of them as the
// image's SBOM is worse than publishing none. Document names are not
// looked at: a scanner's NAME parameter may start with "sbom-" as the
// extra targets' names do.
func coreIndex(docs []spdxInfo) int {
	if i := slices.IndexFunc(docs, func(d spdxInfo) bool { return d.buildkit }); i >= 0 {
		return i
	}
	if len(docs) == 1 {
		return 0
	}
	return -1
}

// nameImage returns doc (SPDX 2.x JSON) with its described root package
// naming the image of repository repo: a purl reference
// pkg:oci/NAME@DIGEST as affix's own documents have it
// (sbomgen.ImagePURL, no tag), replacing any purl it had, and a checksum
// of DIGEST (replacing one of the same algorithm), and a documentNamespace
// derived from the original and that purl. It reports false, and
// returns doc unchanged, when the document does not describe exactly one
// package, or when the named document would not name d to
// sbomgen.DescribedDigest, the reader of affix get --verify: that decoder
// matches keys case-insensitively (encoding/json into a struct), this one
// exactly, so a document with both "SPDXID" and "spdxid" in a package
// reads as describing another package (and another image) there. The
// result is compact JSON with sorted keys, a function of its input.
func nameImage(doc []byte, d digest.Digest, repo string, platform ocispec.Platform) ([]byte, bool, error) {
	// The document's members stay raw; only what names the image is
	// decoded, one element at a time, and the root package whole.
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return nil, false, fmt.Errorf("decoding SPDX document: %w: %w", err, ErrBadAttestation)
	}
	described := map[string]bool{}
	var ids any
	if err := decodeNumbers(top["documentDescribes"], &ids); err == nil {
		ids, _ := ids.([]any)
		for _, id := range ids {
			if s, ok := id.(string); ok {
				described[s] = true
			}
		}
	}
	err := eachElement(top["relationships"], func(r any) error {
		rel, _ := r.(map[string]any)
		a, _ := rel["spdxElementId"].(string)
		b, _ := rel["relatedSpdxElement"].(string)
		switch typ, _ := rel["relationshipType"].(string); {
		case a == "SPDXRef-DOCUMENT" && typ == "DESCRIBES":
			described[b] = true
		case b == "SPDXRef-DOCUMENT" && typ == "DESCRIBED_BY":
			described[a] = true
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("decoding SPDX document: %w: %w", err, ErrBadAttestation)
	}
	var root map[string]any
	rootIndex, i := -1, 0
	errSeveral := errors.New("several described packages")
	err = eachElement(top["packages"], func(p any) error {
		defer func() { i++ }()
		pkg, _ := p.(map[string]any)
		if id, _ := pkg["SPDXID"].(string); described[id] {
			if root != nil {
				return errSeveral // which one is the image?
			}
			root, rootIndex = pkg, i
		}
		return nil
	})
	switch {
	case errors.Is(err, errSeveral):
		return doc, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("decoding SPDX document: %w: %w", err, ErrBadAttestation)
	case root == nil:
		return doc, false, nil
	}
	purl := sbomgen.ImagePURL(repo, d, platform.Architecture)
	refs, _ := root["externalRefs"].([]any)
	refs = slices.DeleteFunc(refs, func(r any) bool {
		ref, _ := r.(map[string]any)
		return ref["referenceType"] == "purl"
	})
	root["externalRefs"] = append(refs, map[string]any{
		"referenceCategory": "PACKAGE-MANAGER",
		"referenceType":     "purl",
		"referenceLocator":  purl,
	})
	alg := strings.ToUpper(d.Algorithm().String())
	sums, _ := root["checksums"].([]any)
	sums = slices.DeleteFunc(sums, func(c any) bool {
		sum, _ := c.(map[string]any)
		a, _ := sum["algorithm"].(string)
		return strings.EqualFold(a, alg)
	})
	root["checksums"] = append(sums, map[string]any{"algorithm": alg, "checksumValue": d.Encoded()})
	w := newCanonicalWriter()
	replace := map[string]func(*bytes.Buffer) error{
		"packages": func(buf *bytes.Buffer) error {
			return w.raw(buf, top["packages"], rootIndex, func(buf *bytes.Buffer) error { return w.encode(buf, root) })
		},
	}
	// Another document now: SPDX wants a namespace of its own for it,
	// one per document content, so that a tool indexing SBOMs by
	// namespace keeps BuildKit's and each repository's apart. Derived
	// from the original and what was named, it is the same on a rerun.
	// Naming a named document again changes nothing: the suffix of an
	// earlier naming is replaced, not added to.
	var ns any
	if decodeNumbers(top["documentNamespace"], &ns) == nil {
		if ns, _ := ns.(string); ns != "" {
			base := strings.TrimRight(namedNamespaceRE.ReplaceAllString(ns, ""), "/")
			named := base + "/affix-" + digest.FromString(base + "\n" + purl).Encoded()[:32]
			replace["documentNamespace"] = func(buf *bytes.Buffer) error {
				w.string(buf, named)
				return nil
			}
		}
	}
	var out bytes.Buffer
	out.Grow(len(doc) + len(doc)/8)
	if err := w.members(&out, top, replace); err != nil {
		return nil, false, err
	}
	if got, err := sbomgen.DescribedDigest(sbomgen.SPDXJSON, out.Bytes()); err != nil || got != d {
		return doc, false, nil
	}
	return out.Bytes(), true, nil
}

// decodeNumbers decodes the JSON value raw into v, numbers as
// json.Number; nothing (raw absent) is an error.
func decodeNumbers(raw json.RawMessage, v any) error {
	if raw == nil {
		return errors.New("absent")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

// eachElement calls f with each element of the JSON array raw, decoded
// (numbers as json.Number), one at a time; a value that is no array
// (or none) has no elements. f's error ends it and is returned.
func eachElement(raw json.RawMessage, f func(any) error) error {
	if raw == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('[') {
		return nil
	}
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if err := f(v); err != nil {
			return err
		}
	}
	return nil
}

// namedNamespaceRE matches the suffix nameImage gives a namespace.
var namedNamespaceRE = regexp.MustCompile(`/affix-[0-9a-f]{32}$`)

// marshal encodes v as compact JSON without HTML escaping, with a final
// newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// withPredicate returns the statement with its predicate replaced by p, as
// compact JSON; everything else is kept as it was (members in key order,
// in canonical form, as nameImage writes them).
func withPredicate(stmt []byte, p []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(stmt))
	dec.UseNumber()
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("decoding in-toto statement: %w: %w", err, ErrBadAttestation)
	}
	var out bytes.Buffer
	out.Grow(len(stmt) + len(p))
	err := newCanonicalWriter().members(&out, top, map[string]func(*bytes.Buffer) error{
		"predicate": func(buf *bytes.Buffer) error { return json.Compact(buf, bytes.TrimSpace(p)) },
	})
	if err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
