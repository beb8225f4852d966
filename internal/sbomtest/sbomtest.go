// Package sbomtest reads SBOM documents in tests: the package set of an
// SPDX document, in a form two documents can be compared in.
package sbomtest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/affix-oci/affix/internal/oci"
)

// SPDXPackages returns the packages of an SPDX JSON document as sorted
// "TYPE NAME VERSION" lines, TYPE the purl type ("?" without a purl),
// leaving out the packages the document describes (the scanned image or
// directory), so that the SBOMs of one file set made from different
// sources compare equal.
func SPDXPackages(doc []byte) ([]string, error) {
	var v struct {
		Packages []struct {
			ID      string `json:"SPDXID"`
			Name    string `json:"name"`
			Version string `json:"versionInfo"`
			Refs    []struct {
				Type    string `json:"referenceType"`
				Locator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
		Describes []string            `json:"documentDescribes"`
		Rels      []map[string]string `json:"relationships"`
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("decoding SPDX document: %w", err)
	}
	described := map[string]bool{}
	for _, id := range v.Describes {
		described[id] = true
	}
	for _, r := range v.Rels {
		if r["spdxElementId"] == "SPDXRef-DOCUMENT" && r["relationshipType"] == "DESCRIBES" {
			described[r["relatedSpdxElement"]] = true
		}
	}
	out := make([]string, 0, len(v.Packages))
	for _, p := range v.Packages {
		if described[p.ID] {
			continue
		}
		typ := "?"
		for _, r := range p.Refs {
			if r.Type == "purl" {
				typ, _, _ = strings.Cut(strings.TrimPrefix(r.Locator, "pkg:"), "/")
			}
		}
		out = append(out, typ+" "+p.Name+" "+p.Version)
	}
	slices.Sort(out)
	return out, nil
}

// Statement returns an in-toto statement of predicate type pt about
// subject (named "app"), with doc as its predicate.
func Statement(t testing.TB, pt string, subject digest.Digest, doc string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"_type": oci.InTotoStatementType, "predicateType": pt,
		"subject":   []map[string]any{{"name": "app", "digest": map[string]string{subject.Algorithm().String(): subject.Encoded()}}},
		"predicate": json.RawMessage(doc)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DirectorySPDX is an SPDX document of a scanned directory, as a scanner
// that does not know the image writes one: it names no image digest.
const DirectorySPDX = `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"/rootfs",` +
	`"documentNamespace":"https://example.invalid/rootfs","creationInfo":{"created":"2024-01-01T00:00:00Z","creators":["Tool: example-scanner-1.0"]},` +
	`"packages":[{"SPDXID":"SPDXRef-DocumentRoot-Directory-rootfs","name":"/rootfs","downloadLocation":"NOASSERTION"}],` +
	`"relationships":[{"spdxElementId":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBES","relatedSpdxElement":"SPDXRef-DocumentRoot-Directory-rootfs"}]}`
