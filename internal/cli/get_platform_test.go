package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/internal/sbomtest"
)

// TestGetIndexSBOM: an SBOM attached to the index is taken for a
// platform without one only when its document names that platform's
// manifest, the index, or (one platform asked for) no image; one naming
// another platform's manifest is skipped with or without --verify, and
// --all-platforms takes none that names no image.
func TestGetIndexSBOM(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs registries")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	amd, arm, index := res.Manifests[0], res.Manifests[1], res.Index
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	insecure := []string{"--insecure-registry", reg.Host}
	mustAffix(t, slices.Concat([]string{"push"}, insecure, []string{"oci-layout:" + dir, reg.Ref("src") + ":v1"})...)
	get := func(args ...string) string { return mustAffix(t, slices.Concat([]string{"get"}, insecure, args)...) }
	amdDoc := get("--platform", "linux/amd64", reg.Ref("src")+":v1")
	armDoc := get("--platform", "linux/arm64", reg.Ref("src")+":v1")
	// The amd64 document made to name the index: its purl and checksum.
	indexDoc := strings.ReplaceAll(amdDoc, amd.Digest.Encoded(), index.Digest.Encoded())

	// Each repository: the image without SBOMs, and documents attached
	// to the index, in order (the last is the newest).
	attach := func(repo string, refs ...foreignReferrer) string {
		mustAffix(t, slices.Concat([]string{"push", "--no-sbom"}, insecure, []string{"oci-layout:" + dir, reg.Ref(repo) + ":v1"})...)
		for _, f := range refs {
			attachForeign(t, reg, repo, index, f)
		}
		return reg.Ref(repo) + ":v1"
	}
	spdx := func(doc string) foreignReferrer {
		return foreignReferrer{artifactType: oci.MediaTypeSPDX, layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: []byte(doc)}}}
	}
	other := attach("other", spdx(amdDoc))
	whole := attach("whole", spdx(indexDoc))
	none := attach("none", spdx(sbomtest.DirectorySPDX))
	both := attach("both", spdx(amdDoc), spdx(armDoc))
	stmt := attach("stmt", foreignReferrer{artifactType: oci.MediaTypeInToto, annotations: map[string]string{oci.AnnotationPredicateType: oci.PredicateSPDX},
		layers: []foreignLayer{{mediaType: oci.MediaTypeInToto, data: sbomtest.Statement(t, oci.PredicateSPDX, arm.Digest, sbomtest.DirectorySPDX)}}})

	notArm := "it describes image " + amd.Digest.String() + ", not linux/arm64/v8's manifest " + arm.Digest.String() + " nor the index"
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stdout string            // with code 0 and no -o
		files  map[string]string // -o DIR's files, when it is given
		stderr []string
	}{
		{"names another platform", []string{"--platform", "linux/arm64", other}, 1, "", nil,
			[]string{"none of the spdx-json SBOM referrers of the index " + index.Digest.String() + " fits: ", notArm}},
		{"names another platform, all platforms", []string{"--all-platforms", "-o", "DIR", other}, 1, "", nil,
			[]string{other + " (linux/arm64/v8): ", notArm}},
		{"names the platform", []string{"--verify", "--platform", "linux/amd64", other}, 0, amdDoc, nil,
			[]string{"attached to the whole image: it names linux/amd64's manifest " + amd.Digest.String(), "verified: "}},
		{"names the index", []string{"--platform", "linux/arm64", whole}, 0, indexDoc, nil,
			[]string{"it describes the index, the whole image, not linux/arm64/v8 alone (--verify takes it only if it names " + arm.Digest.String() + ")"}},
		{"names the index, all platforms", []string{"--all-platforms", "-o", "DIR", whole}, 0, "",
			map[string]string{"linux-amd64.spdx.json": indexDoc, "linux-arm64-v8.spdx.json": indexDoc}, nil},
		{"names the index, verified", []string{"--verify", "--platform", "linux/arm64", whole}, 1, "", nil,
			[]string{"none of the spdx-json SBOM referrers of the index " + index.Digest.String() + " fits: ",
				"--verify takes an SBOM of the index only when it names linux/arm64/v8's manifest " + arm.Digest.String()}},
		{"names no image", []string{"--platform", "linux/arm64", none}, 0, sbomtest.DirectorySPDX, nil,
			[]string{"it names no image: it may describe another platform"}},
		{"names no image, all platforms", []string{"--all-platforms", "-o", "DIR", none}, 1, "", nil,
			[]string{"it names no image, and --all-platforms takes an SBOM of the index only when it names the platform's manifest or the index"}},
		{"one per platform", []string{"--all-platforms", "--verify", "-o", "DIR", both}, 0, "",
			map[string]string{"linux-amd64.spdx.json": amdDoc, "linux-arm64-v8.spdx.json": armDoc},
			[]string{"skipped spdx-json SBOM referrer ", ": " + "it describes image " + arm.Digest.String() + ", not linux/amd64's manifest", "taking the next newest"}},
		{"statement of another platform", []string{"--platform", "linux/amd64", stmt}, 1, "", nil,
			[]string{"skipped in-toto referrer ", ": it describes image " + arm.Digest.String() + ", not linux/amd64's manifest " + amd.Digest.String() + " nor the index"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sboms")
			args := slices.Clone(tt.args)
			if i := slices.Index(args, "DIR"); i >= 0 {
				args[i] = out
			}
			stdout, errs, code := affix(t, slices.Concat([]string{"get"}, insecure, args)...)
			t.Logf("exit %d, stderr:\n%s", code, errs)
			if code != tt.code || tt.files == nil && code == 0 && stdout != tt.stdout {
				t.Fatalf("exit %d, want %d; stdout %.200q, want %.200q\nstderr: %s", code, tt.code, stdout, tt.stdout, errs)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errs)
				}
			}
			if code != 0 && slices.Contains(args, out) {
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("%s was written", out)
				}
			}
			for name, want := range tt.files {
				if got, err := os.ReadFile(filepath.Join(out, name)); err != nil || string(got) != want {
					t.Errorf("%s: %v, %.200q; want %.200q", name, err, got, want)
				}
			}
		})
	}
}

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
			layers: []foreignLayer{{mediaType: oci.MediaTypeInToto, data: sbomtest.Statement(t, oci.PredicateSPDX, amd.Digest, sbomtest.DirectorySPDX),
				annotations: map[string]string{oci.AnnotationPredicateType: oci.PredicateSPDX}}}})
	})
	repo("cosign", func(name string) {
		attachForeign(t, reg, name, amd, foreignReferrer{tag: discover.CosignTag(amd.Digest, "sbom"), configType: ocispec.MediaTypeImageConfig,
			layers: []foreignLayer{{mediaType: "text/spdx+json", data: []byte(amdDoc)}}})
	})
	repo("index", func(name string) {
		attachForeign(t, reg, name, index, foreignReferrer{artifactType: oci.MediaTypeSPDX,
			layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: []byte(amdDoc)}}})
	})
	repo("refused", nil)
	repo("none", nil)
	proxy := registrytest.StartProxy(t, reg.Host)
	proxy.Inject(registrytest.Fault{Method: "GET", Path: "/refused/manifests/" + discover.CosignTag(amd.Digest, "sbom") + "$", Action: registrytest.Status, Code: http.StatusForbidden})

	for _, tt := range []struct {
		repo   string
		code   int
		taking string // a note or error that follows the skipped note
	}{
		{"attestation", 0, "taking BuildKit attestation "},
		{"cosign", 0, "taking the SBOM of cosign's tag "},
		{"index", 0, "attached to the whole image"},
		{"refused", 1, "reading cosign's tag " + discover.CosignTag(amd.Digest, "sbom")},
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
