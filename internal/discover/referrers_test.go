package discover

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
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

// TestBrokenCandidates: an SBOM candidate whose manifest or document
// cannot be used whatever the registry answers next (an entry listing a
// valid manifest with another size, one claiming more than get reads, a
// manifest that is no JSON, a document of another size than its layer
// says) is skipped with a note naming it, and an older one taken; when
// none is left the error says why each was skipped. A registry that
// fails (a 503 after the transport's retries) still ends the search.
func TestBrokenCandidates(t *testing.T) {
	type entry struct {
		why  string // what the note or error says of it
		make func(st *memStore, img ocispec.Descriptor) ocispec.Descriptor
	}
	newer := func(d ocispec.Descriptor) ocispec.Descriptor {
		d.Annotations = map[string]string{ocispec.AnnotationCreated: "2030-01-01T00:00:00Z"}
		return d
	}
	// last replaces the entry addSBOM listed last with d.
	last := func(st *memStore, img ocispec.Descriptor, d ocispec.Descriptor) ocispec.Descriptor {
		refs := st.referrers[img.Digest]
		refs[len(refs)-1] = d
		return d
	}
	sizePlusOne := entry{"listed, but its manifest cannot be used: ", func(st *memStore, img ocispec.Descriptor) ocispec.Descriptor {
		d := newer(st.addSBOM(t, img, spdxDoc("newer"), ""))
		d.Size++
		return last(st, img, d)
	}}
	tooLarge := entry{"listed, but its manifest cannot be used: ", func(st *memStore, img ocispec.Descriptor) ocispec.Descriptor {
		d := newer(st.addSBOM(t, img, spdxDoc("large"), ""))
		d.Size = 5000000
		return last(st, img, d)
	}}
	notJSON := entry{"listed, but its manifest cannot be used: ", func(st *memStore, img ocispec.Descriptor) ocispec.Descriptor {
		b := []byte("not json")
		st.blobs[digest.FromBytes(b)] = b
		d := newer(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b)), ArtifactType: oci.MediaTypeSPDX})
		st.referrers[img.Digest] = append(st.referrers[img.Digest], d)
		return d
	}}
	badLayer := entry{"its SBOM blob cannot be used: ", func(st *memStore, img ocispec.Descriptor) ocispec.Descriptor {
		doc := spdxDoc("short")
		d := st.addSBOM(t, img, doc, "2030-01-01T00:00:00Z")
		// The same manifest, its layer one byte longer than the document.
		var m ocispec.Manifest
		json.Unmarshal(st.blobs[d.Digest], &m)
		m.Layers[0].Size++
		d2 := st.put(t, ocispec.MediaTypeImageManifest, m)
		d2.ArtifactType, d2.Annotations = d.ArtifactType, d.Annotations
		return last(st, img, d2)
	}}
	unavailable := fmt.Errorf("reading: %w", &exporter.ResponseError{Method: "GET", URL: "http://r/v2/a/manifests/x", StatusCode: http.StatusServiceUnavailable})
	for _, tt := range []struct {
		name    string
		entries []entry
		good    bool   // an older, usable SBOM is listed first
		fatal   string // "" unless the search ends with this error
	}{
		{"size+1, another usable", []entry{sizePlusOne}, true, ""},
		{"too large, another usable", []entry{tooLarge}, true, ""},
		{"not JSON, another usable", []entry{notJSON}, true, ""},
		{"layer size wrong, another usable", []entry{badLayer}, true, ""},
		{"all broken", []entry{sizePlusOne, tooLarge, notJSON, badLayer}, false, ""},
		{"a registry that fails", nil, true, "503"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, img := newMemStore(t)
			st.mode = exporter.ModeTagSchema
			var good ocispec.Descriptor
			if tt.good {
				good = st.addSBOM(t, img.Descriptor, spdxDoc("good"), "2025-01-01T00:00:00Z")
			}
			var bad []ocispec.Descriptor
			for _, e := range tt.entries {
				bad = append(bad, e.make(st, img.Descriptor))
			}
			if tt.fatal != "" {
				st.fail = map[digest.Digest]error{good.Digest: unavailable}
			}
			var notes bytes.Buffer
			r := NewSearch(st, "ref", []oci.Image{img}, sbomgen.SPDXJSON, Options{Notef: func(f string, a ...any) { fmt.Fprintf(&notes, f+"\n", a...) }})
			src, err := r.PlatformSBOM(t.Context(), img)
			switch {
			case tt.fatal != "":
				if err == nil || errors.Is(err, ErrNoSBOM) || !strings.Contains(err.Error(), tt.fatal) {
					t.Fatalf("PlatformSBOM = %v, %v; want the registry's failure %q", src, err, tt.fatal)
				}
				return
			case tt.good:
				if err != nil || src.Manifest.Digest != good.Digest {
					t.Fatalf("PlatformSBOM = %v, %v; want %s", src, err, good.Digest)
				}
				for i, d := range bad {
					if want := "skipped spdx-json SBOM referrer " + d.Digest.String() + ": " + tt.entries[i].why; !strings.Contains(notes.String(), want) {
						t.Errorf("notes lack %q:\n%s", want, notes.String())
					}
				}
				return
			}
			if !errors.Is(err, ErrNoSBOM) {
				t.Fatalf("PlatformSBOM = %v, %v; want ErrNoSBOM", src, err)
			}
			for i, d := range bad {
				if want := d.Digest.String() + ": " + tt.entries[i].why; !strings.Contains(err.Error(), want) {
					t.Errorf("the error lacks %q: %v", want, err)
				}
			}
		})
	}
}
