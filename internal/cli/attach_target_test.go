package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestAttachLayout: attach writes SBOMs (and other artifacts) into a layout
// directory that has none (what buildctl --output type=oci writes):
// index.json keeps its entries first and lists the referrers after them,
// once however often attach runs; ls and get read them, and push
// publishes them as they are. A layout tar is refused: it cannot take
// referrers in place.
func TestAttachLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs a registry")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	var before ocispec.Index
	readJSONFile(t, filepath.Join(dir, "index.json"), &before)
	src := oci.SchemeLayout + ":" + dir
	meta := filepath.Join(t.TempDir(), "meta.json")
	mustAffix(t, "attach", "--metadata-file", meta, src)
	m := readMeta(t, meta)
	sboms := map[digest.Digest]digest.Digest{}
	for _, p := range m.Platforms {
		if len(p.Referrers) != 1 || p.Referrers[0].ArtifactType != oci.MediaTypeSPDX {
			t.Fatalf("%s: referrers %+v", p.Platform, p.Referrers)
		}
		sboms[p.Digest] = p.Referrers[0].Digest
	}
	if len(sboms) != len(res.Manifests) {
		t.Fatalf("metadata platforms %+v", m.Platforms)
	}
	var after ocispec.Index
	readJSONFile(t, filepath.Join(dir, "index.json"), &after)
	if len(after.Manifests) != len(before.Manifests)+len(sboms) || !slices.EqualFunc(after.Manifests[:len(before.Manifests)], before.Manifests, func(a, b ocispec.Descriptor) bool {
		return a.Digest == b.Digest && a.Annotations[ocispec.AnnotationRefName] == b.Annotations[ocispec.AnnotationRefName]
	}) {
		t.Fatalf("index.json before %+v, after %+v", before.Manifests, after.Manifests)
	}
	// Again: nothing new.
	mustAffix(t, "attach", src)
	var again ocispec.Index
	readJSONFile(t, filepath.Join(dir, "index.json"), &again)
	if len(again.Manifests) != len(after.Manifests) {
		t.Errorf("a second attach changed index.json: %d entries, then %d", len(after.Manifests), len(again.Manifests))
	}
	// Another artifact, on one platform.
	vex := writeFile(t, "vex.json", []byte(`{"vex":true}`))
	vexDigest := strings.TrimSpace(mustAffix(t, "attach", "--artifact-type", "application/vnd.example.vex+json", "--platform", "linux/amd64", src, vex))
	if out := mustAffix(t, "ls", src); !strings.Contains(out, vexDigest) || !strings.Contains(out, sboms[res.Manifests[0].Digest].String()) {
		t.Errorf("ls after attach:\n%s", out)
	}
	if _, errs, code := affix(t, "get", "--verify", "--platform", "linux/amd64", src); code != 0 {
		t.Errorf("get --verify: exit %d\n%s", code, errs)
	}

	// push publishes the layout's SBOMs as they are, and the VEX document.
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	pushMeta := filepath.Join(t.TempDir(), "push.json")
	mustAffix(t, "push", "--insecure-registry", reg.Host, "--metadata-file", pushMeta, src, reg.Ref("app")+":v1")
	pm := readMeta(t, pushMeta)
	for _, p := range pm.Platforms {
		if len(p.Referrers) != 1 || p.Referrers[0].Digest != sboms[p.Digest] {
			t.Errorf("pushed %s: referrers %+v, want the attached SBOM %s", p.Platform, p.Referrers, sboms[p.Digest])
		}
	}
	if len(pm.LayoutReferrers) != 1 || pm.LayoutReferrers[0].Digest.String() != vexDigest {
		t.Errorf("pushed layout referrers %+v, want the VEX document %s", pm.LayoutReferrers, vexDigest)
	}

	// A tar cannot take referrers.
	tarPath := filepath.Join(t.TempDir(), "app.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeLayoutTar(f, dir); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, errs, code := affix(t, "attach", oci.SchemeArchive+":"+tarPath); code != 2 || !strings.Contains(errs, "oci-layout:DIR") {
		t.Errorf("attach to a tar: exit %d, stderr %q", code, errs)
	}
}
