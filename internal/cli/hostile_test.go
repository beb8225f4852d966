package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestReferrerWithoutDigest: a referrers tag lists, besides an image's
// SBOM, an entry whose "digest" is a tag ("prod"), which the registry
// resolves to a copy of the SBOM manifest. The exporter's reader drops
// such an entry (exporter.TestReferrersTagMalformedEntries); discover
// also refuses one, as a second line (TestValidEntries). merge copies
// the image and its SBOM and leaves the entry behind (it panicked in
// discover.CosignTag); get takes the SBOM; ls does not show the entry.
func TestReferrerWithoutDigest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	dirs, mans := singleLayouts(t)
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	mustAffix(t, "push", "--insecure-registry", reg.Host, "oci-layout:"+dirs[0], reg.Ref("staging/app")+":amd64")
	sbom := sbomOf(t, reg, "staging/app", mans[0].Digest)
	data := fetchRawIndex(t, reg, "staging/app", sbom.Digest.String())
	r := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: "staging/app"}, PlainHTTP: true}
	if err := r.PushReference(t.Context(), ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(data), Size: int64(len(data))}, bytes.NewReader(data), "prod"); err != nil {
		t.Fatal(err)
	}
	// The registry refuses such an index: a proxy in front of it serves
	// one as the referrers tag.
	tag := exporter.ReferrersTag(mans[0].Digest)
	idx := fetchIndex(t, reg, "staging/app", tag)
	idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: "prod", Size: int64(len(data)), ArtifactType: sbom.ArtifactType,
		Annotations: map[string]string{ocispec.AnnotationCreated: "2030-01-01T00:00:00Z"}})
	host := serveManifest(t, reg, "/v2/staging/app/manifests/"+tag, ocispec.MediaTypeImageIndex, idx)
	flags := []string{"--insecure-registry", host}
	src, dst := host+"/staging/app", host+"/release/app"

	_, errs, code := affix(t, slices.Concat([]string{"merge"}, flags, []string{dst + ":v1", src + ":amd64"})...)
	if code != 0 {
		t.Fatalf("merge: exit %d, want 0\n%s", code, errs)
	}
	if got := referrerDigests(t, reg, "release/app", mans[0].Digest); !slices.Equal(got, []digest.Digest{sbom.Digest}) {
		t.Errorf("release/app lists referrers %v of the image, want its SBOM %s", got, sbom.Digest)
	}

	out, errs, code := affix(t, "get", "--insecure-registry", host, src+":amd64")
	if code != 0 || !strings.Contains(out, `"spdxVersion"`) {
		t.Errorf("get: exit %d, want 0 and the SBOM\n%s", code, errs)
	}
	out, errs, code = affix(t, "ls", "--insecure-registry", host, src+":amd64")
	if code != 0 || strings.Contains(out, "prod") || !strings.Contains(out, sbom.Digest.String()) {
		t.Errorf("ls: exit %d, want 0 and the SBOM alone\n%s%s", code, out, errs)
	}
}

// serveManifest starts a proxy to reg that answers the GET and HEAD of
// path with v, as JSON of media type mt (what reg would refuse to store),
// and returns its host.
func serveManifest(t *testing.T, reg *registrytest.Registry, path, mt string, v any) string {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: reg.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path || r.Method != http.MethodGet && r.Method != http.MethodHead {
			proxy.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", mt)
		w.Header().Set("Docker-Content-Digest", digest.FromBytes(body).String())
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestGetBrokenEntry: the referrers tag of one platform lists, besides
// its SBOM, a newer SBOM manifest with its size plus one (another tool's
// entry). get --all-platforms skips that entry, with a note naming it and
// why, and writes the SBOM of every platform (it failed on the entry).
func TestGetBrokenEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	mustAffix(t, "push", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref("app")+":v1")
	arm := res.Manifests[1]
	sbom := sbomOf(t, reg, "app", arm.Digest)
	var m ocispec.Manifest
	if err := json.Unmarshal(fetchRawIndex(t, reg, "app", sbom.Digest.String()), &m); err != nil {
		t.Fatal(err)
	}
	m.Annotations[ocispec.AnnotationCreated] = "2030-01-01T00:00:00Z"
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	newer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(data), Size: int64(len(data))}
	r := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: "app"}, PlainHTTP: true, SkipReferrersGC: true}
	if err := r.Push(t.Context(), newer, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	tag := exporter.ReferrersTag(arm.Digest)
	idx := fetchIndex(t, reg, "app", tag)
	idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d ocispec.Descriptor) bool { return d.Digest == newer.Digest })
	wrong := newer
	wrong.Size++
	wrong.ArtifactType, wrong.Annotations = sbom.ArtifactType, m.Annotations
	idx.Manifests = append(idx.Manifests, wrong)
	host := serveManifest(t, reg, "/v2/app/manifests/"+tag, ocispec.MediaTypeImageIndex, idx)

	out := t.TempDir()
	_, errs, code := affix(t, "get", "--insecure-registry", host, "--all-platforms", "-o", out, host+"/app:v1")
	want := "skipped spdx-json SBOM referrer " + newer.Digest.String() + ": listed, but its manifest cannot be used: "
	if code != 0 || !strings.Contains(errs, want) || !strings.Contains(errs, sbom.Digest.String()) {
		t.Fatalf("get --all-platforms: exit %d, want 0, a note %q and the SBOM %s taken\n%s", code, want, sbom.Digest, errs)
	}
}
