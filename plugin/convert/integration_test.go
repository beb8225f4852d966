package convert_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/buildkittest"
	"github.com/affix-oci/affix/internal/cli"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/internal/sbomtest"
	"github.com/affix-oci/affix/plugin/convert"
	"github.com/affix-oci/affix/sbomgen"
)

// Dockerfiles of the integration builds: one stage per platform's root
// filesystem (no RUN, so every platform builds on an amd64 host), and the
// same with a build stage, scanned too when the build argument
// BUILDKIT_SBOM_SCAN_STAGE (declared, as BuildKit only reads declared
// arguments) is true.
const (
	plainDockerfile = "FROM scratch\nARG TARGETARCH\nCOPY rootfs-${TARGETARCH}/ /\n"
	stageDockerfile = "ARG BUILDKIT_SBOM_SCAN_STAGE\nFROM scratch AS build\nCOPY build/ /\n\nFROM scratch\nARG TARGETARCH\nCOPY rootfs-${TARGETARCH}/ /\nCOPY --from=build /built.txt /built.txt\n"
)

// buildContext writes the integration build context: Debian packages, a
// Go binary, npm and Python packages for linux/amd64; Alpine packages, a
// Go binary and npm packages for linux/arm64; a build stage with an npm
// package of its own. It returns the context and the directories of the
// two Dockerfiles.
func buildContext(t *testing.T) (ctxDir, plain, stages string) {
	t.Helper()
	ctx := context.Background()
	amd, err := fixture.GoBinary(ctx, "amd64", "")
	if err != nil {
		t.Fatal(err)
	}
	arm, err := fixture.GoBinary(ctx, "arm64", "")
	if err != nil {
		t.Fatal(err)
	}
	left := []byte(`{"name":"left-pad","version":"1.3.0","license":"MIT"}`)
	files := map[string][]byte{
		"rootfs-amd64/etc/os-release":                                                   []byte(fixture.DebianOSRelease),
		"rootfs-amd64/var/lib/dpkg/status":                                              []byte("Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\nDescription: libc\n\nPackage: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\nDescription: tz\n\n"),
		"rootfs-amd64/" + fixture.GoBinaryPath:                                          amd,
		"rootfs-amd64/app/node_modules/left-pad/package.json":                           left,
		"rootfs-amd64/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA": []byte("Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n"),
		"rootfs-arm64/etc/os-release":                                                   []byte(fixture.AlpineOSRelease),
		"rootfs-arm64/lib/apk/db/installed":                                             []byte("C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:musl\nV:1.2.5-r0\nA:aarch64\nL:MIT\no:musl\n\nC:Q1BBBBBBBBBBBBBBBBBBBBBBBBBB=\nP:zlib\nV:1.3.1-r1\nA:aarch64\nL:Zlib\no:zlib\n\n"),
		"rootfs-arm64/" + fixture.GoBinaryPath:                                          arm,
		"rootfs-arm64/app/node_modules/left-pad/package.json":                           left,
		"build/app/node_modules/ms/package.json":                                        []byte(`{"name":"ms","version":"2.1.3"}`),
		"build/built.txt":                                                               []byte("built\n"),
	}
	root := t.TempDir()
	ctxDir = filepath.Join(root, "context")
	for name, data := range files {
		p := filepath.Join(ctxDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	plain, stages = filepath.Join(root, "plain"), filepath.Join(root, "stages")
	for dir, df := range map[string]string{plain: plainDockerfile, stages: stageDockerfile} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return ctxDir, plain, stages
}

// packageSet returns the packages of an SPDX document as "type name
// version" lines, sorted, without the package the document describes.
func packageSet(t *testing.T, doc []byte) []string {
	t.Helper()
	out, err := sbomtest.SPDXPackages(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// attestationSBOMs returns the SPDX statements (document name and
// predicate) of each platform manifest's attestation, by manifest digest.
func attestationSBOMs(t *testing.T, f oci.Fetcher, root ocispec.Descriptor) (map[string][][2]string, []oci.Image) {
	t.Helper()
	ctx := context.Background()
	imgs, err := oci.Walk(ctx, f, root)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][2]string{}
	var platforms []oci.Image
	for _, img := range imgs {
		if !img.Attestation {
			platforms = append(platforms, img)
			continue
		}
		var m ocispec.Manifest
		if _, err := oci.ReadJSON(ctx, f, img.Descriptor, &m); err != nil {
			t.Fatal(err)
		}
		for _, l := range m.Layers {
			if l.Annotations[convert.AnnotationPredicateType] != convert.PredicateSPDX {
				continue
			}
			b, err := oci.ReadBlob(ctx, f, l, convert.MaxStatementSize)
			if err != nil {
				t.Fatal(err)
			}
			var stmt struct {
				Predicate json.RawMessage `json:"predicate"`
			}
			if err := json.Unmarshal(b, &stmt); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Name string `json:"name"`
			}
			json.Unmarshal(stmt.Predicate, &doc)
			sub := img.Descriptor.Annotations[oci.AnnotationDockerReferenceDigest]
			out[sub] = append(out[sub], [2]string{doc.Name, string(stmt.Predicate)})
		}
	}
	return out, platforms
}

// affixRun runs the affix command tree in-process.
func affixRun(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := cli.Run(context.Background(), "affix", args, &out, &errb); code != 0 {
		t.Fatalf("affix %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

// lsShape returns the tree `affix ls --json` prints as lines
// "<platform> <kind> <artifact type>", without digests.
func lsShape(t *testing.T, host, ref string) []string {
	t.Helper()
	var tree struct {
		Root struct {
			Kind     string `json:"kind"`
			Children []struct {
				Kind         string `json:"kind"`
				Platform     string `json:"platform"`
				ArtifactType string `json:"artifactType"`
				Children     []struct {
					Kind         string `json:"kind"`
					ArtifactType string `json:"artifactType"`
				} `json:"children"`
			} `json:"children"`
		} `json:"root"`
	}
	if err := json.Unmarshal([]byte(affixRun(t, "ls", "--json", "--insecure-registry", host, ref)), &tree); err != nil {
		t.Fatal(err)
	}
	out := []string{tree.Root.Kind}
	for _, c := range tree.Root.Children {
		out = append(out, c.Platform+" "+c.Kind+" "+c.ArtifactType)
		for _, g := range c.Children {
			out = append(out, c.Platform+" └ "+g.Kind+" "+g.ArtifactType)
		}
	}
	return out
}

// TestIntegrationBuildKitGenerator builds a two-platform Dockerfile with
// buildctl and the affix-scanner image as BuildKit's SBOM generator
// (linux/amd64 only: BuildKit runs the generator for the build platform),
// with and without BUILDKIT_SBOM_SCAN_STAGE, pushes it to docker-registry
// and olareg (referrers API), and checks that each platform's SBOM lists
// the packages affix's own scan of that platform image lists; then that
// `affix convert --strip-attestations` leaves the tree `affix push` of the
// same layout and `affix build --push` of the same Dockerfile make: each
// platform with one application/spdx+json referrer naming it.
func TestIntegrationBuildKitGenerator(t *testing.T) {
	buildkittest.Require(t)
	buildkittest.RequireBuildctl(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("AFFIX_CACHE_DIR", t.TempDir())
	t.Setenv(sbomgen.EnvSourceDateEpoch, "")
	ctx := t.Context()
	dist := registrytest.Start(t, registrytest.Distribution, registrytest.Options{})
	ola := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	d := buildkittest.Start(t, buildkittest.WithInsecureRegistries(dist.Host, ola.Host))
	scanner, err := d.ScannerImage(ctx, dist.Host)
	if err != nil {
		t.Fatal(err)
	}
	ctxDir, plainDir, stagesDir := buildContext(t)

	cases := []struct {
		name      string
		dockerDir string
		buildArgs []string
		params    []string
		// extras are the names of the other targets' documents.
		extras []string
	}{
		{name: "plain", dockerDir: plainDir, params: []string{"SOURCE_DATE_EPOCH=1700000000"}},
		{name: "scan-stage", dockerDir: stagesDir, buildArgs: []string{"BUILDKIT_SBOM_SCAN_STAGE=true"}, extras: []string{"sbom-build"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			layout := filepath.Join(t.TempDir(), "layout")
			out, err := d.Build(ctx, buildkittest.GeneratorBuild{
				Context: ctxDir, Dockerfile: tc.dockerDir,
				Platforms: []string{"linux/amd64", "linux/arm64"},
				Generator: scanner, Params: tc.params, BuildArgs: tc.buildArgs,
				Outputs: []string{
					"type=image,name=" + dist.Ref(tc.name) + ":v1,push=true,registry.insecure=true",
					"type=image,name=" + ola.Ref(tc.name) + ":v1,push=true,registry.insecure=true",
					"type=oci,dest=" + layout + ",tar=false",
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"linux/amd64", "linux/arm64"} {
				if !strings.Contains(string(out), "["+p+"] generating sbom using "+scanner) {
					t.Errorf("no SBOM step for %s in the build output:\n%s", p, out)
				}
			}
			if !strings.Contains(string(out), "affix-scanner: sbom: ") {
				t.Errorf("the generator's log is missing:\n%s", out)
			}

			// Each platform's SBOM: the image's first, then the extras;
			// the image's lists what affix's scan of the image lists.
			l, err := oci.OpenLayout(ctx, layout)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			sboms, platforms := attestationSBOMs(t, l, l.Roots()[0])
			if len(platforms) != 2 {
				t.Fatalf("%d platform images", len(platforms))
			}
			gen, err := sbomgen.New(sbomgen.Options{NoCache: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, img := range platforms {
				docs := sboms[img.Descriptor.Digest.String()]
				var names []string
				for _, doc := range docs {
					names = append(names, doc[0])
				}
				if want := append([]string{"sbom"}, tc.extras...); !slices.Equal(names, want) {
					t.Fatalf("%s: SPDX statements %v, want %v", img, names, want)
				}
				res, err := gen.Image(ctx, l, img.Descriptor)
				if err != nil {
					t.Fatal(err)
				}
				got, want := packageSet(t, []byte(docs[0][1])), packageSet(t, res.Documents[0].Data)
				if !slices.Equal(got, want) {
					t.Errorf("%s: generator packages\n%s\naffix sbom packages\n%s", img, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if len(got) < 5 {
					t.Errorf("%s: only %d packages: %v", img, len(got), got)
				}
				if len(tc.extras) > 0 {
					if extra := packageSet(t, []byte(docs[1][1])); !slices.Contains(extra, "npm ms 2.1.3") || slices.Contains(got, "npm ms 2.1.3") {
						t.Errorf("%s: build stage packages %v, image packages %v", img, extra, got)
					}
				}
			}

			// Convert on both registries, then compare with affix push.
			for _, reg := range []*registrytest.Registry{dist, ola} {
				t.Run(string(reg.Kind), func(t *testing.T) {
					ref := reg.Ref(tc.name) + ":v1"
					strip := []string{"convert", "--strip-attestations", "--insecure-registry", reg.Host, ref}
					if len(tc.extras) > 0 {
						// Stripping would drop the stage's SBOM: refused,
						// named, unless --drop-unconverted.
						var out, errb bytes.Buffer
						if code := cli.Run(ctx, "affix", strip, &out, &errb); code != 1 || !strings.Contains(errb.String(), "SBOM of another build stage or the build context") || !strings.Contains(errb.String(), "--drop-unconverted") {
							t.Errorf("strip with a stage SBOM: exit %d\n%s%s", code, out.String(), errb.String())
						}
						strip = append(strip[:2], append([]string{"--drop-unconverted"}, strip[2:]...)...)
					}
					out := affixRun(t, strip...)
					if strings.Count(out, "(written)") != 2 || !strings.Contains(out, "new index: ") {
						t.Errorf("convert output:\n%s", out)
					}
					if len(tc.extras) > 0 && !strings.Contains(out, "1 SBOM(s) of other build stages") {
						t.Errorf("extras not reported:\n%s", out)
					}
					again := affixRun(t, strip...)
					if !strings.Contains(again, "nothing to convert") || strings.Count(again, "SBOM referrer  ") != 2 || strings.Contains(again, "new index") {
						t.Errorf("second convert changed something:\n%s", again)
					}
					pushed := reg.Ref(tc.name+"-affix") + ":v1"
					affixRun(t, "push", "--strip-attestations", "--insecure-registry", reg.Host, "oci-layout:"+layout, pushed)
					// The same Dockerfile built by affix build.
					built := reg.Ref(tc.name+"-built") + ":v1"
					affixRun(t, "build", "--builder", d.Addr, "--progress", "quiet", "--platform", "linux/amd64,linux/arm64",
						"-f", filepath.Join(tc.dockerDir, "Dockerfile"), "--push", "-t", built, "--insecure-registry", reg.Host, ctxDir)

					converted, byAffix, byBuild := lsShape(t, reg.Host, ref), lsShape(t, reg.Host, pushed), lsShape(t, reg.Host, built)
					if reg.Referrers {
						// BuildKit's attestation manifests carry a subject:
						// a registry with the referrers API lists them as
						// referrers of the platform manifests even once
						// they are out of the index.
						n := len(converted)
						converted = slices.DeleteFunc(converted, func(s string) bool {
							return strings.HasSuffix(s, " referrer "+oci.ArtifactTypeBuildKitAttestation)
						})
						if n-len(converted) != len(platforms) {
							t.Errorf("%d BuildKit attestation manifests listed as referrers, want one per platform (docs/plugin.md says so)", n-len(converted))
						}
					}
					want := []string{"index",
						"linux/amd64 manifest ", "linux/amd64 └ referrer " + oci.MediaTypeSPDX,
						"linux/arm64 manifest ", "linux/arm64 └ referrer " + oci.MediaTypeSPDX}
					if !slices.Equal(converted, want) || !slices.Equal(byAffix, want) || !slices.Equal(byBuild, want) {
						t.Errorf("affix ls of the converted image:\n%s\nof the image affix pushed:\n%s\nof the image affix built:\n%s\nwant:\n%s",
							strings.Join(converted, "\n"), strings.Join(byAffix, "\n"), strings.Join(byBuild, "\n"), strings.Join(want, "\n"))
					}
					checkConverted(t, reg, tc.name, platforms, tc.params != nil)
				})
			}
		})
	}
}

// checkConverted checks each platform's converted referrer: it names the
// platform manifest, carries the generator and creation time of the
// document, and lists what BuildKit's attestation did.
func checkConverted(t *testing.T, reg *registrytest.Registry, repo string, platforms []oci.Image, epochSet bool) {
	t.Helper()
	r, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: repo}, exporter.RemoteOptions{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range platforms {
		d, _, doc := referrer(t, r, img.Descriptor, oci.MediaTypeSPDX)
		got, err := sbomgen.DescribedDigest(sbomgen.SPDXJSON, doc)
		if err != nil || got != img.Descriptor.Digest {
			t.Errorf("%s: converted SBOM describes %s, %v", img, got, err)
		}
		if g := d.Annotations[oci.AnnotationGenerator]; !strings.HasPrefix(g, "affix-") || strings.Contains(g, "buildkit") {
			t.Errorf("%s: generator %q", img, g)
		}
		want := "1970-01-01T00:00:00Z"
		if epochSet {
			want = "2023-11-14T22:13:20Z"
		}
		if c := d.Annotations[ocispec.AnnotationCreated]; c != want {
			t.Errorf("%s: created %q, want %s", img, c, want)
		}
	}
}
