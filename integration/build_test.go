package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	orasoci "oras.land/oras-go/v2/content/oci"

	"github.com/affix-oci/affix/internal/buildkittest"
	"github.com/affix-oci/affix/internal/registrytest"
)

// epoch is the SOURCE_DATE_EPOCH of the reproducible builds.
const epoch = "1700000000"

// TestBuildSinglePlatform builds one platform with RUN steps and pushes it
// to a registry with the referrers API and to one without; the SBOM lists
// what the RUN steps installed, and every phase is a vertex of the rawjson
// progress stream.
func TestBuildSinglePlatform(t *testing.T) {
	d := daemon(t, 0)
	dir := singleContext(t)
	e := newEnv(t)
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registry(t, kind)
			meta := filepath.Join(t.TempDir(), "metadata.json")
			r := e.ok(t, "build", "--builder", d.Addr, "--build-arg", "PKG_VERSION=1.2.3",
				"--push", "-t", reg.Ref("single:v1"), "--insecure-registry", reg.Host,
				"--progress", "rawjson", "--metadata-file", meta, dir)
			got := readBack(t, newRepo(t, reg, "single"), "v1")
			got.check(t, []string{hostPlatform}, map[string][]pkg{hostPlatform: singlePackages}, nil)

			m := readMeta(t, meta)
			if m.Digest != got.index.Digest.String() || m.Index.Digest != m.Digest || m.Descriptor.Digest != m.Digest {
				t.Errorf("metadata index %s / %s / %s, registry has %s", m.Digest, m.Index.Digest, m.Descriptor.Digest, got.index.Digest)
			}
			if m.ImageName != reg.Ref("single:v1") || !m.Pushed {
				t.Errorf("metadata image.name %q pushed %v", m.ImageName, m.Pushed)
			}
			if len(m.Descriptor.Annotations) != 0 {
				// buildx writes the image exporter's response: no names, no created.
				t.Errorf("metadata containerimage.descriptor annotations %v, want none", m.Descriptor.Annotations)
			}
			wantMode := "tag-schema"
			if reg.Referrers {
				wantMode = "api"
			}
			if m.Blobs["uploaded"] == 0 {
				t.Errorf("metadata blobs %v: want the uploads counted, as push's", m.Blobs)
			}
			if mode := m.ReferrersMode[reg.Ref("single")]; mode != wantMode {
				t.Errorf("referrers mode %v, want %s", m.ReferrersMode, wantMode)
			}
			if m.RequestsTotal == 0 || m.Requests["PUT"] == 0 {
				t.Errorf("requests %v (total %d)", m.Requests, m.RequestsTotal)
			}
			if len(m.Platforms) != 1 || len(m.Platforms[0].Referrers) != 1 || m.Platforms[0].Referrers[0].Digest != got.sboms[hostPlatform].Digest.String() {
				t.Errorf("metadata platforms %+v, registry SBOM %s", m.Platforms, got.sboms[hostPlatform].Digest)
			}

			// Every affix phase is a completed vertex of the stream.
			vs := rawVertices(t, r.stderr)
			repo := reg.Ref("single")
			for _, name := range []string{
				"sbom " + hostPlatform,
				"push " + repo + ": layers and platform manifests",
				"push " + repo + ": sbom " + hostPlatform,
				"push " + repo + ": index, tag v1",
			} {
				v, ok := vs[name]
				if !ok {
					t.Errorf("no vertex %q in the rawjson stream; vertices: %v", name, keys(vs))
					continue
				}
				if v.Started == nil || v.Completed == nil || v.Error != "" {
					t.Errorf("vertex %q: started %v completed %v error %q", name, v.Started, v.Completed, v.Error)
				}
			}
			if !slices.ContainsFunc(keys(vs), func(n string) bool { return strings.Contains(n, "RUN") }) {
				t.Errorf("no RUN step among the vertices %v", keys(vs))
			}
		})
	}
}

type rawVertex struct {
	Name      string     `json:"name"`
	Started   *time.Time `json:"started"`
	Completed *time.Time `json:"completed"`
	Cached    bool       `json:"cached"`
	Error     string     `json:"error"`
}

// rawVertices reads a --progress rawjson stream: the last state of each
// vertex, by name.
func rawVertices(t *testing.T, stream string) map[string]rawVertex {
	t.Helper()
	out := map[string]rawVertex{}
	sc := bufio.NewScanner(strings.NewReader(stream))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var ss struct {
			Vertexes []rawVertex `json:"vertexes"`
		}
		if err := json.Unmarshal([]byte(line), &ss); err != nil {
			t.Fatalf("rawjson line %q: %v", line, err)
		}
		for _, v := range ss.Vertexes {
			prev := out[v.Name]
			if v.Started == nil {
				v.Started = prev.Started
			}
			if v.Completed == nil {
				v.Completed = prev.Completed
			}
			v.Cached = v.Cached || prev.Cached
			out[v.Name] = v
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestBuildTwoPlatforms builds two platforms (COPY and TARGETARCH-selected
// binaries) and pushes them in one command to four tags in three
// registries: olareg with the referrers API (two tags), olareg without it,
// and distribution 2.8.
func TestBuildTwoPlatforms(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	api := registry(t, registrytest.OlaregAPI)
	noapi := registry(t, registrytest.OlaregNoAPI)
	dist := registry(t, registrytest.Distribution)
	meta := filepath.Join(t.TempDir(), "metadata.json")
	e := newEnv(t)
	e.ok(t, "build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","),
		"--push", "-t", api.Ref("two:v1"), "-t", api.Ref("two:latest"), "-t", noapi.Ref("two:v1"), "-t", dist.Ref("two:v1"),
		"--insecure-registry", api.Host, "--insecure-registry", noapi.Host, "--insecure-registry", dist.Host,
		"--metadata-file", meta, dir)
	m := readMeta(t, meta)
	for _, c := range []struct {
		reg  *registrytest.Registry
		tag  string
		mode string
	}{{api, "v1", "api"}, {api, "latest", "api"}, {noapi, "v1", "tag-schema"}, {dist, "v1", "tag-schema"}} {
		t.Run(string(c.reg.Kind)+"/"+c.tag, func(t *testing.T) {
			got := readBack(t, newRepo(t, c.reg, "two"), c.tag)
			got.check(t, twoPlatforms, twoPackages, twoForeign)
			if got.index.Digest.String() != m.Digest {
				t.Errorf("index %s, metadata says %s", got.index.Digest, m.Digest)
			}
			if mode := m.ReferrersMode[c.reg.Ref("two")]; mode != c.mode {
				t.Errorf("referrers mode %q, want %q (%v)", mode, c.mode, m.ReferrersMode)
			}
			// Each repository has its own SBOMs, which name it.
			for i, p := range m.Platforms {
				refs := in(p.Referrers, c.reg.Ref("two"))
				if p.Platform != twoPlatforms[i] || len(p.Referrers) != 3 || len(refs) != 1 || refs[0].Digest != got.sboms[p.Platform].Digest.String() {
					t.Errorf("metadata platform %+v, registry SBOM %s", p, got.sboms[p.Platform].Digest)
				}
				if doc := got.docs[p.Platform]; doc == nil || !strings.HasPrefix(doc.Name, c.reg.Ref("two")+"@") {
					t.Errorf("%s: the SBOM in %s does not name it", p.Platform, c.reg.Ref("two"))
				}
			}
		})
	}
	if !slices.Equal(m.Tags, []string{api.Ref("two:v1"), api.Ref("two:latest"), noapi.Ref("two:v1"), dist.Ref("two:v1")}) {
		t.Errorf("metadata tags %v", m.Tags)
	}
	// affix attach in a repository the build pushed to after another one
	// makes the SBOMs the build put there: nothing new.
	for _, reg := range []*registrytest.Registry{noapi, dist} {
		attached := filepath.Join(t.TempDir(), "attach.json")
		e.ok(t, "attach", "--insecure-registry", reg.Host, "--metadata-file", attached, reg.Ref("two:v1"))
		am := readMeta(t, attached)
		for i, p := range am.Platforms {
			want := in(m.Platforms[i].Referrers, reg.Ref("two"))
			if len(p.Referrers) != 1 || len(want) != 1 || p.Referrers[0].Digest != want[0].Digest {
				t.Errorf("%s: attach after build: referrers %+v, the build pushed %+v", reg.Kind, p.Referrers, want)
			}
		}
		readBack(t, newRepo(t, reg, "two"), "v1") // still one SPDX referrer per platform
	}
}

// TestBuildOutputForms pushes with buildx's image output form, names and
// exporter keys given in --output instead of --push -t: zstd layers, which
// the SBOM scan reads like gzip ones.
func TestBuildOutputForms(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	api := registry(t, registrytest.OlaregAPI)
	noapi := registry(t, registrytest.OlaregNoAPI)
	newEnv(t).ok(t, "build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","),
		"--output", `type=image,"name=`+api.Ref("forms:v1")+","+noapi.Ref("forms:v1")+`",push=true,compression=zstd,force-compression=true`,
		"--insecure-registry", api.Host, "--insecure-registry", noapi.Host, dir)
	for _, reg := range []*registrytest.Registry{api, noapi} {
		repo := newRepo(t, reg, "forms")
		got := readBack(t, repo, "v1")
		got.check(t, twoPlatforms, twoPackages, twoForeign)
		for _, p := range twoPlatforms {
			b, err := content.FetchAll(t.Context(), repo, got.manifests[p])
			if err != nil {
				t.Fatal(err)
			}
			var m ocispec.Manifest
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for _, l := range m.Layers {
				if l.MediaType != ocispec.MediaTypeImageLayerZstd {
					t.Errorf("%s %s: layer %s is %s, want zstd", reg.Kind, p, l.Digest, l.MediaType)
				}
			}
		}
	}
}

// TestBuildTwoNodes builds each platform on its own buildkitd and pushes
// the merged index; with SOURCE_DATE_EPOCH it equals one node's build.
func TestBuildTwoNodes(t *testing.T) {
	d0, d1 := daemon(t, 0), daemon(t, 1)
	dir := twoContext(t)
	noapi := registry(t, registrytest.OlaregNoAPI)
	api := registry(t, registrytest.OlaregAPI)
	e := newEnv(t, "SOURCE_DATE_EPOCH="+epoch)
	meta := filepath.Join(t.TempDir(), "nodes.json")
	e.ok(t, "build", "--builder", "linux/amd64="+d0.Addr, "--builder", "linux/arm64="+d1.Addr,
		"--push", "-t", noapi.Ref("nodes:v1"), "-t", api.Ref("nodes:v1"),
		"--insecure-registry", noapi.Host, "--insecure-registry", api.Host,
		"--progress", "plain", "--metadata-file", meta, dir)
	m := readMeta(t, meta)
	for _, reg := range []*registrytest.Registry{noapi, api} {
		got := readBack(t, newRepo(t, reg, "nodes"), "v1")
		got.check(t, twoPlatforms, twoPackages, twoForeign)
		if got.index.Digest.String() != m.Digest {
			t.Errorf("%s: index %s, metadata says %s", reg.Kind, got.index.Digest, m.Digest)
		}
	}
	// One node building both platforms gives the same index.
	// -q prints only the digest, as --iidfile writes it.
	one := filepath.Join(t.TempDir(), "one.json")
	iid := filepath.Join(t.TempDir(), "iid")
	r := e.ok(t, "build", "--builder", d0.Addr, "--platform", strings.Join(twoPlatforms, ","),
		"-t", noapi.Ref("nodes:v1"), "--metadata-file", one, "-q", "--iidfile", iid, dir)
	if m1 := readMeta(t, one); m1.Digest != m.Digest {
		t.Errorf("one node: index %s, two nodes: %s", m1.Digest, m.Digest)
	}
	if b, err := os.ReadFile(iid); err != nil || string(b) != m.Digest || r.stdout != m.Digest+"\n" {
		t.Errorf("-q --iidfile: stdout %q, iidfile %q (%v), want %s", r.stdout, b, err, m.Digest)
	}
	if !strings.Contains(r.stderr, "affix: warning: no output specified") {
		t.Errorf("a build without --push or --output does not warn that nothing was exported:\n%s", r)
	}
}

// TestBuildReproducible rebuilds with SOURCE_DATE_EPOCH and --no-cache
// (and no SBOM cache): the same index and SBOM referrer digests, and no
// duplicate referrers on a registry without the referrers API. A third
// build reads the SBOMs from the cache.
func TestBuildReproducible(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	dist := registry(t, registrytest.Distribution)
	e := newEnv(t, "SOURCE_DATE_EPOCH="+epoch)
	build := func(e *env, name string, extra ...string) (*buildMeta, result) {
		meta := filepath.Join(t.TempDir(), name+".json")
		args := append([]string{"build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","),
			"--push", "-t", dist.Ref("repro:v1"), "--insecure-registry", dist.Host,
			"--progress", "plain", "--metadata-file", meta}, extra...)
		r := e.ok(t, append(args, dir)...)
		return readMeta(t, meta), r
	}
	first, _ := build(e, "first")
	// Another SBOM cache, and nothing from BuildKit's.
	second, _ := build(e.with("AFFIX_CACHE_DIR="+t.TempDir()), "second", "--no-cache", "--no-sbom-cache")
	if first.Digest != second.Digest {
		t.Errorf("index digest %s, rebuilt %s", first.Digest, second.Digest)
	}
	if a, b := first.referrerDigests(), second.referrerDigests(); !slices.Equal(a, b) || len(a) != 2 {
		t.Errorf("SBOM referrers %v, rebuilt %v", a, b)
	}
	if first.SourceDateEpoch == nil || fmt.Sprint(*first.SourceDateEpoch) != epoch {
		t.Errorf("metadata sourceDateEpoch %v", first.SourceDateEpoch)
	}
	for _, s := range second.SBOMs {
		if s.Cached {
			t.Errorf("%s: SBOM cached with --no-sbom-cache", s.Platform)
		}
	}
	// The SBOM cache of the first build serves the third.
	third, r := build(e, "third")
	if len(third.SBOMs) != 2 {
		t.Fatalf("metadata sboms %+v", third.SBOMs)
	}
	for _, s := range third.SBOMs {
		if !s.Cached {
			t.Errorf("%s: SBOM scanned again for an identical manifest", s.Platform)
		}
	}
	if !strings.Contains(r.stderr, "cached") {
		t.Errorf("the sbom tasks do not say cached:\n%s", r)
	}
	if !slices.Equal(first.referrerDigests(), third.referrerDigests()) {
		t.Errorf("SBOM referrers %v, from the cache %v", first.referrerDigests(), third.referrerDigests())
	}
	got := readBack(t, newRepo(t, dist, "repro"), "v1")
	got.check(t, twoPlatforms, twoPackages, twoForeign)
	// The referrers tag lists each SBOM once.
	for plat, m := range got.manifests {
		if n := len(referrers(t, newRepo(t, dist, "repro"), m)); n != 1 {
			t.Errorf("%s: %d referrers after three pushes, want 1", plat, n)
		}
	}
}

// TestBuildOCIOutput writes the image and its SBOM manifests to an OCI
// layout directory and a tar: oras-go and `oras discover --oci-layout` find
// one SPDX referrer per platform, an identical rebuild writes the same tar,
// affix ls and get read it (and what oras attach --oci-layout adds to it,
// which affix push publishes too), and `affix push` of the layout publishes the image with those SBOMs,
// without scanning again.
func TestBuildOCIOutput(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	e := newEnv(t, "SOURCE_DATE_EPOCH="+epoch)
	out := t.TempDir()
	layout := filepath.Join(out, "layout")
	tarball := filepath.Join(out, "image.tar")
	base := []string{"build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","), "-t", "example.com/affix/two:v1", "-t", "example.com/affix/two:latest"}
	e.ok(t, append(base, "--output", "type=oci,dest="+layout+",tar=false", dir)...)
	// The directory holds what the tar does: no BuildKit scratch (ingest).
	if ents, err := os.ReadDir(layout); err != nil || len(ents) != 3 {
		t.Errorf("layout directory %s holds %v (%v), want blobs, index.json, oci-layout", layout, ents, err)
	}
	e.ok(t, append(base, "--output", "type=oci,dest="+tarball, dir)...)
	// dest=- writes the same tar to stdout.
	toStdout := e.ok(t, append(base, "--output", "type=oci,dest=-", dir)...)
	if want, err := os.ReadFile(tarball); err != nil || toStdout.stdout != string(want) {
		t.Errorf("dest=-: %d bytes on stdout, want the %d bytes of dest=%s (%v)", len(toStdout.stdout), len(want), tarball, err)
	}

	store, err := orasoci.NewWithContext(t.Context(), layout)
	if err != nil {
		t.Fatal(err)
	}
	inDir := readBack(t, store, "v1")
	inDir.check(t, twoPlatforms, twoPackages, twoForeign)
	tarStore, err := orasoci.NewFromTar(t.Context(), tarball)
	if err != nil {
		t.Fatal(err)
	}
	inTar := readBack(t, tarStore, "v1")
	// The tar has no referrers tag index: docker load and ctr import would
	// make an image of it (ref.name sha256-<hex>) and fail to unpack it.
	if n := tarIndexEntries(t, tarball); n != 4 {
		t.Errorf("the tar's index.json lists %d entries, want 4 (two tags of the image, two SBOM manifests)", n)
	}
	if inTar.index.Digest != inDir.index.Digest {
		t.Errorf("tar index %s, directory %s", inTar.index.Digest, inDir.index.Digest)
	}
	for _, p := range twoPlatforms {
		if inTar.sboms[p].Digest != inDir.sboms[p].Digest {
			t.Errorf("%s: tar SBOM %s, directory %s", p, inTar.sboms[p].Digest, inDir.sboms[p].Digest)
		}
	}
	// index.json: the image first, once per tag, then one SBOM manifest
	// per platform (oras's form), then each platform's referrers tag index
	// (regctl's; TestConsumersLayout reads it).
	var idx struct {
		Manifests []struct {
			Digest       string            `json:"digest"`
			ArtifactType string            `json:"artifactType"`
			Annotations  map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 6 || idx.Manifests[0].Digest != inDir.index.Digest.String() || idx.Manifests[1].Digest != inDir.index.Digest.String() ||
		idx.Manifests[0].Annotations[ocispec.AnnotationRefName] != "v1" || idx.Manifests[1].Annotations[ocispec.AnnotationRefName] != "latest" ||
		idx.Manifests[2].ArtifactType != mediaTypeSPDX || idx.Manifests[3].ArtifactType != mediaTypeSPDX ||
		idx.Manifests[4].Annotations[ocispec.AnnotationRefName] != "sha256-"+inDir.manifests[twoPlatforms[0]].Digest.Encoded() ||
		idx.Manifests[5].Annotations[ocispec.AnnotationRefName] != "sha256-"+inDir.manifests[twoPlatforms[1]].Digest.Encoded() {
		t.Errorf("index.json: %s", b)
	}

	// An identical rebuild writes the same tar.
	again := filepath.Join(out, "again.tar")
	e.ok(t, append(base, "--output", "type=oci,dest="+again, dir)...)
	if a, b := fileSum(t, tarball), fileSum(t, again); a != b {
		t.Errorf("identical rebuild: tar %s, then %s", a, b)
	}

	t.Run("oras discover", func(t *testing.T) {
		for _, src := range []string{layout, tarball} {
			for _, p := range twoPlatforms {
				subject, refs := orasDiscoverSPDX(t, "--oci-layout", "--platform", p, src+":v1")
				if subject != inDir.manifests[p].Digest.String() || !slices.Equal(refs, []string{inDir.sboms[p].Digest.String()}) {
					t.Errorf("oras discover --oci-layout --platform %s %s:v1: %s with %v, want %s with referrer %s", p, src, subject, refs, inDir.manifests[p].Digest, inDir.sboms[p].Digest)
				}
			}
		}
	})

	// affix sbom reads the layout affix build wrote: the SBOM manifests
	// index.json lists beside the image are referrers, not images to scan,
	// and a fresh scan names the same packages as the SBOMs in the layout.
	t.Run("affix sbom", func(t *testing.T) {
		se := newEnv(t, "SOURCE_DATE_EPOCH="+epoch)
		for _, src := range []string{"oci-layout:" + layout, "oci-archive:" + tarball} {
			sboms := t.TempDir()
			se.ok(t, "sbom", "--all-platforms", "-o", sboms+"/", src)
			for _, p := range twoPlatforms {
				b, err := os.ReadFile(filepath.Join(sboms, strings.ReplaceAll(p, "/", "-")+".spdx.json"))
				if err != nil {
					t.Fatalf("affix sbom %s: %v", src, err)
				}
				doc := &spdxDoc{}
				if err := json.Unmarshal(b, doc); err != nil {
					t.Fatalf("affix sbom %s %s: %v", src, p, err)
				}
				if got, want := doc.names(), inDir.docs[p].names(); !slices.Equal(got, want) {
					t.Errorf("affix sbom %s %s: packages %v, the layout's SBOM has %v", src, p, got, want)
				}
			}
		}
	})

	// affix ls and get read the layout as they read a registry: the SBOM
	// manifests index.json lists are the referrers of their platforms.
	t.Run("affix ls and get", func(t *testing.T) {
		for _, src := range []string{"oci-layout:" + layout, "oci-archive:" + tarball + ":v1"} {
			var tree lsJSON
			if err := json.Unmarshal([]byte(e.ok(t, "ls", "--json", src).stdout), &tree); err != nil {
				t.Fatal(err)
			}
			if tree.Root.Digest != inDir.index.Digest.String() {
				t.Errorf("ls %s: root %s, want the index %s", src, tree.Root.Digest, inDir.index.Digest)
			}
			for _, c := range tree.Root.Children {
				var refs []string
				for _, r := range c.Children {
					if r.Kind == "referrer" && r.ArtifactType == mediaTypeSPDX {
						refs = append(refs, r.Digest)
					}
				}
				if want := inDir.sboms[c.Platform].Digest.String(); !slices.Equal(refs, []string{want}) {
					t.Errorf("ls %s: %s has SPDX referrers %v, want %s", src, c.Platform, refs, want)
				}
			}
			for _, p := range twoPlatforms {
				doc := &spdxDoc{}
				if err := json.Unmarshal([]byte(e.ok(t, "get", "--verify", "--platform", p, src).stdout), doc); err != nil {
					t.Fatalf("affix get %s %s: %v", src, p, err)
				}
				if got, want := doc.names(), inDir.docs[p].names(); !slices.Equal(got, want) {
					t.Errorf("affix get %s %s: packages %v, the layout's SBOM has %v", src, p, got, want)
				}
			}
		}
	})

	// What oras attach --oci-layout adds to the layout (a VEX document on
	// a platform, a signature on the index) shows in affix ls and is
	// pushed with the image by affix push, before the tag.
	t.Run("oras attach then affix push", func(t *testing.T) {
		work := filepath.Join(t.TempDir(), "layout")
		if err := os.CopyFS(work, os.DirFS(layout)); err != nil {
			t.Fatal(err)
		}
		files := t.TempDir()
		for name, body := range map[string]string{"vex.json": `{"vex":true}`, "sig.txt": "signature"} {
			if err := os.WriteFile(filepath.Join(files, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		oras := toolBin(t, "oras")
		attach := func(args ...string) string {
			cmd := append([]string{"attach", "--oci-layout", "--format", "go-template={{.digest}}"}, args...)
			return strings.TrimSpace(string(runToolIn(t, files, oras, cmd...)))
		}
		vex := attach("--artifact-type", "application/vnd.example.vex+json", "--platform", "linux/arm64", work+":v1", "vex.json")
		sig := attach("--artifact-type", "application/vnd.example.sig", work+":v1", "sig.txt")

		var tree lsJSON
		if err := json.Unmarshal([]byte(e.ok(t, "ls", "--json", "oci-layout:"+work+":v1").stdout), &tree); err != nil {
			t.Fatal(err)
		}
		if !lsHas(tree, "linux/arm64", vex) || !lsHas(tree, "", sig) {
			t.Errorf("affix ls of the layout lacks the VEX %s on linux/arm64 or the signature %s on the index: %+v", vex, sig, tree)
		}
		reg := registry(t, registrytest.OlaregNoAPI)
		pe := newEnv(t)
		pe.ok(t, "push", "--insecure-registry", reg.Host, "oci-layout:"+work+":v1", reg.Ref("attached:v1"))
		tree = lsJSON{}
		if err := json.Unmarshal([]byte(pe.ok(t, "ls", "--json", "--insecure-registry", reg.Host, reg.Ref("attached:v1")).stdout), &tree); err != nil {
			t.Fatal(err)
		}
		if !lsHas(tree, "linux/arm64", vex) || !lsHas(tree, "", sig) {
			t.Errorf("affix ls of the pushed image lacks the VEX %s on linux/arm64 or the signature %s on the index: %+v", vex, sig, tree)
		}
	})

	t.Run("affix push", func(t *testing.T) {
		dist := registry(t, registrytest.Distribution)
		api := registry(t, registrytest.OlaregAPI)
		// A fresh SBOM cache and another name than the build's: a scan
		// would give other SBOM digests than the layout's.
		pe := newEnv(t)
		for _, c := range []struct {
			reg    *registrytest.Registry
			source string
		}{{dist, "oci-layout:" + layout}, {api, "oci-archive:" + tarball}} {
			meta := filepath.Join(t.TempDir(), "push.json")
			pe.ok(t, "push", "--insecure-registry", c.reg.Host, "--metadata-file", meta, c.source, c.reg.Ref("pushed:v1"))
			got := readBack(t, newRepo(t, c.reg, "pushed"), "v1")
			got.check(t, twoPlatforms, twoPackages, twoForeign)
			if got.index.Digest != inDir.index.Digest {
				t.Errorf("%s: pushed index %s, layout index %s", c.source, got.index.Digest, inDir.index.Digest)
			}
			for _, p := range twoPlatforms {
				if got.sboms[p].Digest != inDir.sboms[p].Digest {
					t.Errorf("%s %s: pushed SBOM %s, the layout has %s (scanned again?)", c.source, p, got.sboms[p].Digest, inDir.sboms[p].Digest)
				}
			}
		}
	})
}

func fileSum(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// tarIndexEntries returns how many entries the index.json of the layout
// tar p lists, and fails on one that names a referrers tag index.
func tarIndexEntries(t *testing.T, p string) int {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no index.json: %v", p, err)
		}
		if h.Name != "index.json" {
			continue
		}
		var idx ocispec.Index
		if err := json.NewDecoder(tr).Decode(&idx); err != nil {
			t.Fatal(err)
		}
		for _, m := range idx.Manifests {
			if strings.HasPrefix(m.Annotations[ocispec.AnnotationRefName], "sha256-") {
				t.Errorf("%s: index.json tags %s %s", p, m.Digest, m.Annotations[ocispec.AnnotationRefName])
			}
		}
		return len(idx.Manifests)
	}
}

// TestBuildErrors: a failing Dockerfile, an unreachable buildkitd, a bad
// --platform, --push without -t, an invalid -t, a bad --output, and a push
// where one of two registries is unreachable all fail with a clear message
// and a non-zero exit, and no tag moves.
func TestBuildErrors(t *testing.T) {
	d := daemon(t, 0)
	dist := registry(t, registrytest.Distribution)
	good := singleContext(t)
	bad := t.TempDir()
	writeFiles(t, bad, map[string]string{"Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo failing on purpose; exit 3\"]\n"})
	copyBusybox(t, bad)
	unreachable := "unix://" + filepath.Join(t.TempDir(), "no-buildkitd.sock")
	// A tar --output below a regular file can never be written (a missing
	// directory is created, as buildx does).
	notDir := filepath.Join(t.TempDir(), "file")
	writeFiles(t, filepath.Dir(notDir), map[string]string{"file": ""})
	newLayout := filepath.Join(t.TempDir(), "new", "layout")
	e := newEnv(t)
	push := func(repo string) []string {
		return []string{"--push", "-t", dist.Ref(repo + ":v1"), "--insecure-registry", dist.Host, "--progress", "plain"}
	}
	for _, c := range []struct {
		name  string
		args  []string
		code  int
		want  []string
		repos []string
		// partial: the push began (blobs and SBOMs may be there), only
		// the tags must not have moved.
		partial bool
	}{
		{"failing Dockerfile", append(append([]string{"build", "--builder", d.Addr}, push("fails")...), bad), 1,
			[]string{"build failed", "exit code: 3"}, []string{"fails"}, false},
		{"unreachable buildkitd", append(append([]string{"build", "--builder", unreachable}, push("unreachable")...), good), 1,
			[]string{"buildkitd unreachable", "no-buildkitd.sock"}, []string{"unreachable"}, false},
		{"bad platform", append(append([]string{"build", "--builder", unreachable, "--platform", "bogus"}, push("badplatform")...), good), 2,
			[]string{`platform "bogus"`, "os[(os.version)]/arch"}, []string{"badplatform"}, false},
		{"push without tag", []string{"build", "--builder", unreachable, "--push", good}, 2,
			[]string{"--push needs at least one -t"}, nil, false},
		{"invalid tag", []string{"build", "--builder", unreachable, "--push", "-t", "Bad/Name:v1", good}, 2,
			[]string{`-t "Bad/Name:v1"`}, nil, false},
		{"unsupported output", []string{"build", "--builder", unreachable, "--output", "type=docker", good}, 2,
			[]string{`type "docker" is not supported`}, nil, false},
		{"tar output nowhere", append(append([]string{"build", "--builder", d.Addr, "--output", "type=oci,dest=" + filepath.Join(notDir, "x.tar")}, push("tarnowhere")...), good), 2,
			[]string{"file/x.tar", "file is not a directory"}, []string{"tarnowhere"}, false},
		// The --output directory it made, and its parent, are gone
		// again.
		{"one registry unreachable", []string{"build", "--builder", d.Addr, "--build-arg", "PKG_VERSION=1.2.3",
			"--push", "-t", dist.Ref("partial:v1"), "-t", "127.0.0.1:1/partial:v1",
			"--insecure-registry", dist.Host, "--insecure-registry", "127.0.0.1:1",
			"--output", "type=oci,tar=false,dest=" + newLayout, good}, 1,
			[]string{"no tag moved", "127.0.0.1:1"}, []string{"partial"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.run(t, c.args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d\n%s", r.code, c.code, r)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q\n%s", w, r)
				}
			}
			if !strings.Contains(r.stderr, "affix: error: ") {
				t.Errorf("no error line\n%s", r)
			}
			for _, repo := range c.repos {
				if c.partial {
					noTags(t, dist, repo)
				} else {
					nothingPushed(t, dist, repo)
				}
			}
		})
	}
	if _, err := os.Lstat(filepath.Dir(newLayout)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the --output directory a failed build made is still there (%v)", err)
	}
}

// TestBuildTagRefused: every SBOM is in both repositories, then one
// registry refuses the tag. The other tag has moved by then; the error says
// which moved and which did not, and the refused tag is not there.
func TestBuildTagRefused(t *testing.T) {
	d := daemon(t, 0)
	dist := registry(t, registrytest.Distribution)
	noapi := registry(t, registrytest.OlaregNoAPI)
	proxy := registrytest.StartProxy(t, noapi.Host)
	proxy.Inject(registrytest.Fault{Method: http.MethodPut, Path: `/refused/manifests/v1$`, Action: registrytest.Status, Code: http.StatusForbidden})
	proxied := proxy.Host + "/refused:v1"
	r := newEnv(t).run(t, "build", "--builder", d.Addr, "--build-arg", "PKG_VERSION=1.2.3",
		"--push", "-t", dist.Ref("refused:v1"), "-t", proxied,
		"--insecure-registry", dist.Host, "--insecure-registry", proxy.Host, "--progress", "plain", singleContext(t))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r)
	}
	want := "tags moved: " + dist.Host + "/refused:v1; not moved: " + proxied
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "403") {
		t.Errorf("stderr lacks %q and the 403\n%s", want, r)
	}
	readBack(t, newRepo(t, dist, "refused"), "v1")
	noTags(t, noapi, "refused")
}

// TestDockerPlugin installs affix with `make install` into a temporary
// PREFIX and DOCKER_CONFIG and runs it as a Docker CLI plugin through the
// docker client of this machine.
func TestDockerPlugin(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		requireIntegration(t, fmt.Errorf("docker client not found"))
	}
	makeBin, err := exec.LookPath("make")
	if err != nil {
		requireIntegration(t, fmt.Errorf("make not found"))
	}
	root, err := buildkittest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	prefix, cfg := t.TempDir(), t.TempDir()
	install := exec.CommandContext(t.Context(), makeBin, "-C", root, "install", "PREFIX="+prefix, "DOCKER_CONFIG="+cfg)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, p := range []string{"bin/affix", "bin/affix-scanner"} {
		if fi, err := os.Stat(filepath.Join(prefix, p)); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("make install: %s: %v", p, err)
		}
	}
	run := func(args ...string) string {
		cmd := exec.CommandContext(t.Context(), docker, args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfg)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("affix", "version"); !strings.Contains(out, "affix ") || !strings.Contains(out, "buildkit:") || !strings.Contains(out, "syft:") {
		t.Errorf("docker affix version:\n%s", out)
	}
	help := run("affix", "--help")
	for _, c := range []string{"build", "push", "attach", "ls", "get", "convert", "version"} {
		if !regexpLine(help, c) {
			t.Errorf("docker affix --help does not list %s:\n%s", c, help)
		}
	}
	if out := run("--help"); !strings.Contains(out, "affix") {
		t.Errorf("docker --help does not list the affix plugin:\n%s", out)
	}
	// docker affix alone, also after docker's global flags: the root help,
	// as affix alone gives.
	for _, args := range [][]string{{"affix"}, {"--context", "default", "affix"}, {"-l", "info", "affix"}} {
		if out := run(args...); !regexpLine(out, "build") || !strings.Contains(out, "docker affix [command]") {
			t.Errorf("docker %s:\n%s", strings.Join(args, " "), out)
		}
	}
	if out := run("affix", "build", "--help"); !strings.Contains(out, "--push") || !strings.Contains(out, "--sbom-format") || !strings.Contains(out, "docker affix build ") {
		t.Errorf("docker affix build --help:\n%s", out)
	}
	// docker help affix COMMAND, and docker's shell completion, which
	// asks the plugin (docker 24 and later; Debian bookworm's docker.io is
	// 20.10).
	// (docker version exits 1 without an engine, having printed the
	// client's version.)
	vout, _ := exec.CommandContext(t.Context(), docker, "version", "--format", "{{.Client.Version}}").Output()
	if v := strings.TrimSpace(string(vout)); dockerMajor(v) < 24 {
		t.Logf("docker client %s: help and completion of plugins not checked", v)
		return
	}
	if out := run("help", "affix", "ls"); !strings.Contains(out, "docker affix ls ") {
		t.Errorf("docker help affix ls:\n%s", out)
	}
	if out := run("__complete", "affix", "l"); !regexp.MustCompile(`(?m)^ls\t`).MatchString(out) {
		t.Errorf("docker __complete affix l:\n%s", out)
	}
}

// dockerMajor returns the major version of a docker client version
// ("28.2.2"), 0 when it has none.
func dockerMajor(v string) int {
	n, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	return n
}

// regexpLine reports whether help lists command c ("  c   description").
func regexpLine(help, c string) bool {
	for _, l := range strings.Split(help, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[0] == c && strings.HasPrefix(l, "  ") {
			return true
		}
	}
	return false
}

// TestExampleHello builds and pushes examples/hello (prepared by its
// prepare.sh) for two platforms; `affix ls` shows each platform with its
// SPDX referrer, and each SBOM lists the example's packages.
func TestExampleHello(t *testing.T) {
	d := daemon(t, 0)
	if _, err := exec.LookPath("go"); err != nil {
		requireIntegration(t, fmt.Errorf("go not found (prepare.sh cross-compiles the example)"))
	}
	root, err := buildkittest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctxDir := t.TempDir()
	prep := exec.CommandContext(t.Context(), filepath.Join(root, "examples", "hello", "prepare.sh"), ctxDir)
	prep.Env = append(os.Environ(), "BUSYBOX="+buildkittest.Busybox(t))
	if out, err := prep.CombinedOutput(); err != nil {
		t.Fatalf("prepare.sh: %v\n%s", err, out)
	}
	dist := registry(t, registrytest.Distribution)
	e := newEnv(t, "SOURCE_DATE_EPOCH="+epoch)
	e.ok(t, "build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","),
		"--push", "-t", dist.Ref("hello:demo"), "--insecure-registry", dist.Host, "--progress", "plain", ctxDir)

	got := readBack(t, newRepo(t, dist, "hello"), "demo")
	common := []pkg{{"base-files", ""}, {"netbase", ""}, {"ms", ""}, {"left-pad", ""}, {"requests", "2.31.0"}, {"idna", "3.6"},
		{"golang.org/x/sync", ""}, {"github.com/google/uuid", ""}}
	got.check(t, twoPlatforms, map[string][]pkg{"linux/amd64": common, "linux/arm64": common}, nil)

	ls := e.ok(t, "ls", "--insecure-registry", dist.Host, dist.Ref("hello:demo"))
	lines := strings.Split(ls.stdout, "\n")
	for _, p := range twoPlatforms {
		i := slices.IndexFunc(lines, func(l string) bool {
			return strings.Contains(l, p) && strings.Contains(l, got.manifests[p].Digest.String())
		})
		if i < 0 || i+1 >= len(lines) || !strings.Contains(lines[i+1], mediaTypeSPDX) || !strings.Contains(lines[i+1], got.sboms[p].Digest.String()) {
			t.Errorf("affix ls does not show %s with its SPDX referrer %s under it:\n%s", p, got.sboms[p].Digest, ls.stdout)
		}
	}
}

// TestBuildFormatsAndOutputs: SPDX and CycloneDX referrers per platform,
// a push and an OCI layout output from one build (the same referrers in
// both), and --sbom=false publishing the image without referrers.
func TestBuildFormatsAndOutputs(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	api := registry(t, registrytest.OlaregAPI)
	e := newEnv(t)
	layout := filepath.Join(t.TempDir(), "layout")
	meta := filepath.Join(t.TempDir(), "meta.json")
	e.ok(t, "build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","),
		"--sbom-format", "spdx-json", "--sbom-format", "cyclonedx-json", "--sbom-format", "spdx-intoto",
		"--push", "-t", api.Ref("formats:v1"), "--insecure-registry", api.Host,
		"--output", "type=oci,dest="+layout+",tar=false", "--metadata-file", meta, dir)
	m := readMeta(t, meta)
	repo := newRepo(t, api, "formats")
	got := readBack(t, repo, "v1")
	got.check(t, twoPlatforms, twoPackages, twoForeign)
	store, err := orasoci.NewWithContext(t.Context(), layout)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Platforms {
		if len(p.Referrers) != 3 || p.Referrers[0].Format != "cyclonedx-json" || p.Referrers[1].Format != "spdx-intoto" || p.Referrers[2].Format != "spdx-json" {
			t.Fatalf("%s: metadata referrers %+v", p.Platform, p.Referrers)
		}
		for name, tgt := range map[string]target{"registry": repo, "layout": store} {
			var types, digests []string
			for _, r := range referrers(t, tgt, got.manifests[p.Platform]) {
				types = append(types, r.ArtifactType)
				digests = append(digests, r.Digest.String())
			}
			slices.Sort(types)
			if !slices.Equal(types, []string{mediaTypeSPDX, mediaTypeCycloneDX, mediaTypeInToto}) {
				t.Errorf("%s %s: referrers %v", name, p.Platform, types)
			}
			for _, r := range p.Referrers {
				if !slices.Contains(digests, r.Digest) {
					t.Errorf("%s %s: no referrer %s (%s)", name, p.Platform, r.Digest, r.Format)
				}
			}
		}
	}

	// affix push of the layout publishes the three referrers it holds, as
	// they are (nothing scanned again).
	pushMeta := filepath.Join(t.TempDir(), "push.json")
	e.ok(t, "push", "--sbom-format", "spdx-json", "--sbom-format", "cyclonedx-json", "--sbom-format", "spdx-intoto",
		"--insecure-registry", api.Host, "--metadata-file", pushMeta, "oci-layout:"+layout, api.Ref("formats-pushed:v1"))
	pm := readMeta(t, pushMeta)
	if !slices.Equal(pm.referrerDigests(), m.referrerDigests()) {
		t.Errorf("affix push of the layout: referrers\n%v\nwant the build's\n%v", pm.referrerDigests(), m.referrerDigests())
	}

	// --sbom=false: the image alone.
	noSBOM := filepath.Join(t.TempDir(), "nosbom.json")
	e.ok(t, "build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","), "--sbom=false",
		"--push", "-t", api.Ref("nosbom:v1"), "--insecure-registry", api.Host, "--metadata-file", noSBOM, dir)
	nm := readMeta(t, noSBOM)
	if nm.Digest != m.Digest || len(nm.SBOMs) != 0 {
		t.Errorf("--sbom=false: index %s (with SBOMs %s), sboms %+v", nm.Digest, m.Digest, nm.SBOMs)
	}
	for _, p := range twoPlatforms {
		if refs := referrers(t, newRepo(t, api, "nosbom"), got.manifests[p]); len(refs) != 0 {
			t.Errorf("--sbom=false: %s has referrers %v", p, refs)
		}
	}
}

// TestBuildOutputSeveralRepositories pushes to two repositories and writes
// a layout: the SBOMs name the repository they go to, and the layout, as a
// directory and as a tar, holds those of the first repository and no
// others (whose blobs it does not have).
func TestBuildOutputSeveralRepositories(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	api := registry(t, registrytest.OlaregAPI)
	e := newEnv(t)
	layout := filepath.Join(t.TempDir(), "layout")
	tarball := filepath.Join(t.TempDir(), "image.tar")
	for _, out := range []string{"type=oci,dest=" + layout + ",tar=false", "type=oci,dest=" + tarball} {
		e.ok(t, "build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","),
			"--push", "-t", api.Ref("several-a:v1"), "-t", api.Ref("several-b:v1"), "--insecure-registry", api.Host,
			"--output", out, dir)
	}
	first := readBack(t, newRepo(t, api, "several-a"), "v1")
	second := readBack(t, newRepo(t, api, "several-b"), "v1")
	store, err := orasoci.NewWithContext(t.Context(), layout)
	if err != nil {
		t.Fatal(err)
	}
	tarStore, err := orasoci.NewFromTar(t.Context(), tarball)
	if err != nil {
		t.Fatal(err)
	}
	for name, tgt := range map[string]target{"directory": store, "tar": tarStore} {
		got := readBack(t, tgt, "v1")
		for _, p := range twoPlatforms {
			if got.sboms[p].Digest != first.sboms[p].Digest || got.sboms[p].Digest == second.sboms[p].Digest {
				t.Errorf("%s %s: SBOM %s, want %s's %s (not %s's %s)", name, p, got.sboms[p].Digest,
					"several-a", first.sboms[p].Digest, "several-b", second.sboms[p].Digest)
			}
		}
	}
	// Two tags (one per repository) of the image, one SBOM per platform.
	if n := tarIndexEntries(t, tarball); n != 4 {
		t.Errorf("the tar's index.json lists %d entries, want 4", n)
	}
}

// TestBuildTempDirs builds with TMPDIR pointing at an empty directory but
// for what builds and scans killed earlier left there (an abandoned
// temporary layout and scan directory, as SIGKILL leaves them): after
// the build, TMPDIR is empty: its own directories removed, the abandoned
// ones reclaimed.
func TestBuildTempDirs(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	tmp := t.TempDir()
	past := time.Now().Add(-time.Hour)
	for _, name := range []string{"affix-build-1234", "affix-sbom-5678"} {
		p := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Join(p, "blobs", "sha256"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
	newEnv(t, "TMPDIR="+tmp).ok(t, "build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","), "-q", dir)
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("TMPDIR holds %v after the build, want nothing", names)
	}
}

// TestBuildMerge builds each platform on its own, as a matrix of CI
// runners would, and pushes each with its SBOM: amd64 under its own tag,
// arm64 by digest (push-by-digest=true, no tag written); then merges
// them: the merged index lists both platforms, each with its one SPDX
// referrer listing the packages the Dockerfile put there; promoted to
// another repository by merge, it keeps its digest and its SBOMs, and an
// SBOM's cosign signature goes with it and verifies there.
func TestBuildMerge(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	dist := registry(t, registrytest.Distribution)
	e := newEnv(t, "SOURCE_DATE_EPOCH="+epoch)
	e.ok(t, "build", "--builder", d.Addr, "--platform", twoPlatforms[0], "--push", "-t", dist.Ref("merged:v1-amd64"), "--insecure-registry", dist.Host, dir)
	meta := filepath.Join(t.TempDir(), "arm64.json")
	e.ok(t, "build", "--builder", d.Addr, "--platform", twoPlatforms[1], "--insecure-registry", dist.Host, "--metadata-file", meta,
		"--output", "type=image,name="+dist.Ref("merged")+",push-by-digest=true,name-canonical=true,push=true", dir)
	m := readMeta(t, meta)
	if !m.Pushed || len(m.Tags) != 0 || m.ImageName != dist.Ref("merged") {
		t.Errorf("push-by-digest metadata: pushed %v, tags %v, image.name %q", m.Pushed, m.Tags, m.ImageName)
	}
	if a := m.Descriptor.Annotations; a[ocispec.AnnotationRefName] != "" || a["io.containerd.image.name"] != "" {
		t.Errorf("push-by-digest metadata: the descriptor names a tag that was not written: %v", a)
	}
	for _, tg := range tags(t, dist, "merged") {
		if tg != "v1-amd64" && !strings.HasPrefix(tg, "sha256-") {
			t.Errorf("push-by-digest wrote tag %q", tg)
		}
	}
	e.ok(t, "merge", "--insecure-registry", dist.Host, dist.Ref("merged:v1"), ":v1-amd64", "@"+m.Digest)
	got := readBack(t, newRepo(t, dist, "merged"), "v1")
	got.check(t, twoPlatforms, twoPackages, twoForeign)
	// A release pipeline signs an SBOM (cosign v3: a referrer of the SBOM
	// manifest) before it promotes the image.
	signer := newCosignKey(t)
	signed := got.sboms[twoPlatforms[0]].Digest.String()
	signer.sign(t, dist.Ref("merged@"+signed))
	// Promoted to another repository: the manifests and their SBOMs are
	// copied byte for byte, so the index and the referrers keep their
	// digests, and the SBOM's signature is copied with it.
	e.ok(t, "merge", "--insecure-registry", dist.Host, dist.Ref("released:v1"), dist.Ref("merged:v1"))
	signer.verify(t, dist.Ref("released@"+signed))
	rel := readBack(t, newRepo(t, dist, "released"), "v1")
	rel.check(t, twoPlatforms, twoPackages, twoForeign)
	if rel.index.Digest != got.index.Digest {
		t.Errorf("promoted index %s, merged %s", rel.index.Digest, got.index.Digest)
	}
	for p, s := range got.sboms {
		if rel.sboms[p].Digest != s.Digest {
			t.Errorf("%s: promoted SBOM %s, merged %s", p, rel.sboms[p].Digest, s.Digest)
		}
	}
	// The one build of both platforms gives the same platform manifests.
	both := filepath.Join(t.TempDir(), "both.json")
	e.ok(t, "build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","), "--metadata-file", both, dir)
	for _, p := range readMeta(t, both).Platforms {
		if got.manifests[p.Platform].Digest.String() != p.Digest {
			t.Errorf("%s: merged %s, built together %s", p.Platform, got.manifests[p.Platform].Digest, p.Digest)
		}
	}
}

// TestBuildStdinDockerfile builds with the Dockerfile on stdin (-f -), as
// `docker buildx build -f - . <<EOF` does: the same image as with the
// Dockerfile in the context, and nothing left in TMPDIR.
func TestBuildStdinDockerfile(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	tmp := t.TempDir()
	e := newEnv(t, "SOURCE_DATE_EPOCH="+epoch, "TMPDIR="+tmp)
	args := []string{"build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","), "-q"}
	want := strings.TrimSpace(e.ok(t, append(args, dir)...).stdout)
	if err := os.Remove(filepath.Join(dir, "Dockerfile")); err != nil {
		t.Fatal(err)
	}
	r := e.runInput(t, twoDockerfile, append(args, "-f", "-", dir)...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != want {
		t.Fatalf("-f -: index %q, want %s (the Dockerfile in the context)\n%s", strings.TrimSpace(r.stdout), want, r)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("TMPDIR holds %d entries after the build", len(ents))
	}
	if r := e.runInput(t, twoDockerfile, append(args, "-f", "-", "-")...); r.code != 2 || !strings.Contains(r.stderr, "stdin can hold the Dockerfile or the context, not both") {
		t.Errorf("-f - with CONTEXT -: %s", r)
	}
}

// TestBuildStdinContext builds with the context on stdin (CONTEXT -), as
// `docker build - < context.tar.gz` does: a gzip tar of the context gives
// the same image as the directory; a Dockerfile alone builds without
// context; a Dockerfile alone beside -f is refused.
func TestBuildStdinContext(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	e := newEnv(t, "SOURCE_DATE_EPOCH="+epoch, "TMPDIR="+t.TempDir())
	args := []string{"build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","), "-q"}
	want := strings.TrimSpace(e.ok(t, append(args, dir)...).stdout)
	r := e.runInput(t, string(gzipTar(t, dir)), append(args, "-")...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != want {
		t.Fatalf("CONTEXT - (a gzip tar): index %q, want %s (the directory)\n%s", strings.TrimSpace(r.stdout), want, r)
	}
	// -f names a file of the context on stdin, not of the working
	// directory.
	sub := filepath.Join(dir, "sub")
	writeFiles(t, sub, map[string]string{"Build.dockerfile": twoDockerfile})
	os.Remove(filepath.Join(dir, "Dockerfile"))
	r = e.runInput(t, string(gzipTar(t, dir)), append(args, "-f", "sub/Build.dockerfile", "-")...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != want {
		t.Errorf("CONTEXT - with -f sub/Build.dockerfile: index %q, want %s\n%s", strings.TrimSpace(r.stdout), want, r)
	}
	if r := e.runInput(t, "FROM scratch\nLABEL org.example.k=v\n", "build", "--builder", d.Addr, "-q", "-"); r.code != 0 {
		t.Errorf("CONTEXT - (a Dockerfile alone): %s", r)
	}
	if r := e.runInput(t, "FROM scratch\n", "build", "--builder", d.Addr, "-f", filepath.Join(dir, "Dockerfile"), "-"); r.code != 2 || !strings.Contains(r.stderr, "CONTEXT - is a Dockerfile, and -f") {
		t.Errorf("CONTEXT - (a Dockerfile) with -f: %s", r)
	}
	// Messages name stdin's Dockerfile as the user gave it, not the
	// temporary file it was written to.
	if r := e.runInput(t, "FROM scratch\nCOPY nope /\n", "build", "--builder", d.Addr, "-"); r.code != 1 || !strings.Contains(r.stderr, "building the Dockerfile of the context on stdin (CONTEXT -)") || strings.Contains(r.stderr, "affix-context-") {
		t.Errorf("CONTEXT - (a failing Dockerfile): %s", r)
	}
	if r := e.runInput(t, "FROM scratch\nCOPY nope /\n", "build", "--builder", d.Addr, "-f", "-", t.TempDir()); r.code != 1 || !strings.Contains(r.stderr, "building the Dockerfile on stdin (-f -)") || strings.Contains(r.stderr, "affix-dockerfile-") {
		t.Errorf("-f - (a failing Dockerfile): %s", r)
	}
	if r := e.runInput(t, string(gzipTar(t, dir)), "build", "--builder", d.Addr, "-f", "no/Dockerfile", "-"); r.code != 2 || !strings.Contains(r.stderr, `"no/Dockerfile of the context on stdin (CONTEXT -)"`) || strings.Contains(r.stderr, "affix-context-") {
		t.Errorf("CONTEXT - with a missing -f: %s", r)
	}
}

// gzipTar returns a gzip tar of the directory dir, as `tar czf - -C dir .`
// writes it.
func gzipTar(t *testing.T, dir string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	zw.Close()
	return b.Bytes()
}

// TestBuildMountsBaseLayers: a build FROM an image of the registry it
// pushes to mounts that image's layers from its repository instead of
// uploading them again; only what the build added is uploaded.
// --mount-from naming a repository that lacks the blobs is warned about,
// and the blobs uploaded.
func TestBuildMountsBaseLayers(t *testing.T) {
	d := daemon(t, 0)
	e := newEnv(t)
	reg := registry(t, registrytest.Distribution)
	e.ok(t, "build", "--builder", d.Addr, "--build-arg", "PKG_VERSION=1.2.3", "--push", "-t", reg.Ref("mountbase:v1"),
		"--insecure-registry", reg.Host, singleContext(t))
	base := readBack(t, newRepo(t, reg, "mountbase"), "v1")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM " + reg.Ref("mountbase:v1") + "\nCOPY note.txt /note.txt\n", "note.txt": "derived\n"})
	var baseManifest ocispec.Manifest
	fetchJSON(t, newRepo(t, reg, "mountbase"), base.manifests[hostPlatform], &baseManifest)
	layers := len(baseManifest.Layers)
	if layers == 0 {
		t.Fatalf("%s has no layers", reg.Ref("mountbase:v1"))
	}
	for _, tt := range []struct {
		repo    string
		flags   []string
		mounted int
		warn    string
	}{
		{repo: "mountderived", mounted: layers},
		{repo: "mountelsewhere", flags: []string{"--mount-from", "nothere"}, warn: "--mount-from nothere: no blob could be mounted"},
	} {
		meta := filepath.Join(t.TempDir(), "metadata.json")
		r := e.ok(t, slices.Concat([]string{"build", "--builder", d.Addr, "--push", "-t", reg.Ref(tt.repo + ":v1"),
			"--insecure-registry", reg.Host, "--metadata-file", meta}, tt.flags, []string{dir})...)
		m := readMeta(t, meta)
		if m.Blobs["mounted"] != tt.mounted || m.Blobs["uploaded"] == 0 {
			t.Errorf("%s: metadata blobs %v: want the %d layers of %s mounted, the rest uploaded", tt.repo, m.Blobs, tt.mounted, reg.Ref("mountbase:v1"))
		}
		if !strings.Contains(r.stderr, tt.warn) || tt.warn == "" && strings.Contains(r.stderr, "could be mounted") {
			t.Errorf("%s: stderr %q, want %q", tt.repo, r.stderr, tt.warn)
		}
	}
}

// TestBuildSignalDuringTagWrites: ^C (SIGINT) while the first tag of a
// build is being written lets every tag of every repository be written,
// so that one release's tags move together: exit 0, with a note.
func TestBuildSignalDuringTagWrites(t *testing.T) {
	d := daemon(t, 0)
	dist := registry(t, registrytest.Distribution)
	noapi := registry(t, registrytest.OlaregNoAPI)
	proxy := registrytest.StartProxy(t, noapi.Host)
	release := make(chan struct{})
	proxy.Inject(registrytest.Fault{Method: http.MethodPut, Path: `/sig/manifests/v1$`, Action: registrytest.Hold, Release: release})
	cmd := exec.CommandContext(t.Context(), affixBin(t), "build", "--builder", d.Addr, "--build-arg", "PKG_VERSION=1.2.3",
		"--push", "-t", proxy.Host+"/sig:v1", "-t", proxy.Host+"/sig:latest", "-t", dist.Ref("sig:v1"),
		"--insecure-registry", dist.Host, "--insecure-registry", proxy.Host, "--progress", "plain", singleContext(t))
	cmd.Env = newEnv(t).vars
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	held := "PUT /v2/sig/manifests/v1 [hold]"
	deadline := time.Now().Add(runTimeout)
	for !slices.Contains(proxy.Log(), held) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the write of tag v1 never came\n%s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // for the signal to be handled while the write is held
	close(release)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("affix build: %v\n%s", err, errb.String())
	}
	// The note (on a loaded machine the signal may be handled only as the
	// build ends, which a note says too).
	if !strings.Contains(errb.String(), "affix: interrupt signal received ") {
		t.Errorf("stderr lacks the note\n%s", errb.String())
	}
	readBack(t, newRepo(t, dist, "sig"), "v1")
	for _, tag := range []string{"v1", "latest"} {
		readBack(t, newRepo(t, noapi, "sig"), tag)
	}
}
