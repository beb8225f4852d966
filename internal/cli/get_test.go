package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/internal/sbomtest"
	"github.com/affix-oci/affix/internal/version"
)

// newer is a created annotation later than any the fixtures' SBOMs carry,
// so exporter.Newest picks the referrer that has it.
const newer = ocispec.AnnotationCreated + "=2099-01-01T00:00:00Z"

// variantsPair writes the Variants fixture's linux/amd64 and linux/arm64/v8
// images (small, nothing compiled).
func variantsPair(t *testing.T) (string, *fixture.Result) {
	t.Helper()
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, fixture.VariantsPair())
	if err != nil {
		t.Fatal(err)
	}
	return dir, res
}

// pushedVariants pushes the variantsPair layout with affix push (extra
// flags before the source) to REPO:v1 in a new registry of kind, and
// returns the layout directory, the registry and the reference.
func pushedVariants(t *testing.T, kind registrytest.Kind, repo string, extra ...string) (string, *registrytest.Registry, string) {
	t.Helper()
	dir, _ := variantsPair(t)
	reg := registrytest.Start(t, kind, registrytest.Options{})
	ref := reg.Ref(repo) + ":v1"
	mustAffix(t, append(append([]string{"push", "--insecure-registry", reg.Host}, extra...), "oci-layout:"+dir, ref)...)
	return dir, reg, ref
}

// writeFile writes b to a new file in a temporary directory.
func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustAffix runs affix and fails the test unless it exits 0; it returns
// stdout.
func mustAffix(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := affix(t, args...)
	if code != 0 {
		t.Fatalf("affix %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// spdxStatement is an in-toto statement whose subject names d, around an
// SPDX document that names no image.
func spdxStatement(t *testing.T, d digest.Digest) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": oci.PredicateSPDX,
		"subject":       []map[string]any{{"name": "pkg:docker/app@v1", "digest": map[string]string{d.Algorithm().String(): d.Encoded()}}},
		"predicate":     json.RawMessage(sbomtest.DirectorySPDX),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGetVerify publishes right, wrong and unverifiable SBOMs in several
// ways (affix push, affix attach, affix convert with and without
// --keep-intoto, BuildKit in-index attestations, a referrers tag listing a
// referrer of another manifest) on olareg with and without the referrers
// API, and runs `affix get` with and without --verify on each.
func TestGetVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs registries")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	amd, arm := res.Manifests[0].Digest, res.Manifests[1].Digest
	gen := version.Generator()
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			insecure := []string{"--insecure-registry", reg.Host}
			ref := func(repo string) string { return reg.Ref(repo) + ":v1" }
			run := func(args ...string) string {
				return mustAffix(t, slices.Concat(args[:1], insecure, args[1:])...)
			}

			// app: affix push, SPDX and CycloneDX.
			meta := filepath.Join(t.TempDir(), "meta.json")
			run("push", "--sbom-format", "spdx-json", "--sbom-format", "cyclonedx-json", "--metadata-file", meta, "oci-layout:"+dir, ref("app"))
			sbom := map[string]digest.Digest{} // platform format → referrer
			for _, p := range readMeta(t, meta).Platforms {
				for _, r := range p.Referrers {
					sbom[p.Platform+" "+r.Format] = r.Digest
				}
			}
			armDoc := run("get", "--platform", "linux/arm64", ref("app"))

			// wrong: the arm64 SBOM attached to the amd64 manifest, newer
			// than amd64's own (wrongAmdDoc).
			run("push", "oci-layout:"+dir, ref("wrong"))
			wrongAmdDoc := run("get", "--platform", "linux/amd64", ref("wrong"))
			wrong := digest.Digest(strings.TrimSpace(run("attach", "--platform", "linux/amd64", "--artifact-type", oci.MediaTypeSPDX,
				"--annotation", newer, "--annotation", oci.AnnotationGenerator+"=hand", ref("wrong"), writeFile(t, "arm64.spdx.json", []byte(armDoc)))))

			// noimage: a newer SPDX document naming no image.
			run("push", "oci-layout:"+dir, ref("noimage"))
			noimage := digest.Digest(strings.TrimSpace(run("attach", "--platform", "linux/amd64", "--artifact-type", oci.MediaTypeSPDX,
				"--annotation", newer, "--annotation", oci.AnnotationGenerator+"=example-scanner-1.0", ref("noimage"), writeFile(t, "dir.spdx.json", []byte(sbomtest.DirectorySPDX)))))

			// BuildKit-style images: in-index attestations (their SPDX
			// documents name no image; the statements' subjects do).
			bk := pushBuildKitStyle(t, reg, "bk")
			bkAmd, bkArm := bk.Manifests[0].Digest, bk.Manifests[1].Digest
			pushBuildKitStyle(t, reg, "conv")
			run("convert", ref("conv"))
			pushBuildKitStyle(t, reg, "kept")
			run("convert", "--keep-intoto", ref("kept"))
			// badstmt: an in-toto referrer of amd64 whose statement names arm/v6.
			pushBuildKitStyle(t, reg, "badstmt")
			badstmt := digest.Digest(strings.TrimSpace(run("attach", "--platform", "linux/amd64", "--artifact-type", oci.MediaTypeInToto,
				"--annotation", oci.AnnotationPredicateType+"="+oci.PredicateSPDX, "--annotation", newer,
				ref("badstmt"), writeFile(t, "stmt.json", spdxStatement(t, bkArm)))))

			// envelope: a newer in-toto referrer with the SPDX predicate
			// annotation whose content is a DSSE envelope, not a
			// statement (as other tools write them), over a converted
			// statement (keptjunk) or over BuildKit's attestations alone
			// (junk): get skips it.
			envelope := writeFile(t, "envelope.json", []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`))
			junk := func(repo string) digest.Digest {
				return digest.Digest(strings.TrimSpace(run("attach", "--platform", "linux/amd64", "--artifact-type", oci.MediaTypeInToto,
					"--annotation", oci.AnnotationPredicateType+"="+oci.PredicateSPDX, "--annotation", newer, ref(repo), envelope)))
			}
			pushBuildKitStyle(t, reg, "keptjunk")
			run("convert", "--keep-intoto", ref("keptjunk"))
			keptJunk := junk("keptjunk")
			pushBuildKitStyle(t, reg, "junk")
			bkJunk := junk("junk")

			// moved (referrers tag schema only): amd64's referrers tag
			// lists, newest, the SBOM referrer whose subject is arm64.
			var moved digest.Digest
			var movedAmdDoc string // moved's own amd64 SBOM
			if !reg.Referrers {
				moved, movedAmdDoc = listUnderOtherSubject(t, reg, "moved", dir, amd, arm)
			}

			verified := func(r, m digest.Digest, note string) []string {
				return []string{"verified: SBOM " + r.String() + " describes " + m.String() + " (" + note}
			}
			failed := func(repo, platform string, more ...string) []string {
				return append([]string{discover.ErrNotVerified.Error() + ": " + ref(repo) + " (" + platform + "): "}, more...)
			}
			tests := []struct {
				name       string
				args       []string // after get and the registry flags
				code       int
				stdout     string   // "" means none; "*" means the document get prints without --verify
				stderr     []string // substrings
				tagsSchema bool     // only without the referrers API
			}{
				{name: "push spdx amd64", args: []string{"--verify", "--platform", "linux/amd64", ref("app")}, stdout: "*",
					stderr: verified(sbom["linux/amd64 spdx-json"], amd, `generator "`+gen+`")`)},
				{name: "push spdx arm64", args: []string{"--verify", "--platform", "linux/arm64", ref("app")}, stdout: armDoc,
					stderr: verified(sbom["linux/arm64/v8 spdx-json"], arm, `generator "`+gen+`")`)},
				{name: "push cyclonedx amd64", args: []string{"--verify", "--format", "cyclonedx-json", "--platform", "linux/amd64", ref("app")}, stdout: "*",
					stderr: verified(sbom["linux/amd64 cyclonedx-json"], amd, `generator "`+gen+`")`)},
				// An SBOM of another image is skipped, with or without
				// --verify; --referrer still prints it, and --verify fails it.
				{name: "wrong sbom without verify", args: []string{"--platform", "linux/amd64", ref("wrong")}, stdout: wrongAmdDoc,
					stderr: []string{"skipped spdx-json SBOM referrer " + wrong.String() + ": it describes image " + arm.String() +
						", not linux/amd64's manifest " + amd.String() + " nor the index; taking the next newest"}},
				{name: "wrong sbom", args: []string{"--verify", "--platform", "linux/amd64", ref("wrong")}, stdout: wrongAmdDoc,
					stderr: []string{"skipped spdx-json SBOM referrer " + wrong.String() + ": it describes image " + arm.String(), "verified: SBOM ", " describes " + amd.String()}},
				{name: "wrong sbom by --referrer", args: []string{"--referrer", wrong.String(), "--platform", "linux/amd64", ref("wrong")}, stdout: armDoc},
				{name: "wrong sbom by --referrer, verified", args: []string{"--verify", "--referrer", wrong.String(), "--platform", "linux/amd64", ref("wrong")}, code: 1,
					stderr: failed("wrong", "linux/amd64", "SBOM referrer "+wrong.String()+` (generator "hand") describes image `+arm.String()+
						", not the platform manifest "+amd.String()+" it is attached to")},
				{name: "document names no image", args: []string{"--verify", "--platform", "linux/amd64", ref("noimage")}, code: 1,
					stderr: failed("noimage", "linux/amd64", "cannot verify SBOM referrer "+noimage.String()+` (generator "example-scanner-1.0"): `,
						"names no image manifest digest", "nothing in it ties it to the platform manifest "+amd.String())},
				{name: "buildkit in-index attestation", args: []string{"--verify", "--platform", "linux/amd64", ref("bk")}, stdout: "*",
					stderr: append([]string{"taking BuildKit attestation " + bk.Attestations[0].Digest.String()},
						verified(bk.Attestations[0].Digest, bkAmd, `by its in-toto statement's subject; generator "fixture")`)...)},
				{name: "converted, statement dropped", args: []string{"--verify", "--platform", "linux/amd64", ref("conv")}, code: 1,
					stderr: failed("conv", "linux/amd64", "cannot verify SBOM referrer ", `(generator "fixture")`, "names no image manifest digest")},
				{name: "converted, statement kept", args: []string{"--verify", "--platform", "linux/amd64", ref("kept")}, stdout: "*",
					stderr: []string{"taking the predicate of in-toto referrer ", " describes " + bkAmd.String() + ` (by its in-toto statement's subject; generator "fixture")`}},
				{name: "newest in-toto referrer is no statement", args: []string{"--verify", "--platform", "linux/amd64", ref("keptjunk")}, stdout: "*",
					stderr: []string{"skipped in-toto referrer " + keptJunk.String() + `: predicate type "" is not ` + oci.PredicateSPDX,
						"taking the predicate of in-toto referrer ", " describes " + bkAmd.String() + ` (by its in-toto statement's subject; generator "fixture")`}},
				{name: "only in-toto referrer is no statement", args: []string{"--verify", "--platform", "linux/amd64", ref("junk")}, stdout: "*",
					stderr: []string{"skipped in-toto referrer " + bkJunk.String() + ": ", "taking BuildKit attestation "}},
				// The statement's subject is what its document (which names
				// no image) describes: another image, skipped.
				{name: "statement names another image", args: []string{"--verify", "--platform", "linux/amd64", ref("badstmt")}, stdout: "*",
					stderr: append([]string{"skipped in-toto referrer " + badstmt.String() + ": it describes image " + bkArm.String() +
						", not linux/amd64's manifest " + bkAmd.String() + " nor the index", "taking BuildKit attestation " + bk.Attestations[0].Digest.String()},
						verified(bk.Attestations[0].Digest, bkAmd, `by its in-toto statement's subject; generator "fixture")`)...)},
				{name: "statement names another image, by --referrer", args: []string{"--verify", "--referrer", badstmt.String(), "--platform", "linux/amd64", ref("badstmt")}, code: 1,
					stderr: failed("badstmt", "linux/amd64", "in-toto SBOM referrer "+badstmt.String()+` (generator "example-scanner-1.0"): `,
						`in-toto subject "pkg:docker/app@v1" is `+bkArm.String()+"; expected the platform manifest "+bkAmd.String())},
				{name: "cyclonedx of buildkit image", args: []string{"--verify", "--format", "cyclonedx-json", "--platform", "linux/amd64", ref("bk")}, code: 1,
					stderr: []string{"no cyclonedx-json SBOM referrer of " + bkAmd.String()}},
				// An SBOM listed under amd64 whose manifest names arm64 is
				// no SBOM of amd64: skipped, with or without --verify.
				{name: "listed under another subject without verify", args: []string{"--platform", "linux/amd64", ref("moved")}, stdout: movedAmdDoc, tagsSchema: true,
					stderr: []string{"skipped spdx-json SBOM referrer " + moved.String() + ": listed, but its manifest's subject is " + arm.String() + ", not " + amd.String()}},
				{name: "listed under another subject", args: []string{"--verify", "--platform", "linux/amd64", ref("moved")}, stdout: movedAmdDoc, tagsSchema: true,
					stderr: []string{"skipped spdx-json SBOM referrer " + moved.String() + ": listed, but its manifest's subject is " + arm.String()}},
			}
			for _, tt := range tests {
				if tt.tagsSchema && reg.Referrers {
					continue
				}
				t.Run(tt.name, func(t *testing.T) {
					out, errs, code := affix(t, slices.Concat([]string{"get"}, insecure, tt.args)...)
					t.Logf("exit %d, stderr:\n%s", code, errs)
					if code != tt.code {
						t.Fatalf("exit %d, want %d\nstderr: %s", code, tt.code, errs)
					}
					want := tt.stdout
					if want == "*" {
						var plain []string
						for _, a := range tt.args {
							if a != "--verify" {
								plain = append(plain, a)
							}
						}
						want = run(append([]string{"get"}, plain...)...)
					}
					if out != want {
						t.Errorf("stdout (%d bytes) is not the expected document (%d bytes)\n%.300s", len(out), len(want), out)
					}
					for _, s := range tt.stderr {
						if !strings.Contains(errs, s) {
							t.Errorf("stderr lacks %q:\n%s", s, errs)
						}
					}
					if tt.code == 0 && strings.Contains(strings.Join(tt.args, " "), "--verify") && strings.Count(errs, "verified: ") != 1 {
						t.Errorf("want one verified line:\n%s", errs)
					}
				})
			}
		})
	}
}

// listUnderOtherSubject pushes the image to repo and rewrites the
// referrers tag of manifest amd to list, as its newest SBOM, the SBOM
// referrer of manifest arm (whose own subject stays arm), as a registry
// or a careless tool could. It returns that referrer's digest and amd's
// own SBOM, as get printed it before.
func listUnderOtherSubject(t *testing.T, reg *registrytest.Registry, repo, dir string, amd, arm digest.Digest) (digest.Digest, string) {
	t.Helper()
	ctx := context.Background()
	mustAffix(t, "push", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref(repo)+":v1")
	amdDoc := mustAffix(t, "get", "--insecure-registry", reg.Host, "--platform", "linux/amd64", reg.Ref(repo)+":v1")
	tgt, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: repo}, exporter.RemoteOptions{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	armIdx, err := exporter.ReadReferrersIndex(ctx, tgt, arm)
	if err != nil || len(armIdx.Manifests) != 1 {
		t.Fatalf("referrers of %s: %v %+v", arm, err, armIdx)
	}
	amdIdx, err := exporter.ReadReferrersIndex(ctx, tgt, amd)
	if err != nil || len(amdIdx.Manifests) != 1 {
		t.Fatalf("referrers of %s: %v %+v", amd, err, amdIdx)
	}
	entry := armIdx.Manifests[0]
	entry.Annotations = maps.Clone(entry.Annotations)
	entry.Annotations[ocispec.AnnotationCreated] = "2099-01-01T00:00:00Z"
	amdIdx.Manifests = append(amdIdx.Manifests, entry)
	b, err := json.Marshal(amdIdx)
	if err != nil {
		t.Fatal(err)
	}
	r := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: repo}, PlainHTTP: true}
	desc := oci.DescriptorFor(ocispec.MediaTypeImageIndex, b)
	if err := r.PushReference(ctx, desc, bytes.NewReader(b), amd.Algorithm().String()+"-"+amd.Encoded()); err != nil {
		t.Fatal(err)
	}
	return entry.Digest, amdDoc
}

// TestLsGenerator: `affix ls` shows the generator of each SBOM referrer,
// and nothing for a referrer without one.
func TestLsGenerator(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs a registry")
	}
	cliEnv(t)
	_, reg, ref := pushedVariants(t, registrytest.OlaregNoAPI, "app")
	mustAffix(t, "attach", "--insecure-registry", reg.Host, "--platform", "linux/amd64", "--artifact-type", "application/vnd.example.sig+json",
		ref, writeFile(t, "sig.json", []byte(`{"sig":1}`)))
	gen := version.Generator()

	text := mustAffix(t, "ls", "--insecure-registry", reg.Host, ref)
	var sboms, sigs int
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.Contains(line, oci.MediaTypeSPDX):
			sboms++
			if !strings.HasSuffix(line, "  by "+gen) {
				t.Errorf("SBOM line without its generator: %q", line)
			}
		case strings.Contains(line, "application/vnd.example.sig+json"):
			sigs++
			if strings.Contains(line, " by ") {
				t.Errorf("signature line names a generator: %q", line)
			}
		}
	}
	if sboms != 2 || sigs != 1 {
		t.Errorf("%d SBOM and %d signature lines:\n%s", sboms, sigs, text)
	}

	var tree discover.Tree
	if err := json.Unmarshal([]byte(mustAffix(t, "ls", "--json", "--insecure-registry", reg.Host, ref)), &tree); err != nil {
		t.Fatal(err)
	}
	for _, pl := range tree.Root.Children {
		for _, r := range pl.Children {
			want := ""
			if r.ArtifactType == oci.MediaTypeSPDX {
				want = gen
			}
			if r.Generator != want {
				t.Errorf("%s %s: generator %q, want %q", pl.Platform, r.ArtifactType, r.Generator, want)
			}
		}
	}
}

// TestGetErrors checks that get's errors name what is missing: the
// platform of a multi-platform image, and the SBOM of a platform that has
// none.
func TestGetErrors(t *testing.T) {
	cliEnv(t)
	// --sbom=false is --no-sbom, as build spells it.
	_, reg, ref := pushedVariants(t, registrytest.OlaregAPI, "bare", "--sbom=false")
	// --plain-http reaches every registry over HTTP, like naming it.
	if out := mustAffix(t, "ls", "--plain-http", ref); !strings.Contains(out, "linux/arm64") {
		t.Errorf("ls --plain-http:\n%s", out)
	}
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"no platform", nil, []string{ref, "linux/amd64", "linux/arm64", "name one with --platform"}},
		{"no SBOM", []string{"--platform", "linux/arm64"}, []string{ref + " (linux/arm64/v8)", "no spdx-json SBOM referrer"}},
		{"no CycloneDX SBOM", []string{"--platform", "linux/amd64", "--format", "cyclonedx-json"}, []string{ref + " (linux/amd64)", "no cyclonedx-json SBOM referrer"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := affix(t, slices.Concat([]string{"get", "--insecure-registry", reg.Host}, tt.args, []string{ref})...)
			if code != 1 || out != "" {
				t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}
}

// attachOrasStyle attaches an SPDX-typed referrer to subject in repo as
// oras-go (and so `oras attach`) does, with one layer per media type in
// layers, created at created: a small SPDX document, or for
// application/vnd.oci.image.layer.v1.tar something that is no SBOM (a
// directory oras attach made a tar of).
func attachOrasStyle(t *testing.T, reg *registrytest.Registry, repo string, subject ocispec.Descriptor, created string, layers ...string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	// SkipReferrersGC: the registry need not allow DELETE.
	r := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: repo}, PlainHTTP: true, SkipReferrersGC: true}
	var descs []ocispec.Descriptor
	for i, mt := range layers {
		content := fmt.Appendf(nil, `{"spdxVersion":"SPDX-2.3","n":%d,"at":%q}`, i, created)
		if mt == ocispec.MediaTypeImageLayer {
			// What oras attach DIR gives: a tar, no SBOM.
			content = fmt.Appendf(nil, "ustar %d %s", i, created)
		}
		d, err := oras.PushBytes(ctx, r, mt, content)
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, d)
	}
	subj := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	d, err := oras.PackManifest(ctx, r, oras.PackManifestVersion1_1, oci.MediaTypeSPDX, oras.PackManifestOptions{
		Subject: &subj, Layers: descs, ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: created}})
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

// TestGetSkipsMisshapedSBOM: SBOM referrers that are not in the SBOM
// referrer shape (oras attach's default layer type, two layers) are
// skipped, newest first, with a note naming each; when none is usable the
// error lists them all; --verify checks the one taken.
func TestGetSkipsMisshapedSBOM(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs registries")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	amd := res.Manifests[0]
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			insecure := []string{"--insecure-registry", reg.Host}
			mustAffix(t, slices.Concat([]string{"push"}, insecure, []string{"oci-layout:" + dir, reg.Ref("sbom") + ":v1"})...)
			mustAffix(t, slices.Concat([]string{"push", "--no-sbom"}, insecure, []string{"oci-layout:" + dir, reg.Ref("bare") + ":v1"})...)
			doc := mustAffix(t, slices.Concat([]string{"get"}, insecure, []string{"--platform", "linux/amd64", reg.Ref("sbom") + ":v1"})...)
			var bad []digest.Digest
			for _, repo := range []string{"sbom", "bare"} {
				bad = append(bad,
					attachOrasStyle(t, reg, repo, amd, "2099-01-01T00:00:00Z", ocispec.MediaTypeImageLayer),
					attachOrasStyle(t, reg, repo, amd, "2098-01-01T00:00:00Z", oci.MediaTypeSPDX, oci.MediaTypeSPDX))
			}
			orasNote := func(d digest.Digest) string {
				return "skipped spdx-json SBOM referrer " + d.String() + ": its one layer (application/vnd.oci.image.layer.v1.tar) holds no SBOM document, not a spdx-json one"
			}
			twoNote := func(d digest.Digest) string {
				return d.String() + ": has 2 layers (application/spdx+json, application/spdx+json), not exactly one application/spdx+json layer"
			}
			for _, tt := range []struct {
				name   string
				args   []string
				code   int
				stdout string
				stderr []string
			}{
				{"older affix SBOM taken", []string{reg.Ref("sbom") + ":v1"}, 0, doc,
					[]string{orasNote(bad[0]), "skipped spdx-json SBOM referrer " + twoNote(bad[1])}},
				{"verified after skipping", []string{"--verify", reg.Ref("sbom") + ":v1"}, 0, doc,
					[]string{orasNote(bad[0]), "verified: SBOM "}},
				{"none usable", []string{reg.Ref("bare") + ":v1"}, 1, "",
					[]string{reg.Ref("bare") + ":v1 (linux/amd64): no usable spdx-json SBOM referrer of " + amd.Digest.String() + ": " +
						bad[2].String() + ": its one layer (application/vnd.oci.image.layer.v1.tar) holds no SBOM document, not a spdx-json one; " + twoNote(bad[3])}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					checkGetAMD64(t, insecure, tt.args, tt.code, tt.stdout, tt.stderr)
				})
			}
		})
	}
}

// TestGetSkipsDeletedSBOM: an SBOM referrer the referrers list still
// names but whose manifest the registry no longer has (deleted; a
// registry without the API keeps its referrers-tag entry) is skipped with
// a note, and the next newest taken; asking for a format the image has no
// SBOM in names the formats it has.
func TestGetSkipsDeletedSBOM(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs registries")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	amd := res.Manifests[0]
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	ref := reg.Ref("app") + ":v1"
	mustAffix(t, "push", "--insecure-registry", reg.Host, "oci-layout:"+dir, ref)
	doc := mustAffix(t, "get", "--insecure-registry", reg.Host, "--platform", "linux/amd64", ref)
	deleted := attachOrasStyle(t, reg, "app", amd, "2099-01-01T00:00:00Z", oci.MediaTypeSPDX)
	proxy := registrytest.StartProxy(t, reg.Host)
	proxy.Inject(registrytest.Fault{Method: "GET", Path: "/manifests/" + deleted.String() + "$", Action: registrytest.Status, Code: http.StatusNotFound})
	viaProxy := strings.Replace(ref, reg.Host, proxy.Host, 1)

	out, errs, code := affix(t, "get", "--insecure-registry", proxy.Host, "--platform", "linux/amd64", viaProxy)
	if code != 0 || out != doc {
		t.Fatalf("exit %d, stdout %.200q; want 0 and the older SBOM\nstderr: %s", code, out, errs)
	}
	if want := "skipped spdx-json SBOM referrer " + deleted.String() + ": listed, but its manifest is gone"; !strings.Contains(errs, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errs)
	}

	_, errs, code = affix(t, "get", "--insecure-registry", reg.Host, "--platform", "linux/amd64", "--format", "cyclonedx-json", ref)
	if want := "no cyclonedx-json SBOM referrer of " + amd.Digest.String() + " (nor a CycloneDX in-toto referrer); it has spdx-json SBOM referrers: --format spdx-json"; code != 1 || !strings.Contains(errs, want) {
		t.Errorf("exit %d, stderr lacks %q:\n%s", code, want, errs)
	}
}

// TestGetAllPlatforms: --all-platforms -o DIR writes each platform's SBOM,
// named as affix sbom names them, equal to what --platform prints; from
// registries with and without the referrers API and from a layout affix
// attach wrote the SBOMs into.
func TestGetAllPlatforms(t *testing.T) {
	cliEnv(t)
	sources := map[string]func(t *testing.T) (flags []string, ref string){
		"layout": func(t *testing.T) ([]string, string) {
			dir, _ := variantsPair(t)
			src := "oci-layout:" + dir
			mustAffix(t, "attach", "--sbom-format", "spdx-json", "--sbom-format", "cyclonedx-json", src)
			return nil, src
		},
	}
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI} {
		sources[string(kind)] = func(t *testing.T) ([]string, string) {
			_, reg, ref := pushedVariants(t, kind, "all", "--sbom-format", "spdx-json", "--sbom-format", "cyclonedx-json")
			return []string{"--insecure-registry", reg.Host}, ref
		}
	}
	for name, source := range sources {
		t.Run(name, func(t *testing.T) {
			flags, ref := source(t)
			for _, tt := range []struct {
				format, ext string
				verify      bool
			}{
				{"spdx-json", ".spdx.json", false},
				{"cyclonedx-json", ".cdx.json", true},
			} {
				dir := filepath.Join(t.TempDir(), "sboms")
				args := slices.Concat([]string{"get"}, flags, []string{"--all-platforms", "--format", tt.format, "-o", dir, ref})
				if tt.verify {
					args = append(args, "--verify")
				}
				out, errs, code := affix(t, args...)
				if code != 0 || out != "" {
					t.Fatalf("get --all-platforms --format %s: exit %d, stdout %q\n%s", tt.format, code, out, errs)
				}
				for _, p := range []struct{ platform, stem string }{{"linux/amd64", "linux-amd64"}, {"linux/arm64/v8", "linux-arm64-v8"}} {
					file := filepath.Join(dir, p.stem+tt.ext)
					got, err := os.ReadFile(file)
					if err != nil {
						t.Fatal(err)
					}
					if want := mustAffix(t, slices.Concat([]string{"get"}, flags, []string{"--platform", p.platform, "--format", tt.format, ref})...); string(got) != want {
						t.Errorf("%s differs from get --platform %s", file, p.platform)
					}
					if !strings.Contains(errs, file) {
						t.Errorf("stderr does not name %s:\n%s", file, errs)
					}
				}
				if tt.verify && strings.Count(errs, "verified: ") != 2 {
					t.Errorf("want two verified lines:\n%s", errs)
				}
				if ents, _ := os.ReadDir(dir); len(ents) != 2 {
					t.Errorf("%s holds %d files, want 2", dir, len(ents))
				}
			}
			// -o naming a directory that exists takes one platform's
			// SBOM by platform too, as affix sbom -o DIR does.
			dir := t.TempDir()
			mustAffix(t, slices.Concat([]string{"get"}, flags, []string{"--platform", "linux/amd64", "-o", dir, ref})...)
			got, err := os.ReadFile(filepath.Join(dir, "linux-amd64.spdx.json"))
			if err != nil {
				t.Fatal(err)
			}
			if want := mustAffix(t, slices.Concat([]string{"get"}, flags, []string{"--platform", "linux/amd64", ref})...); string(got) != want {
				t.Errorf("-o %s: linux-amd64.spdx.json differs from get --platform linux/amd64", dir)
			}
		})
	}
}

// TestOutputUsageErrors: get's and sbom's -o and --format are checked
// before any request (the registry named does not exist): a bad one is a
// usage error naming the flag.
func TestOutputUsageErrors(t *testing.T) {
	cliEnv(t)
	host := registrytest.ClosedHost(t)
	ref := host + "/app:v1"
	file := writeFile(t, "f.txt", []byte("f"))
	nowhere := filepath.Join(t.TempDir(), "no", "out.json")
	for _, tt := range []struct {
		name string
		args []string // after the command and its registry flags
		msg  string
	}{
		{"get -o in no directory", []string{"get", "--platform", "linux/amd64", "-o", nowhere, ref}, "-o " + nowhere + ": the directory " + filepath.Dir(nowhere) + " does not exist"},
		{"get -o under a file", []string{"get", "--platform", "linux/amd64", "-o", file + "/sbom.json", ref}, "-o " + file + "/sbom.json: " + file + " is not a directory"},
		{"get --all-platforms -o a file", []string{"get", "--all-platforms", "-o", file, ref}, "-o " + file + ": not a directory"},
		{"get -o DIR/ a file", []string{"get", "--platform", "linux/amd64", "-o", file + "/", ref}, "-o " + file + "/: "},
		{"get --format twice", []string{"get", "--format", "spdx-json", "--format", "cyclonedx-json", ref}, "--format given 2 times (spdx-json, cyclonedx-json)"},
		{"sbom -o in no directory", []string{"sbom", "-o", nowhere, "registry:" + ref}, "-o " + nowhere + ": the directory " + filepath.Dir(nowhere) + " does not exist"},
		{"sbom --all-platforms -o a file", []string{"sbom", "--all-platforms", "-o", file, "registry:" + ref}, "-o " + file + ": not a directory"},
		{"sbom two formats -o a file", []string{"sbom", "--format", "spdx-json", "--format", "syft-json", "-o", file, "registry:" + ref}, "-o " + file + ": not a directory"},
		{"sbom -o under a file", []string{"sbom", "--all-platforms", "-o", file + "/sub/dir", "registry:" + ref}, "-o " + file + "/sub/dir: "},
		{"sbom unknown format", []string{"sbom", "--format", "bogus", "registry:" + ref}, `--format: format "bogus"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := slices.Concat(tt.args[:1], []string{"--insecure-registry", host}, tt.args[1:])
			out, errs, code := affix(t, args...)
			if code != 2 || !strings.Contains(errs, tt.msg) || out != "" {
				t.Fatalf("exit %d, want 2; stderr %q does not contain %q (stdout %q)", code, errs, tt.msg, out)
			}
		})
	}
}

// TestGetAllPlatformsErrors: usage errors exit 2; a platform without an
// SBOM exits 1 naming it, and nothing is written.
func TestGetAllPlatformsErrors(t *testing.T) {
	cliEnv(t)
	_, reg, ref := pushedVariants(t, registrytest.OlaregAPI, "bare", "--sbom=false")
	_, res := variantsPair(t) // the same images (a deterministic fixture)
	dir := filepath.Join(t.TempDir(), "sboms")
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no -o", []string{"--all-platforms"}, 2, "name a directory with -o DIR"},
		{"with --platform", []string{"--all-platforms", "--platform", "linux/amd64", "-o", dir}, 2, "use one of --platform and --all-platforms"},
		{"no SBOM", []string{"--all-platforms", "-o", dir}, 1, ref + " (linux/amd64): no spdx-json SBOM referrer"},
		// get reads syft JSON referrers (oras attach's); spdx-intoto is
		// a referrer format of push, whose predicate get prints as
		// spdx-json.
		{"syft-json", []string{"--all-platforms", "-o", dir, "--format", "syft-json"}, 1, ref + " (linux/amd64): no syft-json SBOM referrer"},
		{"spdx-intoto", []string{"--all-platforms", "-o", dir, "--format", "spdx-intoto"}, 2, `--format "spdx-intoto": want spdx-json, cyclonedx-json or syft-json`},
		{"unknown format", []string{"--all-platforms", "-o", dir, "--format", "xml"}, 2, `--format "xml": want spdx-json, cyclonedx-json or syft-json`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := affix(t, slices.Concat([]string{"get", "--insecure-registry", reg.Host}, tt.args, []string{ref})...)
			if code != tt.code || out != "" || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d and %q", code, out, errs, tt.code, tt.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("%s was created", dir)
			}
		})
	}
	// A release gate names every platform image without an SBOM, not
	// only the first.
	_, errs, _ := affix(t, "get", "--insecure-registry", reg.Host, "--all-platforms", "--verify", "-o", dir, ref)
	for _, m := range res.Manifests {
		want := ref + " (" + platforms.Format(*m.Platform) + "): no spdx-json SBOM referrer of " + m.Digest.String()
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

// TestGetReferrersTagConflict: on a registry that resolves a referrers
// tag to the subject itself (GitLab), get lists no referrers, with a
// note, and still finds the SBOM of BuildKit's in-index attestation.
func TestGetReferrersTagConflict(t *testing.T) {
	cliEnv(t)
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	bk := pushBuildKitStyle(t, reg, "bk")
	amd := bk.Manifests[0].Digest
	tgt, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: "bk"}, exporter.RemoteOptions{Client: exporter.NewClient(nil, nil), PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	d, b, _, err := tgt.FetchManifest(ctx, amd.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tgt.PushManifest(ctx, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}, b, exporter.ReferrersTag(amd), ""); err != nil {
		t.Fatal(err)
	}
	out, errs, code := affix(t, "get", "--insecure-registry", reg.Host, "--verify", "--platform", "linux/amd64", reg.Ref("bk")+":v1")
	if code != 0 || !strings.Contains(out, `"spdxVersion"`) {
		t.Fatalf("exit %d, want 0 and the attestation's SBOM; stderr:\n%s", code, errs)
	}
	for _, want := range []string{"resolves to the subject " + amd.String() + " itself; reading no referrers", "taking BuildKit attestation " + bk.Attestations[0].Digest.String(), "verified: "} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

// checkGetAMD64 runs affix get --platform linux/amd64 with flags, then
// args, and checks its exit code, its stdout, and that its stderr holds
// each of stderr.
func checkGetAMD64(t *testing.T, flags, args []string, code int, stdout string, stderr []string) {
	t.Helper()
	out, errs, got := affix(t, slices.Concat([]string{"get", "--platform", "linux/amd64"}, flags, args)...)
	if got != code || out != stdout {
		t.Fatalf("exit %d, want %d; stdout %.200q, want %.200q\nstderr: %s", got, code, out, stdout, errs)
	}
	for _, s := range stderr {
		if !strings.Contains(errs, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errs)
		}
	}
}

// TestGetManifestReads counts the manifest reads of get among five SBOM
// referrers without annotations (regctl artifact put writes none): with
// the referrers API, whose list carries the manifests' annotations, only
// the one taken is read; from the referrers tag, each is read once, to
// order them, and concurrently, the one taken not again. The note on
// their missing created times names the first three.
func TestGetManifestReads(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	amd := res.Manifests[0]
	for _, tt := range []struct {
		kind registrytest.Kind
		// reads is how many times get reads the referrer manifests,
		// each is how many times it reads each of them at most.
		reads, each int
		concurrent  bool
	}{
		{registrytest.OlaregAPI, 1, 1, false},
		{registrytest.OlaregNoAPI, 5, 1, true},
	} {
		t.Run(string(tt.kind), func(t *testing.T) {
			reg := registrytest.Start(t, tt.kind, registrytest.Options{})
			mustAffix(t, "push", "--no-sbom", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref("app")+":v1")
			var refs []digest.Digest
			for i := range 5 {
				d := attachForeign(t, reg, "app", amd, foreignReferrer{artifactType: oci.MediaTypeSPDX,
					layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: fmt.Appendf(nil, `{"spdxVersion":"SPDX-2.3","n":%d}`, i)}}})
				refs = append(refs, d.Digest)
			}
			proxy := registrytest.StartProxy(t, reg.Host)
			proxy.Inject(registrytest.Fault{Method: "GET", Path: "/app/manifests/sha256:", Action: registrytest.Slow, Delay: 200 * time.Millisecond})
			out, errs, code := affix(t, "get", "--insecure-registry", proxy.Host, "--platform", "linux/amd64", proxy.Host+"/app:v1")
			if code != 0 || !strings.Contains(out, `"spdxVersion"`) {
				t.Fatalf("exit %d, stdout %.200q\nstderr: %s", code, out, errs)
			}
			reads := map[digest.Digest]int{}
			total := 0
			for _, e := range proxy.Log() {
				for _, d := range refs {
					if strings.HasPrefix(e, "GET ") && strings.Contains(e, "/manifests/"+d.String()) {
						reads[d]++
						total++
					}
				}
			}
			if total != tt.reads {
				t.Errorf("%d reads of the referrer manifests, want %d: %v\n%s", total, tt.reads, reads, strings.Join(proxy.Log(), "\n"))
			}
			for d, n := range reads {
				if n > tt.each {
					t.Errorf("%s read %d times, want at most %d", d, n, tt.each)
				}
			}
			if peak := proxy.PeakInFlight(); tt.concurrent && peak < 2 {
				t.Errorf("at most %d requests at once: the manifests were read one by one", peak)
			}
			if want := "5 of them (sha256:"; !strings.Contains(errs, want) || !strings.Contains(errs, " and 2 more) carry no valid") {
				t.Errorf("stderr lacks %q... and 2 more:\n%s", want, errs)
			}
		})
	}
}

// TestGetAfterTransientFailure: an SBOM referrer whose manifest read
// fails for a while (429 on every attempt of the transport) while get
// orders the referrers-tag entries is read again when taken: the failure
// is not kept for the run.
func TestGetAfterTransientFailure(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	mustAffix(t, "push", "--no-sbom", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref("app")+":v1")
	doc := `{"spdxVersion":"SPDX-2.3","n":1}`
	// No created annotation: get reads the manifest to order the
	// entries (withAnnotations), then again to take it.
	ref := attachForeign(t, reg, "app", res.Manifests[0], foreignReferrer{artifactType: oci.MediaTypeSPDX,
		layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: []byte(doc)}}})
	proxy := registrytest.StartProxy(t, reg.Host)
	// Five: every attempt of the transport's first read.
	proxy.Inject(registrytest.Fault{Method: "GET", Path: "/manifests/" + ref.Digest.String() + "$", Action: registrytest.TooManyRequests, RetryAfter: "0", Times: 5})
	out, errs, code := affix(t, "get", "--insecure-registry", proxy.Host, "--platform", "linux/amd64", proxy.Host+"/app:v1")
	if code != 0 || out != doc {
		t.Fatalf("exit %d, stdout %.200q; want 0 and the document\nstderr: %s\n%s", code, out, errs, strings.Join(proxy.Log(), "\n"))
	}
	if n := proxy.Injected(); n != 5 {
		t.Errorf("%d faults injected, want 5 (the first read's attempts)", n)
	}
}
