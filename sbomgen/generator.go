package sbomgen

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anchore/syft/syft/cataloging/pkgcataloging"
	"github.com/anchore/syft/syft/sbom"
	"github.com/docker/go-units"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/affix-oci/affix/internal/epoch"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/version"
)

// Environment variables a Generator reads when New is called.
const (
	// EnvSourceDateEpoch is the reproducible-builds creation time, in
	// seconds since the Unix epoch.
	EnvSourceDateEpoch = "SOURCE_DATE_EPOCH"
	// EnvCacheDir is affix's cache root; SBOMs are cached in its "sbom"
	// subdirectory.
	EnvCacheDir = "AFFIX_CACHE_DIR"
	// EnvMaxImageSize bounds the uncompressed size of an image's layers a
	// scan unpacks (Options.MaxImageSize): bytes, or with a binary unit
	// (500MiB, 20GiB, 20g).
	EnvMaxImageSize = "AFFIX_MAX_IMAGE_SIZE"
)

// DefaultName is the image name documents use when Options.Name is empty.
const DefaultName = "image"

// DefaultConcurrency is how many images a Generator scans at once when
// Options.Concurrency is zero.
const DefaultConcurrency = 2

// Options configure a Generator. The zero value is valid.
type Options struct {
	// Formats are the formats every scan is encoded into, in this order.
	// Empty means SPDXJSON only.
	Formats []Format
	// Created, when not zero, is the creation time written into every
	// document. Zero means SOURCE_DATE_EPOCH (read by New), else the image
	// config's created time, else (none, or a value that is no time) the
	// Unix epoch.
	Created time.Time
	// CreatedFromImage, with a zero Created, takes the creation time from
	// each image's config and does not read SOURCE_DATE_EPOCH: for a
	// build that resolved the epoch itself (it passes it in Created, or
	// none when BuildKit resolved a non-numeric SOURCE_DATE_EPOCH such as
	// "context", whose image configs then carry it).
	CreatedFromImage bool
	// Name is the image name documents use (for example the reference
	// the image is pushed to). Empty means DefaultName. An image's
	// documents name only its repository, ImageName(Name), so that every
	// tag of one image gets the same documents; a directory's use Name as
	// given. It is part of the document, so it is part of the cache key.
	Name string
	// CacheDir is where encoded documents are cached. Empty means
	// $AFFIX_CACHE_DIR/sbom, else os.UserCacheDir()/affix/sbom; with no
	// usable directory, nothing is cached. A relative path is made
	// absolute (against the working directory) when New is called. The
	// directory configured (CacheDir or $AFFIX_CACHE_DIR) is created with
	// its parents when missing. The default's root (os.UserCacheDir():
	// $XDG_CACHE_HOME or $HOME/.cache) is created, but never its parent:
	// with HOME=/nonexistent (Debian's convention for system users)
	// nothing is created and nothing is cached. A development build (see
	// version.Info.Exact) keys its entries also by its executable's path,
	// size and modification time, and caches nothing when it cannot
	// stat its executable. Entries not used for 30 days, then the least
	// recently used past 2 GiB, are evicted, at most once a day, when
	// a document is stored (docs/sbom.md, "Cache").
	CacheDir string
	// NoCache neither reads nor writes the cache.
	NoCache bool
	// Logf, if set, is told why the cache is not used when it is not
	// (a directory others can write, one that cannot be created) and
	// why an entry was not written: each note once per cache directory
	// in a process, not once per document or Generator. It is also told
	// when an image's documents take the Unix epoch as their creation
	// time because its config's created is no time (see Created), once
	// per call. Nil means quiet.
	Logf func(format string, args ...any)
	// Concurrency bounds how many images are scanned at once, across all
	// calls on the Generator. Zero means DefaultConcurrency.
	Concurrency int
	// TempDir is where layers are unpacked during a scan (removed when the
	// scan ends). Empty means os.TempDir(). A scan needs there as much
	// space as the image's layers take uncompressed. syft's own temporary
	// files (a jar it copies out to read it, a database) go to
	// os.TempDir() whatever TempDir says: syft offers no other place
	// but $TMPDIR, which is the whole process's (docs/sbom.md,
	// "Resources").
	TempDir string
	// MaxImageSize bounds the uncompressed size of an image's layers
	// together, what a scan writes to TempDir: a scan that would unpack
	// more fails with ErrImageTooLarge naming the layer (a compressed
	// layer of a few MB can expand to gigabytes). Zero means
	// $AFFIX_MAX_IMAGE_SIZE, else no limit.
	MaxImageSize int64
	// SourceTree makes Dir scan its directory as a source tree (a build
	// context, a checkout): with the catalogers for images, those of what
	// is installed, and syft's catalogers for directories, which read
	// declared dependencies: lock files and manifests such as go.mod,
	// package-lock.json, requirements.txt and Cargo.lock. False means
	// the catalogers for images alone, as for a root filesystem. Images
	// are always scanned as images.
	SourceTree bool
}

// Document is one encoded SBOM.
type Document struct {
	// Format is the document's format.
	Format Format
	// MediaType is Format.MediaType().
	MediaType string
	// Data is the document.
	Data []byte
	// Digest is Data's sha256 digest (digest.Canonical) when the
	// generator has it from Data itself: computed from it for the
	// cache, or read from the cache entry and checked against it. Empty
	// when not known. It saves the caller hashing a document of tens of
	// MB again; a caller that changes Data must clear it.
	Digest digest.Digest
}

// Result is what scanning one image gave.
type Result struct {
	// Manifest is the scanned image's manifest descriptor; zero for a
	// directory scan.
	Manifest ocispec.Descriptor
	// Platform is the image's platform: the descriptor's, else the
	// config's. Zero for a directory scan.
	Platform ocispec.Platform
	// Documents hold one document per Options.Formats entry, in order.
	Documents []Document
	// Packages counts the packages found, by package type (apk, deb,
	// go-module, npm, python, ...).
	Packages map[string]int
	// Created is the creation time written into the documents.
	Created time.Time
	// Cached is true when every document came from the cache.
	Cached bool
	// Unreadable lists what the scan found but could not read: packages
	// it holds are missing from the documents. First the layers not
	// scanned, in manifest order, "layer N (DIGEST, MEDIATYPE): not
	// scanned: non-distributable, not in the source": a non-distributable
	// (foreign) layer whose blob the source does not hold, as pushes
	// leave it out (such a result is not cached); then the files,
	// "PATH: CATALOGER: WHY" (a package database that is not one, a
	// truncated archive), sorted.
	Unreadable []string
}

// Document returns the result's document in format f, if it has one.
func (r *Result) Document(f Format) (Document, bool) {
	for _, d := range r.Documents {
		if d.Format == f {
			return d, true
		}
	}
	return Document{}, false
}

// PackageCount returns the number of packages found.
func (r *Result) PackageCount() int {
	n := 0
	for _, c := range r.Packages {
		n += c
	}
	return n
}

// PackageSummary describes the packages found in one line, the same in
// every command that reports a scan: "4 packages (deb 2, npm 1, python
// 1)", types in name order, "1 package (deb 1)", or "0 packages (none)".
func (r *Result) PackageSummary() string {
	types := slices.Sorted(maps.Keys(r.Packages))
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = fmt.Sprintf("%s %d", t, r.Packages[t])
	}
	if len(parts) == 0 {
		parts = []string{"none"}
	}
	noun := "packages"
	if r.PackageCount() == 1 {
		noun = "package"
	}
	s := fmt.Sprintf("%d %s (%s)", r.PackageCount(), noun, strings.Join(parts, ", "))
	if u := r.UnreadableSummary(); u != "" {
		s += "; " + u
	}
	return s
}

// UnreadableSummary describes Unreadable in one line, "" when it is
// empty: `1 unreadable, first "/var/lib/rpm/rpmdb.sqlite: rpm-db-cataloger:
// ..."`, the first quoted (and cut at 200 bytes) so that a file's bytes in
// it cannot drive a terminal.
func (r *Result) UnreadableSummary() string {
	if len(r.Unreadable) == 0 {
		return ""
	}
	first := r.Unreadable[0]
	if len(first) > 200 {
		first = first[:200] + "..."
	}
	return fmt.Sprintf("%d unreadable, first %s", len(r.Unreadable), strconv.QuoteToGraphic(first))
}

// Generator scans images and encodes their SBOMs. It is safe for
// concurrent use.
type Generator struct {
	opts      Options
	formats   []Format
	created   time.Time // fixed creation time (Options.Created or SOURCE_DATE_EPOCH); zero: from the image
	name      string
	generator string
	binary    string // executableStamp of a development build; "" otherwise (see storeKey)
	cache     *cache // nil: no caching
	sem       chan struct{}
	// stereoscopeGlobs leaves basename globs to stereoscope's own index
	// search (see prefixIndex): for tests and benchmarks that compare.
	stereoscopeGlobs bool
	// syftWalk has syft index a directory scanned itself, as it did
	// before indexDir (see dirSource): for tests and benchmarks that
	// compare.
	syftWalk bool
}

// New returns a Generator for opts. It fails on an unknown format, a
// negative concurrency, a creation time past year 9999, or an invalid
// SOURCE_DATE_EPOCH (see epoch.Parse; the error wraps its sentinels).
func New(opts Options) (*Generator, error) {
	g := &Generator{opts: opts, name: opts.Name, generator: version.Generator()}
	if g.name == "" {
		g.name = DefaultName
	}
	for _, f := range opts.Formats {
		if !f.valid() {
			return nil, fmt.Errorf("format %q: %w", f, ErrUnknownFormat)
		}
		if !slices.Contains(g.formats, f) {
			g.formats = append(g.formats, f)
		}
	}
	if len(g.formats) == 0 {
		g.formats = []Format{SPDXJSON}
	}
	switch {
	case opts.Concurrency < 0:
		return nil, fmt.Errorf("concurrency %d: must not be negative", opts.Concurrency)
	case opts.Concurrency == 0:
		opts.Concurrency = DefaultConcurrency
	}
	g.sem = make(chan struct{}, opts.Concurrency)
	if opts.MaxImageSize < 0 {
		return nil, fmt.Errorf("maximum image size %d: must not be negative", opts.MaxImageSize)
	}
	if opts.MaxImageSize == 0 {
		n, err := maxImageSizeEnv()
		if err != nil {
			return nil, err
		}
		opts.MaxImageSize = n
	}
	g.opts.MaxImageSize = opts.MaxImageSize
	if t := opts.Created; !t.IsZero() && (t.UTC().Year() < 0 || t.Unix() > MaxSourceDateEpoch) {
		return nil, fmt.Errorf("creation time %s: outside the years 0000 to 9999 an SBOM timestamp (RFC 3339) can hold", t.UTC().Format(time.RFC3339))
	}
	g.created = opts.Created
	if g.created.IsZero() && !opts.CreatedFromImage {
		t, err := sourceDateEpoch()
		if err != nil {
			return nil, err
		}
		g.created = t
	}
	g.created = g.created.UTC().Truncate(time.Second)
	if !opts.NoCache {
		if dir, base := cacheDir(opts.CacheDir); dir != "" {
			g.cache = &cache{dir: dir, base: base}
			g.logCache(dir, g.cache.trusted())
			if !version.Get().Exact() {
				stamp, err := executableStamp()
				if err != nil {
					// Which binary wrote an entry cannot be told: cache nothing.
					g.cache = nil
					g.logCache(dir, fmt.Errorf("sbom cache: not used: this binary cannot be identified: %w", err))
				}
				g.binary = stamp
			}
		}
	}
	return g, nil
}

// MaxSourceDateEpoch is the largest SOURCE_DATE_EPOCH accepted,
// 9999-12-31T23:59:59Z (epoch.Max): the last second an RFC 3339 timestamp
// (SPDX creationInfo.created, CycloneDX metadata.timestamp) can write.
const MaxSourceDateEpoch = epoch.Max

// sourceDateEpoch returns SOURCE_DATE_EPOCH, parsed by epoch.Parse (ASCII
// digits only, nothing trimmed), or the zero time when it is unset or
// empty. The error names the variable and the value.
func sourceDateEpoch() (time.Time, error) {
	t, err := epoch.ParseVar(EnvSourceDateEpoch, os.Getenv(EnvSourceDateEpoch))
	if err != nil {
		return time.Time{}, envError{err}
	}
	return t, nil
}

// maxImageSizeEnv returns AFFIX_MAX_IMAGE_SIZE in bytes, 0 when it is
// unset or empty.
func maxImageSizeEnv() (int64, error) {
	s := os.Getenv(EnvMaxImageSize)
	if s == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(s)
	if err == nil && n < 0 {
		err = errors.New("negative")
	}
	if err != nil {
		return 0, envError{fmt.Errorf("%s=%q: want a size such as 20GiB: %w", EnvMaxImageSize, s, err)}
	}
	return n, nil
}

// CheckEnv checks the environment variables New(opts) would read
// (SOURCE_DATE_EPOCH unless opts sets the creation time,
// AFFIX_MAX_IMAGE_SIZE unless opts sets the bound), so that a command can
// refuse a bad value before it does anything. The error wraps
// ErrInvalidEnv.
func CheckEnv(opts Options) error {
	if opts.Created.IsZero() && !opts.CreatedFromImage {
		if _, err := sourceDateEpoch(); err != nil {
			return err
		}
	}
	if opts.MaxImageSize == 0 {
		if _, err := maxImageSizeEnv(); err != nil {
			return err
		}
	}
	return nil
}

// envError is an error about an environment variable: err, which names
// it, and ErrInvalidEnv.
type envError struct{ err error }

func (e envError) Error() string   { return e.err.Error() }
func (e envError) Unwrap() []error { return []error{e.err, ErrInvalidEnv} }

// cacheDir resolves Options.CacheDir to an absolute directory, and
// returns with it the directory that must already exist for the cache to
// be used. A cache the user configured (Options.CacheDir or
// $AFFIX_CACHE_DIR) is created with all its parents, as a CI job's
// AFFIX_CACHE_DIR=.cache/affix in a fresh workspace asks: base is "".
// The default, beneath os.UserCacheDir(), may create that root
// ($XDG_CACHE_HOME or $HOME/.cache) but nothing above it, so that a HOME
// that does not exist stays so: base is the root's parent. dir is empty
// when there is no cache directory.
func cacheDir(opt string) (dir, base string) {
	root, sub, configured := opt, "", true
	switch {
	case opt != "":
	case os.Getenv(EnvCacheDir) != "":
		root, sub = os.Getenv(EnvCacheDir), "sbom"
	default:
		r, err := os.UserCacheDir() // fails on a relative $XDG_CACHE_HOME, or no $HOME
		if err != nil {
			return "", ""
		}
		root, sub, configured = r, filepath.Join("affix", "sbom"), false
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return "", ""
	}
	if configured {
		return filepath.Join(root, sub), ""
	}
	return filepath.Join(root, sub), filepath.Dir(root)
}

// Formats returns the formats the Generator encodes, in order.
func (g *Generator) Formats() []Format { return slices.Clone(g.formats) }

// Image scans the platform image that manifest (an image manifest
// descriptor) names, reading it through f, and returns its documents, from
// the cache when they are there. Layers are streamed to a temporary
// directory that is removed before Image returns.
func (g *Generator) Image(ctx context.Context, f oci.Fetcher, manifest ocispec.Descriptor) (*Result, error) {
	res, err := g.ImageAs(ctx, f, manifest, g.name)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// ImageAs is Image with documents made for each of names (image
// references, as Options.Name) instead of Options.Name: one result per
// name, in the order of names. The image is scanned once at most, however
// many names there are; a name's documents come from the cache when they
// are all there. Names of one repository (ImageName) share their result.
// So an image pushed to several repositories gets in each the documents
// that naming it there gives, with a single scan.
func (g *Generator) ImageAs(ctx context.Context, f oci.Fetcher, manifest ocispec.Descriptor, names ...string) ([]*Result, error) {
	if len(names) == 0 {
		return nil, nil
	}
	img, err := readImage(ctx, f, manifest)
	if err != nil {
		return nil, err
	}
	g.noteBadCreated(img)
	byRepo := map[string]*Result{}
	var missing []string // repositories whose documents are not cached
	for _, n := range names {
		repo := ImageName(n)
		if byRepo[repo] != nil {
			continue
		}
		res := &Result{Manifest: manifest, Platform: img.platform(), Created: g.createdFor(img)}
		byRepo[repo] = res
		if g.cache != nil {
			if docs, meta, ok := g.cache.getAll(g.storeKeys(manifest.Digest, repo, g.fixedCreated(img)), g.formats); ok {
				res.Documents, res.Packages, res.Unreadable, res.Cached = docs, meta.Packages, meta.Unreadable, true
				continue
			}
		}
		missing = append(missing, repo)
	}
	if len(missing) > 0 {
		if err := g.scanAs(ctx, f, img, missing, byRepo); err != nil {
			return nil, err
		}
	}
	out := make([]*Result, len(names))
	for i, n := range names {
		out[i] = byRepo[ImageName(n)]
	}
	return out, nil
}

// storeKeys returns the cache keys of the documents, one per format, of
// the image with manifest digest m named repo.
func (g *Generator) storeKeys(m digest.Digest, repo, created string) []string {
	keys := make([]string, len(g.formats))
	for i, fm := range g.formats {
		keys[i] = g.storeKey(g.docKey(m, repo, fm, created))
	}
	return keys
}

// scanAs scans img once and fills in the results of repos (byRepo) with
// the documents each repository name gives, caching them.
func (g *Generator) scanAs(ctx context.Context, f oci.Fetcher, img *fetchedImage, repos []string, byRepo map[string]*Result) error {
	manifest := img.desc
	// The license scanner builds while the layers are fetched.
	Warm()
	if err := g.acquire(ctx); err != nil {
		return err
	}
	defer g.release()

	s, descs, notScanned, err := scanImage(ctx, f, img, repos, g.opts.TempDir, g.opts.MaxImageSize, g.generator, !g.stereoscopeGlobs)
	if err != nil {
		return fmt.Errorf("scanning image %s: %w", manifest.Digest, err)
	}
	packages, unread := countPackages(s), append(notScanned, unreadable(s)...)
	// Documents missing a layer are not the image's: the next scan,
	// which may have the layer, must not be served them.
	cache := g.cache
	if len(notScanned) > 0 {
		cache = nil
	}
	for j, repo := range repos {
		res := byRepo[repo]
		res.Packages, res.Unreadable = packages, unread
		named := *s
		named.Source = descs[j]
		for _, fm := range g.formats {
			id := g.docKey(manifest.Digest, repo, fm, g.fixedCreated(img))
			if len(notScanned) > 0 {
				// Not the image's whole document: not its identity
				// either (namespace, serial number).
				id = partialKey(id, notScanned)
			}
			enc, err := newEncoder(&named, fm, docInfo{
				name:      repo,
				subject:   manifest.Digest,
				created:   res.Created,
				id:        id,
				generator: g.generator,
			})
			if err != nil {
				return fmt.Errorf("encoding %s for image %s: %w", fm, manifest.Digest, err)
			}
			if j == len(repos)-1 && fm == g.formats[len(g.formats)-1] {
				// The last model is built: the catalog (tens of MB for
				// thousands of packages) can be collected while the
				// document is written.
				s, named = nil, sbom.SBOM{}
			}
			data, err := enc()
			if err != nil {
				return fmt.Errorf("encoding %s for image %s: %w", fm, manifest.Digest, err)
			}
			doc := Document{Format: fm, MediaType: fm.MediaType(), Data: data}
			if cache != nil {
				// Hashed once, for the cache entry and the caller. A cache
				// that cannot be written only costs the next run a scan.
				var err error
				doc.Digest, err = cache.put(g.storeKey(id), fm, data, scanMeta{Packages: packages, Unreadable: unread})
				g.logCache(cache.dir, err)
			}
			res.Documents = append(res.Documents, doc)
		}
	}
	return nil
}

// Images scans manifests (image manifest descriptors read through f),
// at most Options.Concurrency at once, and returns their results in the
// order of manifests. A manifest listed several times (an index may list
// one manifest under several platforms) is scanned once: its results share
// the documents, each with its own Manifest and, when its descriptor names
// one, Platform. The first error cancels the other scans.
func (g *Generator) Images(ctx context.Context, f oci.Fetcher, manifests []ocispec.Descriptor) ([]*Result, error) {
	return g.ImagesSkipping(ctx, f, manifests, nil)
}

// ImagesSkipping is Images, except that a scan error for which skip
// returns true (skip is called once per manifest digest, never
// concurrently) leaves that manifest's result nil instead of failing the
// call: affix sbom --all-platforms passes over a platform manifest that is
// no container image (ErrNotImage), as a push does. A nil skip skips
// nothing.
func (g *Generator) ImagesSkipping(ctx context.Context, f oci.Fetcher, manifests []ocispec.Descriptor, skip func(manifest ocispec.Descriptor, err error) bool) ([]*Result, error) {
	var mu sync.Mutex                // serializes skip
	first := map[digest.Digest]int{} // digest -> index of its first listing
	out := make([]*Result, len(manifests))
	eg, ctx := errgroup.WithContext(ctx)
	for i, m := range manifests {
		if _, ok := first[m.Digest]; ok {
			continue
		}
		first[m.Digest] = i
		eg.Go(func() error {
			r, err := g.Image(ctx, f, m)
			if err != nil {
				if skip == nil || ctx.Err() != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				if !skip(m, err) {
					return err
				}
				return nil
			}
			out[i] = r
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	for i, m := range manifests {
		j := first[m.Digest]
		if j == i || out[j] == nil {
			continue
		}
		r := *out[j]
		r.Manifest = m
		if p := m.Platform; p != nil && p.OS != "" {
			r.Platform = *p
		}
		out[i] = &r
	}
	return out, nil
}

// Dir scans the root filesystem in directory root (as BuildKit's SBOM
// scanner protocol mounts it) with the catalogers used for images (and
// those of a source tree with Options.SourceTree), and returns its
// documents. They have the same model as an image's, but name
// no manifest digest: the root package is the directory, named
// Options.Name, its path is recorded as "/", and the SPDX namespace and
// CycloneDX serial number are derived from the document content. The
// creation time is Options.Created, else SOURCE_DATE_EPOCH, else the Unix
// epoch. Directory scans are not cached.
func (g *Generator) Dir(ctx context.Context, root string) (*Result, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("scanning directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("scanning directory %s: not a directory", root)
	}
	if err := g.acquire(ctx); err != nil {
		return nil, err
	}
	defer g.release()
	tags := pkgcataloging.ImageTag
	if g.opts.SourceTree {
		tags = sourceTreeTags
	}
	s, err := scanDir(ctx, root, g.name, g.generator, tags, !g.stereoscopeGlobs, !g.syftWalk)
	if err != nil {
		return nil, fmt.Errorf("scanning directory %s: %w", root, err)
	}
	created := g.created
	if created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	res := &Result{Packages: countPackages(s), Unreadable: unreadable(s), Created: created}
	contentID, err := contentKey(withDescriptor(s, docInfo{name: g.name, generator: g.generator}))
	if err != nil {
		return nil, fmt.Errorf("scanning directory %s: %w", root, err)
	}
	for _, fm := range g.formats {
		data, err := encode(s, fm, docInfo{
			name:      g.name,
			created:   created,
			id:        g.dirKey(contentID, fm),
			generator: g.generator,
		})
		if err != nil {
			return nil, fmt.Errorf("encoding %s for directory %s: %w", fm, root, err)
		}
		res.Documents = append(res.Documents, Document{Format: fm, MediaType: fm.MediaType(), Data: data})
	}
	return res, nil
}

func (g *Generator) acquire(ctx context.Context) error {
	// select picks at random among ready cases: a done context must win
	// over a free slot.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case g.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *Generator) release() { <-g.sem }

// createdFor returns the creation time of documents about img.
func (g *Generator) createdFor(img *fetchedImage) time.Time {
	if !g.created.IsZero() {
		return g.created
	}
	return img.ownCreated()
}

// ownCreated returns the creation time the image gives its documents
// when none is fixed: its config's created, to the second, else (none, a
// value that is no time, or one before 1970) the Unix epoch.
func (img *fetchedImage) ownCreated() time.Time {
	if !img.created.IsZero() && img.created.Unix() >= 0 {
		return img.created.Truncate(time.Second)
	}
	return time.Unix(0, 0).UTC()
}

// noteBadCreated tells Options.Logf when img's documents take the epoch
// because its config's created is no time: nothing else says why.
func (g *Generator) noteBadCreated(img *fetchedImage) {
	if img.badCreated == "" || !g.created.IsZero() || g.opts.Logf == nil {
		return
	}
	v := img.badCreated
	if len(v) > 100 {
		v = v[:100] + "..."
	}
	g.opts.Logf("image %s: config %s: created %s is no RFC 3339 time up to 9999-12-31T23:59:59Z: the documents' creation time is the Unix epoch (SOURCE_DATE_EPOCH sets one)", img.desc.Digest, img.manifest.Config.Digest, strconv.QuoteToGraphic(v))
}

// platform returns the image's platform: its descriptor's, else its
// config's.
func (img *fetchedImage) platform() ocispec.Platform {
	if p := img.desc.Platform; p != nil && p.OS != "" {
		return *p
	}
	return img.cfgPlatform
}
