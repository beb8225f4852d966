package convert_test

import (
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocitest"
	"github.com/affix-oci/affix/plugin/convert"
)

// TestConvertValid: what Convert writes (the converted SPDX or in-toto
// referrers, the referrers tag indexes, the index without its attestation
// manifests) is valid: every manifest PUT is a valid OCI document sent
// with its own media type (ocitest.Recorder), the index the tag names
// afterwards reads back valid with everything below it (ocitest.Tree),
// and so does each platform's referrers listing (ocitest.ReferrersIndex),
// for BuildKit's OCI artifact attestations and its older image-config
// form, with the referrers API and without.
func TestConvertValid(t *testing.T) {
	tests := []struct {
		name string
		opts convert.Options
		old  bool // the fixture's attestation manifests (image config, no subject)
	}{
		{"spdx", convert.Options{}, false},
		{"in-toto", convert.Options{KeepInToto: true}, false},
		{"raw", convert.Options{Raw: true}, false},
		{"stripped", convert.Options{StripAttestations: true, DropUnconverted: true}, false},
		{"stripped old form", convert.Options{StripAttestations: true, DropUnconverted: true}, true},
	}
	for _, api := range []bool{true, false} {
		for _, tt := range tests {
			t.Run(map[bool]string{true: "api ", false: "tag-schema "}[api]+tt.name, func(t *testing.T) {
				ctx := t.Context()
				host, rec := ocitest.RecordedOlareg(t, api)
				r, _ := remote(t, host, "app")
				var images []ocispec.Descriptor
				if tt.old {
					spec := fixture.VariantsPair()
					spec.Attestations = true
					l, res := fixtureLayout(t, spec)
					push(t, r, l, res.Index, "v1")
					images = res.Manifests
				} else {
					l, idx, ms := buildkitLayout(t, crafted{extras: true, provenance: true})
					push(t, r, l, idx, "v1")
					images = ms
				}
				res, err := convert.Convert(ctx, r, "v1", tt.opts)
				if err != nil {
					t.Fatal(err)
				}
				if res.Written() == 0 {
					t.Fatalf("nothing converted: %+v", res)
				}
				if err := rec.Check(); err != nil {
					t.Errorf("manifests as pushed:\n%v", err)
				}
				fetch := ocitest.RegistryFetch(host, "app")
				root, _, err := ocitest.GetManifest(ctx, host, "app", "v1")
				if err != nil {
					t.Fatal(err)
				}
				if root.Digest != res.NewIndex.Digest {
					t.Fatalf("v1 is %s, convert says %s", root.Digest, res.NewIndex.Digest)
				}
				if err := ocitest.Tree(ctx, fetch, root); err != nil {
					t.Errorf("the index as read back:\n%v", err)
				}
				for _, m := range images {
					tag := exporter.ReferrersTag(m.Digest)
					if api {
						tag = ""
					}
					data, err := ocitest.GetReferrersListing(ctx, host, "app", m.Digest, tag)
					if err != nil {
						t.Fatal(err)
					}
					if err := ocitest.ReferrersIndex(ctx, fetch, m.Digest, data); err != nil {
						t.Errorf("referrers of %s (%s) as read back:\n%v", m.Digest, oci.FormatPlatform(*m.Platform), err)
					}
				}
			})
		}
	}
}
