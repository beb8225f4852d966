package discover

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/sbomgen"
)

// TestUndatedNote: the note on candidates without a created time names
// the first three of them and counts the rest; none is said when all are
// dated or there is no choice.
func TestUndatedNote(t *testing.T) {
	cand := func(i int, created string) ocispec.Descriptor {
		d := ocispec.Descriptor{Digest: digest.FromString(fmt.Sprint(i))}
		if created != "" {
			d.Annotations = map[string]string{ocispec.AnnotationCreated: created}
		}
		return d
	}
	cands := func(dated, undated int) []ocispec.Descriptor {
		var out []ocispec.Descriptor
		for i := range dated {
			out = append(out, cand(i, "2025-01-01T00:00:00Z"))
		}
		for i := range undated {
			out = append(out, cand(dated+i, ""))
		}
		return out
	}
	names := func(cs []ocispec.Descriptor) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.Digest.String())
		}
		return strings.Join(s, ", ")
	}
	for _, tt := range []struct {
		name  string
		cands []ocispec.Descriptor
		want  string // "" means no note
	}{
		{"one candidate", cands(0, 1), ""},
		{"all dated", cands(3, 0), ""},
		{"one undated", cands(1, 1), "but 1 of them (" + names(cands(1, 1)[1:]) + ") carry"},
		{"three undated", cands(0, 3), "but 3 of them (" + names(cands(0, 3)) + ") carry"},
		{"five undated", cands(1, 5), "took " + cand(0, "").Digest.String() + " of 6 SBOMs, but 5 of them (" + names(cands(1, 5)[1:4]) + " and 2 more) carry"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			notef := func(format string, args ...any) { fmt.Fprintf(&stderr, "affix: "+format+"\n", args...) }
			r := NewSearch(nil, "ref", nil, sbomgen.SPDXJSON, Options{Notef: notef})
			r.undatedNote(tt.cands, "SBOMs", tt.cands[0])
			got := stderr.String()
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("note %q, want %q", got, tt.want)
			}
		})
	}
}
