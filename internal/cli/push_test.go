package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/sbomgen"
)

// affix runs the command tree in-process and returns stdout, stderr and
// the exit code.
func affix(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), "affix", args, &out, &errb)
	return out.String(), errb.String(), code
}

// cliEnv isolates Docker credentials and shares one SBOM cache across a
// test's subtests.
func cliEnv(t *testing.T) {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("AFFIX_CACHE_DIR", t.TempDir())
}

// pushFixture writes the Standard fixture with BuildKit-style attestations
// (the Go binaries are compiled once per test binary).
func pushFixture(t *testing.T) (string, *fixture.Result) {
	t.Helper()
	spec, err := fixture.Standard(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	spec.Attestations = true
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	return dir, res
}

func registries(t *testing.T) []*registrytest.Registry {
	var out []*registrytest.Registry
	for _, k := range registrytest.Kinds {
		if k == registrytest.DistributionV3 {
			r, err := registrytest.Launch(context.Background(), k, registrytest.Options{})
			if err != nil {
				continue
			}
			t.Cleanup(func() { r.Close() })
			out = append(out, r)
			continue
		}
		out = append(out, registrytest.Start(t, k, registrytest.Options{}))
	}
	return out
}

func readMeta(t *testing.T, path string) pushMetadata {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m pushMetadata
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPushCommand pushes the Standard fixture with `affix push` to every
// registry kind and reads it back with oras-go, `affix ls` and `affix
// get`; the SBOM referrers equal `affix sbom` of each platform.
func TestPushCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs registries")
	}
	cliEnv(t)
	dir, res := pushFixture(t)
	for _, reg := range registries(t) {
		t.Run(string(reg.Kind), func(t *testing.T) {
			ref := reg.Host + "/app:v1"
			metaPath := filepath.Join(t.TempDir(), "meta.json")
			out, errs, code := affix(t, "push", "--insecure-registry", reg.Host, "--metadata-file", metaPath, "oci-layout:"+dir, ref)
			if code != 0 {
				t.Fatalf("push: %d\n%s%s", code, out, errs)
			}
			meta := readMeta(t, metaPath)
			mode := "tag-schema"
			if reg.Referrers {
				mode = "api"
			}
			if meta.Index == nil || meta.Index.Digest != res.Index.Digest || string(meta.ReferrersMode[reg.Host+"/app"]) != mode {
				t.Fatalf("metadata: %+v", meta)
			}
			// The index's HEAD (absent); 11 blobs (7 image: the upper
			// layer is the same on both platforms; 4 attestation), 4
			// manifests; SBOMs: the empty config, 2 documents, 2
			// manifests; the tag. Without the API, per SBOM a GET and
			// PUT of the referrers tag and two verify GETs.
			want := map[string]int{"HEAD": 1 + 14, "POST": 14, "PUT": 21}
			if !reg.Referrers {
				want = map[string]int{"HEAD": 1 + 14, "POST": 14, "PUT": 23, "GET": 6}
			}
			if formatCounts(meta.Requests) != formatCounts(want) {
				t.Errorf("requests %v, want %v", meta.Requests, want)
			}
			if len(meta.Platforms) != 2 {
				t.Fatalf("platforms %+v", meta.Platforms)
			}
			repo := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: "app"}, PlainHTTP: true}
			sboms := map[string]string{}
			for i, p := range meta.Platforms {
				if len(p.Referrers) != 1 || p.Digest != res.Manifests[i].Digest {
					t.Fatalf("platform %+v", p)
				}
				m := res.Manifests[i]
				var refs []ocispec.Descriptor
				if err := repo.Referrers(context.Background(), m, oci.MediaTypeSPDX, func(r []ocispec.Descriptor) error {
					refs = append(refs, r...)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if len(refs) != 1 || refs[0].Digest != p.Referrers[0].Digest {
					t.Fatalf("oras: referrers of %s: %v", p.Platform, refs)
				}
				mb, err := content.FetchAll(context.Background(), repo, refs[0])
				if err != nil {
					t.Fatal(err)
				}
				var man ocispec.Manifest
				json.Unmarshal(mb, &man)
				if len(man.Layers) != 1 || man.Layers[0].MediaType != oci.MediaTypeSPDX {
					t.Fatalf("referrer manifest %s", mb)
				}
				doc, err := content.FetchAll(context.Background(), repo, man.Layers[0])
				if err != nil {
					t.Fatal(err)
				}
				local, errs, code := affix(t, "sbom", "--platform", p.Platform, "--name", ref, "oci-layout:"+dir)
				if code != 0 {
					t.Fatalf("sbom: %s", errs)
				}
				if local != string(doc) {
					t.Errorf("%s: referrer SBOM differs from `affix sbom`", p.Platform)
				}
				sboms[p.Platform] = string(doc)
			}

			// affix get prints the same document.
			got, errs, code := affix(t, "get", "--insecure-registry", reg.Host, "--platform", "linux/arm64", ref)
			if code != 0 || got != sboms["linux/arm64"] {
				t.Fatalf("get: %d %s", code, errs)
			}

			// A rerun uploads nothing and adds no referrer.
			meta2Path := filepath.Join(t.TempDir(), "meta.json")
			if _, errs, code := affix(t, "push", "--insecure-registry", reg.Host, "--metadata-file", meta2Path, "oci-layout:"+dir, ref); code != 0 {
				t.Fatalf("rerun: %s", errs)
			}
			meta2 := readMeta(t, meta2Path)
			if meta2.Requests["POST"] != 0 || meta2.Platforms[0].Referrers[0].Digest != meta.Platforms[0].Referrers[0].Digest {
				t.Errorf("rerun: %+v", meta2)
			}

			// attach: CycloneDX SBOMs scanned through the registry, and a
			// signature on one platform; the tag does not move.
			if _, errs, code := affix(t, "attach", "--insecure-registry", reg.Host, "--sbom-format", "cyclonedx-json", ref); code != 0 {
				t.Fatalf("attach scan: %s", errs)
			}
			sig := filepath.Join(t.TempDir(), "sig.json")
			os.WriteFile(sig, []byte(`{"signature":"fixture"}`), 0o644)
			out, errs, code = affix(t, "attach", "--insecure-registry", reg.Host, "--artifact-type", "application/vnd.example.sig+json",
				"--annotation", "org.example.signer=test", "--platform", "linux/amd64", ref, sig)
			if code != 0 || !strings.HasPrefix(out, "sha256:") {
				t.Fatalf("attach file: %d %q %s", code, out, errs)
			}
			sigDigest := strings.TrimSpace(out)

			// ls shows the tree.
			out, errs, code = affix(t, "ls", "--json", "--insecure-registry", reg.Host, ref)
			if code != 0 {
				t.Fatalf("ls: %s", errs)
			}
			var tree discover.Tree
			if err := json.Unmarshal([]byte(out), &tree); err != nil {
				t.Fatal(err)
			}
			if tree.Root.Digest != res.Index.Digest || string(tree.ReferrersMode) != mode || len(tree.Root.Children) != 2 {
				t.Fatalf("ls: %s", out)
			}
			for _, pl := range tree.Root.Children {
				types := map[string]int{}
				for _, c := range pl.Children {
					types[c.Kind+" "+c.ArtifactType]++
					if c.Kind == "referrer" && c.ArtifactType == "application/vnd.example.sig+json" && c.Digest.String() != sigDigest {
						t.Errorf("signature digest %s, attach printed %s", c.Digest, sigDigest)
					}
				}
				want := map[string]int{"referrer " + oci.MediaTypeSPDX: 1, "referrer " + oci.MediaTypeCycloneDX: 1, "attestation ": 1}
				if pl.Platform == "linux/amd64" {
					want["referrer application/vnd.example.sig+json"] = 1
				}
				if len(types) != len(want) {
					t.Errorf("%s: %v, want %v", pl.Platform, types, want)
				}
				for k, v := range want {
					if types[k] != v {
						t.Errorf("%s: %v, want %v", pl.Platform, types, want)
					}
				}
			}
			text, _, _ := affix(t, "ls", "--insecure-registry", reg.Host, ref)
			if !strings.Contains(text, "linux/arm64") || !strings.Contains(text, "application/vnd.cyclonedx+json") {
				t.Errorf("ls:\n%s", text)
			}
			if d, _, _, err := (func() (ocispec.Descriptor, []byte, string, error) {
				desc, err := repo.Resolve(context.Background(), "v1")
				return desc, nil, "", err
			})(); err != nil || d.Digest != res.Index.Digest {
				t.Errorf("tag moved to %s (%v)", d.Digest, err)
			}
		})
	}
}

// TestPushFormatsRequests: with two --sbom-format values, on a registry
// without the referrers API (olareg), push and attach write each
// platform's referrers index once for both SBOMs: one GET and one PUT of
// the referrers tag and two verify GETs per platform, not per SBOM. (One
// round per SBOM cost push 73 requests, GET 12 and PUT 29; attach PUT 13.)
func TestPushFormatsRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs a registry")
	}
	cliEnv(t)
	dir, _ := pushFixture(t)
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	formats := []string{"--sbom-format", "spdx-json", "--sbom-format", "cyclonedx-json"}
	metaPath := filepath.Join(t.TempDir(), "meta.json")
	args := append([]string{"push", "--insecure-registry", reg.Host, "--metadata-file", metaPath}, formats...)
	if out, errs, code := affix(t, append(args, "oci-layout:"+dir, reg.Host+"/app:v1")...); code != 0 {
		t.Fatalf("push: %d\n%s%s", code, out, errs)
	}
	meta := readMeta(t, metaPath)
	// The index's HEAD (absent); 16 blobs (11 of the image as in
	// TestPushCommand, the empty config, 4 documents), 4 image and 4
	// referrer manifests, per platform one PUT of the referrers tag for
	// both SBOMs, the tag; per platform one GET of the referrers tag
	// (404) and two verify GETs.
	want := map[string]int{"HEAD": 1 + 16, "POST": 16, "PUT": 16 + 4 + 4 + 2 + 1, "GET": 6}
	if formatCounts(meta.Requests) != formatCounts(want) {
		t.Errorf("push requests %v, want %v", meta.Requests, want)
	}
	for _, p := range meta.Platforms {
		if len(p.Referrers) != 2 || p.Referrers[0].Format != "cyclonedx-json" || p.Referrers[1].Format != "spdx-json" {
			t.Errorf("%s: referrers %+v", p.Platform, p.Referrers)
		}
		if got := referrersTagEntries(t, reg, "app", p.Digest); got != 2 {
			t.Errorf("%s: referrers tag lists %d entries, want 2", p.Platform, got)
		}
	}

	// attach: the same through the registry, to an image without SBOMs.
	if out, errs, code := affix(t, "push", "--insecure-registry", reg.Host, "--no-sbom", "oci-layout:"+dir, reg.Host+"/bare:v1"); code != 0 {
		t.Fatalf("push: %d\n%s%s", code, out, errs)
	}
	args = append([]string{"attach", "--insecure-registry", reg.Host, "--metadata-file", metaPath}, formats...)
	if out, errs, code := affix(t, append(args, reg.Host+"/bare:v1")...); code != 0 {
		t.Fatalf("attach: %d\n%s%s", code, out, errs)
	}
	meta = readMeta(t, metaPath)
	// Blobs: the empty config and 4 documents; PUTs: those, 4 referrer
	// manifests and one referrers tag per platform. (The GETs that read
	// the image depend on the SBOM cache; not counted here.)
	for m, n := range map[string]int{"HEAD": 5, "POST": 5, "PUT": 5 + 4 + 2} {
		if meta.Requests[m] != n {
			t.Errorf("attach: %d %s, want %d (all: %v)", meta.Requests[m], m, n, meta.Requests)
		}
	}
	for _, p := range meta.Platforms {
		if got := referrersTagEntries(t, reg, "bare", p.Digest); got != 2 {
			t.Errorf("attach: %s: referrers tag lists %d entries, want 2", p.Platform, got)
		}
	}
}

// referrersTagEntries returns how many entries the referrers tag of
// subject in repo lists.
func referrersTagEntries(t *testing.T, reg *registrytest.Registry, repo string, subject digest.Digest) int {
	t.Helper()
	r := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: repo}, PlainHTTP: true}
	_, rc, err := r.Manifests().FetchReference(context.Background(), exporter.ReferrersTag(subject))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var idx ocispec.Index
	if err := json.NewDecoder(rc).Decode(&idx); err != nil {
		t.Fatal(err)
	}
	return len(idx.Manifests)
}

// TestLoopbackNeedsNoFlag pushes to, lists and reads from a plain-HTTP
// registry on this machine with no --insecure-registry, as docker and
// BuildKit do, by either name of the host; the push makes the requests
// it makes with the flag.
func TestLoopbackNeedsNoFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs a registry")
	}
	cliEnv(t)
	dir, res := pushFixture(t)
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	_, port, _ := strings.Cut(reg.Host, ":")
	for i, host := range []string{reg.Host, "localhost:" + port} {
		t.Run(host, func(t *testing.T) {
			ref := fmt.Sprintf("%s/noflag%d:v1", host, i)
			metaPath := filepath.Join(t.TempDir(), "meta.json")
			if out, errs, code := affix(t, "push", "--metadata-file", metaPath, "oci-layout:"+dir, ref); code != 0 {
				t.Fatalf("push: %d\n%s%s", code, out, errs)
			}
			want := map[string]int{"HEAD": 1 + 14, "POST": 14, "PUT": 23, "GET": 6} // as TestPushCommand's
			if meta := readMeta(t, metaPath); formatCounts(meta.Requests) != formatCounts(want) {
				t.Errorf("requests %v, want %v", meta.Requests, want)
			}
			out, errs, code := affix(t, "ls", "--json", ref)
			if code != 0 || !strings.Contains(out, res.Manifests[1].Digest.String()) {
				t.Fatalf("ls: %d\n%s%s", code, out, errs)
			}
			if _, errs, code := affix(t, "get", "--verify", "--platform", "linux/arm64", ref); code != 0 {
				t.Fatalf("get: %d\n%s", code, errs)
			}
		})
	}
}

// TestPushNoSBOMFlags: a flag that shapes the SBOMs, beside --no-sbom or
// --sbom=false, would be ignored: it is a usage error naming both, before
// the layout is opened or an earlier --metadata-file removed, as affix
// build refuses --sbom-format with --sbom=false. Without them, or with
// SBOMs on, the same flags pass that check.
func TestPushNoSBOMFlags(t *testing.T) {
	cliEnv(t)
	tests := []struct {
		flags []string
		want  string // "" when the flags are accepted
	}{
		{[]string{"--no-sbom", "--sbom-format", "cyclonedx-json"}, "--sbom-format with --no-sbom: no SBOM is generated"},
		{[]string{"--no-sbom", "--name", "r.example/a"}, "--name with --no-sbom"},
		{[]string{"--no-sbom", "--no-cache"}, "--no-cache with --no-sbom"},
		{[]string{"--no-sbom", "--no-sbom-cache"}, "--no-sbom-cache with --no-sbom"},
		{[]string{"--sbom=false", "--sbom-format", "spdx-json"}, "--sbom-format with --sbom=false"},
		{[]string{"--sbom=false", "--no-cache=false"}, "--no-cache with --sbom=false"},
		{[]string{"--no-sbom", "--sbom=true"}, "--sbom=true asks for SBOMs and --no-sbom for none"},
		{[]string{"--no-sbom"}, ""},
		{[]string{"--sbom=false", "--strip-attestations"}, ""},
		{[]string{"--sbom-format", "cyclonedx-json", "--name", "r.example/a", "--no-cache"}, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.flags, " "), func(t *testing.T) {
			meta := filepath.Join(t.TempDir(), "meta.json")
			if err := os.WriteFile(meta, []byte("{}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"push", "--metadata-file", meta}, tt.flags...)
			_, errs, code := affix(t, append(args, "oci-layout:"+filepath.Join(t.TempDir(), "none"), "localhost:5000/app:v1")...)
			if tt.want == "" {
				// Accepted: the push goes on, and fails on the missing
				// layout (a usage error of its own, found before the
				// earlier metadata file is removed too).
				if code != 2 || strings.Contains(errs, " with --") || !strings.Contains(errs, "none") {
					t.Errorf("exit %d, want 2 for the missing layout:\n%s", code, errs)
				}
				if _, err := os.Stat(meta); err != nil {
					t.Errorf("the earlier --metadata-file after a missing layout: %v", err)
				}
				return
			}
			if code != 2 || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, want 2 and %q:\n%s", code, tt.want, errs)
			}
			if _, err := os.Stat(meta); err != nil {
				t.Errorf("the earlier --metadata-file: %v", err)
			}
		})
	}
}

// TestSBOMDocName: the image name each format's document gives, read to
// note layout SBOMs that name another repository than REF.
func TestSBOMDocName(t *testing.T) {
	spdx, cdx, intoto := referrerFormat{doc: sbomgen.SPDXJSON}, referrerFormat{doc: sbomgen.CycloneDXJSON}, referrerFormat{doc: sbomgen.SPDXJSON, inToto: true}
	tests := []struct {
		f    referrerFormat
		data string
		want string
	}{
		{spdx, `{"spdxVersion":"SPDX-2.3","name":"r.example/build@sha256:ab"}`, "r.example/build"},
		{spdx, `{"name":"image"}`, "image"},
		{cdx, `{"metadata":{"component":{"name":"r.example/build"}}}`, "r.example/build"},
		{intoto, `{"subject":[{"name":"r.example/build","digest":{"sha256":"ab"}}]}`, "r.example/build"},
		{intoto, `{"subject":[]}`, ""},
		{cdx, `{}`, ""},
		{spdx, `not json`, ""},
	}
	for _, tt := range tests {
		if got := sbomDocName(tt.f, []byte(tt.data)); got != tt.want {
			t.Errorf("sbomDocName(%s, %s) = %q, want %q", tt.f, tt.data, got, tt.want)
		}
	}
}

// TestInFormatOrder: the summary lists each platform's SBOMs in the order
// of --sbom-format, not by format name; the metadata keeps its order.
func TestInFormatOrder(t *testing.T) {
	spdx, cdx, intoto := referrerFormat{doc: sbomgen.SPDXJSON}, referrerFormat{doc: sbomgen.CycloneDXJSON}, referrerFormat{doc: sbomgen.SPDXJSON, inToto: true}
	logged := []string{"cyclonedx-json", "spdx-intoto", "spdx-json"} // the log's order
	tests := []struct {
		formats []referrerFormat
		want    []string
	}{
		{[]referrerFormat{spdx, cdx, intoto}, []string{"spdx-json", "cyclonedx-json", "spdx-intoto"}},
		{[]referrerFormat{intoto, spdx, cdx}, []string{"spdx-intoto", "spdx-json", "cyclonedx-json"}},
		{[]referrerFormat{cdx, intoto, spdx}, logged},
		{[]referrerFormat{spdx}, []string{"spdx-json", "cyclonedx-json", "spdx-intoto"}}, // others after, as logged
	}
	for _, tt := range tests {
		p := platformMeta{}
		for _, f := range logged {
			p.Referrers = append(p.Referrers, referrerMeta{Format: f})
		}
		m := &pushMetadata{Platforms: []platformMeta{p}}
		formatsOf := func(m *pushMetadata) []string {
			var out []string
			for _, r := range m.Platforms[0].Referrers {
				out = append(out, r.Format)
			}
			return out
		}
		if got := formatsOf(inFormatOrder(m, tt.formats)); !slices.Equal(got, tt.want) {
			t.Errorf("formats %v: order %v, want %v", tt.formats, got, tt.want)
		}
		if got := formatsOf(m); !slices.Equal(got, logged) {
			t.Errorf("formats %v: the metadata's order became %v", tt.formats, got)
		}
	}
}
