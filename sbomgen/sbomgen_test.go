package sbomgen

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/cataloging/pkgcataloging"
	"github.com/anchore/syft/syft/format/syftjson"
	"github.com/anchore/syft/syft/linux"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"

	"github.com/affix-oci/affix/internal/epoch"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
)

func TestSbomParseFormat(t *testing.T) {
	tests := []struct {
		in   string
		want Format
		err  bool
	}{
		{"spdx-json", SPDXJSON, false},
		{"spdx", SPDXJSON, false},
		{"application/spdx+json", SPDXJSON, false},
		{"cyclonedx-json", CycloneDXJSON, false},
		{"CDX", CycloneDXJSON, false},
		{"application/vnd.cyclonedx+json", CycloneDXJSON, false},
		{"syft-json", SyftJSON, false},
		{"syft", SyftJSON, false},
		{"spdx-tag-value", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFormat(tt.in)
			if tt.err {
				if !errors.Is(err, ErrUnknownFormat) {
					t.Fatalf("ParseFormat(%q) error = %v, want ErrUnknownFormat", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseFormat(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if got.MediaType() == "" || !strings.HasSuffix(got.Ext(), ".json") {
				t.Errorf("%s: media type %q, ext %q", got, got.MediaType(), got.Ext())
			}
		})
	}
}

// TestSbomSQLiteDriver checks the pure-Go driver syft's rpmdb cataloger needs
// for RPM 4.16+ databases is linked in (CGO_ENABLED=0 builds have no
// other).
func TestSbomSQLiteDriver(t *testing.T) {
	if !slices.Contains(sql.Drivers(), "sqlite") {
		t.Errorf("no sqlite driver registered: %v", sql.Drivers())
	}
}

func TestSbomNewOptions(t *testing.T) {
	if _, err := New(Options{Formats: []Format{"spdx-tv"}}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := New(Options{Concurrency: -1}); err == nil {
		t.Error("negative concurrency accepted")
	}
	t.Setenv(EnvSourceDateEpoch, "yesterday")
	if _, err := New(Options{NoCache: true}); err == nil || !strings.Contains(err.Error(), EnvSourceDateEpoch) {
		t.Errorf("invalid SOURCE_DATE_EPOCH: %v", err)
	}
	t.Setenv(EnvSourceDateEpoch, "")
	g, err := New(Options{Formats: []Format{CycloneDXJSON, CycloneDXJSON, SPDXJSON}, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Formats(); !slices.Equal(got, []Format{CycloneDXJSON, SPDXJSON}) {
		t.Errorf("formats = %v", got)
	}
}

// scan scans the manifest with a fresh uncached Generator.
func scan(t testing.TB, dir string, m ocispec.Descriptor, opts Options) *Result {
	t.Helper()
	r, err := newGen(t, opts).Image(context.Background(), openLayout(t, dir), m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func doc(t testing.TB, r *Result, f Format) []byte {
	t.Helper()
	d, ok := r.Document(f)
	if !ok {
		t.Fatalf("no %s document", f)
	}
	if d.MediaType != f.MediaType() {
		t.Errorf("%s document has media type %q", f, d.MediaType)
	}
	return d.Data
}

// syftPackages returns the packages of a syft JSON document.
func syftPackages(t testing.TB, data []byte) map[pkgKey]bool {
	t.Helper()
	var v struct {
		Artifacts []struct{ Name, Version, Type string }
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	out := map[pkgKey]bool{}
	for _, a := range v.Artifacts {
		out[pkgKey{a.Name, a.Version, a.Type}] = true
	}
	return out
}

func TestSbomFormats(t *testing.T) {
	dir, res := standard(t)
	m := res.Manifests[0]
	r := scan(t, dir, m, Options{Formats: Formats()})
	if len(r.Documents) != 3 {
		t.Fatalf("%d documents, want 3", len(r.Documents))
	}
	for i, f := range Formats() {
		if r.Documents[i].Format != f {
			t.Errorf("documents[%d] is %s, want %s", i, r.Documents[i].Format, f)
		}
		got, err := DescribedDigest(f, r.Documents[i].Data)
		if err != nil || got != m.Digest {
			t.Errorf("DescribedDigest(%s) = %s, %v; want %s", f, got, err, m.Digest)
		}
	}
	if r.Cached || r.Platform.Architecture != "amd64" || r.Manifest.Digest != m.Digest {
		t.Errorf("result: cached %v, platform %v, manifest %s", r.Cached, r.Platform, r.Manifest.Digest)
	}

	t.Run("spdx", func(t *testing.T) {
		d, err := spdxjson.Read(bytes.NewReader(doc(t, r, SPDXJSON)))
		if err != nil {
			t.Fatal(err)
		}
		if d.SPDXVersion != "SPDX-2.3" || d.DataLicense != "CC0-1.0" {
			t.Errorf("spdxVersion %q, dataLicense %q", d.SPDXVersion, d.DataLicense)
		}
		if !strings.HasPrefix(d.DocumentNamespace, "https://") || !strings.HasSuffix(d.DocumentName, "@"+m.Digest.String()) {
			t.Errorf("name %q, namespace %q", d.DocumentName, d.DocumentNamespace)
		}
		if len(d.CreationInfo.Creators) != 1 || d.CreationInfo.Creators[0].CreatorType != "Tool" || !strings.HasPrefix(d.CreationInfo.Creators[0].Creator, "affix-") {
			t.Errorf("creators %+v", d.CreationInfo.Creators)
		}
		names := map[string]bool{}
		var osPkgs []string
		for _, p := range d.Packages {
			names[p.PackageName] = true
			if p.PrimaryPackagePurpose == spdxPurposeOS {
				osPkgs = append(osPkgs, fmt.Sprintf("%s %s %s", p.PackageSPDXIdentifier, p.PackageName, p.PackageVersion))
			}
		}
		// The Debian 12 fixture names its distribution in one package,
		// which the image root contains (how Trivy finds the OS).
		if want := "OperatingSystem-debian-12 debian 12"; len(osPkgs) != 1 || osPkgs[0] != want {
			t.Errorf("operating system packages %q, want [%s]", osPkgs, want)
		}
		root := spdxRoot(d)
		if root == nil || !slices.ContainsFunc(d.Relationships, func(r *spdx.Relationship) bool {
			return r.RefA.ElementRefID == root.PackageSPDXIdentifier && r.Relationship == "CONTAINS" && r.RefB.ElementRefID == "OperatingSystem-debian-12"
		}) {
			t.Errorf("no relationship: image root CONTAINS OperatingSystem-debian-12")
		}
		for _, p := range fixture.Expected("linux/amd64") {
			if !names[p.Name] {
				t.Errorf("package %s missing", p.Name)
			}
		}
		var raw struct {
			DocumentDescribes []string `json:"documentDescribes"`
		}
		json.Unmarshal(doc(t, r, SPDXJSON), &raw)
		if len(raw.DocumentDescribes) != 1 {
			t.Errorf("documentDescribes = %v", raw.DocumentDescribes)
		}
	})
	t.Run("cyclonedx", func(t *testing.T) {
		var bom cyclonedx.BOM
		if err := cyclonedx.NewBOMDecoder(bytes.NewReader(doc(t, r, CycloneDXJSON)), cyclonedx.BOMFileFormatJSON).Decode(&bom); err != nil {
			t.Fatal(err)
		}
		if bom.BOMFormat != "CycloneDX" || bom.SpecVersion != cyclonedx.SpecVersion1_6 {
			t.Errorf("bomFormat %q, specVersion %v", bom.BOMFormat, bom.SpecVersion)
		}
		if !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") {
			t.Errorf("serialNumber %q", bom.SerialNumber)
		}
		c := bom.Metadata.Component
		if c == nil || c.Type != cyclonedx.ComponentTypeContainer || c.Version != m.Digest.String() || !strings.HasPrefix(c.PackageURL, "pkg:oci/") {
			t.Errorf("metadata.component %+v", c)
		}
		if bom.Components == nil || len(*bom.Components) < len(fixture.Expected("linux/amd64")) {
			t.Errorf("too few components")
		}
	})
	t.Run("syft", func(t *testing.T) {
		s, id, _, err := syftjson.NewFormatDecoder().Decode(bytes.NewReader(doc(t, r, SyftJSON)))
		if err != nil {
			t.Fatal(err)
		}
		if id != syftjson.ID || s.Artifacts.Packages.PackageCount() != r.PackageCount() {
			t.Errorf("format %s, %d packages, result says %d", id, s.Artifacts.Packages.PackageCount(), r.PackageCount())
		}
		if s.Descriptor.Name != "affix" {
			t.Errorf("descriptor name %q", s.Descriptor.Name)
		}
		if bytes.Contains(doc(t, r, SyftJSON), []byte(os.Getenv("HOME")+"/")) {
			t.Errorf("syft JSON mentions the home directory")
		}
	})
}

func TestSbomDescribedDigestErrors(t *testing.T) {
	d := digest.FromString("x")
	tests := []struct {
		name string
		f    Format
		doc  string
	}{
		{"not json", SPDXJSON, "{"},
		{"spdx no describes", SPDXJSON, `{"spdxVersion":"SPDX-2.3","packages":[{"SPDXID":"SPDXRef-a","externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:oci/a@` + d.String() + `"}]}]}`},
		{"spdx checksum disagrees", SPDXJSON, `{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-a"],"packages":[{"SPDXID":"SPDXRef-a","checksums":[{"algorithm":"SHA256","checksumValue":"00"}],"externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:oci/a@` + d.String() + `"}]}]}`},
		{"cdx no component", CycloneDXJSON, `{"bomFormat":"CycloneDX","metadata":{}}`},
		{"cdx not oci", CycloneDXJSON, `{"bomFormat":"CycloneDX","metadata":{"component":{"purl":"pkg:npm/a@1"}}}`},
		{"syft directory", SyftJSON, `{"source":{"type":"directory","metadata":{"path":"/"}}}`},
		{"unknown format", "xml", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := DescribedDigest(tt.f, []byte(tt.doc)); err == nil {
				t.Fatalf("DescribedDigest = %s, want an error", got)
			}
		})
	}
	ok := `{"spdxVersion":"SPDX-2.3","relationships":[{"spdxElementId":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBES","relatedSpdxElement":"SPDXRef-a"}],"packages":[{"SPDXID":"SPDXRef-a","checksums":[{"algorithm":"SHA256","checksumValue":"` + d.Encoded() + `"}],"externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:oci/a@` + strings.Replace(d.String(), ":", "%3A", 1) + `?arch=amd64"}]}]}`
	if got, err := DescribedDigest(SPDXJSON, []byte(ok)); err != nil || got != d {
		t.Errorf("DescribedDigest(relationship only) = %s, %v", got, err)
	}
}

func TestSbomPackages(t *testing.T) {
	dir, res := standard(t)
	for i, platform := range []string{"linux/amd64", "linux/arm64"} {
		t.Run(platform, func(t *testing.T) {
			r := scan(t, dir, res.Manifests[i], Options{Formats: []Format{SyftJSON, SPDXJSON, CycloneDXJSON}})
			got := syftPackages(t, doc(t, r, SyftJSON))
			for _, p := range fixture.Expected(platform) {
				if !got[pkgKey(p)] {
					t.Errorf("missing %+v; found %v", p, got)
				}
			}
			for _, p := range fixture.Deleted {
				if got[pkgKey(p)] {
					t.Errorf("%+v is deleted by the upper layer but listed", p)
				}
				for _, d := range r.Documents {
					if bytes.Contains(d.Data, []byte(`"`+p.Name+`"`)) || bytes.Contains(d.Data, []byte(p.Name+"-"+p.Version)) {
						t.Errorf("%s document mentions deleted %s", d.Format, p.Name)
					}
				}
			}
			if r.PackageCount() != len(got) {
				t.Errorf("result counts %d packages (%v), document lists %d", r.PackageCount(), r.Packages, len(got))
			}
		})
	}
}

func TestSbomDeterministic(t *testing.T) {
	dir, res := standard(t)
	m := res.Manifests[1]
	a := scan(t, dir, m, Options{Formats: Formats()})
	b := scan(t, dir, m, Options{Formats: Formats()})
	for i := range a.Documents {
		if !bytes.Equal(a.Documents[i].Data, b.Documents[i].Data) {
			t.Errorf("%s: two scans differ", a.Documents[i].Format)
		}
	}

	created := func(t *testing.T, r *Result) (spdx, cdx string) {
		var s struct {
			CreationInfo struct{ Created string } `json:"creationInfo"`
			Namespace    string                   `json:"documentNamespace"`
		}
		json.Unmarshal(doc(t, r, SPDXJSON), &s)
		var c struct{ Metadata struct{ Timestamp string } }
		json.Unmarshal(doc(t, r, CycloneDXJSON), &c)
		return s.CreationInfo.Created, c.Metadata.Timestamp
	}
	t.Run("config created", func(t *testing.T) {
		want := fixture.Epoch.Format(time.RFC3339)
		if s, c := created(t, a); s != want || c != want || !a.Created.Equal(fixture.Epoch) {
			t.Errorf("created %s / %s / %s, want %s", s, c, a.Created, want)
		}
		later := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
		spec := fixture.Variants()
		spec.Images = spec.Images[:1]
		spec.Images[0].Created = later
		d, res := writeLayout(t, spec)
		r := scan(t, d, res.Manifests[0], Options{Formats: Formats()})
		if s, c := created(t, r); s != later.Format(time.RFC3339) || c != s {
			t.Errorf("created %s / %s, want %s", s, c, later)
		}
	})
	t.Run("SOURCE_DATE_EPOCH", func(t *testing.T) {
		t.Setenv(EnvSourceDateEpoch, "1700000000")
		r := scan(t, dir, m, Options{Formats: Formats()})
		want := "2023-11-14T22:13:20Z"
		if s, c := created(t, r); s != want || c != want {
			t.Errorf("created %s / %s, want %s", s, c, want)
		}
		if bytes.Equal(doc(t, r, CycloneDXJSON), doc(t, a, CycloneDXJSON)) {
			t.Error("documents with different creation times are identical")
		}
	})
	t.Run("SOURCE_DATE_EPOCH equal to the config's created", func(t *testing.T) {
		// A reproducible build sets both to one instant: the documents
		// are those of a scan without it (affix attach later), so one
		// referrer, not two; a scan to the same instant given as
		// Options.Created too.
		for _, opts := range []Options{{Formats: Formats()}, {Formats: Formats(), Created: fixture.Epoch}} {
			t.Setenv(EnvSourceDateEpoch, strconv.FormatInt(fixture.Epoch.Unix(), 10))
			r := scan(t, dir, m, opts)
			for i := range a.Documents {
				if !bytes.Equal(r.Documents[i].Data, a.Documents[i].Data) {
					t.Errorf("%s (Created %v): differs from the scan without SOURCE_DATE_EPOCH", r.Documents[i].Format, opts.Created)
				}
			}
		}
	})
	t.Run("CreatedFromImage", func(t *testing.T) {
		// BuildKit resolved SOURCE_DATE_EPOCH=context: the environment
		// is not a number, and the config's created is the epoch.
		t.Setenv(EnvSourceDateEpoch, "context")
		if _, err := New(Options{}); err == nil || !strings.Contains(err.Error(), `SOURCE_DATE_EPOCH="context"`) {
			t.Errorf("New with SOURCE_DATE_EPOCH=context: %v", err)
		}
		r := scan(t, dir, m, Options{Formats: Formats(), CreatedFromImage: true})
		if !bytes.Equal(doc(t, r, SPDXJSON), doc(t, a, SPDXJSON)) {
			t.Error("CreatedFromImage does not give the config's created time")
		}
	})
	t.Run("Options.Created", func(t *testing.T) {
		t.Setenv(EnvSourceDateEpoch, "1700000000")
		at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		r := scan(t, dir, m, Options{Formats: Formats(), Created: at})
		if s, _ := created(t, r); s != "2020-01-01T00:00:00Z" {
			t.Errorf("created %s", s)
		}
	})
}

func TestSbomCreatedFor(t *testing.T) {
	fixed := time.Unix(1700000000, 0).UTC()
	cfg := time.Date(2024, 5, 6, 7, 8, 9, 500, time.UTC)
	tests := []struct {
		name         string
		gen, fromCfg time.Time
		want         time.Time
	}{
		{"fixed wins", fixed, cfg, fixed},
		{"config", time.Time{}, cfg, cfg.Truncate(time.Second)},
		{"neither", time.Time{}, time.Time{}, time.Unix(0, 0).UTC()},
		{"before epoch", time.Time{}, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, 0).UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Generator{created: tt.gen}
			if got := g.createdFor(&fetchedImage{created: tt.fromCfg}); !got.Equal(tt.want) {
				t.Errorf("createdFor = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSbomCache(t *testing.T) {
	dir, res := standard(t)
	m := res.Manifests[0]
	cacheDir := t.TempDir()
	ctx := context.Background()
	l := openLayout(t, dir)
	run := func(t *testing.T, opts Options) *Result {
		t.Helper()
		if opts.CacheDir == "" {
			opts.CacheDir = cacheDir
		}
		r, err := newGen(t, opts).Image(ctx, l, m)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	fresh := run(t, Options{NoCache: true, Formats: Formats()})
	if fresh.Cached {
		t.Fatal("NoCache result is cached")
	}
	if ents, _ := os.ReadDir(cacheDir); len(ents) != 0 {
		t.Fatalf("NoCache wrote %d cache entries", len(ents))
	}

	first := run(t, Options{})
	if first.Cached {
		t.Error("first scan is cached")
	}
	second := run(t, Options{})
	if !second.Cached {
		t.Error("second scan is not cached")
	}
	if !bytes.Equal(doc(t, first, SPDXJSON), doc(t, second, SPDXJSON)) || !bytes.Equal(doc(t, second, SPDXJSON), doc(t, fresh, SPDXJSON)) {
		t.Error("cached document differs from a fresh one")
	}
	if second.PackageCount() != fresh.PackageCount() || !second.Created.Equal(fresh.Created) || second.Platform.Architecture != "amd64" {
		t.Errorf("cached result %+v, fresh %+v", second, fresh)
	}
	if r := run(t, Options{NoCache: true}); r.Cached {
		t.Error("NoCache read the cache")
	}

	t.Run("key changes with format and options", func(t *testing.T) {
		if r := run(t, Options{Formats: []Format{SPDXJSON, CycloneDXJSON}}); r.Cached {
			t.Error("a format never cached came from the cache")
		}
		if r := run(t, Options{Formats: []Format{CycloneDXJSON}}); !r.Cached {
			t.Error("CycloneDX not cached after it was generated")
		} else if !bytes.Equal(doc(t, r, CycloneDXJSON), doc(t, fresh, CycloneDXJSON)) {
			t.Error("cached CycloneDX differs from a fresh one")
		}
		if r := run(t, Options{Name: "example.com/app:1"}); r.Cached {
			t.Error("another name came from the cache")
		}
		if r := run(t, Options{Created: time.Unix(5, 0)}); r.Cached {
			t.Error("another creation time came from the cache")
		}
		g := newGen(t, Options{NoCache: true})
		keys := map[string]bool{}
		for _, g := range []*Generator{g, {generator: g.generator, name: "x"}, {generator: g.generator, name: g.name, created: time.Unix(1, 0)}, {generator: "affix-other", name: g.name}} {
			for _, f := range Formats() {
				keys[g.cacheKey(m.Digest, f)] = true
			}
		}
		if len(keys) != 4*len(Formats()) {
			t.Errorf("%d distinct keys, want %d", len(keys), 4*len(Formats()))
		}
	})

	t.Run("damaged entries are ignored and rewritten", func(t *testing.T) {
		g := newGen(t, Options{CacheDir: cacheDir})
		p := g.cache.path(g.storeKey(g.cacheKey(m.Digest, SPDXJSON)), SPDXJSON)
		good, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for name, bad := range map[string][]byte{
			"garbage":    []byte("not a cache entry"),
			"truncated":  good[:len(good)-10],
			"bit flip":   append(append([]byte{}, good[:len(good)-3]...), 'X', '}', '\n'),
			"empty":      nil,
			"no newline": good[:bytes.IndexByte(good, '\n')],
		} {
			t.Run(name, func(t *testing.T) {
				if err := os.WriteFile(p, bad, 0o644); err != nil {
					t.Fatal(err)
				}
				r := run(t, Options{})
				if r.Cached {
					t.Fatal("damaged entry served")
				}
				if !bytes.Equal(doc(t, r, SPDXJSON), doc(t, fresh, SPDXJSON)) {
					t.Error("rescan differs")
				}
				if r := run(t, Options{}); !r.Cached {
					t.Error("entry not rewritten")
				}
			})
		}
	})

	t.Run("AFFIX_CACHE_DIR", func(t *testing.T) {
		root := t.TempDir()
		t.Setenv(EnvCacheDir, root)
		g, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		if g.cache == nil || g.cache.dir != filepath.Join(root, "sbom") {
			t.Errorf("cache %+v", g.cache)
		}
	})
}

func TestSbomImages(t *testing.T) {
	dir, res := variants(t)
	l := openLayout(t, dir)
	for _, c := range []int{1, 3} {
		g := newGen(t, Options{Concurrency: c})
		rs, err := g.Images(context.Background(), l, res.Manifests)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != len(res.Manifests) {
			t.Fatalf("%d results", len(rs))
		}
		for i, r := range rs {
			if r.Manifest.Digest != res.Manifests[i].Digest || oci.FormatPlatform(r.Platform) != oci.FormatPlatform(*res.Manifests[i].Platform) {
				t.Errorf("concurrency %d: result %d is %s %s, want %s", c, i, r.Manifest.Digest, oci.FormatPlatform(r.Platform), oci.FormatPlatform(*res.Manifests[i].Platform))
			}
			if r.Packages["apk"] != 1 {
				t.Errorf("result %d: packages %v", i, r.Packages)
			}
		}
	}
	// Platform from the config when the descriptor has none.
	m := res.Manifests[2]
	m.Platform = nil
	r, err := newGen(t, Options{}).Image(context.Background(), l, m)
	if err != nil {
		t.Fatal(err)
	}
	if got := oci.FormatPlatform(r.Platform); got != "linux/arm/v7" {
		t.Errorf("platform %s, want linux/arm/v7", got)
	}
}

// TestSbomNoLayers scans an image without layers (FROM scratch, nothing
// copied): valid documents with no packages.
func TestSbomNoLayers(t *testing.T) {
	dir, res := writeLayout(t, fixture.Spec{Images: []fixture.Image{{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}}}})
	r := scan(t, dir, res.Manifests[0], Options{Formats: Formats()})
	if r.PackageCount() != 0 {
		t.Errorf("packages %v", r.Packages)
	}
	for _, d := range r.Documents {
		if got, err := DescribedDigest(d.Format, d.Data); err != nil || got != res.Manifests[0].Digest {
			t.Errorf("%s: DescribedDigest = %s, %v", d.Format, got, err)
		}
	}
}

// emptyDir fails the test unless dir has no entries.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left behind in the temp dir: %s", e.Name())
	}
}

// putJSON writes v as a blob of the layout in dir.
func putJSON(t *testing.T, dir, mt string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := oci.DescriptorFor(mt, b)
	if err := os.WriteFile(blobPath(dir, d.Digest), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// withConfig writes manifest m with its config changed by edit (decoded
// as JSON), and returns the new manifest's descriptor.
func withConfig(t *testing.T, dir string, m ocispec.Manifest, edit func(map[string]any)) ocispec.Descriptor {
	t.Helper()
	b, err := os.ReadFile(blobPath(dir, m.Config.Digest))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	edit(c)
	m.Config = putJSON(t, dir, m.Config.MediaType, c)
	return putJSON(t, dir, ocispec.MediaTypeImageManifest, m)
}

func blobPath(dir string, d digest.Digest) string {
	return filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded())
}

func TestSbomBadInput(t *testing.T) {
	spec := fixture.Variants()
	spec.Images = spec.Images[:1]
	spec.Attestations = true
	readManifest := func(t *testing.T, dir string, d ocispec.Descriptor) ocispec.Manifest {
		var m ocispec.Manifest
		b, err := os.ReadFile(blobPath(dir, d.Digest))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(b, &m)
		return m
	}
	tests := []struct {
		name   string
		break_ func(t *testing.T, dir string, res *fixture.Result) ocispec.Descriptor
		want   error
		layer  bool // the error is about layer 0, and must name it by index and digest
	}{
		{"missing layer", func(t *testing.T, dir string, res *fixture.Result) ocispec.Descriptor {
			m := readManifest(t, dir, res.Manifests[0])
			os.Remove(blobPath(dir, m.Layers[0].Digest))
			return res.Manifests[0]
		}, oci.ErrBlobNotFound, true},
		{"corrupt layer", func(t *testing.T, dir string, res *fixture.Result) ocispec.Descriptor {
			m := readManifest(t, dir, res.Manifests[0])
			p := blobPath(dir, m.Layers[0].Digest)
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o644)
			return res.Manifests[0]
		}, oci.ErrDigestMismatch, true},
		{"truncated layer", func(t *testing.T, dir string, res *fixture.Result) ocispec.Descriptor {
			m := readManifest(t, dir, res.Manifests[0])
			p := blobPath(dir, m.Layers[0].Digest)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
			return res.Manifests[0]
		}, oci.ErrDigestMismatch, true},
		{"corrupt config", func(t *testing.T, dir string, res *fixture.Result) ocispec.Descriptor {
			m := readManifest(t, dir, res.Manifests[0])
			os.WriteFile(blobPath(dir, m.Config.Digest), []byte(`{"architecture":"amd64","os":"linux"}`), 0o644)
			return res.Manifests[0]
		}, oci.ErrDigestMismatch, false},
		{"wrong diff ID", func(t *testing.T, dir string, res *fixture.Result) ocispec.Descriptor {
			m := readManifest(t, dir, res.Manifests[0])
			b, _ := os.ReadFile(blobPath(dir, m.Config.Digest))
			var cfg ocispec.Image
			json.Unmarshal(b, &cfg)
			cfg.RootFS.DiffIDs[0] = digest.FromString("something else")
			m.Config = putJSON(t, dir, m.Config.MediaType, cfg)
			return putJSON(t, dir, ocispec.MediaTypeImageManifest, m)
		}, oci.ErrDigestMismatch, true},
		{"diff ID not a digest", func(t *testing.T, dir string, res *fixture.Result) ocispec.Descriptor {
			return withConfig(t, dir, readManifest(t, dir, res.Manifests[0]), func(c map[string]any) {
				c["rootfs"].(map[string]any)["diff_ids"].([]any)[0] = "sha256:not-hex"
			})
		}, ErrBadConfig, false},
		{"diff ID count", func(t *testing.T, dir string, res *fixture.Result) ocispec.Descriptor {
			return withConfig(t, dir, readManifest(t, dir, res.Manifests[0]), func(c map[string]any) {
				r := c["rootfs"].(map[string]any)
				r["diff_ids"] = append(r["diff_ids"].([]any), digest.FromString("extra").String())
			})
		}, ErrBadConfig, false},
		{"missing manifest", func(t *testing.T, dir string, res *fixture.Result) ocispec.Descriptor {
			os.Remove(blobPath(dir, res.Manifests[0].Digest))
			return res.Manifests[0]
		}, oci.ErrBlobNotFound, false},
		{"an index", func(t *testing.T, dir string, res *fixture.Result) ocispec.Descriptor {
			return res.Index
		}, ErrNotImage, false},
		{"an attestation manifest", func(t *testing.T, dir string, res *fixture.Result) ocispec.Descriptor {
			return res.Attestations[0]
		}, ErrNotImage, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, res := writeLayout(t, spec)
			desc := tt.break_(t, dir, res)
			tmp := t.TempDir()
			g := newGen(t, Options{TempDir: tmp, Formats: Formats()})
			_, err := g.Image(context.Background(), openLayout(t, dir), desc)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), desc.Digest.Encoded()[:12]) && !strings.Contains(err.Error(), "sha256:") {
				t.Errorf("error %q names no digest", err)
			}
			if tt.layer {
				layer := readManifest(t, dir, desc).Layers[0].Digest
				if want := fmt.Sprintf("layer 0 (%s): ", layer); !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
				// Neither the temporary directory nor stereoscope's cache
				// path named by the diff ID.
				for _, bad := range []string{tmp, "affix-sbom-", "layer cache"} {
					if strings.Contains(err.Error(), bad) {
						t.Errorf("error %q says %q", err, bad)
					}
				}
			}
			emptyDir(t, tmp)
		})
	}
}

// cancelingFetcher cancels a context when the first layer is fetched.
type cancelingFetcher struct {
	oci.Fetcher
	cancel func()
}

func (f cancelingFetcher) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if d.MediaType == ocispec.MediaTypeImageLayerGzip {
		f.cancel()
	}
	return f.Fetcher.Fetch(ctx, d)
}

func TestSbomCanceled(t *testing.T) {
	dir, res := standard(t)
	l := openLayout(t, dir)
	tmp := t.TempDir()
	g := newGen(t, Options{TempDir: tmp})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Image(ctx, l, res.Manifests[0]); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled before: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	if _, err := g.Image(ctx, cancelingFetcher{l, cancel}, res.Manifests[0]); !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), tmp) {
		t.Errorf("canceled during: %v; want context.Canceled, without the temporary directory", err)
	}
	emptyDir(t, tmp)
}

// extract unpacks the image m of the layout in dir into root, layer by
// layer: a layer's whiteouts and opaque directories first (they hide what
// lower layers hold), then its files and directories.
func extract(t *testing.T, dir string, m ocispec.Descriptor, root string) {
	t.Helper()
	b, err := os.ReadFile(blobPath(dir, m.Digest))
	if err != nil {
		t.Fatal(err)
	}
	var man ocispec.Manifest
	json.Unmarshal(b, &man)
	type entry struct {
		h    *tar.Header
		data []byte
	}
	for _, ld := range man.Layers {
		f, err := os.Open(blobPath(dir, ld.Digest))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		var entries []entry
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(tr)
			entries = append(entries, entry{h, data})
		}
		for _, e := range entries {
			fixture.ApplyWhiteout(filepath.Join(root, filepath.FromSlash(e.h.Name)))
		}
		for _, e := range entries {
			p := filepath.Join(root, filepath.FromSlash(e.h.Name))
			if strings.HasPrefix(filepath.Base(p), ".wh.") {
				continue
			}
			switch e.h.Typeflag {
			case tar.TypeDir:
				os.MkdirAll(p, 0o755)
			case tar.TypeReg:
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, e.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func TestSbomDir(t *testing.T) {
	dir, res := variants(t)
	m := res.Manifests[2] // linux/arm/v7
	img := scan(t, dir, m, Options{Formats: []Format{SyftJSON}})

	var results []*Result
	for _, sub := range []string{"a", "mount/b"} {
		root := filepath.Join(t.TempDir(), sub)
		extract(t, dir, m, root)
		r, err := newGen(t, Options{Formats: Formats(), Name: "example.com/app:1"}).Dir(context.Background(), root)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range r.Documents {
			if bytes.Contains(d.Data, []byte(root)) {
				t.Errorf("%s document names the scanned directory %s", d.Format, root)
			}
			if _, err := DescribedDigest(d.Format, d.Data); !errors.Is(err, ErrNoSubject) {
				t.Errorf("%s: DescribedDigest error %v, want ErrNoSubject", d.Format, err)
			}
		}
		results = append(results, r)
	}
	for i := range results[0].Documents {
		if !bytes.Equal(results[0].Documents[i].Data, results[1].Documents[i].Data) {
			t.Errorf("%s: the same filesystem at two paths gives different documents", results[0].Documents[i].Format)
		}
	}
	got, want := syftPackages(t, doc(t, results[0], SyftJSON)), syftPackages(t, doc(t, img, SyftJSON))
	if len(got) == 0 || len(got) != len(want) {
		t.Errorf("directory packages %v, image packages %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Errorf("directory scan misses %v", k)
		}
	}
	if _, err := spdxjson.Read(bytes.NewReader(doc(t, results[0], SPDXJSON))); err != nil {
		t.Errorf("SPDX: %v", err)
	}
	if !results[0].Created.Equal(time.Unix(0, 0)) {
		t.Errorf("created %s, want the Unix epoch", results[0].Created)
	}

	if _, err := newGen(t, Options{}).Dir(context.Background(), filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing directory scanned")
	}
}

// TestSbomDirConfined: a link chain that the host resolves out of the
// root (/y -> /, /z -> /y/OUTSIDE/app) adds nothing from outside it; in
// the filesystem scanned, /y/OUTSIDE does not exist.
func TestSbomDirConfined(t *testing.T) {
	outside := t.TempDir()
	root := t.TempDir()
	files := map[string]string{
		filepath.Join(outside, "app/node_modules/outside/package.json"): `{"name":"outside","version":"6.6.6"}`,
		filepath.Join(root, "app/node_modules/inside/package.json"):     `{"name":"inside","version":"1.0.0"}`,
	}
	for p, data := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{"y": "/", "z": "/y" + outside + "/app", "w": "y" + outside + "/app"} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := newGen(t, Options{Formats: []Format{SyftJSON}, NoCache: true}).Dir(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	got := syftPackages(t, doc(t, r, SyftJSON))
	var names []string
	for k := range got {
		names = append(names, fmt.Sprint(k))
	}
	if len(got) != 1 || !strings.Contains(names[0], "inside") {
		t.Errorf("packages %v, want only the inside npm package", names)
	}
}

// BenchmarkScan measures one scan of the fixture's linux/amd64 image
// (cache off) in a warm process. The first scan of a process also pays
// one-time set-up (syft's cataloger and license classifier initialisation,
// about 0.8 s and 350 MB here); it runs before the loop, so the figures
// are per image, comparable across runs. hack/bench-sbom.sh measures
// whole processes, set-up included.
func BenchmarkScan(b *testing.B) {
	dir, res := standard(b)
	benchScanFirst(b, dir, res)
}

// benchScanFirst benchmarks the SPDX scan of the first platform image of
// the layout in dir (res, its fixture), after one scan outside the loop
// (syft's set-up).
func benchScanFirst(b *testing.B, dir string, res *fixture.Result) {
	b.Helper()
	l := openLayout(b, dir)
	g := newGen(b, Options{Formats: []Format{SPDXJSON}})
	ctx := context.Background()
	if _, err := g.Image(ctx, l, res.Manifests[0]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Image(ctx, l, res.Manifests[0]); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSbomPURL(t *testing.T) {
	d := digest.Digest("sha256:" + strings.Repeat("ab", 32))
	tests := []struct {
		name, arch, want string
	}{
		{"image", "amd64", "pkg:oci/image@sha256%3A" + d.Encoded() + "?arch=amd64"},
		{"example.com/team/App:1.0", "arm64", "pkg:oci/app@sha256%3A" + d.Encoded() + "?arch=arm64&repository_url=example.com%2Fteam%2FApp"},
		{"localhost:5000/app", "", "pkg:oci/app@sha256%3A" + d.Encoded() + "?repository_url=localhost%3A5000%2Fapp"},
		{"localhost:5000/app:1", "", "pkg:oci/app@sha256%3A" + d.Encoded() + "?repository_url=localhost%3A5000%2Fapp"},
		{"app:latest@" + d.String(), "amd64", "pkg:oci/app@sha256%3A" + d.Encoded() + "?arch=amd64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := docInfo{name: tt.name, subject: d}.purl(tt.arch)
			if got != tt.want {
				t.Errorf("purl = %s\n          want %s", got, tt.want)
			}
			if pd, ok := ociPURLDigest(got); !ok || pd != d {
				t.Errorf("ociPURLDigest(%s) = %s, %v", got, pd, ok)
			}
		})
	}
}

// BenchmarkScanLargeLayer scans an image whose layer holds a 64 MiB
// incompressible file beside a dpkg database: B/op far below the layer
// size shows that layers are streamed to disk, not held in memory.
func BenchmarkScanLargeLayer(b *testing.B) {
	const size = 64 << 20
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{3}).Read(data)
	spec := fixture.Spec{Images: []fixture.Image{{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers: []fixture.Layer{{
			{Path: "etc/os-release", Data: []byte(fixture.DebianOSRelease)},
			{Path: "var/lib/dpkg/status", Data: []byte("Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\nDescription: libc\n\n")},
			{Path: "opt/big.bin", Data: data},
		}},
	}}}
	dir, res := writeLayout(b, spec)
	l := openLayout(b, dir)
	g := newGen(b, Options{Formats: []Format{SPDXJSON}})
	ctx := context.Background()
	if _, err := g.Image(ctx, l, res.Manifests[0]); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Image(ctx, l, res.Manifests[0]); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSPDXOSPackage(t *testing.T) {
	for _, c := range []struct {
		name    string
		release *linux.Release
		id      string // "" for no package
		version string
	}{
		{"no distribution", nil, "", ""},
		{"no ID", &linux.Release{Name: "Linux", VersionID: "1"}, "", ""},
		{"alpine", &linux.Release{ID: "alpine", VersionID: "3.20.3", PrettyName: "Alpine Linux v3.20"}, "OperatingSystem-alpine-3.20.3", "3.20.3"},
		{"rolling release", &linux.Release{ID: "arch"}, "OperatingSystem-arch", ""},
		{"characters not valid in an SPDX ID", &linux.Release{ID: "opensuse_leap", VersionID: "15.6+x"}, "OperatingSystem-opensuse-leap-15.6-x", "15.6+x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := spdxOSPackage(c.release)
			if c.id == "" {
				if p != nil {
					t.Fatalf("spdxOSPackage = %+v, want nil", p)
				}
				return
			}
			if p == nil {
				t.Fatal("spdxOSPackage = nil")
			}
			if string(p.PackageSPDXIdentifier) != c.id || p.PackageName != c.release.ID || p.PackageVersion != c.version || p.PrimaryPackagePurpose != "OPERATING_SYSTEM" || p.PackageDescription != c.release.PrettyName {
				t.Errorf("spdxOSPackage = id %q name %q version %q purpose %q description %q", p.PackageSPDXIdentifier, p.PackageName, p.PackageVersion, p.PrimaryPackagePurpose, p.PackageDescription)
			}
		})
	}
}

// TestSbomCanceledScanIsNoResult: syft returns what its finished
// catalogers found, without an error, when its context ends; that partial
// (here empty) catalog is an error, never a document.
func TestSbomCanceledScanIsNoResult(t *testing.T) {
	dir, res := standard(t)
	root := t.TempDir()
	extract(t, dir, res.Manifests[0], root)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, prefixGlobs := range []bool{false, true} {
		for _, ownIndex := range []bool{false, true} {
			if s, err := scanDir(ctx, root, "image", "affix test", pkgcataloging.ImageTag, prefixGlobs, ownIndex); !errors.Is(err, context.Canceled) {
				n := -1
				if s != nil {
					n = s.Artifacts.Packages.PackageCount()
				}
				t.Errorf("scan (prefix globs %v, own index %v) with a canceled context: %d packages, error %v; want context.Canceled", prefixGlobs, ownIndex, n, err)
			}
		}
	}
}

// TestSbomSourceDateEpoch: New reads SOURCE_DATE_EPOCH with epoch.Parse,
// the rule every affix command uses: ASCII digits only, nothing trimmed,
// errors wrapping epoch's sentinels and naming the variable and value.
func TestSbomSourceDateEpoch(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time // zero: from the image
		wantErr error
	}{
		{in: "", want: time.Time{}},
		{in: "0", want: time.Unix(0, 0).UTC()},
		{in: "1700000000", want: time.Unix(1700000000, 0).UTC()},
		{in: "253402300799", want: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{in: "  ", wantErr: epoch.ErrInvalid},
		{in: " 1700000000\n", wantErr: epoch.ErrInvalid},
		{in: "+1700000000", wantErr: epoch.ErrInvalid},
		{in: "1.5", wantErr: epoch.ErrInvalid},
		{in: "context", wantErr: epoch.ErrInvalid},
		{in: "-1", wantErr: epoch.ErrNegative},
		{in: "253402300800", wantErr: epoch.ErrTooLate},
		{in: "99999999999999999999", wantErr: epoch.ErrTooLate}, // past int64
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Setenv(EnvSourceDateEpoch, tt.in)
			g, err := New(Options{NoCache: true})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.HasPrefix(err.Error(), EnvSourceDateEpoch+"="+strconv.Quote(tt.in)+": ") {
					t.Errorf("err = %v, want %v naming %s=%q", err, tt.wantErr, EnvSourceDateEpoch, tt.in)
				}
				return
			}
			if err != nil || !g.created.Equal(tt.want) {
				t.Errorf("created %v, %v; want %v", g.created, err, tt.want)
			}
		})
	}

	t.Run("New names the variable", func(t *testing.T) {
		t.Setenv(EnvSourceDateEpoch, "99999999999999")
		if _, err := New(Options{NoCache: true}); err == nil || !strings.Contains(err.Error(), `SOURCE_DATE_EPOCH="99999999999999"`) {
			t.Errorf("New: %v", err)
		}
	})
	t.Run("Options.Created past year 9999", func(t *testing.T) {
		t.Setenv(EnvSourceDateEpoch, "")
		for _, at := range []time.Time{time.Unix(MaxSourceDateEpoch+1, 0), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)} {
			if _, err := New(Options{NoCache: true, Created: at}); err == nil {
				t.Errorf("Created %v accepted", at)
			}
		}
		if _, err := New(Options{NoCache: true, Created: time.Unix(MaxSourceDateEpoch, 0)}); err != nil {
			t.Errorf("Created 9999-12-31T23:59:59Z: %v", err)
		}
	})
}

func TestSbomPackageSummary(t *testing.T) {
	tests := []struct {
		pkgs map[string]int
		want string
	}{
		{nil, "0 packages (none)"},
		{map[string]int{}, "0 packages (none)"},
		{map[string]int{"deb": 2}, "2 packages (deb 2)"},
		{map[string]int{"deb": 1}, "1 package (deb 1)"},
		{map[string]int{"python": 1, "deb": 2, "npm": 1}, "4 packages (deb 2, npm 1, python 1)"},
	}
	for _, tt := range tests {
		if got := (&Result{Packages: tt.pkgs}).PackageSummary(); got != tt.want {
			t.Errorf("PackageSummary(%v) = %q, want %q", tt.pkgs, got, tt.want)
		}
	}
}

// TestUnreadable: a package database syft cannot read (an rpmdb that is
// no SQLite file) is reported in Result.Unreadable and the summary, also
// from the cache; syft's notes on executables without a package are not
// (the Standard fixture's Go binaries, busybox-like files).
func TestUnreadable(t *testing.T) {
	dir, res := writeLayout(t, fixture.Spec{Images: []fixture.Image{{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers: []fixture.Layer{{
			{Path: "etc/os-release", Data: []byte("ID=fedora\nVERSION_ID=40\n")},
			{Path: "var/lib/rpm/rpmdb.sqlite", Data: bytes.Repeat([]byte("not sqlite\x1b[2J"), 512)},
		}},
	}}})
	opts := Options{CacheDir: t.TempDir()}
	for _, cached := range []bool{false, true} {
		r := scan(t, dir, res.Manifests[0], opts)
		if r.Cached != cached {
			t.Fatalf("cached %v, want %v", r.Cached, cached)
		}
		if len(r.Unreadable) != 1 || !strings.HasPrefix(r.Unreadable[0], "/var/lib/rpm/rpmdb.sqlite: rpm-db-cataloger") {
			t.Errorf("cached %v: Unreadable %q, want the rpmdb", cached, r.Unreadable)
		}
		if s := r.PackageSummary(); !strings.Contains(s, `; 1 unreadable, first "/var/lib/rpm/rpmdb.sqlite: rpm-db-cataloger`) || strings.Contains(s, "\x1b") {
			t.Errorf("cached %v: summary %q", cached, s)
		}
	}
	std, stdRes := standard(t)
	for _, m := range stdRes.Manifests {
		if r := scan(t, std, m, Options{}); len(r.Unreadable) != 0 {
			t.Errorf("Standard fixture, %s: Unreadable %q, want none", oci.FormatPlatform(*m.Platform), r.Unreadable)
		}
	}
}

// TestMaxImageSize: a scan unpacks up to Options.MaxImageSize bytes of
// layers (AFFIX_MAX_IMAGE_SIZE when zero): exactly the image's size
// passes, a byte less fails with ErrImageTooLarge naming a layer, leaving
// nothing in TempDir.
func TestMaxImageSize(t *testing.T) {
	dir, res := writeLayout(t, fixture.Variants())
	m := res.Manifests[0]
	var man ocispec.Manifest
	b, err := os.ReadFile(blobPath(dir, m.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, l := range man.Layers {
		f, err := os.Open(blobPath(dir, l.Digest))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		size += n
	}
	for _, tt := range []struct {
		name string
		opts Options
		env  string
		ok   bool
	}{
		{"exactly the image", Options{MaxImageSize: size}, "", true},
		{"a byte less", Options{MaxImageSize: size - 1}, "", false},
		{"from the environment", Options{}, "1k", false},
		{"the option over the environment", Options{MaxImageSize: size}, "1k", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvMaxImageSize, tt.env)
			tt.opts.TempDir = t.TempDir()
			_, err := newGen(t, tt.opts).Image(t.Context(), openLayout(t, dir), m)
			if tt.ok && err != nil {
				t.Fatalf("Image: %v", err)
			}
			if !tt.ok && (!errors.Is(err, ErrImageTooLarge) || !strings.Contains(err.Error(), "layer ")) {
				t.Fatalf("Image: %v, want ErrImageTooLarge naming a layer", err)
			}
			emptyDir(t, tt.opts.TempDir)
		})
	}
	t.Setenv(EnvMaxImageSize, "lots")
	if _, err := New(Options{NoCache: true}); err == nil || !strings.Contains(err.Error(), `AFFIX_MAX_IMAGE_SIZE="lots"`) {
		t.Errorf("New with AFFIX_MAX_IMAGE_SIZE=lots: %v, want an error naming it", err)
	}
}

// TestWhiteoutOfRoot: a whiteout naming the root (".wh..." in an upper
// layer), which stereoscope cannot apply, fails the scan naming that
// layer.
func TestWhiteoutOfRoot(t *testing.T) {
	dir, res := writeLayout(t, fixture.Spec{Images: []fixture.Image{{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers: []fixture.Layer{
			{{Path: "etc/os-release", Data: []byte("ID=debian\n")}},
			{{Path: ".wh...", Data: []byte{}}},
		},
	}}})
	m := res.Manifests[0]
	var man ocispec.Manifest
	b, _ := os.ReadFile(blobPath(dir, m.Digest))
	json.Unmarshal(b, &man)
	_, err := newGen(t, Options{TempDir: t.TempDir()}).Image(t.Context(), openLayout(t, dir), m)
	if want := fmt.Sprintf("layer 1 (%s): cannot apply it to the layers below", man.Layers[1].Digest); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Image: %v, want %q", err, want)
	}
}

// TestLayerNotATar: a layer whose gzip holds no tar archive fails the
// scan naming the layer by index and digest.
func TestLayerNotATar(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bytes.Repeat([]byte("not a tar header "), 100))
	zw.Close()
	raw, _ := gzip.NewReader(bytes.NewReader(gz.Bytes()))
	plain, _ := io.ReadAll(raw)
	dir, m, layer := withFirstLayer(t, gz.Bytes(), digest.FromBytes(plain))
	_, err := newGen(t, Options{TempDir: t.TempDir()}).Image(t.Context(), openLayout(t, dir), m)
	if want := fmt.Sprintf("layer 0 (%s): cannot read it as a tar archive", layer.Digest); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Image: %v, want %q", err, want)
	}
}

// TestLayerBadGzipHeader: a layer that starts like gzip but whose header
// is none fails the scan naming the layer, and its blob reader is closed
// (go-containerregistry leaves it open when decompression cannot start).
func TestLayerBadGzipHeader(t *testing.T) {
	bad := append([]byte{0x1f, 0x8b, 0x09, 0, 0, 0, 0, 0, 0, 0xff}, bytes.Repeat([]byte("x"), 1000)...)
	dir, m, layer := withFirstLayer(t, bad, "")
	f := &slowLayers{Fetcher: openLayout(t, dir)}
	_, err := newGen(t, Options{TempDir: t.TempDir()}).Image(t.Context(), f, m)
	if want := fmt.Sprintf("layer 0 (%s)", layer.Digest); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Image: %v, want %q", err, want)
	}
	if f.open != 0 {
		t.Errorf("%d layer readers left open", f.open)
	}
}

// withFirstLayer writes the Variants fixture with blob as the first layer
// of its first image (and diffID as that layer's diff ID, unless empty),
// and returns the layout, the new manifest and the layer's descriptor.
func withFirstLayer(t *testing.T, blob []byte, diffID digest.Digest) (string, ocispec.Descriptor, ocispec.Descriptor) {
	t.Helper()
	dir, res := writeLayout(t, fixture.Variants())
	var man ocispec.Manifest
	b, _ := os.ReadFile(blobPath(dir, res.Manifests[0].Digest))
	json.Unmarshal(b, &man)
	man.Layers[0] = oci.DescriptorFor(man.Layers[0].MediaType, blob)
	os.WriteFile(blobPath(dir, man.Layers[0].Digest), blob, 0o644)
	m := withConfig(t, dir, man, func(c map[string]any) {
		if diffID != "" {
			c["rootfs"].(map[string]any)["diff_ids"].([]any)[0] = diffID.String()
		}
	})
	return dir, m, man.Layers[0]
}

// cacheKey returns the identity (docKey) of the document in format f for
// the image with manifest digest m as g names it, with g's fixed creation
// time as it is (not compared with the image's: fixedCreated(nil)).
func (g *Generator) cacheKey(m digest.Digest, f Format) string {
	return g.docKey(m, ImageName(g.name), f, g.fixedCreated(nil))
}
