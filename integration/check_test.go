package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/affix-oci/affix/internal/registrytest"
)

const (
	mediaTypeSPDX      = "application/spdx+json"
	mediaTypeCycloneDX = "application/vnd.cyclonedx+json"
	mediaTypeInToto    = "application/vnd.in-toto+json"
)

// pkg is a package an SBOM must list; an empty version matches any.
type pkg struct{ name, version string }

// spdxDoc is the part of an SPDX 2.3 JSON document the tests read.
type spdxDoc struct {
	SPDXVersion  string `json:"spdxVersion"`
	Name         string `json:"name"`
	CreationInfo struct {
		Created string `json:"created"`
	} `json:"creationInfo"`
	Packages []struct {
		SPDXID      string `json:"SPDXID"`
		Name        string `json:"name"`
		VersionInfo string `json:"versionInfo"`
	} `json:"packages"`
}

// os is "NAME VERSION" of the document's operating system packages (SPDXID
// SPDXRef-OperatingSystem-*, as affix and Trivy write them).
func (d *spdxDoc) os() []string {
	var out []string
	for _, q := range d.Packages {
		if strings.HasPrefix(q.SPDXID, "SPDXRef-OperatingSystem") {
			out = append(out, q.Name+" "+q.VersionInfo)
		}
	}
	return out
}

func (d *spdxDoc) has(p pkg) bool {
	for _, q := range d.Packages {
		if q.Name == p.name && (p.version == "" || q.VersionInfo == p.version) {
			return true
		}
	}
	return false
}

func (d *spdxDoc) names() []string {
	var out []string
	for _, q := range d.Packages {
		out = append(out, q.Name+"@"+q.VersionInfo)
	}
	return out
}

// pushed is an image read back from a registry (or a layout).
type pushed struct {
	index ocispec.Descriptor
	// manifests are the platform manifests by platform (os/arch[/variant]).
	manifests map[string]ocispec.Descriptor
	// order is the platforms in index order.
	order []string
	// sboms are each platform's one SPDX referrer.
	sboms map[string]ocispec.Descriptor
	docs  map[string]*spdxDoc
}

func newRepo(t *testing.T, reg *registrytest.Registry, repo string) *remote.Repository {
	t.Helper()
	r, err := remote.NewRepository(reg.Ref(repo))
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	return r
}

// target is what readBack reads from: a registry repository or an OCI
// layout store.
type target interface {
	content.ReadOnlyStorage
	Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error)
}

// referrerLister lists referrers (oras-go's Repository: the API, else the
// referrers tag; its OCI store: from the manifests it holds).
type referrerLister interface {
	Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error)
}

// readBack reads the image tag names in tgt and, for each platform
// manifest, its SPDX referrers: there must be exactly one, with the SBOM
// as its only layer.
func readBack(t *testing.T, tgt target, tag string) *pushed {
	t.Helper()
	ctx := t.Context()
	desc, err := tgt.Resolve(ctx, tag)
	if err != nil {
		t.Fatalf("resolving %s: %v", tag, err)
	}
	var idx ocispec.Index
	fetchJSON(t, tgt, desc, &idx)
	if desc.MediaType != ocispec.MediaTypeImageIndex {
		t.Fatalf("%s is %s, want an image index", tag, desc.MediaType)
	}
	p := &pushed{index: desc, manifests: map[string]ocispec.Descriptor{}, sboms: map[string]ocispec.Descriptor{}, docs: map[string]*spdxDoc{}}
	for _, m := range idx.Manifests {
		if m.Platform == nil {
			t.Fatalf("index %s lists %s without a platform", desc.Digest, m.Digest)
		}
		if m.Platform.OS == "unknown" {
			t.Errorf("index %s lists an attestation manifest %s; affix builds none", desc.Digest, m.Digest)
			continue
		}
		plat := platforms.Format(*m.Platform)
		p.manifests[plat] = m
		p.order = append(p.order, plat)
		var sboms []ocispec.Descriptor
		for _, r := range referrers(t, tgt, m) {
			if r.ArtifactType == mediaTypeSPDX {
				sboms = append(sboms, r)
			}
		}
		if len(sboms) != 1 {
			t.Errorf("%s (%s): %d SPDX referrers, want exactly 1: %v", plat, m.Digest, len(sboms), sboms)
			continue
		}
		p.sboms[plat] = sboms[0]
		var rm ocispec.Manifest
		fetchJSON(t, tgt, sboms[0], &rm)
		if rm.Subject == nil || rm.Subject.Digest != m.Digest {
			t.Errorf("%s: referrer %s has subject %v, want %s", plat, sboms[0].Digest, rm.Subject, m.Digest)
		}
		if rm.ArtifactType != mediaTypeSPDX || len(rm.Layers) != 1 || rm.Layers[0].MediaType != mediaTypeSPDX {
			t.Errorf("%s: referrer %s: artifactType %q with %d layers, want one %s layer", plat, sboms[0].Digest, rm.ArtifactType, len(rm.Layers), mediaTypeSPDX)
			continue
		}
		doc := &spdxDoc{}
		fetchJSON(t, tgt, rm.Layers[0], doc)
		if doc.SPDXVersion != "SPDX-2.3" {
			t.Errorf("%s: SBOM spdxVersion %q", plat, doc.SPDXVersion)
		}
		p.docs[plat] = doc
	}
	return p
}

// referrers lists the referrers of m in tgt.
func referrers(t *testing.T, tgt target, m ocispec.Descriptor) []ocispec.Descriptor {
	t.Helper()
	switch r := tgt.(type) {
	case *remote.Repository:
		var out []ocispec.Descriptor
		if err := r.Referrers(t.Context(), m, "", func(refs []ocispec.Descriptor) error {
			out = append(out, refs...)
			return nil
		}); err != nil {
			t.Fatalf("referrers of %s: %v", m.Digest, err)
		}
		return out
	case referrerLister:
		preds, err := r.Predecessors(t.Context(), m)
		if err != nil {
			t.Fatalf("referrers of %s: %v", m.Digest, err)
		}
		var out []ocispec.Descriptor
		for _, d := range preds {
			if d.MediaType != ocispec.MediaTypeImageManifest {
				continue
			}
			var man ocispec.Manifest
			fetchJSON(t, tgt, d, &man)
			if man.Subject != nil && man.Subject.Digest == m.Digest {
				d.ArtifactType = man.ArtifactType
				out = append(out, d)
			}
		}
		return out
	}
	t.Fatalf("%T lists no referrers", tgt)
	return nil
}

func fetchJSON(t *testing.T, s content.Fetcher, d ocispec.Descriptor, v any) {
	t.Helper()
	b, err := content.FetchAll(t.Context(), s, d)
	if err != nil {
		t.Fatalf("fetching %s: %v", d.Digest, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", d.Digest, err)
	}
}

// check compares p with want: the platforms (in order) and, for each,
// packages its SBOM must list; notWant are packages it must not list.
func (p *pushed) check(t *testing.T, order []string, want, notWant map[string][]pkg) {
	t.Helper()
	if !slices.Equal(p.order, order) {
		t.Errorf("index %s lists platforms %v, want %v", p.index.Digest, p.order, order)
	}
	for plat, pkgs := range want {
		doc := p.docs[plat]
		if doc == nil {
			t.Errorf("%s: no SBOM", plat)
			continue
		}
		for _, w := range pkgs {
			if !doc.has(w) {
				t.Errorf("%s: SBOM lacks %s %s; it lists %v", plat, w.name, w.version, doc.names())
			}
		}
		for _, w := range notWant[plat] {
			if doc.has(w) {
				t.Errorf("%s: SBOM lists %s %s, which only another platform holds", plat, w.name, w.version)
			}
		}
	}
}

// tags returns the tags of repo, nil when the registry does not know it.
func tags(t *testing.T, reg *registrytest.Registry, repo string) []string {
	t.Helper()
	var out []string
	err := newRepo(t, reg, repo).Tags(t.Context(), "", func(ts []string) error {
		out = append(out, ts...)
		return nil
	})
	if err != nil && !errors.Is(err, errdef.ErrNotFound) && !strings.Contains(err.Error(), "NAME_UNKNOWN") && !strings.Contains(err.Error(), "404") {
		t.Fatalf("tags of %s: %v", repo, err)
	}
	return out
}

// noTags fails t when repo has tags other than referrers tags.
func noTags(t *testing.T, reg *registrytest.Registry, repo string) {
	t.Helper()
	for _, tg := range tags(t, reg, repo) {
		if !strings.HasPrefix(tg, "sha256-") {
			t.Errorf("%s %s: tag %q exists; a failed build must move no tag", reg.Kind, repo, tg)
		}
	}
}

// nothingPushed fails t when repo holds anything at all: no tag, no
// referrers tag, no blob, no upload. Only a registry with its storage on
// disk (distribution) can tell; on others it checks the tags.
func nothingPushed(t *testing.T, reg *registrytest.Registry, repo string) {
	t.Helper()
	if reg.Dir == "" {
		noTags(t, reg, repo)
		return
	}
	p := filepath.Join(reg.Dir, "data", "docker", "registry", "v2", "repositories", repo)
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s %s: the repository exists (%v), a build that failed before its push must push nothing", reg.Kind, repo, err)
	}
}

// buildMeta is the part of affix build's --metadata-file the tests read.
type buildMeta struct {
	Digest     string `json:"containerimage.digest"`
	Descriptor struct {
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
	} `json:"containerimage.descriptor"`
	ImageName string `json:"image.name"`
	Index     struct {
		Digest string `json:"digest"`
	} `json:"index"`
	Tag       string   `json:"tag"`
	Tags      []string `json:"tags"`
	Pushed    bool     `json:"pushed"`
	Platforms []struct {
		Platform  string         `json:"platform"`
		Digest    string         `json:"digest"`
		Referrers []metaReferrer `json:"referrers"`
	} `json:"platforms"`
	ReferrersMode   map[string]string `json:"referrersMode"`
	Blobs           map[string]int    `json:"blobs"`
	Requests        map[string]int    `json:"requests"`
	RequestsTotal   int               `json:"requestsTotal"`
	SourceDateEpoch *int64            `json:"sourceDateEpoch"`
	SBOMs           []struct {
		Platform string         `json:"platform"`
		Packages map[string]int `json:"packages"`
		Cached   bool           `json:"cached"`
	} `json:"sboms"`
}

type metaReferrer struct {
	Digest       string   `json:"digest"`
	ArtifactType string   `json:"artifactType"`
	Format       string   `json:"format"`
	Repositories []string `json:"repositories"`
}

// in returns the referrers of refs a build pushed to repository repo.
func in(refs []metaReferrer, repo string) []metaReferrer {
	var out []metaReferrer
	for _, r := range refs {
		if slices.Contains(r.Repositories, repo) {
			out = append(out, r)
		}
	}
	return out
}

func readMeta(t *testing.T, path string) *buildMeta {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &buildMeta{}
	if err := json.Unmarshal(b, m); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return m
}

// referrerDigests returns "platform format digest" lines of m.
func (m *buildMeta) referrerDigests() []string {
	var out []string
	for _, p := range m.Platforms {
		for _, r := range p.Referrers {
			out = append(out, fmt.Sprintf("%s %s %s", p.Platform, r.Format, r.Digest))
		}
	}
	return out
}

// writeFiles writes files (name → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), []byte(data), 0o644)
	}
}

func writeFile(t *testing.T, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
}
