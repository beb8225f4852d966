package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
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
	for _, tt := range []getCase{
		{"names another platform", []string{"--platform", "linux/arm64", other}, 1, "", nil,
			[]string{"none of the spdx-json SBOM referrers of the index " + index.Digest.String() + " fits: ", notArm}, ""},
		{"names another platform, all platforms", []string{"--all-platforms", "-o", "DIR", other}, 1, "", nil,
			[]string{other + " (linux/arm64/v8): ", notArm}, ""},
		{"names the platform", []string{"--verify", "--platform", "linux/amd64", other}, 0, amdDoc, nil,
			[]string{"attached to the whole image: it names linux/amd64's manifest " + amd.Digest.String(), "verified: "}, ""},
		{"names the index", []string{"--platform", "linux/arm64", whole}, 0, indexDoc, nil,
			[]string{"it describes the index, the whole image, not linux/arm64/v8 alone (--verify takes it only if it names " + arm.Digest.String() + ")"}, ""},
		{"names the index, all platforms", []string{"--all-platforms", "-o", "DIR", whole}, 0, "",
			map[string]string{"linux-amd64.spdx.json": indexDoc, "linux-arm64-v8.spdx.json": indexDoc}, nil, ""},
		{"names the index, verified", []string{"--verify", "--platform", "linux/arm64", whole}, 1, "", nil,
			[]string{"none of the spdx-json SBOM referrers of the index " + index.Digest.String() + " fits: ",
				"--verify takes an SBOM of the index only when it names linux/arm64/v8's manifest " + arm.Digest.String()}, ""},
		{"names no image", []string{"--platform", "linux/arm64", none}, 0, sbomtest.DirectorySPDX, nil,
			[]string{"it names no image: it may describe another platform"}, ""},
		{"names no image, all platforms", []string{"--all-platforms", "-o", "DIR", none}, 1, "", nil,
			[]string{"it names no image, and --all-platforms takes an SBOM of the index only when it names the platform's manifest or the index"}, ""},
		{"one per platform", []string{"--all-platforms", "--verify", "-o", "DIR", both}, 0, "",
			map[string]string{"linux-amd64.spdx.json": amdDoc, "linux-arm64-v8.spdx.json": armDoc},
			[]string{"skipped spdx-json SBOM referrer ", ": " + "it describes image " + arm.Digest.String() + ", not linux/amd64's manifest", "taking the next newest"}, ""},
		{"statement of another platform", []string{"--platform", "linux/amd64", stmt}, 1, "", nil,
			[]string{"none of the spdx-json SBOM referrers of the index " + index.Digest.String() + " fits: in-toto referrer ",
				": it describes image " + arm.Digest.String() + ", not linux/amd64's manifest " + amd.Digest.String() + " nor the index"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) { runGetCase(t, insecure, tt) })
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
		attachForeign(t, reg, name, amd, foreignReferrer{tag: cosignTag(t, amd.Digest, "sbom"), configType: ocispec.MediaTypeImageConfig,
			layers: []foreignLayer{{mediaType: "text/spdx+json", data: []byte(amdDoc)}}})
	})
	repo("index", func(name string) {
		attachForeign(t, reg, name, index, foreignReferrer{artifactType: oci.MediaTypeSPDX,
			layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: []byte(amdDoc)}}})
	})
	repo("refused", nil)
	repo("none", nil)
	proxy := registrytest.StartProxy(t, reg.Host)
	proxy.Inject(registrytest.Fault{Method: "GET", Path: "/refused/manifests/" + cosignTag(t, amd.Digest, "sbom") + "$", Action: registrytest.Status, Code: http.StatusForbidden})

	for _, tt := range []struct {
		repo   string
		code   int
		taking string // a note or error that follows the skipped note
	}{
		{"attestation", 0, "taking BuildKit attestation "},
		{"cosign", 0, "taking the SBOM of cosign's tag "},
		{"index", 0, "attached to the whole image"},
		{"refused", 1, "reading cosign's tag " + cosignTag(t, amd.Digest, "sbom")},
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

// TestGetOtherImage: an SBOM referrer of a platform manifest whose
// document describes another image (another platform's manifest, here
// attached as affix attach lets one, with a warning) is skipped with a
// note, with or without --verify, and the next newest taken; when every
// one of the platform's does, get fails naming them. --referrer prints
// one anyway, and --verify fails it. An in-toto statement (a BuildKit
// attestation's) describes its subject.
func TestGetOtherImage(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs registries")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	amd, arm := res.Manifests[0], res.Manifests[1]
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			insecure := []string{"--insecure-registry", reg.Host}
			ref := func(repo string) string { return reg.Ref(repo) + ":v1" }
			run := func(args ...string) string { return mustAffix(t, slices.Concat(args[:1], insecure, args[1:])...) }
			// attach attaches doc to the platform's manifest of repo,
			// newest, and returns the referrer.
			attach := func(repo, platform, doc string) digest.Digest {
				return digest.Digest(strings.TrimSpace(run("attach", "--platform", platform, "--artifact-type", oci.MediaTypeSPDX,
					"--annotation", newer, ref(repo), writeFile(t, "sbom.spdx.json", []byte(doc)))))
			}

			// swapped: each platform's own SBOM (affix push), and a newer
			// one of the other platform.
			run("push", "oci-layout:"+dir, ref("swapped"))
			amdDoc := run("get", "--platform", "linux/amd64", ref("swapped"))
			armDoc := run("get", "--platform", "linux/arm64", ref("swapped"))
			amdOnArm := attach("swapped", "linux/arm64", amdDoc)
			armOnAmd := attach("swapped", "linux/amd64", armDoc)
			// only: arm64's one SBOM describes amd64.
			run("push", "--no-sbom", "oci-layout:"+dir, ref("only"))
			attach("only", "linux/amd64", amdDoc)
			onlyOnArm := attach("only", "linux/arm64", amdDoc)
			// bkatt: amd64's one SBOM is a BuildKit attestation referrer
			// whose statement's subject is arm64.
			run("push", "--no-sbom", "oci-layout:"+dir, ref("bkatt"))
			att := attachForeign(t, reg, "bkatt", amd, foreignReferrer{artifactType: oci.ArtifactTypeBuildKitAttestation, configType: ocispec.MediaTypeImageConfig,
				layers: []foreignLayer{{mediaType: oci.MediaTypeInToto, data: sbomtest.Statement(t, oci.PredicateSPDX, arm.Digest, sbomtest.DirectorySPDX),
					annotations: map[string]string{oci.AnnotationPredicateType: oci.PredicateSPDX}}}})

			// local: arm64's one SBOM names an image the index does not
			// list (as a scan of a local Docker image does); localold:
			// the same, newer than arm64's own.
			fake := digest.FromString("a local image's manifest")
			localDoc := strings.ReplaceAll(armDoc, arm.Digest.Encoded(), fake.Encoded())
			run("push", "--no-sbom", "oci-layout:"+dir, ref("local"))
			attach("local", "linux/arm64", localDoc)
			run("push", "oci-layout:"+dir, ref("localold"))
			ownDoc := run("get", "--platform", "linux/arm64", ref("localold"))
			attach("localold", "linux/arm64", localDoc)
			unlisted := "names image " + fake.String() + ", which " + ref("local") + " does not list"
			// notsbom: a license list attached under the SBOM's type,
			// newer than arm64's own SBOM; notsbomonly: it alone.
			run("push", "oci-layout:"+dir, ref("notsbom"))
			notSBOMOwn := run("get", "--platform", "linux/arm64", ref("notsbom"))
			licenses := attach("notsbom", "linux/arm64", "MIT\nApache-2.0\n")
			run("push", "--no-sbom", "oci-layout:"+dir, ref("notsbomonly"))
			attach("notsbomonly", "linux/arm64", "MIT\nApache-2.0\n")

			skipped := func(r digest.Digest, named, img ocispec.Descriptor, platform string) string {
				return "skipped spdx-json SBOM referrer " + r.String() + ": it describes image " + named.Digest.String() +
					", not " + platform + "'s manifest " + img.Digest.String() + " nor the index; taking the next newest"
			}
			amdSkipped, armSkipped := skipped(armOnAmd, arm, amd, "linux/amd64"), skipped(amdOnArm, amd, arm, "linux/arm64/v8")
			onlyErr := ref("only") + " (linux/arm64/v8): no usable spdx-json SBOM referrer of " + arm.Digest.String() + ": " + onlyOnArm.String() +
				": it describes image " + amd.Digest.String() + ", not linux/arm64/v8's manifest " + arm.Digest.String() + " nor the index" +
				"; affix get --referrer DIGEST prints a given one anyway"
			for _, tt := range []getCase{
				{"newest describes another platform", []string{"--platform", "linux/arm64", ref("swapped")}, 0, armDoc, nil, []string{armSkipped}, ""},
				{"newest describes another platform, verified", []string{"--verify", "--platform", "linux/arm64", ref("swapped")}, 0, armDoc, nil,
					[]string{armSkipped, "verified: SBOM ", " describes " + arm.Digest.String()}, ""},
				{"all platforms", []string{"--all-platforms", "-o", "DIR", ref("swapped")}, 0, "",
					map[string]string{"linux-amd64.spdx.json": amdDoc, "linux-arm64-v8.spdx.json": armDoc}, []string{amdSkipped, armSkipped}, ""},
				{"all platforms, verified", []string{"--all-platforms", "--verify", "-o", "DIR", ref("swapped")}, 0, "",
					map[string]string{"linux-amd64.spdx.json": amdDoc, "linux-arm64-v8.spdx.json": armDoc}, []string{amdSkipped, armSkipped, "verified: "}, ""},
				{"--referrer prints it", []string{"--referrer", amdOnArm.String(), ref("swapped")}, 0, amdDoc, nil, nil, "skipped"},
				{"--referrer, verified", []string{"--verify", "--referrer", amdOnArm.String(), "--platform", "linux/arm64", ref("swapped")}, 1, "", nil,
					[]string{discover.ErrNotVerified.Error() + ": " + ref("swapped") + " (linux/arm64/v8): SBOM referrer " + amdOnArm.String(),
						" describes image " + amd.Digest.String() + ", not the platform manifest " + arm.Digest.String()}, ""},
				{"only one, of another platform", []string{"--platform", "linux/arm64", ref("only")}, 1, "", nil, []string{onlyErr}, "skipped"},
				{"only one, of another platform, verified", []string{"--verify", "--platform", "linux/arm64", ref("only")}, 1, "", nil, []string{onlyErr}, "verified"},
				{"only one, all platforms", []string{"--all-platforms", "-o", "DIR", ref("only")}, 1, "", nil, []string{onlyErr}, ""},
				{"only one, --referrer", []string{"--referrer", onlyOnArm.String(), ref("only")}, 0, amdDoc, nil, nil, ""},
				{"names an image the index does not list", []string{"--platform", "linux/arm64", ref("local")}, 0, localDoc, nil,
					[]string{unlisted, "taken as the platform's SBOM; --verify refuses it"}, "skipped"},
				{"names an image the index does not list, verified", []string{"--verify", "--platform", "linux/arm64", ref("local")}, 1, "", nil,
					[]string{discover.ErrNotVerified.Error(), fake.String()}, "taken as"},
				{"own SBOM before a newer one naming an unlisted image", []string{"--platform", "linux/arm64", ref("localold")}, 0, ownDoc, nil,
					[]string{"skipped spdx-json SBOM referrer "}, "taken as"},
				{"newest holds no SBOM document", []string{"--platform", "linux/arm64", ref("notsbom")}, 0, notSBOMOwn, nil,
					[]string{"skipped spdx-json SBOM referrer " + licenses.String() + ": its one layer (" + oci.MediaTypeSPDX + ") holds no SBOM document, not a spdx-json one; taking the next newest"}, ""},
				{"only a file that is no SBOM document", []string{"--platform", "linux/arm64", ref("notsbomonly")}, 1, "", nil,
					[]string{"holds no SBOM document, not a spdx-json one"}, ""},
				{"attestation of another platform", []string{"--platform", "linux/amd64", ref("bkatt")}, 1, "", nil,
					[]string{"no usable spdx-json SBOM referrer of " + amd.Digest.String() + ": BuildKit attestation " + att.Digest.String() +
						": it describes image " + arm.Digest.String() + ", not linux/amd64's manifest " + amd.Digest.String() + " nor the index",
						"; affix get --referrer DIGEST prints a given one anyway"}, ""},
			} {
				t.Run(tt.name, func(t *testing.T) { runGetCase(t, insecure, tt) })
			}
		})
	}
}

// getCase is an affix get run and what it must give.
type getCase struct {
	name   string
	args   []string // "DIR" stands for a directory of the case's own
	code   int
	stdout string            // with code 0 and no -o
	files  map[string]string // -o DIR's files, when it is given
	stderr []string
	absent string // not in stderr, when not ""
}

// runGetCase runs affix get with insecure and tt's arguments and checks
// the exit code, the output, stderr, and the files written (none on a
// failure; a verified line per file with --verify).
func runGetCase(t *testing.T, insecure []string, tt getCase) {
	t.Helper()
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
	if tt.absent != "" && strings.Contains(errs, tt.absent) {
		t.Errorf("stderr holds %q:\n%s", tt.absent, errs)
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
	if tt.files != nil && slices.Contains(args, "--verify") && strings.Count(errs, "verified: ") != len(tt.files) {
		t.Errorf("want %d verified lines:\n%s", len(tt.files), errs)
	}
}
