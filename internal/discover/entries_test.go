package discover

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

// newMemStore returns an empty memStore whose root is an image manifest,
// and that manifest's descriptor.
func newMemStore(t testing.TB) (*memStore, oci.Image) {
	t.Helper()
	st := &memStore{blobs: map[digest.Digest][]byte{}, referrers: map[digest.Digest][]ocispec.Descriptor{}}
	st.root = st.put(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("{}"), Size: 2}})
	return st, oci.Image{Descriptor: st.root}
}

// addSBOM stores an SPDX referrer of subject holding doc, created at
// created ("" for none), lists it last among subject's referrers, and
// returns its entry as listed (with the manifest's annotations, as the
// referrers API lists them).
func (s *memStore) addSBOM(t *testing.T, subject ocispec.Descriptor, doc []byte, created string) ocispec.Descriptor {
	t.Helper()
	s.blobs[digest.FromBytes(doc)] = doc
	var ann map[string]string
	if created != "" {
		ann = map[string]string{ocispec.AnnotationCreated: created}
	}
	d := s.put(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: oci.MediaTypeSPDX, Config: ocispec.DescriptorEmptyJSON,
		Layers:      []ocispec.Descriptor{oci.DescriptorFor(oci.MediaTypeSPDX, doc)},
		Subject:     &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: ann})
	d.ArtifactType, d.Annotations = oci.MediaTypeSPDX, ann
	s.referrers[subject.Digest] = append(s.referrers[subject.Digest], d)
	return d
}

// spdxDoc is a small SPDX document, told apart by name.
func spdxDoc(name string) []byte {
	return []byte(`{"spdxVersion":"SPDX-2.3","name":"` + name + `"}`)
}

// TestCosignTag: cosign's tag of a digest; a subject that is no digest
// (a referrers list may hold anything) is an error naming it, not a
// panic.
func TestCosignTag(t *testing.T) {
	d := digest.FromString("x")
	for _, tt := range []struct {
		subject digest.Digest
		want    string // "" means an error
		err     string
	}{
		{d, "sha256-" + d.Encoded() + ".sbom", ""},
		{"prod", "", `cosign's tag of "prod": invalid checksum digest format`},
		{"sha256:abc", "", `cosign's tag of "sha256:abc": invalid checksum digest length`},
		{"", "", `cosign's tag of "": invalid checksum digest format`},
		{digest.Digest("md5:" + strings.Repeat("0", 32)), "", "unsupported digest algorithm"},
		{digest.Digest(strings.Repeat("x", 1000)), "", `cosign's tag of "` + strings.Repeat("x", maxShown) + `...": `},
	} {
		tag, err := CosignTag(tt.subject, "sbom")
		if tag != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("CosignTag(%.20q) = %q, %v; want %q, %q", tt.subject, tag, err, tt.want, tt.err)
		}
	}
}

// TestValidEntries: the entries of a referrers list without a valid
// digest are dropped, the error naming the first few of them and
// counting the rest; a list without any is returned as it is.
func TestValidEntries(t *testing.T) {
	good := func(i int) ocispec.Descriptor {
		return ocispec.Descriptor{Digest: digest.FromString(fmt.Sprint(i)), ArtifactType: oci.MediaTypeSPDX}
	}
	bad := func(i int) ocispec.Descriptor {
		return ocispec.Descriptor{Digest: digest.Digest(fmt.Sprintf("tag%d", i)), ArtifactType: "x\x1b[31m"}
	}
	for _, tt := range []struct {
		name  string
		refs  []ocispec.Descriptor
		valid []ocispec.Descriptor
		err   string // "" means none
	}{
		{"none", nil, nil, ""},
		{"all valid", []ocispec.Descriptor{good(1), good(2)}, []ocispec.Descriptor{good(1), good(2)}, ""},
		{"one invalid", []ocispec.Descriptor{good(1), bad(1), good(2)}, []ocispec.Descriptor{good(1), good(2)},
			`1 entry without a valid digest: entry "tag1" (x\x1b[31m): invalid checksum digest format`},
		{"many invalid", []ocispec.Descriptor{bad(1), bad(2), bad(3), good(1), bad(4), bad(5), bad(6), bad(7)}, []ocispec.Descriptor{good(1)},
			`7 entries without a valid digest: entry "tag1" (x\x1b[31m): invalid checksum digest format; ` +
				`entry "tag2" (x\x1b[31m): invalid checksum digest format; entry "tag3"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			valid, err := ValidEntries(tt.refs)
			if len(valid) != len(tt.valid) {
				t.Fatalf("valid %v, want %v", valid, tt.valid)
			}
			for i := range valid {
				if valid[i].Digest != tt.valid[i].Digest {
					t.Errorf("valid[%d] %s, want %s", i, valid[i].Digest, tt.valid[i].Digest)
				}
			}
			if (err == nil) != (tt.err == "") || err != nil && !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("err %v, want %q", err, tt.err)
			}
			if err != nil && strings.Count(err.Error(), "entry ") > maxNamed {
				t.Errorf("err names more than %d entries: %v", maxNamed, err)
			}
			if strings.HasPrefix(tt.name, "many") && !strings.HasSuffix(err.Error(), "and 2 more") {
				t.Errorf("err %v, want it to end with the count of the others", err)
			}
		})
	}
}

// TestReferrerWithoutDigest: get and ls given a referrers list whose
// newest SBOM entry has no valid digest: get takes the other SBOM, with
// a note naming the entry, and reads nothing for it; ls shows it,
// flagged, and does not read its referrers.
func TestReferrerWithoutDigest(t *testing.T) {
	st, img := newMemStore(t)
	good := st.addSBOM(t, img.Descriptor, spdxDoc("good"), "2025-01-01T00:00:00Z")
	for _, d := range []digest.Digest{"prod", "sha256:" + digest.Digest(strings.Repeat("z", 64)), ""} {
		st.referrers[img.Descriptor.Digest] = append(st.referrers[img.Descriptor.Digest], ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest,
			Digest: d, Size: 10, ArtifactType: oci.MediaTypeSPDX, Annotations: map[string]string{ocispec.AnnotationCreated: "2030-01-01T00:00:00Z"}})
	}
	for _, mode := range []string{"referrers API", "referrers tag"} {
		t.Run("get, "+mode, func(t *testing.T) {
			st.mode = ""
			if mode == "referrers tag" {
				st.mode = "tag-schema"
			}
			var notes bytes.Buffer
			r := NewSearch(st, "ref", []oci.Image{img}, sbomgen.SPDXJSON, Options{Notef: func(f string, a ...any) { fmt.Fprintf(&notes, f+"\n", a...) }})
			src, err := r.PlatformSBOM(t.Context(), img)
			if err != nil || src.Manifest.Digest != good.Digest {
				t.Fatalf("PlatformSBOM = %v, %v; want %s", src, err, good.Digest)
			}
			if want := `3 entries without a valid digest: entry "prod" (application/spdx+json): invalid checksum digest format`; !strings.Contains(notes.String(), want) {
				t.Errorf("notes %q, want %q", notes.String(), want)
			}
		})
	}
	t.Run("ls", func(t *testing.T) {
		st.mode = ""
		var warnings bytes.Buffer
		tree, err := ReadTree(t.Context(), st, func(f string, a ...any) { fmt.Fprintf(&warnings, f+"\n", a...) }, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(tree.Root.Children); n != 4 {
			t.Fatalf("%d referrers shown, want 4", n)
		}
		for _, c := range tree.Root.Children[1:] {
			if !strings.Contains(c.Error, "invalid checksum digest") {
				t.Errorf("referrer %q: error %q, want the invalid digest", c.Digest, c.Error)
			}
		}
		if want := `entry "prod" (application/spdx+json): invalid checksum digest format`; !strings.Contains(warnings.String(), want) {
			t.Errorf("warnings %q, want %q", warnings.String(), want)
		}
	})
}
