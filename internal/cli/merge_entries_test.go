package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestMergeEntries: a manifest a source lists under two platforms keeps
// both entries (and the source index, byte for byte); linux/arm64 and
// linux/arm64/v8 are one platform, so two manifests of them are refused;
// so are two BuildKit attestation manifests for one manifest.
func TestMergeEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a registry")
	}
	cliEnv(t)
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	insecure := []string{"--insecure-registry", reg.Host}
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		return mustAffix(t, slices.Concat(args[:1], insecure, args[1:])...)
	}
	repo := reg.Ref("app")
	pair := fixture.VariantsPair()

	t.Run("one manifest, two platforms", func(t *testing.T) {
		dir := t.TempDir()
		res, err := fixture.WriteLayout(dir, fixture.Spec{Images: pair.Images})
		if err != nil {
			t.Fatal(err)
		}
		x2 := res.Manifests[0]
		x2.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64", Variant: "v2"}
		if _, err := fixture.WriteIndex(dir, "latest", []ocispec.Descriptor{res.Manifests[0], x2, res.Manifests[1]}); err != nil {
			t.Fatal(err)
		}
		run(t, "push", "oci-layout:"+dir, repo+":twice")
		run(t, "merge", repo+":twice-merged", ":twice")
		merged := fetchIndex(t, reg, "app", "twice-merged")
		if len(merged.Manifests) != 3 || resolveTag(t, reg, "app", "twice-merged") != resolveTag(t, reg, "app", "twice") {
			t.Errorf("merged index lists %d entries (%s), want the source's 3 (%s)", len(merged.Manifests),
				resolveTag(t, reg, "app", "twice-merged"), resolveTag(t, reg, "app", "twice"))
		}
	})

	t.Run("arm64 and arm64/v8", func(t *testing.T) {
		a := pair.Images[1] // linux/arm64/v8
		b := a
		b.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64"}
		b.Layers = append(slices.Clone(b.Layers), fixture.Layer{{Path: "etc/other", Data: []byte("x\n")}})
		for tag, img := range map[string]fixture.Image{"v8": a, "plain": b} {
			d := t.TempDir()
			if _, err := fixture.WriteLayout(d, fixture.Spec{Images: []fixture.Image{img}}); err != nil {
				t.Fatal(err)
			}
			run(t, "push", "oci-layout:"+d, repo+":"+tag)
		}
		_, errs, code := affix(t, slices.Concat([]string{"merge"}, insecure, []string{repo + ":arm", ":v8", ":plain"})...)
		if code != 2 || !strings.Contains(errs, "twice: SOURCE :v8") || !strings.Contains(errs, "and :plain") {
			t.Errorf("exit %d, want 2 naming both sources\n%s", code, errs)
		}
		if resolveTag(t, reg, "app", "arm") != "" {
			t.Error("tagged")
		}
	})

	t.Run("two attestations of one manifest", func(t *testing.T) {
		dir := t.TempDir()
		res, err := fixture.WriteLayout(dir, fixture.Spec{Images: pair.Images[:1], Attestations: true})
		if err != nil {
			t.Fatal(err)
		}
		run(t, "push", "oci-layout:"+dir, repo+":att1")
		// Another attestation manifest for the same image (another
		// build's provenance).
		att := res.Attestations[0]
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", att.Digest.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		m["annotations"] = map[string]string{"com.example.build": "2"}
		b, _ = json.Marshal(m)
		other := att
		other.Digest, other.Size = digest.FromBytes(b), int64(len(b))
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", other.Digest.Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := fixture.WriteIndex(dir, "other", []ocispec.Descriptor{res.Manifests[0], other}); err != nil {
			t.Fatal(err)
		}
		run(t, "push", "oci-layout:"+dir, repo+":att2")
		_, errs, code := affix(t, slices.Concat([]string{"merge"}, insecure, []string{repo + ":att", ":att1", ":att2"})...)
		if code != 2 || !strings.Contains(errs, "two BuildKit attestation manifests for "+res.Manifests[0].Digest.String()) {
			t.Errorf("exit %d, want 2 naming the manifest\n%s", code, errs)
		}
	})
}
