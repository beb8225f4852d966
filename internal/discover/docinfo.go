package discover

import (
	"encoding/json"

	"github.com/opencontainers/go-digest"

	"github.com/affix-oci/affix/sbomgen"
)

// docFields are the fields of a document that get reads: those
// sniffFormat, sbomgen.DescribedDigest (of every format) and
// docGenerator read, with the same types, so that one decode serves all
// three.
type docFields struct {
	sbomgen.DescribedFields
	Schema struct {
		URL string `json:"url"`
	} `json:"schema"`
	Artifacts present `json:"artifacts"`
	// metadata.tools is in DescribedFields.
	CreationInfo struct {
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
}

// present records that its key is in the document (any value, null
// too, as a json.RawMessage does), without copying the value.
type present bool

func (p *present) UnmarshalJSON([]byte) error {
	*p = true
	return nil
}

// docInfo is what get reads of a Source's document, read once.
type docInfo struct {
	// When docFields does not decode the document, each of the rest is
	// read as its own function reads it (a field it does not read may
	// be what failed).
	//
	// format and isSBOM are sniffFormat's.
	format sbomgen.Format
	isSBOM bool
	// generator is docGenerator's (valid once genRead).
	generator string
	genRead   bool
	// described holds sbomgen.DescribedDigest's answer by format.
	described map[sbomgen.Format]describedDigest
}

type describedDigest struct {
	d   digest.Digest
	err error
}

// describedFormats are the formats DescribedDigest reads.
var describedFormats = []sbomgen.Format{sbomgen.SPDXJSON, sbomgen.CycloneDXJSON, sbomgen.SyftJSON}

// info returns what get reads of s.Doc, decoding it on the first call
// (a Source is used by one goroutine at a time). The decoded fields are
// not kept: an SPDX document's packages would be.
func (s *Source) info() *docInfo {
	if s.parsed != nil {
		return s.parsed
	}
	p := &docInfo{described: make(map[sbomgen.Format]describedDigest, len(describedFormats))}
	s.parsed = p
	var v docFields
	if json.Unmarshal(s.Doc, &v) != nil {
		p.format, p.isSBOM = sniffFormat(s.Doc)
		return p
	}
	p.format, p.isSBOM = v.sniff()
	p.generator, p.genRead = docFieldsGenerator(v.CreationInfo.Creators, toolsOf(&v)), true
	for _, f := range describedFormats {
		d, err := v.Described(f)
		p.described[f] = describedDigest{d, err}
	}
	return p
}

// toolsOf returns the document's metadata.tools as decoded.
func toolsOf(v *docFields) json.RawMessage {
	if v.Metadata == nil {
		return nil
	}
	return v.Metadata.Tools
}

// sniff is sniffFormat for the decoded fields.
func (v *docFields) sniff() (sbomgen.Format, bool) {
	return sniffFields(v.SPDXVersion, v.BOMFormat, v.Schema.URL, bool(v.Artifacts))
}

// sniffed is sniffFormat(s.Doc).
func (s *Source) sniffed() (sbomgen.Format, bool) {
	p := s.info()
	return p.format, p.isSBOM
}

// describedDigest is sbomgen.DescribedDigest(f, s.Doc).
func (s *Source) describedDigest(f sbomgen.Format) (digest.Digest, error) {
	p := s.info()
	if r, ok := p.described[f]; ok {
		return r.d, r.err
	}
	d, err := sbomgen.DescribedDigest(f, s.Doc)
	p.described[f] = describedDigest{d, err}
	return d, err
}

// docGenerator is docGenerator(s.Doc).
func (s *Source) docGenerator() string {
	p := s.info()
	if !p.genRead {
		p.generator, p.genRead = docGenerator(s.Doc), true
	}
	return p.generator
}
