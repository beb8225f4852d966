package ocidir_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocidir"
	"github.com/affix-oci/affix/internal/ocitest"
)

// attachToLayout writes arts into the layout at dir as affix attach
// oci-layout: does (exporter.Layout, then ocidir.AddReferrers), and returns
// the referrers written.
func attachToLayout(t *testing.T, dir string, arts ...exporter.Artifact) []exporter.Referrer {
	t.Helper()
	dst, err := exporter.NewLayout(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	push := exporter.New(dst, nil, exporter.Options{})
	defer push.Abort()
	if _, err := push.AttachAll(t.Context(), arts); err != nil {
		t.Fatal(err)
	}
	res, err := push.Commit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	if err := ocidir.AddReferrers(t.Context(), dir, res.Referrers, func(f string, a ...any) { warnings = append(warnings, f) }); err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %q", warnings)
	}
	return res.Referrers
}

// testArtifacts are the kinds of referrer affix writes into a layout for
// subject: an SBOM, an in-toto statement, and an artifact of two files.
func testArtifacts(subject ocispec.Descriptor) []exporter.Artifact {
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	sbom := exporter.SBOM(subject, oci.MediaTypeSPDX, []byte(`{"spdxVersion":"SPDX-2.3"}`), created, map[string]string{
		oci.AnnotationGenerator: "affix test", oci.AnnotationPlatform: oci.FormatPlatform(*subject.Platform), oci.AnnotationFormat: "spdx-json",
	})
	stmt := exporter.InToto(subject, oci.PredicateSPDX, []byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`), created, nil)
	files := exporter.Artifact{Subject: subject, ArtifactType: "application/vnd.example.notes", Blobs: []exporter.Blob{
		{MediaType: "text/plain", Data: []byte("one"), Annotations: map[string]string{ocispec.AnnotationTitle: "one.txt"}},
		{MediaType: "text/plain", Data: []byte("two"), Annotations: map[string]string{ocispec.AnnotationTitle: "two.txt"}},
	}, Annotations: map[string]string{ocispec.AnnotationCreated: created.Format(time.RFC3339)}}
	return []exporter.Artifact{sbom, stmt, files}
}

// TestAddReferrersValid: the index.json AddReferrers writes, the
// referrer manifests listed in it (oras's form) and the referrers tag
// indexes (regctl's form) are valid OCI documents (ocitest.Layout: the
// image-spec schemas and rules, and each tag index as the
// distribution-spec's referrers tag schema wants it), after a first
// attach, after a second one that adds to the tag indexes in place, for a
// nested and a flat layout.
func TestAddReferrersValid(t *testing.T) {
	for _, flat := range []bool{false, true} {
		t.Run(map[bool]string{false: "nested", true: "flat"}[flat], func(t *testing.T) {
			dir := t.TempDir()
			spec := fixture.VariantsPair()
			spec.Flat = flat
			spec.Attestations = true
			res, err := fixture.WriteLayout(dir, spec)
			if err != nil {
				t.Fatal(err)
			}
			var arts []exporter.Artifact
			for _, m := range res.Manifests {
				arts = append(arts, testArtifacts(m)[:2]...)
			}
			attachToLayout(t, dir, arts...)
			if err := ocitest.Layout(t.Context(), dir); err != nil {
				t.Errorf("after the first attach:\n%v", err)
			}
			attachToLayout(t, dir, testArtifacts(res.Manifests[0])[2])
			if err := ocitest.Layout(t.Context(), dir); err != nil {
				t.Errorf("after the second attach:\n%v", err)
			}
		})
	}
}

// TestReferrersTagsKeepValid: a tag index another tool wrote (index
// annotations, a subject and an artifactType that no referrers tag index
// may have) gains the new referrer and stays valid.
func TestReferrersTagsKeepValid(t *testing.T) {
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, fixture.VariantsPair())
	if err != nil {
		t.Fatal(err)
	}
	subject := res.Manifests[0]
	first := attachToLayout(t, dir, testArtifacts(subject)[0])
	// Rewrite the tag index as another tool might have left it.
	var top ocispec.Index
	readJSON(t, filepath.Join(dir, "index.json"), &top)
	i := oci.FindTagEntry(top.Manifests, exporter.ReferrersTag(subject.Digest))
	if i < 0 {
		t.Fatalf("no tag index of %s in %+v", subject.Digest, top.Manifests)
	}
	var old ocispec.Index
	readJSON(t, blobPath(dir, top.Manifests[i].Digest), &old)
	if len(old.Manifests) != 1 || old.Manifests[0].Digest != first[0].Descriptor.Digest {
		t.Fatalf("tag index %+v", old)
	}
	old.Annotations = map[string]string{"com.example.tool": "other"}
	old.ArtifactType = "application/vnd.example.wrong"
	old.Subject = &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	old.Versioned = specs.Versioned{SchemaVersion: 2}
	b, _ := json.Marshal(old)
	d := oci.DescriptorFor(ocispec.MediaTypeImageIndex, b)
	if err := os.WriteFile(blobPath(dir, d.Digest), b, 0o644); err != nil {
		t.Fatal(err)
	}
	top.Manifests[i] = oci.ReferrersTagEntry(d, exporter.ReferrersTag(subject.Digest))
	tb, _ := json.Marshal(top)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), tb, 0o644); err != nil {
		t.Fatal(err)
	}
	attachToLayout(t, dir, testArtifacts(subject)[1])
	if err := ocitest.Layout(t.Context(), dir); err != nil {
		t.Errorf("after attaching to another tool's tag index:\n%v", err)
	}
}

// TestRewriteIndexNoEntriesValid: index.json with no entries lists an
// empty manifests array, not null (image-spec image-index.md: manifests
// MUST be present; the schema wants an array).
func TestRewriteIndexNoEntriesValid(t *testing.T) {
	dir := t.TempDir()
	if err := ocidir.RewriteIndex(dir, ocispec.Index{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ocitest.ValidateDocument(ocispec.MediaTypeImageIndex, b); err != nil {
		t.Errorf("index.json %s:\n%v", b, err)
	}
}

func blobPath(dir string, d digest.Digest) string {
	return filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded())
}

func readJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
