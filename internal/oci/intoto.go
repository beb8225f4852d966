package oci

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// In-toto names, as BuildKit's attestation manifests and its SBOM scanner
// protocol use them.
const (
	// InTotoStatementType is the _type of the statements affix writes.
	InTotoStatementType = "https://in-toto.io/Statement/v0.1"
	// PredicateSPDX is the predicate type of an SPDX document.
	PredicateSPDX = "https://spdx.dev/Document"
	// AnnotationPredicateType is the annotation BuildKit puts on every
	// attestation layer (and affix convert on in-toto referrers).
	AnnotationPredicateType = "in-toto.io/predicate-type"
)

// inTotoStatementPrefix starts the _type of every in-toto statement
// version (v0.1, v1).
const inTotoStatementPrefix = "https://in-toto.io/Statement/"

// Statement is an in-toto statement (v0.1 or v1).
type Statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []Subject       `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject is one subject of a Statement: a name and its digests by
// algorithm.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// ParseStatement decodes an in-toto statement and checks its _type; the
// predicate is left to the caller.
func ParseStatement(b []byte) (*Statement, error) {
	var s Statement
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding in-toto statement: %w", err)
	}
	if !s.IsStatement() {
		return nil, fmt.Errorf("_type %q is not an in-toto statement", s.Type)
	}
	return &s, nil
}

// IsStatement reports whether the _type is an in-toto statement's.
func (s *Statement) IsStatement() bool { return strings.HasPrefix(s.Type, inTotoStatementPrefix) }

// Names reports whether d is the digest of one of the subjects; a
// statement without subjects names nothing, and a malformed digest (or
// one of an algorithm go-digest does not know) is named by none.
func (s *Statement) Names(d digest.Digest) bool {
	if d.Validate() != nil {
		return false // Algorithm and Encoded panic without a ":"
	}
	for _, sub := range s.Subject {
		if sub.Digest[d.Algorithm().String()] == d.Encoded() {
			return true
		}
	}
	return false
}
