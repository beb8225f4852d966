package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	orasoci "oras.land/oras-go/v2/content/oci"

	"github.com/affix-oci/affix/internal/registrytest"
)

// TestConsumers checks that the referrers clients the README names find
// what `affix build --push` published, on a registry with the referrers
// API, one without (olareg) and distribution: `oras discover`, `regctl
// artifact tree|list|get` and Trivy's OCI SBOM discovery
// (`--sbom-sources oci`), each invoked as the docs show. Every client
// must see, for each platform manifest, the one SPDX referrer affix
// reports, and read the same SBOM bytes as `affix get`; none may find an
// SBOM on the index itself.
func TestConsumers(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	regs := []*registrytest.Registry{
		registry(t, registrytest.OlaregAPI),
		registry(t, registrytest.OlaregNoAPI),
		registry(t, registrytest.Distribution),
	}
	e := newEnv(t, "SOURCE_DATE_EPOCH="+epoch)
	args := []string{"build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","), "--push"}
	for _, reg := range regs {
		args = append(args, "-t", reg.Ref("consumers:v1"), "--insecure-registry", reg.Host)
	}
	e.ok(t, append(args, dir)...)

	for _, reg := range regs {
		t.Run(string(reg.Kind), func(t *testing.T) {
			got := readBack(t, newRepo(t, reg, "consumers"), "v1")
			got.check(t, twoPlatforms, twoPackages, twoForeign)
			for _, p := range twoPlatforms {
				if os := got.docs[p].os(); !slices.Equal(os, []string{"debian 12"}) {
					t.Errorf("%s: affix's SBOM names the operating system %q, want [debian 12]", p, os)
				}
			}
			ref := reg.Ref("consumers:v1")
			// want is each platform's SBOM as affix get prints it.
			want := map[string][]byte{}
			for _, p := range twoPlatforms {
				want[p] = []byte(e.ok(t, "get", "--insecure-registry", reg.Host, "--platform", p, ref).stdout)
			}

			t.Run("oras discover", func(t *testing.T) {
				// The index has no SBOM of its own: discovery goes through
				// its platforms.
				if subject, refs := orasDiscoverSPDX(t, "--plain-http", ref); subject != got.index.Digest.String() || len(refs) != 0 {
					t.Errorf("oras discover %s: %s with SPDX referrers %v, want index %s without", ref, subject, refs, got.index.Digest)
				}
				for _, p := range twoPlatforms {
					subject, refs := orasDiscoverSPDX(t, "--plain-http", "--platform", p, ref)
					if subject != got.manifests[p].Digest.String() || !slices.Equal(refs, []string{got.sboms[p].Digest.String()}) {
						t.Errorf("oras discover --platform %s %s: %s with %v, want %s with referrer %s", p, ref, subject, refs, got.manifests[p].Digest, got.sboms[p].Digest)
					}
				}
			})

			t.Run("regctl", func(t *testing.T) {
				regctl := toolBin(t, "regctl")
				env := append(os.Environ(), "REGCTL_CONFIG="+filepath.Join(t.TempDir(), "config.json"))
				runTool(t, env, regctl, "registry", "set", "--tls", "disabled", reg.Host)

				tree, b := regctlTree(t, env, ref)
				if len(tree.Referrer) != 0 || len(tree.Child) != len(twoPlatforms) {
					t.Errorf("regctl artifact tree %s: %d referrers of the index (want 0), %d children (want %d):\n%s", ref, len(tree.Referrer), len(tree.Child), len(twoPlatforms), b)
				}
				seen := map[string]bool{}
				for _, c := range tree.Child {
					for _, p := range twoPlatforms {
						if c.Reference.Digest != got.manifests[p].Digest.String() {
							continue
						}
						seen[p] = true
						if len(c.Referrer) != 1 || c.Referrer[0].Reference.Digest != got.sboms[p].Digest.String() || c.Referrer[0].ArtifactType != mediaTypeSPDX {
							t.Errorf("regctl artifact tree %s: %s has referrers %+v, want only %s (%s)", ref, p, c.Referrer, got.sboms[p].Digest, mediaTypeSPDX)
						}
					}
				}
				if len(seen) != len(twoPlatforms) {
					t.Errorf("regctl artifact tree %s shows platforms %v, want %v:\n%s", ref, seen, twoPlatforms, b)
				}

				for _, p := range twoPlatforms {
					sbom := runTool(t, env, regctl, "artifact", "get", "--subject", ref, "--platform", p,
						"--filter-artifact-type", mediaTypeSPDX, "--latest")
					if !bytes.Equal(sbom, want[p]) {
						t.Errorf("regctl artifact get --subject %s --platform %s: %d bytes differing from affix get's %d", ref, p, len(sbom), len(want[p]))
					}
				}
			})

			// cosign v3's tree lists the referrers of the digest it resolves
			// (referrers API, else the sha256-<hex> tag; on by default),
			// never those of an index's platforms, and has no --platform:
			// the tag shows nothing, each platform manifest its SPDX
			// referrer. cosign download sbom takes only referrers of
			// artifactType application/vnd.dev.cosign.artifact.sbom.v1+json
			// (what cosign attach sbom writes) or the legacy .sbom tag, so
			// it does not find affix's SBOMs (docs/registries.md).
			t.Run("cosign", func(t *testing.T) {
				cosign := toolBin(t, "cosign")
				env := append(os.Environ(), "HOME="+t.TempDir())
				out := string(runTool(t, env, cosign, "tree", "--allow-http-registry", ref))
				if refs := parseCosignTree(out); len(refs) != 0 || !strings.Contains(out, "No Supply Chain Security Related Artifacts found") {
					t.Errorf("cosign tree %s: referrers %+v, want none on the index:\n%s", ref, refs, out)
				}
				for _, p := range twoPlatforms {
					pref := reg.Ref("consumers@" + got.manifests[p].Digest.String())
					out := string(runTool(t, env, cosign, "tree", "--allow-http-registry", pref))
					layer := digest.FromBytes(want[p]).String()
					refs := parseCosignTree(out)
					if len(refs) != 1 || refs[0].ArtifactType != mediaTypeSPDX || refs[0].Digest != got.sboms[p].Digest.String() || !slices.Equal(refs[0].Layers, []string{layer}) {
						t.Errorf("cosign tree %s: referrers %+v, want only %s (%s) with layer %s:\n%s", pref, refs, got.sboms[p].Digest, mediaTypeSPDX, layer, out)
					}
					// A known limitation, asserted so that the docs stay true.
					cmd := exec.CommandContext(t.Context(), cosign, "download", "sbom", "--allow-http-registry", pref)
					cmd.Env = env
					if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "no sbom attached to reference") {
						t.Errorf("cosign download sbom %s: err %v, want \"no sbom attached to reference\" (does cosign take application/spdx+json referrers now? update docs/registries.md):\n%s", pref, err, tail(string(b), 2000))
					}
				}
			})

			// Trivy looks up the referrers of the digest it is given, so it
			// is given each platform manifest.
			t.Run("trivy", func(t *testing.T) {
				trivy, cache := toolBin(t, "trivy"), t.TempDir()
				for _, p := range twoPlatforms {
					trivyFindsSBOM(t, trivy, cache, reg.Ref("consumers@"+got.manifests[p].Digest.String()), "spdx", twoPackages[p])
				}
			})
		})
	}
}

// regctlNode is a node of `regctl artifact tree --format '{{json .}}'`.
type regctlNode struct {
	Reference struct {
		Digest string
	} `json:"reference"`
	ArtifactType string        `json:"artifactType"`
	Child        []regctlNode  `json:"child"`
	Referrer     []*regctlNode `json:"referrer"`
}

// referrers returns the digests of n's referrers, those of type at ("":
// all).
func (n regctlNode) referrers(at string) []string {
	var out []string
	for _, r := range n.Referrer {
		if at == "" || r.ArtifactType == at {
			out = append(out, r.Reference.Digest)
		}
	}
	return out
}

// cosignReferrer is an OCI referrer `cosign tree` lists: its artifactType,
// its manifest digest and the digests of its layers.
type cosignReferrer struct {
	ArtifactType, Digest string
	Layers               []string
}

// parseCosignTree returns the OCI referrers in `cosign tree` output, in the
// order printed (cosign prints from a map: the order varies). Layers of
// the legacy .sig/.att/.sbom tag entries are not attributed to any.
func parseCosignTree(out string) []cosignReferrer {
	const via = " artifacts via OCI referrer: "
	var refs []cosignReferrer
	cur := -1
	for line := range strings.Lines(out) {
		switch {
		case strings.Contains(line, via):
			at, ref, _ := strings.Cut(line, via)
			_, at, _ = strings.Cut(at, "🔗 ")
			_, dig, _ := strings.Cut(ref, "@")
			refs = append(refs, cosignReferrer{ArtifactType: strings.TrimSpace(at), Digest: strings.TrimSpace(dig)})
			cur = len(refs) - 1
		case strings.Contains(line, "🍒 "):
			if cur >= 0 {
				_, d, _ := strings.Cut(line, "🍒 ")
				refs[cur].Layers = append(refs[cur].Layers, strings.TrimSpace(d))
			}
		case strings.HasPrefix(line, "└── "):
			cur = -1 // a legacy tag entry (🔐 📦 💾)
		}
	}
	return refs
}

// regctlTree runs `regctl artifact tree --format '{{json .}}' ref` with env
// and returns the tree and the output.
func regctlTree(t *testing.T, env []string, ref string) (regctlNode, []byte) {
	t.Helper()
	b := runTool(t, env, toolBin(t, "regctl"), "artifact", "tree", "--format", "{{json .}}", ref)
	var tree regctlNode
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatalf("regctl artifact tree %s output: %v\n%s", ref, err, b)
	}
	return tree, b
}

// TestConsumersLayout: the SBOMs of the layout `affix build --output
// type=oci` writes are read by regctl (which reads only the referrers tag
// index sha256-<hex> of each platform manifest: `regctl artifact tree
// ocidir://DIR@DIGEST`) and by oras (which reads only the referrer
// manifests index.json lists: `oras discover --oci-layout`), each SBOM
// once; a rebuild writes the same index.json and tag indexes; `regctl image
// copy --referrers` from the layout carries the SBOMs to a registry. A
// referrer regctl adds to the layout and one `affix attach oci-layout:`
// adds after it both end up in the tag index (affix keeps regctl's entry),
// `affix ls` shows each once, and `affix push` publishes each once.
func TestConsumersLayout(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	e := newEnv(t, "SOURCE_DATE_EPOCH="+epoch)
	out := t.TempDir()
	layout, again := filepath.Join(out, "layout"), filepath.Join(out, "again")
	base := []string{"build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","), "-t", "example.com/affix/consumers:v1"}
	e.ok(t, append(base, "--output", "type=oci,dest="+layout+",tar=false", dir)...)
	store, err := orasoci.NewWithContext(t.Context(), layout)
	if err != nil {
		t.Fatal(err)
	}
	got := readBack(t, store, "v1")
	got.check(t, twoPlatforms, twoPackages, twoForeign)

	// index.json: the image, the SBOM manifests, then one referrers tag
	// index per platform, in platform order; a rebuild gives the same bytes.
	var idx ocispec.Index
	idxBytes := readFile(t, filepath.Join(layout, "index.json"))
	if err := json.Unmarshal(idxBytes, &idx); err != nil {
		t.Fatal(err)
	}
	if n := 1 + 2*len(twoPlatforms); len(idx.Manifests) != n {
		t.Fatalf("index.json lists %d entries, want %d: %s", len(idx.Manifests), n, idxBytes)
	}
	for i, p := range twoPlatforms {
		e := idx.Manifests[1+len(twoPlatforms)+i]
		if tag := "sha256-" + got.manifests[p].Digest.Encoded(); e.MediaType != ocispec.MediaTypeImageIndex || e.Annotations[ocispec.AnnotationRefName] != tag || len(e.Annotations) != 1 {
			t.Errorf("index.json entry %d: %+v, want the image index tagged %s (%s's referrers)", 1+len(twoPlatforms)+i, e, tag, p)
		}
	}
	e.ok(t, append(base, "--output", "type=oci,dest="+again+",tar=false", dir)...)
	if b := readFile(t, filepath.Join(again, "index.json")); string(b) != string(idxBytes) {
		t.Errorf("rebuild: index.json\n%s\nthen\n%s", idxBytes, b)
	}
	for _, m := range idx.Manifests[1+len(twoPlatforms):] {
		blob := filepath.Join("blobs", "sha256", m.Digest.Encoded())
		if a, b := readFile(t, filepath.Join(layout, blob)), readFile(t, filepath.Join(again, blob)); string(a) != string(b) {
			t.Errorf("rebuild: tag index %s differs", m.Digest)
		}
	}

	env := append(os.Environ(), "REGCTL_CONFIG="+filepath.Join(t.TempDir(), "config.json"))
	regctl := toolBin(t, "regctl")
	t.Run("regctl artifact tree", func(t *testing.T) {
		for _, p := range twoPlatforms {
			ref := "ocidir://" + layout + "@" + got.manifests[p].Digest.String()
			tree, b := regctlTree(t, env, ref)
			if refs := tree.referrers(""); !slices.Equal(refs, []string{got.sboms[p].Digest.String()}) || tree.Referrer[0].ArtifactType != mediaTypeSPDX {
				t.Errorf("regctl artifact tree %s: referrers %v, want only the SBOM %s (%s):\n%s", ref, refs, got.sboms[p].Digest, mediaTypeSPDX, b)
			}
		}
		ref := "ocidir://" + layout + ":v1"
		tree, b := regctlTree(t, env, ref)
		if len(tree.Referrer) != 0 || len(tree.Child) != len(twoPlatforms) {
			t.Errorf("regctl artifact tree %s: %d referrers of the index (want 0), %d children (want %d):\n%s", ref, len(tree.Referrer), len(tree.Child), len(twoPlatforms), b)
		}
	})

	t.Run("oras discover", func(t *testing.T) {
		for _, p := range twoPlatforms {
			subject, refs := orasDiscoverSPDX(t, "--oci-layout", "--platform", p, layout+":v1")
			if subject != got.manifests[p].Digest.String() || !slices.Equal(refs, []string{got.sboms[p].Digest.String()}) {
				t.Errorf("oras discover --oci-layout --platform %s %s:v1: %s with %v, want %s with the SBOM %s only", p, layout, subject, refs, got.manifests[p].Digest, got.sboms[p].Digest)
			}
		}
	})

	t.Run("regctl image copy --referrers", func(t *testing.T) {
		reg := registry(t, registrytest.Distribution)
		runTool(t, env, regctl, "registry", "set", "--tls", "disabled", reg.Host)
		runTool(t, env, regctl, "image", "copy", "--referrers", "ocidir://"+layout+":v1", reg.Ref("copied:v1"))
		copied := readBack(t, newRepo(t, reg, "copied"), "v1")
		for _, p := range twoPlatforms {
			if copied.sboms[p].Digest != got.sboms[p].Digest {
				t.Errorf("%s: copied SBOM %s, the layout has %s", p, copied.sboms[p].Digest, got.sboms[p].Digest)
			}
		}
	})

	t.Run("regctl artifact put, affix attach, affix push", func(t *testing.T) {
		// Not under t.TempDir(): regctl refuses an ocidir:// path with a
		// comma, which the subtest's name puts there.
		work, files := filepath.Join(out, "work"), filepath.Join(out, "files")
		if err := os.CopyFS(work, os.DirFS(layout)); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(files, 0o755); err != nil {
			t.Fatal(err)
		}
		vexFile, sigFile := filepath.Join(files, "vex.json"), filepath.Join(files, "sig.txt")
		for p, body := range map[string]string{vexFile: `{"vex":true}`, sigFile: "signature"} {
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		amd := got.manifests["linux/amd64"].Digest.String()
		subject := "ocidir://" + work + "@" + amd
		const vexType, sigType = "application/vnd.example.vex+json", "application/vnd.example.sig"
		runTool(t, env, regctl, "artifact", "put", "--subject", subject, "--artifact-type", vexType, "--file", vexFile, "--file-media-type", vexType)
		tree, _ := regctlTree(t, env, subject)
		vex := tree.referrers(vexType)
		if len(vex) != 1 {
			t.Fatalf("regctl artifact tree %s after regctl artifact put: VEX referrers %v", subject, vex)
		}
		sig := strings.TrimSpace(e.ok(t, "attach", "--artifact-type", sigType, "--platform", "linux/amd64", "oci-layout:"+work+":v1", sigFile).stdout)

		tree, b := regctlTree(t, env, subject)
		want := []string{got.sboms["linux/amd64"].Digest.String(), vex[0], sig}
		if refs := tree.referrers(""); !slices.Equal(refs, want) {
			t.Errorf("regctl artifact tree %s: referrers %v, want the SBOM, regctl's VEX document and affix's signature %v:\n%s", subject, refs, want, b)
		}
		var ls lsJSON
		if err := json.Unmarshal([]byte(e.ok(t, "ls", "--json", "oci-layout:"+work+":v1").stdout), &ls); err != nil {
			t.Fatal(err)
		}
		for _, c := range ls.Root.Children {
			if c.Platform != "linux/amd64" {
				continue
			}
			var refs []string
			for _, r := range c.Children {
				if r.Kind == "referrer" {
					refs = append(refs, r.Digest)
				}
			}
			if slices.Sort(refs); !slices.Equal(refs, slices.Sorted(slices.Values(want))) {
				t.Errorf("affix ls: linux/amd64 referrers %v, want each of %v once", refs, want)
			}
		}

		reg := registry(t, registrytest.OlaregNoAPI)
		meta := filepath.Join(t.TempDir(), "push.json")
		newEnv(t).ok(t, "push", "--insecure-registry", reg.Host, "--metadata-file", meta, "oci-layout:"+work+":v1", reg.Ref("layout-attached:v1"))
		var pm struct {
			LayoutReferrers []struct {
				Digest string `json:"digest"`
			} `json:"layoutReferrers"`
		}
		if err := json.Unmarshal(readFile(t, meta), &pm); err != nil {
			t.Fatal(err)
		}
		var pushed []string
		for _, r := range pm.LayoutReferrers {
			pushed = append(pushed, r.Digest)
		}
		if slices.Sort(pushed); !slices.Equal(pushed, slices.Sorted(slices.Values(want[1:]))) {
			t.Errorf("affix push: layout referrers %v, want the VEX document and the signature %v, once each", pushed, want[1:])
		}
		runTool(t, env, regctl, "registry", "set", "--tls", "disabled", reg.Host)
		ref := reg.Ref("layout-attached@" + amd)
		tree, b = regctlTree(t, env, ref)
		if refs := tree.referrers(""); !slices.Equal(slices.Sorted(slices.Values(refs)), slices.Sorted(slices.Values(want))) {
			t.Errorf("regctl artifact tree %s: referrers %v, want %v:\n%s", ref, refs, want, b)
		}
	})
}

// readFile returns the content of the file p.
func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConsumersCycloneDX: Trivy takes a CycloneDX referrer
// (`--sbom-format cyclonedx-json`, artifactType
// application/vnd.cyclonedx+json) as the image's SBOM too, through the
// referrers API and the referrers tag, and finds the operating system
// there (syft's operating-system component).
func TestConsumersCycloneDX(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	api, noapi := registry(t, registrytest.OlaregAPI), registry(t, registrytest.OlaregNoAPI)
	trivy := toolBin(t, "trivy")
	meta := filepath.Join(t.TempDir(), "metadata.json")
	e := newEnv(t, "SOURCE_DATE_EPOCH="+epoch)
	e.ok(t, "build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","), "--sbom-format", "cyclonedx-json",
		"--push", "-t", api.Ref("consumers-cdx:v1"), "-t", noapi.Ref("consumers-cdx:v1"),
		"--insecure-registry", api.Host, "--insecure-registry", noapi.Host, "--metadata-file", meta, dir)
	m := readMeta(t, meta)
	for _, reg := range []*registrytest.Registry{api, noapi} {
		t.Run(string(reg.Kind), func(t *testing.T) {
			cache := t.TempDir()
			for _, p := range m.Platforms {
				if refs := in(p.Referrers, reg.Ref("consumers-cdx")); len(refs) != 1 || refs[0].ArtifactType != mediaTypeCycloneDX {
					t.Fatalf("%s: referrers %+v, want one %s in %s", p.Platform, p.Referrers, mediaTypeCycloneDX, reg.Ref("consumers-cdx"))
				}
				trivyFindsSBOM(t, trivy, cache, reg.Ref("consumers-cdx@"+p.Digest), "cyclonedx", twoPackages[p.Platform])
			}
		})
	}
}

// trivyFindsSBOM runs `trivy image --sbom-sources oci` on image (a
// platform manifest by digest) and checks that Trivy took its SBOM
// referrer of type typ ("spdx", "cyclonedx") instead of reading the
// layers, found the operating system (Debian 12, what it needs to scan OS
// packages) and the packages want. --format spdx-json reports what Trivy
// read without a vulnerability database (none can be downloaded here).
func trivyFindsSBOM(t *testing.T, trivy, cache, image, typ string, want []pkg) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), trivy, "image", "--cache-dir", cache, "--image-src", "remote",
		"--sbom-sources", "oci", "--format", "spdx-json", "--offline-scan", "--skip-version-check", "--disable-telemetry", image)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("trivy image %s: %v\n%s", image, err, tail(errb.String(), 4000))
	}
	if !strings.Contains(errb.String(), "Found SBOM in the OCI referrers") || !strings.Contains(errb.String(), `type="`+typ+`"`) {
		t.Errorf("trivy image --sbom-sources oci %s did not take the %s referrer:\n%s", image, typ, errb.String())
	}
	doc := &spdxDoc{}
	if err := json.Unmarshal(out.Bytes(), doc); err != nil {
		t.Fatalf("trivy output: %v\n%s", err, tail(out.String(), 2000))
	}
	if os := doc.os(); !slices.Equal(os, []string{"debian 12"}) {
		t.Errorf("trivy image %s: operating system %q, want [debian 12]; log:\n%s", image, os, errb.String())
	}
	for _, w := range want {
		if !doc.has(w) {
			t.Errorf("trivy image %s: package %s %s missing; has %v", image, w.name, w.version, doc.names())
		}
	}
}

// orasDiscoverSPDX runs `oras discover --format json --artifact-type
// application/spdx+json ARGS...` and returns the digest of the subject it
// resolved and those of its SPDX referrers.
func orasDiscoverSPDX(t *testing.T, args ...string) (string, []string) {
	t.Helper()
	b := runTool(t, nil, toolBin(t, "oras"), append([]string{"discover", "--format", "json", "--artifact-type", mediaTypeSPDX}, args...)...)
	var out struct {
		Digest    string `json:"digest"`
		Referrers []struct {
			Digest string `json:"digest"`
		} `json:"referrers"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("oras discover %s: output: %v\n%s", strings.Join(args, " "), err, b)
	}
	var refs []string
	for _, r := range out.Referrers {
		refs = append(refs, r.Digest)
	}
	return out.Digest, refs
}

// runTool runs a client tool with env (nil: the test's own) and returns
// its standard output; it fails t when the tool fails.
func runTool(t *testing.T, env []string, bin string, args ...string) []byte {
	t.Helper()
	return runToolCmd(t, exec.CommandContext(t.Context(), bin, args...), env)
}

// runToolIn runs a client tool in the directory dir, as runTool does.
func runToolIn(t *testing.T, dir, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = dir
	return runToolCmd(t, cmd, nil)
}

func runToolCmd(t *testing.T, cmd *exec.Cmd, env []string) []byte {
	t.Helper()
	bin, args := cmd.Path, cmd.Args[1:]
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), strings.Join(args, " "), err, tail(out.String(), 2000), tail(errb.String(), 4000))
	}
	return out.Bytes()
}

// cosignKey is a cosign key pair, with what cosign needs to sign and
// verify offline (no transparency log, no Fulcio).
type cosignKey struct {
	bin, dir string
	env      []string
}

// newCosignKey generates a key pair with cosign (an empty password) and
// a signing config without services.
func newCosignKey(t *testing.T) *cosignKey {
	t.Helper()
	k := &cosignKey{bin: toolBin(t, "cosign"), dir: t.TempDir()}
	k.env = append(os.Environ(), "HOME="+t.TempDir(), "COSIGN_PASSWORD=")
	runToolCmd(t, k.cmd(t, "generate-key-pair"), k.env)
	runToolCmd(t, k.cmd(t, "signing-config", "create", "--out", "signing-config.json"), k.env)
	return k
}

// cmd is cosign with args, run in k's directory.
func (k *cosignKey) cmd(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), k.bin, args...)
	cmd.Dir = k.dir
	return cmd
}

// sign signs ref (REPO@DIGEST) with cosign sign: a sigstore bundle
// referrer of ref.
func (k *cosignKey) sign(t *testing.T, ref string) {
	t.Helper()
	runToolCmd(t, k.cmd(t, "sign", "--yes", "--key", "cosign.key", "--signing-config", "signing-config.json", "--allow-http-registry", ref), k.env)
}

// verify checks, with cosign verify, that ref has a signature by k.
func (k *cosignKey) verify(t *testing.T, ref string) {
	t.Helper()
	runToolCmd(t, k.cmd(t, "verify", "--key", "cosign.pub", "--insecure-ignore-tlog", "--allow-http-registry", ref), k.env)
}
