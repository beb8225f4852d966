package discover

import (
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

// TestGetOtherImage checks which documents found for a platform image
// describe another image (otherImage of namedImages): one whose purl, or
// else whose in-toto statement's subject, names neither the platform
// manifest nor the index that lists it. One that names no image, or
// cannot be read, is none.
func TestGetOtherImage(t *testing.T) {
	want, index, other := digest.FromString("platform manifest"), digest.FromString("index"), digest.FromString("another manifest")
	platform := &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	inIndex := oci.Image{Descriptor: ocispec.Descriptor{Digest: want, Platform: platform}, Parent: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: index}}
	alone := oci.Image{Descriptor: ocispec.Descriptor{Digest: want, Platform: platform}}
	cdx := func(d digest.Digest) []byte {
		return []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"component":{"type":"container","purl":"pkg:oci/app@` + d.String() + `"}}}`)
	}
	noImage := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{}}`)
	stmt := func(ds ...digest.Digest) *oci.Statement {
		s := &oci.Statement{Type: "https://in-toto.io/Statement/v1", PredicateType: "https://cyclonedx.org/bom"}
		for _, d := range ds {
			s.Subject = append(s.Subject, oci.Subject{Name: "app", Digest: map[string]string{d.Algorithm().String(): d.Encoded()}})
		}
		return s
	}
	for _, tt := range []struct {
		name string
		img  oci.Image
		src  Source
		want digest.Digest // "" means none: eligible
		msg  string
	}{
		{"names the manifest", inIndex, Source{Doc: cdx(want)}, "", ""},
		{"names the index", inIndex, Source{Doc: cdx(index)}, "", ""},
		{"names another image", inIndex, Source{Doc: cdx(other)}, other,
			"it describes image " + other.String() + ", not linux/arm64's manifest " + want.String() + " nor the index"},
		{"no index lists it", alone, Source{Doc: cdx(index)}, index,
			"it describes image " + index.String() + ", not linux/arm64's manifest " + want.String()},
		{"names no image", inIndex, Source{Doc: noImage}, "", ""},
		{"not JSON", inIndex, Source{Doc: []byte("<bom/>")}, "", ""},
		{"statement of the manifest", inIndex, Source{Doc: noImage, Statement: stmt(want)}, "", ""},
		{"statement of another image", inIndex, Source{Doc: noImage, Statement: stmt(other)}, other, ""},
		{"statement of both", inIndex, Source{Doc: noImage, Statement: stmt(want, other)}, other, ""},
		{"statement without subject", inIndex, Source{Doc: noImage, Statement: stmt()}, "", ""},
		{"the document's word first", inIndex, Source{Doc: cdx(want), Statement: stmt(other)}, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Search{format: sbomgen.CycloneDXJSON}
			got := otherImage(tt.img, r.namedImages(want, &tt.src))
			if got != tt.want {
				t.Fatalf("otherImage = %q, want %q", got, tt.want)
			}
			if tt.msg != "" {
				if err := otherImageError(tt.img, got); err.Error() != tt.msg {
					t.Errorf("error %q, want %q", err, tt.msg)
				}
			}
		})
	}
}
