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

	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/internal/sbomtest"
)

// TestGetReferrer: --referrer takes the one manifest it names, wherever
// ls shows it (a platform's referrers, the index's, a BuildKit
// attestation of the index, cosign's .sbom tag), in its own format unless
// --format says one, with and without the referrers API; --verify checks
// it against the manifest it is attached to; a digest that is not one of
// them, or names no SBOM, is an error saying so.
func TestGetReferrer(t *testing.T) {
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
			ref := reg.Ref("app") + ":v1"
			meta := filepath.Join(t.TempDir(), "meta.json")
			mustAffix(t, slices.Concat([]string{"push", "--sbom-format", "spdx-json", "--sbom-format", "cyclonedx-json", "--metadata-file", meta}, insecure, []string{"oci-layout:" + dir, ref})...)
			sbom := map[string]digest.Digest{} // "platform format" → referrer
			for _, p := range readMeta(t, meta).Platforms {
				for _, r := range p.Referrers {
					sbom[p.Platform+" "+r.Format] = r.Digest
				}
			}
			get := func(args ...string) string { return mustAffix(t, slices.Concat([]string{"get"}, insecure, args)...) }
			amdSPDX := get("--platform", "linux/amd64", ref)
			amdCDX := get("--platform", "linux/amd64", "--format", "cyclonedx-json", ref)
			armSPDX := get("--platform", "linux/arm64", ref)

			// Older than push's: get without --referrer takes push's.
			older := map[string]string{ocispec.AnnotationCreated: "2000-01-01T00:00:00Z"}
			wrong := attachForeign(t, reg, "app", amd, foreignReferrer{artifactType: oci.MediaTypeSPDX, annotations: older,
				layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: []byte(armSPDX)}}})
			sig := attachForeign(t, reg, "app", amd, foreignReferrer{artifactType: "application/vnd.example.sig+json",
				layers: []foreignLayer{{mediaType: "application/vnd.example.sig+json", data: []byte(`{"sig":1}`)}}})
			prov := attachForeign(t, reg, "app", amd, foreignReferrer{artifactType: oci.MediaTypeInToto,
				layers:      []foreignLayer{{mediaType: oci.MediaTypeInToto, data: sbomtest.Statement(t, "https://slsa.dev/provenance/v1", amd.Digest, `{}`)}},
				annotations: map[string]string{oci.AnnotationPredicateType: "https://slsa.dev/provenance/v1"}})
			// amd64's SBOM, attached to the index (oras attach REF:TAG).
			ofIndex := attachForeign(t, reg, "app", res.Index, foreignReferrer{artifactType: oci.MediaTypeSPDX,
				layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: []byte(amdSPDX)}}})
			// cosign attach sbom's tag of arm64.
			tag := cosignTag(t, arm.Digest, "sbom")
			cosign := attachForeign(t, reg, "app", arm, foreignReferrer{tag: tag, configType: ocispec.MediaTypeImageConfig,
				layers: []foreignLayer{{mediaType: "text/spdx+json", data: []byte(armSPDX)}}})
			// A BuildKit-style attestation of amd64 holding CycloneDX only:
			// a broken statement (skipped with a note), then a good one.
			cdxPT := map[string]string{oci.AnnotationPredicateType: "https://cyclonedx.org/bom"}
			cdxAtt := attachForeign(t, reg, "app", amd, foreignReferrer{artifactType: oci.ArtifactTypeBuildKitAttestation,
				layers: []foreignLayer{{mediaType: oci.MediaTypeInToto, annotations: cdxPT, data: []byte("not a statement")},
					{mediaType: oci.MediaTypeInToto, annotations: cdxPT, data: sbomtest.Statement(t, "https://cyclonedx.org/bom", amd.Digest, amdCDX)}}})
			bk := pushBuildKitStyle(t, reg, "bk")
			bkAtt := bk.Attestations[0].Digest

			out := t.TempDir()
			for _, tt := range []struct {
				name   string
				args   []string // after get and the registry flags
				code   int
				stdout string   // "*": any JSON document
				stderr []string // substrings
			}{
				{"push's SPDX, no --platform", []string{"--referrer", sbom["linux/amd64 spdx-json"].String(), ref}, 0, amdSPDX, nil},
				{"an older SPDX", []string{"--platform", "linux/amd64", "--referrer", wrong.Digest.String(), ref}, 0, armSPDX, nil},
				{"CycloneDX in its own format", []string{"--referrer", sbom["linux/amd64 cyclonedx-json"].String(), ref}, 0, amdCDX, nil},
				{"CycloneDX, --format spdx-json", []string{"--format", "spdx-json", "--referrer", sbom["linux/amd64 cyclonedx-json"].String(), ref}, 1, "",
					[]string{ref + " (linux/amd64): referrer " + sbom["linux/amd64 cyclonedx-json"].String() + " (application/vnd.cyclonedx+json) holds no spdx-json document", "--format cyclonedx-json"}},
				// Probing the formats --format did not name prints no note
				// on them ("... holds a cyclonedx-json document: taken").
				{"BuildKit attestation, --format cyclonedx-json", []string{"--format", "cyclonedx-json", "--referrer", bkAtt.String(), reg.Ref("bk") + ":v1"}, 1, "",
					[]string{"is a spdx-json SBOM, not cyclonedx-json: --format spdx-json"}},
				// Probing CycloneDX, which --format did not name, notes
				// nothing about its layers.
				{"attestation of CycloneDX, --format spdx-json", []string{"--format", "spdx-json", "--referrer", cdxAtt.Digest.String(), ref}, 1, "",
					[]string{"is a cyclonedx-json SBOM, not spdx-json: --format cyclonedx-json"}},
				{"CycloneDX, --format cyclonedx-json", []string{"--format", "cyclonedx-json", "--verify", "--referrer", sbom["linux/amd64 cyclonedx-json"].String(), ref}, 0, amdCDX,
					[]string{"verified: SBOM " + sbom["linux/amd64 cyclonedx-json"].String() + " describes " + amd.Digest.String()}},
				{"verified", []string{"--verify", "--referrer", sbom["linux/arm64/v8 spdx-json"].String(), ref}, 0, armSPDX,
					[]string{"verified: SBOM " + sbom["linux/arm64/v8 spdx-json"].String() + " describes " + arm.Digest.String()}},
				{"verify fails", []string{"--verify", "--referrer", wrong.Digest.String(), ref}, 1, "",
					[]string{discover.ErrNotVerified.Error() + ": " + ref + " (linux/amd64): SBOM referrer " + wrong.Digest.String(), "describes image " + arm.Digest.String() + ", not the platform manifest " + amd.Digest.String()}},
				{"another platform's", []string{"--platform", "linux/amd64", "--referrer", sbom["linux/arm64/v8 spdx-json"].String(), ref}, 1, "",
					[]string{ref + ": no referrer " + sbom["linux/arm64/v8 spdx-json"].String() + ": linux/amd64 " + amd.Digest.String() + " has ",
						"application/spdx+json " + sbom["linux/amd64 spdx-json"].String(), "application/vnd.example.sig+json " + sig.Digest.String(),
						"; the index " + res.Index.Digest.String() + " has application/spdx+json " + ofIndex.Digest.String()}},
				{"not an SBOM", []string{"--referrer", sig.Digest.String(), ref}, 1, "",
					[]string{ref + " (linux/amd64): referrer " + sig.Digest.String() + ` (application/vnd.example.sig+json) is not an SBOM: its artifact type "application/vnd.example.sig+json" is none that get reads`}},
				{"provenance", []string{"--referrer", prov.Digest.String(), ref}, 1, "",
					[]string{"referrer " + prov.Digest.String() + " (" + oci.MediaTypeInToto + `) is not a usable SBOM: spdx-json: predicate type "https://slsa.dev/provenance/v1" is not https://spdx.dev/Document`}},
				{"SBOM of the index", []string{"--referrer", ofIndex.Digest.String(), ref}, 0, amdSPDX,
					[]string{ref + " (index): referrer " + ofIndex.Digest.String() + " (application/spdx+json) is attached to the index " + res.Index.Digest.String() + ", the whole image (--verify checks it against the index)"}},
				{"SBOM of the index verified against the index", []string{"--verify", "--referrer", ofIndex.Digest.String(), ref}, 1, "",
					[]string{discover.ErrNotVerified.Error() + ": " + ref + " (index): ", "describes image " + amd.Digest.String() + ", not the index " + res.Index.Digest.String()}},
				{"SBOM of the index for amd64", []string{"--verify", "--platform", "linux/amd64", "--referrer", ofIndex.Digest.String(), ref}, 0, amdSPDX,
					[]string{"is attached to the index " + res.Index.Digest.String(), "verified: SBOM " + ofIndex.Digest.String() + " describes " + amd.Digest.String()}},
				{"SBOM of the index is not arm64's", []string{"--platform", "linux/arm64", "--referrer", ofIndex.Digest.String(), ref}, 1, "",
					[]string{"of the index " + res.Index.Digest.String() + " is no SBOM of linux/arm64/v8: it describes image " + amd.Digest.String()}},
				{"cosign's tag", []string{"--verify", "--referrer", cosign.Digest.String(), ref}, 0, armSPDX,
					[]string{"verified: SBOM " + cosign.Digest.String() + " describes " + arm.Digest.String()}},
				{"BuildKit attestation", []string{"--verify", "--referrer", bkAtt.String(), reg.Ref("bk") + ":v1"}, 0, "*",
					[]string{"verified: SBOM " + bkAtt.String() + " describes " + bk.Manifests[0].Digest.String()}},
				{"-o DIR in its format", []string{"-o", out, "--referrer", sbom["linux/amd64 cyclonedx-json"].String(), ref}, 0, "",
					[]string{filepath.Join(out, "linux-amd64.cdx.json")}},
				{"malformed", []string{"--referrer", "sha256:abc", ref}, 2, "", []string{`--referrer "sha256:abc": want the full digest`}},
				{"no digest", []string{"--referrer", "abc", ref}, 2, "", []string{`--referrer "abc": want the full digest`}},
				{"with --all-platforms", []string{"--all-platforms", "-o", out, "--referrer", wrong.Digest.String(), ref}, 2, "",
					[]string{"--referrer takes one SBOM, --all-platforms one per platform"}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					got, errs, code := affix(t, slices.Concat([]string{"get"}, insecure, tt.args)...)
					okOut := got == tt.stdout || tt.stdout == "*" && json.Valid([]byte(got))
					if code != tt.code || !okOut {
						t.Fatalf("exit %d, want %d; stdout %.200q, want %.200q\nstderr: %s", code, tt.code, got, tt.stdout, errs)
					}
					for _, s := range tt.stderr {
						if !strings.Contains(errs, s) {
							t.Errorf("stderr lacks %q:\n%s", s, errs)
						}
					}
					if code != 0 && (strings.Contains(errs, "taken") || strings.Contains(errs, "skipped")) {
						t.Errorf("a failed get notes what it read of another format:\n%s", errs)
					}
				})
			}
			if b, err := os.ReadFile(filepath.Join(out, "linux-amd64.cdx.json")); err != nil || string(b) != amdCDX {
				t.Errorf("-o %s: %v, %.100q", out, err, b)
			}
		})
	}
}

// TestGetReferrerRequests: --referrer with --platform reads the
// platform's referrers and the one manifest and document it names: not
// the index's referrers, nor cosign's tags, nor the other SBOMs.
func TestGetReferrerRequests(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	amd := res.Manifests[0]
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			mustAffix(t, "push", "--no-sbom", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref("app")+":v1")
			var refs []ocispec.Descriptor
			for i := range 3 {
				refs = append(refs, attachForeign(t, reg, "app", amd, foreignReferrer{artifactType: oci.MediaTypeSPDX,
					layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: []byte(`{"spdxVersion":"SPDX-2.3","n":` + string(rune('0'+i)) + `}`)}}}))
			}
			proxy := registrytest.StartProxy(t, reg.Host)
			out, errs, code := affix(t, "get", "--insecure-registry", proxy.Host, "--platform", "linux/amd64", "--referrer", refs[1].Digest.String(), proxy.Host+"/app:v1")
			if code != 0 || out != `{"spdxVersion":"SPDX-2.3","n":1}` {
				t.Fatalf("exit %d, stdout %q\nstderr: %s", code, out, errs)
			}
			var got []string
			for _, e := range proxy.Log() {
				if !strings.Contains(e, "/v2/app/") {
					continue // the API version check
				}
				e = strings.ReplaceAll(e, amd.Digest.Encoded(), "AMD")
				e = strings.ReplaceAll(e, refs[1].Digest.Encoded(), "REF")
				e = strings.ReplaceAll(e, res.Index.Digest.Encoded(), "INDEX")
				got = append(got, e)
			}
			referrers := "GET /v2/app/referrers/sha256:AMD"
			if kind == registrytest.OlaregNoAPI {
				referrers = "GET /v2/app/manifests/sha256-AMD"
			}
			// The tag (whose bytes oci.Walk reads again, with no
			// request), the referrers of amd64, the manifest taken and
			// its layer.
			want := []string{"GET /v2/app/manifests/v1", referrers, "GET /v2/app/manifests/sha256:REF"}
			if kind == registrytest.OlaregNoAPI {
				// The first referrers read learns there is no API.
				want = slices.Insert(want, 1, "GET /v2/app/referrers/sha256:AMD")
			}
			var kept []string
			for _, e := range got {
				if !strings.Contains(e, "/blobs/") {
					kept = append(kept, e)
				}
			}
			if !slices.Equal(kept, want) || len(got)-len(kept) != 1 {
				t.Errorf("requests:\n%s\nwant\n%s\nand one blob", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestGetReferrerLayout: --referrer reads a local layout's referrers (its
// index.json) as a registry's, in the referrer's own format.
func TestGetReferrerLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images")
	}
	cliEnv(t)
	dir, _ := variantsPair(t)
	src := "oci-layout:" + dir
	mustAffix(t, "attach", "--sbom-format", "spdx-json", "--sbom-format", "cyclonedx-json", src)
	var tree discover.Tree
	if err := json.Unmarshal([]byte(mustAffix(t, "ls", "--json", src)), &tree); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range tree.Root.Children {
		for _, c := range p.Children {
			format := map[string]string{oci.MediaTypeSPDX: "spdx-json", oci.MediaTypeCycloneDX: "cyclonedx-json"}[c.ArtifactType]
			if format == "" {
				continue
			}
			n++
			got := mustAffix(t, "get", "--referrer", c.Digest.String(), src)
			if want := mustAffix(t, "get", "--platform", p.Platform, "--format", format, src); got != want {
				t.Errorf("%s %s: --referrer %s printed another document", p.Platform, format, c.Digest)
			}
		}
	}
	if n != 4 {
		t.Errorf("%d SBOM referrers in the layout, want 4", n)
	}
}
