package oci_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// What regctl v0.11.1 wrote into a layout for
//
//	regctl artifact put --artifact-type application/vnd.example.base ocidir://lay:v1 --file cfg.txt
//	regctl artifact put --subject ocidir://lay:v1 --artifact-type application/spdx+json \
//	  --annotation org.example.b=2 --annotation org.example.a=1 --file cfg.txt --file-media-type application/spdx+json
//	regctl artifact put --subject ocidir://lay:v1 --artifact-type application/vnd.cyclonedx+json \
//	  --file cfg.txt --file-media-type application/vnd.cyclonedx+json
//
// (cfg.txt holding "{}\n"): the referrers tag index blob and its
// index.json entry.
const (
	regctlSubject  = "sha256:fd8b8da565a273b1ad24dd1198b29a833a0b90ede21200dc2f2bcd340569f609"
	regctlTagIndex = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:4e942ecb24b3ac62ddae5bf1380051255b11dc3af41e0f8fd9c920daef919302","size":626,"annotations":{"org.example.a":"1","org.example.b":"2"},"artifactType":"application/spdx+json"},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b7357eb02913efffeabc62156aed161e060445f6d5f7574dad7e0d59849b6e0d","size":588,"artifactType":"application/vnd.cyclonedx+json"}]}`
	regctlTagEntry = `{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:303544da748e0446010065b2af43c8d04566e352fbdba2092e0e73a7daf2d3c7","size":536,` +
		`"annotations":{"org.opencontainers.image.ref.name":"sha256-fd8b8da565a273b1ad24dd1198b29a833a0b90ede21200dc2f2bcd340569f609"}}`
)

var (
	regctlSPDX = ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest, Digest: "sha256:4e942ecb24b3ac62ddae5bf1380051255b11dc3af41e0f8fd9c920daef919302", Size: 626,
		ArtifactType: "application/spdx+json", Annotations: map[string]string{"org.example.b": "2", "org.example.a": "1"},
	}
	regctlCDX = ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest, Digest: "sha256:b7357eb02913efffeabc62156aed161e060445f6d5f7574dad7e0d59849b6e0d", Size: 588,
		ArtifactType: "application/vnd.cyclonedx+json",
	}
)

// TestReferrersTagIndexAsRegctl: the same referrers put in the same order
// give regctl's bytes, digest and index.json entry exactly.
func TestReferrersTagIndexAsRegctl(t *testing.T) {
	first, added := oci.ReferrersTagIndex(nil, []ocispec.Descriptor{regctlSPDX})
	if !added {
		t.Fatal("a new index adds its referrers")
	}
	idx, added := oci.ReferrersTagIndex(&first, []ocispec.Descriptor{regctlSPDX, regctlCDX})
	if !added {
		t.Fatal("the CycloneDX referrer is not added")
	}
	b, desc, err := oci.EncodeReferrersTagIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != regctlTagIndex {
		t.Errorf("tag index\n%s\nregctl writes\n%s", b, regctlTagIndex)
	}
	entry, err := json.Marshal(oci.ReferrersTagEntry(desc, "sha256-"+digest.Digest(regctlSubject).Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	if string(entry) != regctlTagEntry {
		t.Errorf("index.json entry\n%s\nregctl writes\n%s", entry, regctlTagEntry)
	}
}

func TestReferrersTagIndex(t *testing.T) {
	other := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("other"), Size: 3, ArtifactType: "application/vnd.example.sig"}
	withOther := &ocispec.Index{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageIndex,
		Manifests:   []ocispec.Descriptor{other},
		Annotations: map[string]string{"com.example": "kept"},
	}
	for _, c := range []struct {
		name      string
		old       *ocispec.Index
		refs      []ocispec.Descriptor
		want      []digest.Digest
		wantAdded bool
	}{
		{"new", nil, []ocispec.Descriptor{regctlSPDX, regctlCDX}, []digest.Digest{regctlSPDX.Digest, regctlCDX.Digest}, true},
		{"new, a referrer twice", nil, []ocispec.Descriptor{regctlCDX, regctlSPDX, regctlCDX}, []digest.Digest{regctlCDX.Digest, regctlSPDX.Digest}, true},
		{"new, none", nil, nil, []digest.Digest{}, false},
		{"another's entries first", withOther, []ocispec.Descriptor{regctlSPDX}, []digest.Digest{other.Digest, regctlSPDX.Digest}, true},
		{"listed already", withOther, []ocispec.Descriptor{other}, []digest.Digest{other.Digest}, false},
		{"no media type: set", &ocispec.Index{Manifests: []ocispec.Descriptor{other}}, []ocispec.Descriptor{other}, []digest.Digest{other.Digest}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before []byte
			if c.old != nil {
				before, _ = json.Marshal(c.old)
			}
			idx, added := oci.ReferrersTagIndex(c.old, c.refs)
			var got []digest.Digest
			for _, m := range idx.Manifests {
				got = append(got, m.Digest)
			}
			if !slices.Equal(got, c.want) || added != c.wantAdded {
				t.Errorf("manifests %v, added %v; want %v, %v", got, added, c.want, c.wantAdded)
			}
			if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex || idx.Manifests == nil {
				t.Errorf("index %+v: want schemaVersion 2, the image index media type and a manifests list", idx)
			}
			if c.old != nil {
				if idx.Annotations["com.example"] != c.old.Annotations["com.example"] {
					t.Errorf("annotations %v, want %v kept", idx.Annotations, c.old.Annotations)
				}
				if after, _ := json.Marshal(c.old); string(after) != string(before) {
					t.Errorf("the old index changed: %s, was %s", after, before)
				}
			}
		})
	}
}

func TestFindTagEntry(t *testing.T) {
	named := func(n string) ocispec.Descriptor {
		return ocispec.Descriptor{Annotations: map[string]string{ocispec.AnnotationRefName: n}}
	}
	entries := []ocispec.Descriptor{{}, named("v1"), named("sha256-abc"), named("sha256-abc")}
	for _, c := range []struct {
		tag  string
		want int
	}{{"v1", 1}, {"sha256-abc", 2}, {"sha256-abd", -1}, {"", -1}} {
		if got := oci.FindTagEntry(entries, c.tag); got != c.want {
			t.Errorf("FindTagEntry(%q) = %d, want %d", c.tag, got, c.want)
		}
	}
}

func TestIsReferrersTagEntry(t *testing.T) {
	sub := digest.FromString("subject")
	tagged := func(mt, tag string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: mt, Digest: digest.FromString("x"), Annotations: map[string]string{ocispec.AnnotationRefName: tag}}
	}
	for _, c := range []struct {
		name string
		d    ocispec.Descriptor
		want bool
	}{
		{"tag index", tagged(ocispec.MediaTypeImageIndex, "sha256-"+sub.Encoded()), true},
		{"as ReferrersTagEntry writes it", oci.ReferrersTagEntry(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: sub, Size: 2}, "sha256-"+sub.Encoded()), true},
		{"image tagged v1", tagged(ocispec.MediaTypeImageIndex, "v1"), false},
		{"manifest under the tag", tagged(ocispec.MediaTypeImageManifest, "sha256-"+sub.Encoded()), false},
		{"short hex", tagged(ocispec.MediaTypeImageIndex, "sha256-abc"), false},
		{"untagged", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: sub}, false},
	} {
		if got := oci.IsReferrersTagEntry(c.d); got != c.want {
			t.Errorf("%s: IsReferrersTagEntry = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestReferrersTagIndexNoSubject: an old tag index that names a subject
// or an artifactType (no referrers tag index does) loses them on rewrite,
// so that no reader takes it for a referrer; its other fields stay.
func TestReferrersTagIndexNoSubject(t *testing.T) {
	subject := oci.DescriptorFor(ocispec.MediaTypeImageManifest, []byte("{}"))
	old := &ocispec.Index{Subject: &subject, ArtifactType: "application/vnd.example", Annotations: map[string]string{"k": "v"}}
	ref := oci.DescriptorFor(ocispec.MediaTypeImageManifest, []byte(`{"x":1}`))
	idx, added := oci.ReferrersTagIndex(old, []ocispec.Descriptor{ref})
	if !added || idx.Subject != nil || idx.ArtifactType != "" || idx.Annotations["k"] != "v" || len(idx.Manifests) != 1 {
		t.Errorf("ReferrersTagIndex = %+v, %v; want the entry added, no subject or artifactType, annotations kept", idx, added)
	}
	if old.Subject == nil {
		t.Errorf("the old index was changed")
	}
}
