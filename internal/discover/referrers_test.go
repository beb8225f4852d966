package discover

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
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

// TestSkippedNamedFew: a referrers list of many SBOM entries whose
// manifests are gone (a registry's page of 21k of them) makes an error,
// or notes, that name the first few and count the others: neither grows
// with the list.
func TestSkippedNamedFew(t *testing.T) {
	const gone = 200
	for _, tt := range []struct {
		name  string
		valid bool // an older SBOM is there besides those gone
	}{
		{"none usable", false},
		{"an older one usable", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, img := newMemStore(t)
			var good ocispec.Descriptor
			if tt.valid {
				good = st.addSBOM(t, img.Descriptor, spdxDoc("good"), "2025-01-01T00:00:00Z")
			}
			for i := range gone {
				st.referrers[img.Descriptor.Digest] = append(st.referrers[img.Descriptor.Digest], ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest,
					Digest: digest.FromString(fmt.Sprint(i)), Size: 100, ArtifactType: oci.MediaTypeSPDX,
					Annotations: map[string]string{ocispec.AnnotationCreated: "2030-01-01T00:00:00Z"}})
			}
			var notes bytes.Buffer
			r := NewSearch(st, "ref", []oci.Image{img}, sbomgen.SPDXJSON, Options{Notef: func(f string, a ...any) { fmt.Fprintf(&notes, f+"\n", a...) }})
			src, err := r.PlatformSBOM(t.Context(), img)
			more := fmt.Sprintf("and %d more", gone-maxNamed)
			if tt.valid {
				if err != nil || src.Manifest.Digest != good.Digest {
					t.Fatalf("PlatformSBOM = %v, %v; want %s", src, err, good.Digest)
				}
				if n := strings.Count(notes.String(), "\n"); n != maxNamed+1 || !strings.Contains(notes.String(), fmt.Sprintf("skipped %d more spdx-json SBOM referrers", gone-maxNamed)) {
					t.Errorf("%d notes, want %d named and one counting %d more:\n%s", n, maxNamed, gone-maxNamed, notes.String())
				}
				return
			}
			if !errors.Is(err, ErrNoSBOM) {
				t.Fatalf("PlatformSBOM: %v, want ErrNoSBOM", err)
			}
			if n := strings.Count(err.Error(), "its manifest is gone"); n != maxNamed || !strings.HasSuffix(err.Error(), more) {
				t.Errorf("the error names %d of %d, want %d, then %q: %v", n, gone, maxNamed, more, err)
			}
			if notes.Len() > 0 {
				t.Errorf("notes besides the error: %s", notes.String())
			}
		})
	}
}
