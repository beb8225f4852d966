package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocidir/ocidirtest"
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
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &before)
	// index.json's own fields are kept (containerd writes annotations).
	before.Annotations = map[string]string{"com.example.top": "keep"}
	b, _ := json.Marshal(before)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	src := oci.SchemeLayout + ":" + dir
	// Other things may live in a layout directory; the write check before
	// the scan must not trip on them.
	if err := os.Mkdir(filepath.Join(dir, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(t.TempDir(), "meta.json")
	// Named: SBOMs that name no image would be scanned again by the
	// push below (TestPushLayoutWithReferrers).
	mustAffix(t, "attach", "--name", "example.com/app:1", "--metadata-file", meta, src)
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
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &after)
	afterBytes, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	// Its entries, then the SBOM manifests (oras's form), then a referrers
	// tag index per platform (regctl's).
	if len(after.Manifests) != len(before.Manifests)+2*len(sboms) || !slices.EqualFunc(after.Manifests[:len(before.Manifests)], before.Manifests, func(a, b ocispec.Descriptor) bool {
		return a.Digest == b.Digest && a.Annotations[ocispec.AnnotationRefName] == b.Annotations[ocispec.AnnotationRefName]
	}) {
		t.Fatalf("index.json before %+v, after %+v", before.Manifests, after.Manifests)
	}
	for i, e := range after.Manifests[len(before.Manifests):] {
		if i < len(sboms) && e.ArtifactType != oci.MediaTypeSPDX || i >= len(sboms) && !strings.HasPrefix(e.Annotations[ocispec.AnnotationRefName], "sha256-") {
			t.Errorf("index.json entry %d after the layout's: %+v, want %d SBOM manifests then their tag indexes", i, e, len(sboms))
		}
	}
	for subject, sbom := range sboms {
		if got := ocidirtest.TagIndex(t, dir, subject); !slices.Equal(got, []digest.Digest{sbom}) {
			t.Errorf("referrers tag index of %s lists %v, want the SBOM %s", subject, got, sbom)
		}
	}
	if after.Annotations["com.example.top"] != "keep" {
		t.Errorf("index.json annotations %v, want them kept", after.Annotations)
	}
	// Again: nothing new.
	mustAffix(t, "attach", "--name", "example.com/app:1", src)
	if b, _ := os.ReadFile(filepath.Join(dir, "index.json")); string(b) != string(afterBytes) {
		t.Errorf("a second attach changed index.json:\n%s\nthen\n%s", afterBytes, b)
	}
	// Another artifact, on one platform.
	vex := writeFile(t, "vex.json", []byte(`{"vex":true}`))
	vexDigest := strings.TrimSpace(mustAffix(t, "attach", "--artifact-type", "application/vnd.example.vex+json", "--platform", "linux/amd64", src, vex))
	if out := mustAffix(t, "ls", src); strings.Count(out, vexDigest) != 1 || strings.Count(out, sboms[res.Manifests[0].Digest].String()) != 1 || strings.Contains(out, "sha256-") {
		t.Errorf("ls after attach: want the VEX document and the SBOM once each, no tag index:\n%s", out)
	}
	// The VEX document joins the platform's tag index, in place.
	var withVEX ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &withVEX)
	if len(withVEX.Manifests) != len(after.Manifests)+1 {
		t.Errorf("index.json after attaching the VEX document: %d entries, want %d", len(withVEX.Manifests), len(after.Manifests)+1)
	}
	amd := res.Manifests[0].Digest
	if got := ocidirtest.TagIndex(t, dir, amd); !slices.Equal(got, []digest.Digest{sboms[amd], digest.Digest(vexDigest)}) {
		t.Errorf("referrers tag index of %s lists %v, want the SBOM then the VEX document %s", amd, got, vexDigest)
	}
	if _, errs, code := affix(t, "get", "--verify", "--platform", "linux/amd64", src); code != 0 {
		t.Errorf("get --verify: exit %d\n%s", code, errs)
	}

	// Attaches at the same time all end up listed.
	var wg sync.WaitGroup
	notes := make([]string, 4)
	for i := range notes {
		wg.Go(func() {
			f := writeFile(t, "note.txt", fmt.Appendf(nil, "note %d", i))
			out, errs, code := affix(t, "attach", "--artifact-type", "application/vnd.example.note", src, f)
			if code != 0 {
				t.Errorf("concurrent attach %d: exit %d\n%s", i, code, errs)
			}
			notes[i] = strings.TrimSpace(out)
		})
	}
	wg.Wait()
	var withNotes ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &withNotes)
	inTag := ocidirtest.TagIndex(t, dir, res.Index.Digest)
	for _, n := range notes {
		if !slices.ContainsFunc(withNotes.Manifests, func(d ocispec.Descriptor) bool { return d.Digest.String() == n }) {
			t.Errorf("index.json lacks the note %s of a concurrent attach", n)
		}
		if !slices.Contains(inTag, digest.Digest(n)) {
			t.Errorf("the index's referrers tag index lacks the note %s of a concurrent attach: %v", n, inTag)
		}
	}
	if len(inTag) != len(notes) {
		t.Errorf("the index's referrers tag index lists %v, want the %d notes", inTag, len(notes))
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
	if len(pm.LayoutReferrers) != 1+len(notes) || !slices.ContainsFunc(pm.LayoutReferrers, func(r layoutReferrerMeta) bool { return r.Digest.String() == vexDigest }) {
		t.Errorf("pushed layout referrers %+v, want the VEX document %s and the notes", pm.LayoutReferrers, vexDigest)
	}
	if mode := m.ReferrersMode[src]; mode != modeLayout {
		t.Errorf("attach metadata referrersMode %v, want %s for the layout", m.ReferrersMode, modeLayout)
	}

	// A tar cannot take referrers.
	tarPath := layoutTarFile(t, dir)
	for _, scheme := range []string{oci.SchemeArchive, oci.SchemeLayout} {
		if _, errs, code := affix(t, "attach", scheme+":"+tarPath); code != 2 || !strings.Contains(errs, "a layout tar cannot take referrers in place") {
			t.Errorf("attach to a tar named %s: exit %d, stderr %q", scheme, code, errs)
		}
	}
}

// attachedLayout writes the variantsPair layout and attaches its SBOMs
// (skipped with -short: it scans images); it returns the directory, the
// fixture and the layout as a SOURCE.
func attachedLayout(t *testing.T) (string, *fixture.Result, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("scans images")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	src := oci.SchemeLayout + ":" + dir
	mustAffix(t, "attach", src)
	return dir, res, src
}

// TestAttachLayoutDamaged: another tool's damage to a layout (a referrers
// tag index or a referrer manifest whose blob is gone) does not fail an
// attach: it is left as it is, with a warning naming it, and the new
// artifact is listed in both forms.
func TestAttachLayoutDamaged(t *testing.T) {
	dir, res, src := attachedLayout(t)
	var idx ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &idx)
	amd, arm := res.Manifests[0].Digest, res.Manifests[1].Digest
	// arm64's tag index blob is gone; so is amd64's SBOM manifest (oras's
	// form lists it in index.json, regctl's in the tag index).
	var gone []digest.Digest
	for _, e := range idx.Manifests {
		if e.Annotations[ocispec.AnnotationRefName] == "sha256-"+arm.Encoded() || e.ArtifactType == oci.MediaTypeSPDX && e.Digest == ocidirtest.TagIndex(t, dir, amd)[0] {
			gone = append(gone, e.Digest)
		}
	}
	if len(gone) != 2 {
		t.Fatalf("found %v to remove in %+v", gone, idx.Manifests)
	}
	for _, d := range gone {
		if err := os.Remove(filepath.Join(dir, "blobs", "sha256", d.Encoded())); err != nil {
			t.Fatal(err)
		}
	}
	vex := writeFile(t, "vex.json", []byte(`{"vex":true}`))
	out, errs, code := affix(t, "attach", "--artifact-type", "application/vnd.example.vex+json", "--platform", "linux/amd64", src, vex)
	if code != 0 {
		t.Fatalf("attach to a damaged layout: exit %d\n%s", code, errs)
	}
	// ocidir's warnings, printed as affix prints every warning.
	for _, d := range gone {
		if !slices.ContainsFunc(strings.Split(errs, "\n"), func(l string) bool {
			return strings.HasPrefix(l, "affix: warning: ") && strings.Contains(l, d.String())
		}) {
			t.Errorf("stderr has no warning naming the missing %s:\n%s", d, errs)
		}
	}
	t.Logf("stderr:\n%s", errs)
	vexDigest := digest.Digest(strings.TrimSpace(out))
	if got := ocidirtest.TagIndex(t, dir, amd); !slices.Contains(got, vexDigest) {
		t.Errorf("amd64's tag index lists %v, want the VEX document %s too", got, vexDigest)
	}
	var after ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &after)
	for _, d := range append(gone, vexDigest) {
		if !slices.ContainsFunc(after.Manifests, func(e ocispec.Descriptor) bool { return e.Digest == d }) {
			t.Errorf("index.json no longer lists %s", d)
		}
	}
}

// TestAttachLayoutToReferrer: oci-layout:DIR@DIGEST may name a referrer
// the layout lists (an SBOM, to sign it), as REPO@DIGEST may in a
// registry; the new artifact is listed in both forms and ls nests it.
func TestAttachLayoutToReferrer(t *testing.T) {
	dir, res, src := attachedLayout(t)
	sbom := ocidirtest.TagIndex(t, dir, res.Manifests[0].Digest)[0]
	sig := writeFile(t, "sig", []byte("signature"))
	out := mustAffix(t, "attach", "--artifact-type", "application/vnd.example.sig", src+"@"+sbom.String(), sig)
	sigDigest := digest.Digest(strings.TrimSpace(out))
	if got := ocidirtest.TagIndex(t, dir, sbom); !slices.Equal(got, []digest.Digest{sigDigest}) {
		t.Errorf("referrers tag index of the SBOM %s lists %v, want the signature %s", sbom, got, sigDigest)
	}
	var idx ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &idx)
	if !slices.ContainsFunc(idx.Manifests, func(d ocispec.Descriptor) bool { return d.Digest == sigDigest }) {
		t.Errorf("index.json does not list the signature %s", sigDigest)
	}
	if ls := mustAffix(t, "ls", src); !strings.Contains(ls, sigDigest.String()) {
		t.Errorf("ls does not show the signature %s:\n%s", sigDigest, ls)
	}
	// Scanning a referrer for SBOMs, or naming a platform of it, is a
	// usage error naming it.
	if _, errs, code := affix(t, "attach", src+"@"+sbom.String()); code != 2 || !strings.Contains(errs, sbom.String()+" is no image") {
		t.Errorf("attach (scan) to the SBOM: exit %d\n%s", code, errs)
	}
	if _, errs, code := affix(t, "attach", "--artifact-type", "application/vnd.example.sig", "--platform", "linux/amd64", src+"@"+sbom.String(), sig); code != 2 || !strings.Contains(errs, "it has no platforms") {
		t.Errorf("attach --platform to the SBOM: exit %d\n%s", code, errs)
	}
}
