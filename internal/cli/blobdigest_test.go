package cli

import (
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

// TestSBOMReferrersDigest: a document's digest, known to the generator
// (hashed for its cache, or checked when read from it), is the SBOM
// referrer's blob digest, so that the push does not hash the document
// again; an in-toto statement, other bytes, has none.
func TestSBOMReferrersDigest(t *testing.T) {
	spdx := []byte(`{"spdxVersion":"SPDX-2.3"}` + "\n")
	cdx := []byte(`{"bomFormat":"CycloneDX"}` + "\n")
	img := oci.Image{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("img"), Size: 1,
		Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}}}
	res := &sbomgen.Result{Documents: []sbomgen.Document{
		{Format: sbomgen.SPDXJSON, MediaType: sbomgen.SPDXJSON.MediaType(), Data: spdx, Digest: digest.FromBytes(spdx)},
		{Format: sbomgen.CycloneDXJSON, MediaType: sbomgen.CycloneDXJSON.MediaType(), Data: cdx}, // not known
	}}
	sr, err := sbomReferrers(img, res, []referrerFormat{{doc: sbomgen.SPDXJSON}, {doc: sbomgen.CycloneDXJSON}, {doc: sbomgen.SPDXJSON, inToto: true}}, "app")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []digest.Digest{digest.FromBytes(spdx), "", ""} {
		if got := sr[i].artifact.Blobs[0].Digest; got != want {
			t.Errorf("%s: blob digest %q, want %q", sr[i].format, got, want)
		}
	}
}
