package sbomgen

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/version"
)

func TestImageName(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	for in, want := range map[string]string{
		"image":                          "image",
		"app:1.2":                        "app",
		"registry.example.com/team/app":  "registry.example.com/team/app",
		"registry.example.com/app:1.2":   "registry.example.com/app",
		"localhost:5000/app":             "localhost:5000/app",
		"localhost:5000/app:latest":      "localhost:5000/app",
		"localhost:5000/app@" + d:        "localhost:5000/app",
		"localhost:5000/app:1@" + d:      "localhost:5000/app",
		"registry.example.com:443/a/b:c": "registry.example.com:443/a/b",
	} {
		if got := ImageName(in); got != want {
			t.Errorf("ImageName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSbomTagIndependent checks that an image's documents do not depend on
// the tag it is named by: `affix push` of one layout under two tags must
// attach the same referrer, not a second one.
func TestSbomTagIndependent(t *testing.T) {
	dir, res := variants(t)
	m := res.Manifests[0]
	cacheDir := t.TempDir()
	var results []*Result
	for _, name := range []string{"registry.example.com/app:one-two", "registry.example.com/app:latest", "registry.example.com/app@" + m.Digest.String()} {
		results = append(results, scan(t, dir, m, Options{Formats: Formats(), Name: name, CacheDir: cacheDir}))
	}
	for i, r := range results[1:] {
		if !r.Cached {
			t.Errorf("name %d: another tag of the image missed the cache", i+1)
		}
	}
	fresh := scan(t, dir, m, Options{Formats: Formats(), Name: "registry.example.com/app:latest"})
	for _, f := range Formats() {
		a, b := doc(t, results[0], f), doc(t, fresh, f)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: documents of two tags differ", f)
		}
		if bytes.Contains(a, []byte("one-two")) || bytes.Contains(a, []byte("latest")) || bytes.Contains(a, []byte("tag=")) {
			t.Errorf("%s document names the tag", f)
		}
	}
	var spdx struct {
		Name      string `json:"name"`
		Namespace string `json:"documentNamespace"`
	}
	if err := json.Unmarshal(doc(t, fresh, SPDXJSON), &spdx); err != nil {
		t.Fatal(err)
	}
	if want := "registry.example.com/app@" + m.Digest.String(); spdx.Name != want {
		t.Errorf("SPDX name %q, want %q", spdx.Name, want)
	}
	var cdx struct {
		Metadata struct {
			Component struct {
				Name string `json:"name"`
				PURL string `json:"purl"`
			} `json:"component"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(doc(t, fresh, CycloneDXJSON), &cdx); err != nil {
		t.Fatal(err)
	}
	wantPURL := "pkg:oci/app@sha256%3A" + m.Digest.Encoded() + "?arch=amd64&repository_url=registry.example.com%2Fapp"
	if c := cdx.Metadata.Component; c.Name != "registry.example.com/app" || c.PURL != wantPURL {
		t.Errorf("CycloneDX component %q %q, want %q %q", c.Name, c.PURL, "registry.example.com/app", wantPURL)
	}
	if other := scan(t, dir, m, Options{Formats: Formats(), Name: "registry.example.com/other:1.2", CacheDir: cacheDir}); other.Cached {
		t.Error("another repository came from the cache")
	}
}

// TestSbomDescriptorMediaType scans one manifest through descriptors of
// two media types (the digest does not cover a descriptor's): the
// documents are the same, fresh or from the cache, since they depend on
// the manifest alone.
func TestSbomDescriptorMediaType(t *testing.T) {
	dir, res := variants(t)
	m := res.Manifests[0]
	docker := m
	docker.MediaType = "application/vnd.docker.distribution.manifest.v2+json"
	cacheDir := t.TempDir()
	first := scan(t, dir, m, Options{Formats: Formats(), CacheDir: cacheDir})
	cached := scan(t, dir, docker, Options{Formats: Formats(), CacheDir: cacheDir})
	fresh := scan(t, dir, docker, Options{Formats: Formats()})
	if !cached.Cached {
		t.Error("the same manifest by another descriptor missed the cache")
	}
	for _, f := range Formats() {
		if a, b, c := doc(t, first, f), doc(t, cached, f), doc(t, fresh, f); !bytes.Equal(a, c) || !bytes.Equal(b, c) {
			t.Errorf("%s: the documents differ with the descriptor's media type", f)
		}
	}
}

// TestSbomCacheExecutable checks that the cache entries of a development
// build are keyed by its executable, and that the documents are not.
func TestSbomCacheExecutable(t *testing.T) {
	dir, res := variants(t)
	m := res.Manifests[1]
	l := openLayout(t, dir)
	cacheDir := t.TempDir()
	ctx := context.Background()

	g := newGen(t, Options{CacheDir: cacheDir})
	if exact := version.Get().Exact(); exact != (g.binary == "") {
		t.Fatalf("version %q (exact %v): executable stamp %q", version.Get().Version, exact, g.binary)
	}
	run := func(t *testing.T, binary string) *Result {
		t.Helper()
		g := newGen(t, Options{CacheDir: cacheDir})
		g.binary = binary
		r, err := g.Image(ctx, l, m)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name, binary string
		cached       bool
	}{
		{"first build scans", "/bin/affix 100 1", false},
		{"same executable hits", "/bin/affix 100 1", true},
		{"rebuilt executable scans", "/bin/affix 100 2", false},
		{"release build scans", "", false},
		{"release build hits", "", true},
		{"first build still hits", "/bin/affix 100 1", true},
	}
	var first []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.binary)
			if r.Cached != tt.cached {
				t.Errorf("cached %v, want %v", r.Cached, tt.cached)
			}
			if first == nil {
				first = doc(t, r, SPDXJSON)
			} else if !bytes.Equal(doc(t, r, SPDXJSON), first) {
				t.Error("the document depends on the executable")
			}
		})
	}
}

// layerCounter counts the layer blobs fetched, by digest.
type layerCounter struct {
	oci.Fetcher
	mu sync.Mutex
	n  map[digest.Digest]int
}

func (c *layerCounter) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if strings.Contains(d.MediaType, "layer") {
		c.mu.Lock()
		c.n[d.Digest]++
		c.mu.Unlock()
	}
	return c.Fetcher.Fetch(ctx, d)
}

// TestSbomImagesOncePerDigest scans an index that lists one manifest
// under two platforms: one scan, a result per listing.
func TestSbomImagesOncePerDigest(t *testing.T) {
	dir, res := variants(t)
	amd, arm64 := res.Manifests[0], res.Manifests[3]
	alias := arm64
	alias.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	f := &layerCounter{Fetcher: openLayout(t, dir), n: map[digest.Digest]int{}}
	rs, err := newGen(t, Options{Concurrency: 2}).Images(context.Background(), f, []ocispec.Descriptor{arm64, amd, alias})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.n) != 2 {
		t.Errorf("layers of %d images read, want 2", len(f.n))
	}
	for d, n := range f.n {
		if n != 1 {
			t.Errorf("layer %s read %d times", d, n)
		}
	}
	want := []struct {
		digest   digest.Digest
		platform string
	}{{arm64.Digest, "linux/arm64/v8"}, {amd.Digest, "linux/amd64"}, {arm64.Digest, "linux/arm/v7"}}
	for i, r := range rs {
		if r.Manifest.Digest != want[i].digest || oci.FormatPlatform(r.Platform) != want[i].platform {
			t.Errorf("result %d: %s %s, want %s %s", i, r.Manifest.Digest, oci.FormatPlatform(r.Platform), want[i].digest, want[i].platform)
		}
	}
	if !bytes.Equal(doc(t, rs[0], SPDXJSON), doc(t, rs[2], SPDXJSON)) {
		t.Error("one manifest, two documents")
	}
}

// TestSbomIdentityPerManifest: the SPDX documentNamespace and the
// CycloneDX serialNumber are derived from the manifest, so two platform
// images of one index (same name, same creation time) have documents of
// their own identity, and a second scan gives the same identity.
func TestSbomIdentityPerManifest(t *testing.T) {
	dir, res := variants(t)
	type identity struct{ namespace, serial string }
	read := func(r *Result) identity {
		t.Helper()
		var spdx struct {
			Namespace string `json:"documentNamespace"`
		}
		var cdx struct {
			Serial string `json:"serialNumber"`
		}
		if err := json.Unmarshal(doc(t, r, SPDXJSON), &spdx); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(doc(t, r, CycloneDXJSON), &cdx); err != nil {
			t.Fatal(err)
		}
		return identity{spdx.Namespace, cdx.Serial}
	}
	opts := Options{Formats: Formats(), Name: "registry.example.com/app"}
	seen := map[string]digest.Digest{}
	for _, m := range res.Manifests[:2] {
		id := read(scan(t, dir, m, opts))
		if again := read(scan(t, dir, m, opts)); again != id {
			t.Errorf("%s: identity %v, then %v", m.Digest, id, again)
		}
		for _, v := range []string{id.namespace, id.serial} {
			if other, ok := seen[v]; ok {
				t.Errorf("%s and %s share %q", other, m.Digest, v)
			}
			seen[v] = m.Digest
		}
	}
}
