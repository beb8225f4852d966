package cli

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
)

// fakeAttacher answers AttachAll with descs and err.
type fakeAttacher struct {
	descs []ocispec.Descriptor
	err   error
	got   []exporter.Artifact
}

func (f *fakeAttacher) AttachAll(ctx context.Context, arts []exporter.Artifact) ([]ocispec.Descriptor, error) {
	f.got = arts
	return f.descs, f.err
}

// TestAttachTogether: attachTogether hands every SBOM of a platform to one
// AttachAll, in order, and logs only those attached (a zero descriptor
// is one that failed; none when AttachAll refused them all), returning
// AttachAll's error as it is.
func TestAttachTogether(t *testing.T) {
	formats, err := sbomFormats([]string{"spdx-json", "cyclonedx-json"})
	if err != nil {
		t.Fatal(err)
	}
	img := oci.Image{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("img"), Size: 3}}
	var refs []sbomReferrer
	for i, f := range formats {
		refs = append(refs, sbomReferrer{format: f, artifact: exporter.Artifact{Subject: img.Descriptor, ArtifactType: f.artifactType(),
			Blobs: []exporter.Blob{{Data: []byte{byte(i)}}}}})
	}
	d := func(s string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(s), Size: 1}
	}
	failed := errors.New("referrer failed")
	for _, tc := range []struct {
		name   string
		descs  []ocispec.Descriptor
		err    error
		logged []string // formats
	}{
		{"all", []ocispec.Descriptor{d("a"), d("b")}, nil, []string{"cyclonedx-json", "spdx-json"}},
		{"one failed", []ocispec.Descriptor{{}, d("b")}, failed, []string{"cyclonedx-json"}},
		{"refused", nil, exporter.ErrInvalidArtifact, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAttacher{descs: tc.descs, err: tc.err}
			log := &referrerLog{}
			err := attachTogether(context.Background(), f, img, refs, log, "")
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tc.err)
			}
			if len(f.got) != len(refs) || f.got[0].ArtifactType != refs[0].artifact.ArtifactType || f.got[1].ArtifactType != refs[1].artifact.ArtifactType {
				t.Errorf("AttachAll got %d artifacts, not refs in order", len(f.got))
			}
			var logged []string
			for _, r := range log.get(img.Descriptor.Digest) {
				logged = append(logged, r.format)
				if i := slices.IndexFunc(tc.descs, func(x ocispec.Descriptor) bool { return x.Digest == r.desc.Digest }); i < 0 || refs[i].format.String() != r.format {
					t.Errorf("logged %s as %s", r.desc.Digest, r.format)
				}
			}
			if !slices.Equal(logged, tc.logged) {
				t.Errorf("logged %v, want %v", logged, tc.logged)
			}
		})
	}
}
