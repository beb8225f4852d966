package frontend

import (
	"maps"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// TestExporterDescriptor: the descriptor BuildKit's exporter reports has
// the index-descriptor annotations, not the names index.json adds; the
// oci exporter adds created, the image exporter only when given.
func TestExporterDescriptor(t *testing.T) {
	const created = ocispec.AnnotationCreated
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("index"), Size: 5}
	with := func(a map[string]string) ocispec.Descriptor {
		d := d
		d.Annotations = a
		return d
	}
	entry := with(map[string]string{oci.AnnotationImageName: "r.example/app:v1", ocispec.AnnotationRefName: "v1", created: "2026-01-02T03:04:05Z", "k": "v"})
	for _, tt := range []struct {
		name     string
		res      Result
		exporter string
		want     map[string]string
	}{
		{"reported, oci", Result{Index: entry, exported: with(map[string]string{created: "2026-01-02T03:04:05Z", "k": "v"})}, ExporterOCI,
			map[string]string{created: "2026-01-02T03:04:05Z", "k": "v"}},
		{"reported, image", Result{Index: entry, exported: with(map[string]string{created: "2026-01-02T03:04:05Z", "k": "v"})}, ExporterImage,
			map[string]string{"k": "v"}},
		{"created given, image", Result{Index: entry, exported: with(map[string]string{created: "2026-01-02T03:04:05Z"}), createdGiven: true}, ExporterImage,
			map[string]string{created: "2026-01-02T03:04:05Z"}},
		{"not reported: names dropped", Result{Index: entry}, ExporterOCI,
			map[string]string{created: "2026-01-02T03:04:05Z", "k": "v"}},
		{"nothing left", Result{Index: with(map[string]string{oci.AnnotationImageName: "r.example/app:v1", ocispec.AnnotationRefName: "v1", created: "x"})}, ExporterImage,
			nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := maps.Clone(tt.res.Index.Annotations)
			got := tt.res.ExporterDescriptor(tt.exporter)
			if got.Digest != d.Digest || got.Size != d.Size || got.MediaType != d.MediaType || !maps.Equal(got.Annotations, tt.want) || (tt.want == nil) != (got.Annotations == nil) {
				t.Errorf("ExporterDescriptor(%s) = %+v, want annotations %v", tt.exporter, got, tt.want)
			}
			if !maps.Equal(tt.res.Index.Annotations, before) {
				t.Errorf("Index annotations changed: %v", tt.res.Index.Annotations)
			}
		})
	}
}
