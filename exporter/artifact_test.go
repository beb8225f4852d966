package exporter_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
)

// TestArtifactCheckContent: the artifact-level rules Validate applies and
// commands check before they contact a registry.
func TestArtifactCheckContent(t *testing.T) {
	blob := func(mt string) exporter.Blob { return exporter.Blob{MediaType: mt, Data: []byte("x")} }
	ann := func(v string) map[string]string { return map[string]string{ocispec.AnnotationCreated: v} }
	tests := []struct {
		name string
		a    exporter.Artifact
		err  string // "" means accepted
	}{
		{"plain artifact", exporter.Artifact{ArtifactType: "application/vnd.example.sig+json", Blobs: []exporter.Blob{blob("")}}, ""},
		{"restricted-name characters", exporter.Artifact{ArtifactType: "application/vnd.a!b#c$d&e-f^g_h.i+json", Blobs: []exporter.Blob{blob("")}}, ""},
		{"no artifact type", exporter.Artifact{Blobs: []exporter.Blob{blob("")}}, `"" is not a media type`},
		{"no slash", exporter.Artifact{ArtifactType: "notatype", Blobs: []exporter.Blob{blob("")}}, `"notatype" is not a media type`},
		{"space", exporter.Artifact{ArtifactType: "bad type/with space", Blobs: []exporter.Blob{blob("")}}, `"bad type/with space" is not a media type`},
		{"two slashes", exporter.Artifact{ArtifactType: "application/a/b", Blobs: []exporter.Blob{blob("")}}, "is not a media type"},
		{"parameters", exporter.Artifact{ArtifactType: "text/plain; charset=utf-8", Blobs: []exporter.Blob{blob("")}}, "is not a media type"},
		{"starts with a symbol", exporter.Artifact{ArtifactType: "application/+json", Blobs: []exporter.Blob{blob("")}}, "is not a media type"},
		{"empty subtype", exporter.Artifact{ArtifactType: "application/", Blobs: []exporter.Blob{blob("")}}, "is not a media type"},
		{"subtype too long", exporter.Artifact{ArtifactType: "application/" + strings.Repeat("a", 128), Blobs: []exporter.Blob{blob("")}}, "is not a media type"},
		{"subtype of 127", exporter.Artifact{ArtifactType: "application/" + strings.Repeat("a", 127), Blobs: []exporter.Blob{blob("")}}, ""},
		{"bad layer media type", exporter.Artifact{ArtifactType: "application/x", Blobs: []exporter.Blob{blob(""), blob("bad layer")}}, `layer 2: "bad layer" is not a media type`},
		{"no blobs", exporter.Artifact{ArtifactType: "application/x"}, "no content"},
		{"SPDX, one layer", exporter.Artifact{ArtifactType: oci.MediaTypeSPDX, Blobs: []exporter.Blob{blob("")}}, ""},
		{"SPDX, layer type named", exporter.Artifact{ArtifactType: oci.MediaTypeSPDX, Blobs: []exporter.Blob{blob(oci.MediaTypeSPDX)}}, ""},
		{"SPDX, two layers", exporter.Artifact{ArtifactType: oci.MediaTypeSPDX, Blobs: []exporter.Blob{blob(""), blob("")}},
			"an SBOM referrer (application/spdx+json) has exactly one layer, of media type application/spdx+json; got 2 layers"},
		{"SPDX, other layer type", exporter.Artifact{ArtifactType: oci.MediaTypeSPDX, Blobs: []exporter.Blob{blob("application/vnd.oci.image.layer.v1.tar")}},
			"has exactly one layer, of media type application/spdx+json; got application/vnd.oci.image.layer.v1.tar"},
		{"CycloneDX, two layers", exporter.Artifact{ArtifactType: oci.MediaTypeCycloneDX, Blobs: []exporter.Blob{blob(""), blob("")}},
			"an SBOM referrer (application/vnd.cyclonedx+json) has exactly one layer"},
		{"created RFC 3339", exporter.Artifact{ArtifactType: "application/x", Blobs: []exporter.Blob{blob("")}, Annotations: ann("2024-01-02T03:04:05+01:00")}, ""},
		{"created a date only", exporter.Artifact{ArtifactType: "application/x", Blobs: []exporter.Blob{blob("")}, Annotations: ann("2024-01-02")},
			`annotation org.opencontainers.image.created="2024-01-02" is not an RFC 3339 date-time`},
		{"created empty", exporter.Artifact{ArtifactType: "application/x", Blobs: []exporter.Blob{blob("")}, Annotations: ann("")}, "is not an RFC 3339 date-time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.a.CheckContent()
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.err == "":
			case err == nil || !strings.Contains(err.Error(), tt.err):
				t.Fatalf("error %v, want %q", err, tt.err)
			case !errors.Is(err, exporter.ErrInvalidArtifact):
				t.Fatalf("error %v is not ErrInvalidArtifact", err)
			}
			// Validate applies the same rules once there is a subject.
			a := tt.a
			a.Subject = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 10}
			if verr := a.Validate(); (verr == nil) != (err == nil) {
				t.Errorf("Validate: %v, CheckContent: %v", verr, err)
			}
		})
	}
}
