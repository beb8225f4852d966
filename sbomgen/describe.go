package sbomgen

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/anchore/packageurl-go"
	"github.com/opencontainers/go-digest"
)

// DescribedDigest returns the manifest digest of the image that doc, an
// SBOM in format f, describes:
//
//   - SPDX: the package the document describes (documentDescribes, or a
//     DOCUMENT DESCRIBES relationship) with a purl pkg:oci/NAME@DIGEST; a
//     checksum of the same algorithm must agree with it.
//   - CycloneDX: metadata.component's purl pkg:oci/NAME@DIGEST; a hash of
//     the same algorithm must agree with it.
//   - syft JSON: source.metadata.manifestDigest.
//
// It fails with ErrNoSubject when the document names no digest, or names
// different ones. It reads documents of other generators as long as they
// follow these conventions (syft's own do).
func DescribedDigest(f Format, doc []byte) (digest.Digest, error) {
	// Only the format's own fields: in the others, a value of another
	// shape would fail the decode.
	var v DescribedFields
	var fields any
	switch f {
	case SPDXJSON:
		fields = &v.spdxFields
	case CycloneDXJSON:
		fields = &v.cdxFields
	case SyftJSON:
		fields = &v.syftFields
	default:
		return "", fmt.Errorf("format %q: %w", f, ErrUnknownFormat)
	}
	if err := json.Unmarshal(doc, fields); err != nil {
		return "", fmt.Errorf("%s document: decoding: %w", f, err)
	}
	return v.Described(f)
}

// DescribedFields are the fields DescribedDigest reads of a document, of
// every format: a caller that reads more of a document than the image it
// describes decodes it once into a struct embedding them, then asks
// Described for the digest. When that decode succeeds, Described returns
// what DescribedDigest returns for the same document and format; when it
// fails, DescribedDigest says how the document fails the format's own
// decode (a field of another format may be what failed).
type DescribedFields struct {
	spdxFields
	cdxFields
	syftFields
}

// Described is DescribedDigest for the document decoded into v.
func (v *DescribedFields) Described(f Format) (digest.Digest, error) {
	var d digest.Digest
	var err error
	switch f {
	case SPDXJSON:
		d, err = v.spdxFields.described()
	case CycloneDXJSON:
		d, err = v.cdxFields.described()
	case SyftJSON:
		d, err = v.syftFields.described()
	default:
		return "", fmt.Errorf("format %q: %w", f, ErrUnknownFormat)
	}
	if err != nil {
		return "", fmt.Errorf("%s document: %w", f, err)
	}
	return d, nil
}

// spdxFields are the fields of an SPDX document DescribedDigest reads.
type spdxFields struct {
	SPDXVersion       string   `json:"spdxVersion"`
	DocumentDescribes []string `json:"documentDescribes"`
	Packages          []struct {
		SPDXID    string `json:"SPDXID"`
		Checksums []struct {
			Algorithm string `json:"algorithm"`
			Value     string `json:"checksumValue"`
		} `json:"checksums"`
		ExternalRefs []struct {
			Type    string `json:"referenceType"`
			Locator string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
	Relationships []struct {
		A    string `json:"spdxElementId"`
		Type string `json:"relationshipType"`
		B    string `json:"relatedSpdxElement"`
	} `json:"relationships"`
}

func (v *spdxFields) described() (digest.Digest, error) {
	if !strings.HasPrefix(v.SPDXVersion, "SPDX-2.") {
		return "", fmt.Errorf("spdxVersion %q is not SPDX 2.x: %w", v.SPDXVersion, ErrNoSubject)
	}
	described := map[string]bool{}
	for _, id := range v.DocumentDescribes {
		described[id] = true
	}
	for _, r := range v.Relationships {
		switch {
		case r.A == "SPDXRef-DOCUMENT" && r.Type == "DESCRIBES":
			described[r.B] = true
		case r.B == "SPDXRef-DOCUMENT" && r.Type == "DESCRIBED_BY":
			described[r.A] = true
		}
	}
	var found digest.Digest
	for _, p := range v.Packages {
		if !described[p.SPDXID] {
			continue
		}
		for _, ref := range p.ExternalRefs {
			if ref.Type != "purl" {
				continue
			}
			d, ok := ociPURLDigest(ref.Locator)
			if !ok {
				continue
			}
			for _, c := range p.Checksums {
				if strings.EqualFold(c.Algorithm, d.Algorithm().String()) && c.Value != d.Encoded() {
					return "", fmt.Errorf("package %s: purl names %s, checksum %s:%s: %w", p.SPDXID, d, c.Algorithm, c.Value, ErrNoSubject)
				}
			}
			if found != "" && found != d {
				return "", fmt.Errorf("describes several images (%s, %s): %w", found, d, ErrNoSubject)
			}
			found = d
		}
	}
	if found == "" {
		return "", ErrNoSubject
	}
	return found, nil
}

// cdxFields are the fields of a CycloneDX document DescribedDigest reads.
type cdxFields struct {
	BOMFormat string       `json:"bomFormat"`
	Metadata  *CDXMetadata `json:"metadata"`
}

// CDXMetadata is the part of a CycloneDX document's metadata that
// DescribedFields holds.
type CDXMetadata struct {
	Component *struct {
		PURL   string `json:"purl"`
		Hashes []struct {
			Alg     string `json:"alg"`
			Content string `json:"content"`
		} `json:"hashes"`
	} `json:"component"`
	// Tools is metadata.tools as written (any JSON value decodes into
	// it), which DescribedDigest does not read: there for a caller
	// that names the document's generator from the same decode.
	Tools json.RawMessage `json:"tools"`
}

func (v *cdxFields) described() (digest.Digest, error) {
	if v.BOMFormat != "CycloneDX" {
		return "", fmt.Errorf("bomFormat %q is not CycloneDX: %w", v.BOMFormat, ErrNoSubject)
	}
	if v.Metadata == nil || v.Metadata.Component == nil {
		return "", fmt.Errorf("no metadata.component: %w", ErrNoSubject)
	}
	c := v.Metadata.Component
	d, ok := ociPURLDigest(c.PURL)
	if !ok {
		return "", fmt.Errorf("metadata.component purl %q is not pkg:oci/NAME@DIGEST: %w", c.PURL, ErrNoSubject)
	}
	for _, h := range c.Hashes {
		alg := strings.ToLower(strings.ReplaceAll(h.Alg, "-", ""))
		if alg == d.Algorithm().String() && h.Content != d.Encoded() {
			return "", fmt.Errorf("metadata.component purl names %s, hash %s:%s: %w", d, h.Alg, h.Content, ErrNoSubject)
		}
	}
	return d, nil
}

// syftFields are the fields of a syft JSON document DescribedDigest reads.
type syftFields struct {
	Source struct {
		Type     string `json:"type"`
		Metadata struct {
			ManifestDigest string `json:"manifestDigest"`
		} `json:"metadata"`
	} `json:"source"`
}

func (v *syftFields) described() (digest.Digest, error) {
	if v.Source.Metadata.ManifestDigest == "" {
		return "", fmt.Errorf("source type %q has no manifestDigest: %w", v.Source.Type, ErrNoSubject)
	}
	d, err := digest.Parse(v.Source.Metadata.ManifestDigest)
	if err != nil {
		return "", fmt.Errorf("source.metadata.manifestDigest: %w: %w", err, ErrNoSubject)
	}
	return d, nil
}

// ociPURLDigest returns the digest a pkg:oci purl names as its version.
func ociPURLDigest(s string) (digest.Digest, bool) {
	p, err := packageurl.FromString(s)
	if err != nil || p.Type != "oci" {
		return "", false
	}
	d, err := digest.Parse(p.Version)
	if err != nil {
		return "", false
	}
	return d, true
}
