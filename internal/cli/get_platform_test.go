package cli

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestGetSkippedNotes: the notes on SBOM referrers skipped as unusable are
// printed whichever fallback then decides (a BuildKit attestation,
// cosign's tag, the index, or an error reading one of them); when none
// has an SBOM the error lists them, and they are not printed twice.
func TestGetSkippedNotes(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs registries")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	amd, index := res.Manifests[0], res.Index
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	insecure := []string{"--insecure-registry", reg.Host}
	mustAffix(t, slices.Concat([]string{"push"}, insecure, []string{"oci-layout:" + dir, reg.Ref("src") + ":v1"})...)
	amdDoc := mustAffix(t, slices.Concat([]string{"get"}, insecure, []string{"--platform", "linux/amd64", reg.Ref("src") + ":v1"})...)

	// Each repository: the image without SBOMs, an unusable SBOM
	// referrer of amd64 (two layers), and what fallback is given.
	skipped := map[string]string{}
	repo := func(name string, fallback func(string)) string {
		mustAffix(t, slices.Concat([]string{"push", "--no-sbom"}, insecure, []string{"oci-layout:" + dir, reg.Ref(name) + ":v1"})...)
		skipped[name] = attachOrasStyle(t, reg, name, amd, "2099-01-01T00:00:00Z", oci.MediaTypeSPDX, oci.MediaTypeSPDX).String()
		if fallback != nil {
			fallback(name)
		}
		return name
	}
	repo("attestation", func(name string) {
		attachForeign(t, reg, name, amd, foreignReferrer{artifactType: oci.ArtifactTypeBuildKitAttestation, configType: ocispec.MediaTypeImageConfig,
			layers: []foreignLayer{{mediaType: oci.MediaTypeInToto, data: statementOf(t, oci.PredicateSPDX, amd.Digest, noImageSPDX),
				annotations: map[string]string{oci.AnnotationPredicateType: oci.PredicateSPDX}}}})
	})
	repo("cosign", func(name string) {
		attachForeign(t, reg, name, amd, foreignReferrer{tag: cosignTag(amd.Digest, "sbom"), configType: ocispec.MediaTypeImageConfig,
			layers: []foreignLayer{{mediaType: "text/spdx+json", data: []byte(amdDoc)}}})
	})
	repo("index", func(name string) {
		attachForeign(t, reg, name, index, foreignReferrer{artifactType: oci.MediaTypeSPDX,
			layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: []byte(amdDoc)}}})
	})
	repo("refused", nil)
	repo("none", nil)
	proxy := registrytest.StartProxy(t, reg.Host)
	proxy.Inject(registrytest.Fault{Method: "GET", Path: "/refused/manifests/" + cosignTag(amd.Digest, "sbom") + "$", Action: registrytest.Status, Code: http.StatusForbidden})

	for _, tt := range []struct {
		repo   string
		code   int
		taking string // a note or error that follows the skipped note
	}{
		{"attestation", 0, "taking BuildKit attestation "},
		{"cosign", 0, "taking the SBOM of cosign's tag "},
		{"index", 0, "attached to the whole image"},
		{"refused", 1, "reading cosign's tag " + cosignTag(amd.Digest, "sbom")},
		{"none", 1, "no usable spdx-json SBOM referrer of " + amd.Digest.String() + ": " + skipped["none"] + ": has 2 layers"},
	} {
		t.Run(tt.repo, func(t *testing.T) {
			_, errs, code := affix(t, "get", "--insecure-registry", proxy.Host, "--platform", "linux/amd64", proxy.Host+"/"+tt.repo+":v1")
			t.Logf("exit %d, stderr:\n%s", code, errs)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, tt.code, errs)
			}
			note := "skipped spdx-json SBOM referrer " + skipped[tt.repo] + ": has 2 layers"
			i, j := strings.Index(errs, note), strings.Index(errs, tt.taking)
			switch {
			case j < 0:
				t.Errorf("stderr lacks %q:\n%s", tt.taking, errs)
			case tt.repo == "none" && i >= 0:
				t.Errorf("the skipped note is printed beside the error that lists it:\n%s", errs)
			case tt.repo != "none" && (i < 0 || i > j):
				t.Errorf("stderr lacks %q before %q:\n%s", note, tt.taking, errs)
			}
		})
	}
}
