package discover

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

// TestGetVerifyStatement checks which in-toto subjects bind a document
// that names no image to a manifest.
func TestGetVerifyStatement(t *testing.T) {
	want := digest.FromString("platform manifest")
	other := digest.FromString("another manifest")
	sub := func(name string, d map[string]string) oci.Subject { return oci.Subject{Name: name, Digest: d} }
	sha := func(d digest.Digest) map[string]string { return map[string]string{"sha256": d.Encoded()} }
	tests := []struct {
		name string
		stmt oci.Statement
		err  string // "" means accepted
	}{
		{"one subject", oci.Statement{Type: "https://in-toto.io/Statement/v1", PredicateType: oci.PredicateSPDX, Subject: []oci.Subject{sub("a", sha(want))}}, ""},
		{"two names, one digest", oci.Statement{Type: "https://in-toto.io/Statement/v0.1", PredicateType: oci.PredicateSPDX,
			Subject: []oci.Subject{sub("a:v1", sha(want)), sub("a:latest", sha(want))}}, ""},
		{"another image among them", oci.Statement{Type: "https://in-toto.io/Statement/v0.1", PredicateType: oci.PredicateSPDX,
			Subject: []oci.Subject{sub("a", sha(want)), sub("b", sha(other))}}, `in-toto subject "b" is sha256:` + other.Encoded()},
		{"no subject", oci.Statement{Type: "https://in-toto.io/Statement/v0.1", PredicateType: oci.PredicateSPDX}, "has no subject"},
		{"other algorithm only", oci.Statement{Type: "https://in-toto.io/Statement/v0.1", PredicateType: oci.PredicateSPDX,
			Subject: []oci.Subject{sub("a", map[string]string{"sha512": "00"})}}, `in-toto subject "a" has no sha256 digest`},
		{"not a statement", oci.Statement{Type: "https://example.invalid/", PredicateType: oci.PredicateSPDX, Subject: []oci.Subject{sub("a", sha(want))}}, "is not an in-toto statement"},
		{"provenance", oci.Statement{Type: "https://in-toto.io/Statement/v1", PredicateType: "https://slsa.dev/provenance/v1",
			Subject: []oci.Subject{sub("a", sha(want))}}, "is not https://spdx.dev/Document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSubjects(&tt.stmt, want, sbomgen.SPDXJSON)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("rejected: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want %q", err, tt.err)
			}
		})
	}
}
