package cli

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/registrytest"
)

// deleteReferrer deletes the manifest d of repo in reg, as a user does
// with curl -X DELETE .../manifests/<digest>, and checks that it is gone.
// A registry without the referrers API keeps its referrers-tag entry.
func deleteReferrer(t *testing.T, reg *registrytest.Registry, repo string, d digest.Digest) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, "http://"+reg.Host+"/v2/"+repo+"/manifests/"+d.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE %s in %s: %s", d, repo, resp.Status)
	}
	if got := resolveTag(t, reg, repo, d.String()); got != "" {
		t.Fatalf("%s still in %s after DELETE", d, repo)
	}
}

// TestMergeDeletedReferrers: an SBOM referrer whose manifest was deleted
// (DELETE by digest) is no SBOM, though a registry without the referrers
// API keeps listing it in the referrers tag. Within REF's repository, a
// merge whose platform manifests have only such SBOMs is refused, naming
// each and its SOURCE, nothing tagged; one deleted SBOM among others is
// not reported. Across repositories, a referrer copied by a first merge
// and deleted in REF's repository since is copied again from its source
// by the next (as a push rerun writes a deleted SBOM back); deleted in
// the source too (whose referrers tag still lists it), the platform has
// no SBOM. A merge of images whose referrers are all there costs only
// the HEADs of the referrers it relies on (those the referrers tag
// lists; none with the API) more than it did before those checks.
func TestMergeDeletedReferrers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	mans := res.Manifests[:2] // linux/amd64, linux/arm64/v8
	for _, tt := range []struct {
		kind registrytest.Kind
		api  bool
	}{
		{registrytest.OlaregNoAPI, false},
		{registrytest.Distribution, false},
		{registrytest.DistributionV3, false},
		{registrytest.OlaregAPI, true},
	} {
		// heads is what checking n listed referrers costs: a HEAD each
		// from the referrers tag, none with the API.
		heads := func(n int) int {
			if tt.api {
				return 0
			}
			return n
		}
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			reg := registrytest.Start(t, tt.kind, registrytest.Options{Delete: true})
			flags := []string{"--insecure-registry", reg.Host}
			run := func(t *testing.T, args ...string) string {
				t.Helper()
				return mustAffix(t, slices.Concat(args[:1], flags, args[1:])...)
			}
			fail := func(t *testing.T, args ...string) string {
				t.Helper()
				out, errs, code := affix(t, slices.Concat(args[:1], flags, args[1:])...)
				if code != 1 || !strings.Contains(errs, "no tag moved") {
					t.Fatalf("affix %s: exit %d, want 1 and no tag moved\n%s%s", strings.Join(args, " "), code, out, errs)
				}
				return errs
			}
			noSBOM := func(src string, imgs ...ocispec.Descriptor) string {
				var s []string
				for _, m := range imgs {
					s = append(s, platformString(m)+" ("+m.Digest.String()+", SOURCE "+src+")")
				}
				return "no SBOM referrer of " + strings.Join(s, ", ") + ": "
			}

			t.Run("same repository", func(t *testing.T) {
				repo := reg.Ref("dang")
				run(t, "push", "oci-layout:"+dir, repo+":1")
				sboms := []ocispec.Descriptor{sbomOf(t, reg, "dang", mans[0].Digest), sbomOf(t, reg, "dang", mans[1].Digest)}
				meta := filepath.Join(t.TempDir(), "before.json")
				run(t, "merge", "--metadata-file", meta, repo+":0", ":1")
				// The HEADs of the index and its manifests, as before, then
				// one of each SBOM the referrers tag lists.
				want, _ := mergeRequests(tt.api)
				if m := readMeta(t, meta); m.Requests["HEAD"] != 3+heads(2) || m.RequestsTotal != want+heads(2) {
					t.Errorf("merge within REF's repository: %d requests %v, want %d, with %d HEADs", m.RequestsTotal, m.Requests, want+heads(2), 3+heads(2))
				}

				for _, s := range sboms {
					deleteReferrer(t, reg, "dang", s.Digest)
				}
				if errs := fail(t, "merge", repo+":2", ":1"); !strings.Contains(errs, noSBOM(":1", mans...)) {
					t.Errorf("stderr lacks %q:\n%s", noSBOM(":1", mans...), errs)
				}
				at := "@" + mans[0].Digest.String()
				if errs := fail(t, "merge", repo+":3", at); !strings.Contains(errs, noSBOM(at, mans[0])) {
					t.Errorf("stderr lacks %q:\n%s", noSBOM(at, mans[0]), errs)
				}
				for _, tag := range []string{"2", "3"} {
					if d := resolveTag(t, reg, "dang", tag); d != "" {
						t.Errorf("a merge of images whose SBOMs are deleted tagged dang:%s %s", tag, d)
					}
				}

				// Another SBOM of the amd64 image: the merge takes it,
				// and names it alone.
				run(t, "attach", "--sbom-format", "cyclonedx-json", repo+at)
				meta = filepath.Join(t.TempDir(), "after.json")
				out := run(t, "merge", "--metadata-file", meta, repo+":4", at)
				m := readMeta(t, meta)
				if len(m.Platforms) != 1 || len(m.Platforms[0].Referrers) != 1 || m.Platforms[0].Referrers[0].Format != "cyclonedx-json" {
					t.Errorf("metadata platforms %+v, want the CycloneDX SBOM alone", m.Platforms)
				}
				if strings.Contains(out, sboms[0].Digest.String()) {
					t.Errorf("the summary names the deleted SBOM %s:\n%s", sboms[0].Digest, out)
				}
			})

			t.Run("across repositories", func(t *testing.T) {
				src, dst := reg.Ref("staging/app"), reg.Ref("release/app")
				run(t, "push", "oci-layout:"+dir, src+":v1")
				sbom := sbomOf(t, reg, "staging/app", mans[0].Digest)
				run(t, "merge", dst+":v1", src+":v1")
				meta := filepath.Join(t.TempDir(), "rerun.json")
				run(t, "merge", "--metadata-file", meta, dst+":v1", src+":v1")
				// A rerun relies on the two SBOMs REF's repository lists:
				// a HEAD each from the referrers tag.
				_, want := mergeRequests(tt.api)
				if m := readMeta(t, meta); m.Requests["HEAD"] != 3+heads(2) || m.RequestsTotal != want+heads(2) {
					t.Errorf("rerun: %d requests %v, want %d, with %d HEADs", m.RequestsTotal, m.Requests, want+heads(2), 3+heads(2))
				}

				deleteReferrer(t, reg, "release/app", sbom.Digest)
				meta = filepath.Join(t.TempDir(), "again.json")
				out := run(t, "merge", "--metadata-file", meta, dst+":v1", src+":v1")
				if want := "1 referrer copied from other repositories, SBOMs included; 1 more was in REF's repository already"; !strings.Contains(out, want) {
					t.Errorf("summary lacks %q:\n%s", want, out)
				}
				if m := readMeta(t, meta); len(m.CopiedReferrers) != 1 || m.CopiedReferrers[0].Digest != sbom.Digest {
					t.Errorf("copiedReferrers %+v, want the deleted SBOM %s", m.CopiedReferrers, sbom.Digest)
				}
				if resolveTag(t, reg, "release/app", sbom.Digest.String()) != sbom.Digest {
					t.Errorf("the SBOM %s deleted in REF's repository was not copied again", sbom.Digest)
				}
				run(t, "get", "--platform", "linux/amd64", dst+":v1")

				// Deleted in both: no SBOM to copy.
				deleteReferrer(t, reg, "release/app", sbom.Digest)
				deleteReferrer(t, reg, "staging/app", sbom.Digest)
				if errs := fail(t, "merge", dst+":v2", src+":v1"); !strings.Contains(errs, noSBOM(src+":v1", mans[0])) {
					t.Errorf("stderr lacks %q:\n%s", noSBOM(src+":v1", mans[0]), errs)
				}
				if d := resolveTag(t, reg, "release/app", "v2"); d != "" {
					t.Errorf("a merge of an image whose SBOM is deleted everywhere tagged release/app:v2 %s", d)
				}
			})
		})
	}
}

// platformString is the platform of m as merge's errors name it.
func platformString(m ocispec.Descriptor) string {
	p := m.Platform.OS + "/" + m.Platform.Architecture
	if m.Platform.Variant != "" {
		p += "/" + m.Platform.Variant
	}
	return p
}

// mergeRequests are the requests of merges of the variantsPair image with
// its SPDX SBOMs, all there, on a registry with the referrers API or
// without, before the SBOMs and referrers listed in a referrers tag were
// checked: within REF's repository (its index as the one SOURCE), and a
// rerun from another repository of REF's registry (its GETs include the
// one tag list of the source repository, for cosign's tags).
func mergeRequests(api bool) (sameRepo, rerun int) {
	if api {
		return 9, 16 // GET 5, HEAD 3, PUT 1; GET 12, HEAD 3, PUT 1
	}
	return 10, 22 // GET 6, HEAD 3, PUT 1; GET 18, HEAD 3, PUT 1
}

// TestDstLookupExists: a registry that refuses HEAD on manifests (405)
// gets a GET instead, so a merge's check of the referrers a tag lists
// still tells a present manifest from a gone one.
func TestDstLookupExists(t *testing.T) {
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	proxy := registrytest.StartProxy(t, reg.Host)
	proxy.Inject(registrytest.Fault{Method: "HEAD", Path: "/manifests/", Action: registrytest.Status, Code: http.StatusMethodNotAllowed})
	tgt, err := exporter.NewRemote(registry.Reference{Registry: proxy.Host, Repository: "app"}, exporter.RemoteOptions{Client: exporter.NewClient(nil, nil), PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	have := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(body), Size: int64(len(body))}
	if err := tgt.PushBlob(t.Context(), ocispec.DescriptorEmptyJSON, func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("{}")), nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := tgt.PushManifest(t.Context(), have, body, have.Digest.String(), ""); err != nil {
		t.Fatal(err)
	}
	l := &dstLookup{target: tgt}
	for _, tt := range []struct {
		d    ocispec.Descriptor
		want bool
	}{{have, true}, {ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("gone"), Size: 3}, false}} {
		if got, err := l.exists(context.Background(), tt.d); err != nil || got != tt.want {
			t.Errorf("exists(%s) = %v, %v; want %v", tt.d.Digest, got, err, tt.want)
		}
	}
	if proxy.Injected() == 0 {
		t.Error("no HEAD refused")
	}
}
