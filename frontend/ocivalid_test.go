package frontend

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocitest"
)

// annotatePart gives the index of the one-node layout dir annotations
// (and its index.json entry entryAnn), rewriting the index blob, as a
// node's export with annotation-index and annotation-index-descriptor
// options leaves it.
func annotatePart(t *testing.T, dir string, ann, entryAnn map[string]string) {
	t.Helper()
	var top ocispec.Index
	readFile(t, filepath.Join(dir, "index.json"), &top)
	var idx ocispec.Index
	d := top.Manifests[0].Digest
	readFile(t, filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded()), &idx)
	idx.Annotations = ann
	b, _ := json.MarshalIndent(idx, "", "  ")
	nd := oci.DescriptorFor(ocispec.MediaTypeImageIndex, b)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", nd.Digest.Encoded()), b, 0o644); err != nil {
		t.Fatal(err)
	}
	nd.Annotations = map[string]string{ocispec.AnnotationRefName: "latest"}
	for k, v := range entryAnn {
		nd.Annotations[k] = v
	}
	top.Manifests = []ocispec.Descriptor{nd}
	tb, _ := json.Marshal(top)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), tb, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestMergeValid: the layout merge writes from the layouts of two nodes
// (each with a BuildKit attestation manifest and index annotations, some
// agreed, some not) is a valid OCI image layout: the merged index, the
// index.json naming it (once per name), every manifest below
// (ocitest.Layout: image-spec schemas and rules, platforms on the image
// manifests, descriptors matching the bytes).
func TestMergeValid(t *testing.T) {
	all := fixture.Variants().Images
	dir := t.TempDir()
	parts := []string{filepath.Join(dir, "p0"), filepath.Join(dir, "p1")}
	for i, img := range []fixture.Image{all[0], all[3]} {
		if _, err := fixture.WriteLayout(parts[i], fixture.Spec{Images: []fixture.Image{img}, Attestations: true}); err != nil {
			t.Fatal(err)
		}
		annotatePart(t, parts[i],
			map[string]string{ocispec.AnnotationCreated: "2024-01-02T03:04:05Z", ocispec.AnnotationSource: "https://example.com/app", "com.example.node": parts[i]},
			map[string]string{ocispec.AnnotationDescription: "app", "com.example.node": parts[i]})
	}
	for _, names := range [][]string{nil, {"example.com/app:v1", "example.com/app:latest"}} {
		p := &plan{names: names}
		var err error
		if p.platforms, err = parsePlatforms([]string{"linux/arm64", "linux/amd64"}); err != nil {
			t.Fatal(err)
		}
		p.groups = []group{{node: node{addr: "unix:///a"}, platforms: p.platforms[1:]}, {node: node{addr: "unix:///b"}, platforms: p.platforms[:1]}}
		out := t.TempDir()
		root, _, _, err := merge(t.Context(), out, parts, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := ocitest.Layout(t.Context(), out); err != nil {
			t.Errorf("merged layout (names %q):\n%v", names, err)
		}
		var idx ocispec.Index
		readFile(t, filepath.Join(out, "blobs", "sha256", root.Digest.Encoded()), &idx)
		if len(idx.Manifests) != 4 || idx.Annotations["com.example.node"] != "" || idx.Annotations[ocispec.AnnotationCreated] == "" {
			t.Errorf("merged index: %d entries, annotations %v; want 2 images, 2 attestations, the agreed annotations only", len(idx.Manifests), idx.Annotations)
		}
	}
}
