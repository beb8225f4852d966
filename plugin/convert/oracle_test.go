package convert

// The implementations of nameImage and withPredicate that decoded whole
// documents into maps (about ten times a document's size in memory):
// the oracle the streaming ones must match byte for byte
// (TestNameImageMatchesMapOracle, FuzzNameImage).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/sbomgen"
)

func nameImageMap(doc []byte, d digest.Digest, repo string, platform ocispec.Platform) ([]byte, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, false, fmt.Errorf("decoding SPDX document: %w: %w", err, ErrBadAttestation)
	}
	described := map[string]bool{}
	if ids, ok := m["documentDescribes"].([]any); ok {
		for _, id := range ids {
			if s, ok := id.(string); ok {
				described[s] = true
			}
		}
	}
	rels, _ := m["relationships"].([]any)
	for _, r := range rels {
		rel, _ := r.(map[string]any)
		a, _ := rel["spdxElementId"].(string)
		b, _ := rel["relatedSpdxElement"].(string)
		switch typ, _ := rel["relationshipType"].(string); {
		case a == "SPDXRef-DOCUMENT" && typ == "DESCRIBES":
			described[b] = true
		case b == "SPDXRef-DOCUMENT" && typ == "DESCRIBED_BY":
			described[a] = true
		}
	}
	pkgs, _ := m["packages"].([]any)
	var root map[string]any
	for _, p := range pkgs {
		pkg, _ := p.(map[string]any)
		if id, _ := pkg["SPDXID"].(string); described[id] {
			if root != nil {
				return doc, false, nil // several described packages: which one is the image?
			}
			root = pkg
		}
	}
	if root == nil {
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
	// Another document now: SPDX wants a namespace of its own for it,
	// one per document content, so that a tool indexing SBOMs by
	// namespace keeps BuildKit's and each repository's apart. Derived
	// from the original and what was named, it is the same on a rerun.
	// Naming a named document again changes nothing: the suffix of an
	// earlier naming is replaced, not added to.
	if ns, _ := m["documentNamespace"].(string); ns != "" {
		base := strings.TrimRight(namedNamespaceRE.ReplaceAllString(ns, ""), "/")
		m["documentNamespace"] = base + "/affix-" + digest.FromString(base + "\n" + purl).Encoded()[:32]
	}
	out, err := marshal(m)
	if err != nil {
		return nil, false, err
	}
	if got, err := sbomgen.DescribedDigest(sbomgen.SPDXJSON, out); err != nil || got != d {
		return doc, false, nil
	}
	return out, true, nil
}

// withPredicateMap returns the statement with its predicate replaced by p, as
// compact JSON; everything else is kept as it was.
func withPredicateMap(stmt []byte, p []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(stmt))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding in-toto statement: %w: %w", err, ErrBadAttestation)
	}
	m["predicate"] = json.RawMessage(bytes.TrimSpace(p))
	return marshal(m)
}
