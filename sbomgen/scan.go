package sbomgen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/cataloging"
	"github.com/anchore/syft/syft/cataloging/pkgcataloging"
	"github.com/anchore/syft/syft/sbom"
	"github.com/anchore/syft/syft/source"
	"github.com/anchore/syft/syft/source/stereoscopesource"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	// rpmdb (RHEL, Fedora, SUSE images) is SQLite since RPM 4.16; this
	// pure-Go driver keeps CGO_ENABLED=0 builds able to read it.
	_ "modernc.org/sqlite"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/tmpdir"
)

// syftConfig returns the cataloging configuration every scan uses, with
// the catalogers tagged with any of tags, comma-separated
// (pkgcataloging.ImageTag; sourceTreeTags for a source tree): syft's
// defaults with everything that could reach the network or read the host
// (module caches, Maven repositories, GOPROXY) switched off, so that a scan
// is offline and its result depends on the image alone. It is built once
// per generator and shared by every scan: building it compiles syft's
// binary classifiers (about 9 ms and 14 MB of allocations, a third of a
// small image's whole scan), and syft.CreateSBOM only reads it.
func syftConfig(generator, tags string) *syft.CreateSBOMConfig {
	key := configKey{generator, tags}
	if cfg, ok := syftConfigs.Load(key); ok {
		return cfg.(*syft.CreateSBOMConfig)
	}
	cfg, _ := syftConfigs.LoadOrStore(key, newSyftConfig(generator, tags))
	return cfg.(*syft.CreateSBOMConfig)
}

// configKey is what a syftConfig configuration depends on.
type configKey struct{ generator, tags string }

// sourceTreeTags are the catalogers of a source tree: those of what is
// installed (node_modules, site-packages, binaries), as in an image, and
// those of what lock files and manifests declare, as for syft's dir:.
const sourceTreeTags = pkgcataloging.ImageTag + "," + pkgcataloging.DirectoryTag

// syftConfigs holds syftConfig's configurations by configKey.
var syftConfigs sync.Map

// newSyftConfig builds the configuration syftConfig describes.
func newSyftConfig(generator, tags string) *syft.CreateSBOMConfig {
	cfg := syft.DefaultCreateSBOMConfig()
	name, ver, _ := strings.Cut(generator, "-")
	cfg.WithTool(name, ver)

	p := pkgcataloging.DefaultConfig()
	p.Golang.SearchRemoteLicenses = false
	p.Golang.SearchLocalModCacheLicenses = false
	p.Golang.LocalModCacheDir = ""
	p.Golang.SearchLocalVendorLicenses = false
	p.Golang.LocalVendorDir = ""
	p.Golang.UsePackagesLib = false // runs the go command, may download modules
	p.Golang.Proxies = nil
	p.Golang.NoProxy = nil
	p.JavaArchive.UseNetwork = false
	p.JavaArchive.UseMavenLocalRepository = false
	p.JavaArchive.MavenLocalRepositoryDir = ""
	p.JavaArchive.MavenBaseURL = ""
	p.JavaArchive.ResolveTransitiveDependencies = false
	p.JavaScript.SearchRemoteLicenses = false
	p.Python.SearchRemoteLicenses = false
	p.Cpp.VcpkgAllowGitClone = false
	cfg.WithPackagesConfig(p)
	cfg.WithSearchConfig(cataloging.DefaultSearchConfig().WithScope(source.SquashedScope))
	// The catalogers for installed software in a container image, for a
	// directory too (a directory scan is of an image's root filesystem),
	// unless it is a source tree.
	cfg.WithCatalogerSelection(cataloging.NewSelectionRequest().WithDefaults(strings.Split(tags, ",")...))
	return cfg
}

// licenseScanner builds, once per process, a context carrying the license
// scanner every scan shares. syft builds one per CreateSBOM by default,
// which costs most of a small image's scan time; the scanner is safe for
// concurrent use (its matcher is built once, then only read).
var licenseScanner = &lazyContext{build: func() (context.Context, error) {
	return syft.SetContextLicenseScanner(context.Background(), cataloging.DefaultLicenseConfig())
}}

// Warm starts building, in the background, what the first scan of a
// process needs and a cache hit does not: syft's license scanner, about
// 0.8 s of CPU. A caller that is about to do other work before its first
// scan (a BuildKit build, fetching layers) calls it so that the two
// overlap; the scan then finds it built, or waits for the build under
// way (a scan cancelled meanwhile stops waiting). It returns at once;
// calling it again does nothing.
func Warm() {
	licenseScanner.start()
}

// withLicenseScanner returns ctx with the shared license scanner, or
// ctx's error if it ends first.
func withLicenseScanner(ctx context.Context) (context.Context, error) {
	lctx, err := licenseScanner.wait(ctx)
	if err != nil {
		return nil, err
	}
	return valuesFrom{Context: ctx, values: lctx}, nil
}

// lazyContext is a context built once, in the background, by build, when
// first asked for; waiting for it ends with the waiter's context.
type lazyContext struct {
	build func() (context.Context, error)
	once  sync.Once
	ready chan struct{} // closed once ctx and err are set
	ctx   context.Context
	err   error
}

// start starts the build unless it has started, and returns the channel
// closed when it is done.
func (l *lazyContext) start() <-chan struct{} {
	l.once.Do(func() {
		l.ready = make(chan struct{})
		go func() {
			defer close(l.ready)
			l.ctx, l.err = l.build()
		}()
	})
	return l.ready
}

// wait returns the built context, starting the build if needed, or ctx's
// error when ctx ends first (the build goes on, for the next waiter).
func (l *lazyContext) wait(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-l.start():
		return l.ctx, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// valuesFrom is its Context, with values missing there looked up in
// values.
type valuesFrom struct {
	context.Context
	values context.Context
}

func (c valuesFrom) Value(key any) any {
	if v := c.Context.Value(key); v != nil {
		return v
	}
	return c.values.Value(key)
}

// createSBOM runs syft on src. A scan whose context ends is an error even
// when syft returns no error: syft's task runner stops starting catalogers
// on cancellation and returns what the finished ones found, often nothing,
// which must never become (or be cached as) the image's SBOM.
//
// It returns only once every cataloger syft started has returned (see
// withWaitedExecutors), so that the caller may remove the files they read.
// The notes syft keeps on each file it could not read come from
// catalogers running in parallel, in the order they finished: they are
// sorted, for a deterministic document.
//
// dir is where the files scanned are (the unpacked layers, the directory
// scanned): a note of a host failure (outOfFiles) on a file there or in
// syft's temporary directory fails the scan.
func createSBOM(ctx context.Context, src source.Source, dir, generator, tags string) (*sbom.SBOM, error) {
	sctx, err := withLicenseScanner(ctx)
	if err != nil {
		return nil, err
	}
	sctx, work := withWaitedExecutors(sctx)
	s, err := syft.CreateSBOM(sctx, src, syftConfig(generator, tags))
	work.Wait()
	if cerr := ctx.Err(); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	for _, notes := range s.Artifacts.Unknowns {
		slices.Sort(notes)
	}
	if err := outOfFiles(s, dir, os.TempDir()); err != nil {
		return nil, err
	}
	return s, nil
}

// outOfFiles returns an error when a cataloger could not read a file of
// s because the host ran out of something (file descriptors of the
// process or the system, space or quota of syft's temporary directory:
// hostErrnos): syft keeps that as a note, its errno lost, and the
// document would lack the packages the file holds, and so depend on the
// host, not on the image, and be cached so. A note counts only where it
// ends with the error of a file operation on a file under one of dirs
// (hostErrno), so that text of the image's own (a package database
// field) cannot fail the scan. The note named is the first by path; the
// error wraps its errno (syscall.EMFILE for a process out of file
// descriptors, which withFileLimit explains).
func outOfFiles(s *sbom.SBOM, dirs ...string) error {
	var path, note string
	var errno syscall.Errno
	for c, notes := range s.Artifacts.Unknowns {
		for _, n := range notes {
			if e, ok := hostErrno(n, dirs); ok && (note == "" || c.RealPath < path) {
				path, note, errno = c.RealPath, n, e
			}
		}
	}
	if note == "" {
		return nil
	}
	if errno == syscall.ENOSPC || errno == syscall.EDQUOT {
		return fmt.Errorf("cataloging %s: %s: %w (syft copies archives it reads under %s: make room there, or set TMPDIR to a larger directory)", path, note, errno, os.TempDir())
	}
	return fmt.Errorf("cataloging %s: %s: %w", path, note, errno)
}

// hostErrnos are the errors that say the host, not the image, failed a
// read: no file descriptor left (EMFILE, ENFILE), no space or quota left
// where syft copies archives to read them (ENOSPC, EDQUOT).
var hostErrnos = []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOSPC, syscall.EDQUOT}

// fileOps are the operations of the *os.PathError (and *os.LinkError)
// messages a host failure ends a note with: "open /tmp/x: too many open
// files", "write /tmp/y: no space left on device".
const fileOps = `open|openat|create|write|read|mkdir|mkdirat|link|symlink|rename|stat|lstat|fstat|close|fsync|truncate|seek|readdirent|copy_file_range`

// hostErrno returns the one of hostErrnos that a line of msg, a note's
// text, ends with as the error of a file operation (fileOps) on a path
// under one of dirs: "... open /tmp/syft-cataloger-1/x.jar: too many open
// files". The message's earlier parts (a package name, a field of a
// package database) are the image's, and do not count.
func hostErrno(msg string, dirs []string) (syscall.Errno, bool) {
	for line := range strings.Lines(msg) {
		line = strings.TrimRight(line, "\r\n")
		for _, e := range hostErrnos {
			head, ok := strings.CutSuffix(line, ": "+e.Error())
			if !ok {
				continue
			}
			for _, d := range dirs {
				if d == "" {
					continue
				}
				re := `(?:^|: )(?:` + fileOps + `) ` + regexp.QuoteMeta(filepath.Clean(d)) + `(?:/[^\n]*)?$`
				if ok, _ := regexp.MatchString(re, head); ok {
					return e, true
				}
			}
		}
	}
	return 0, false
}

// scanImage reads img's layers through f into a temporary directory under
// tempDir, scans the squashed filesystem with syft and removes the
// directory again. A non-distributable layer whose blob f does not have
// is read as an empty layer; notScanned describes those layers, as
// Result.Unreadable lists them. With prefixGlobs, basename globs are answered by a
// prefixIndex (the same documents, faster). The SBOM's source is named
// names[0]; descs are the sources syft gives the image under each of names
// (descs[0] the SBOM's), so that one scan serves every name: only the
// source description depends on the name (the source ID derives from the
// manifest).
func scanImage(ctx context.Context, f oci.Fetcher, img *fetchedImage, names []string, tempDir string, maxSize int64, generator string, prefixGlobs bool) (_ *sbom.SBOM, descs []source.Description, notScanned []string, err error) {
	v1img, err := img.v1Image(ctx, f, maxSize)
	if err != nil {
		return nil, nil, nil, err
	}
	// Held while the scan lasts: a scan killed before it could remove
	// it leaves it to the next process's scan to remove (tmpdir.Make).
	tmp, err := tmpdir.Make(tempDir, "affix-sbom-")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating a temporary directory: %w", err)
	}
	dir := tmp.Path
	defer func() {
		if rerr := tmp.Remove(); rerr != nil && err == nil {
			err = fmt.Errorf("removing temporary directory: %w", rerr)
		}
	}()
	// stereoscope creates nothing through the generator here (the layer
	// content directory is given), but Cleanup removes whatever it does.
	// Not "affix-sbom": tmpdir.Sweep would take what it made for a dead
	// process's directory.
	tmpGen := file.NewTempDirGenerator("affix-stereoscope")
	simg := image.New(v1img, tmpGen, dir,
		image.WithManifest(img.rawMan),
		image.WithConfig(img.rawCfg),
		// After WithManifest, which sets a sha256 digest of its own.
		image.WithManifestDigest(img.desc.Digest.String()),
	)
	defer func() {
		if cerr := simg.Cleanup(); cerr != nil && err == nil {
			err = fmt.Errorf("removing temporary files: %w", cerr)
		}
	}()
	// Only the squashed filesystem is cataloged: lower layers' squashes
	// are built only if something asks for them.
	if err := readCancelable(ctx, simg, dir); err != nil {
		return nil, nil, nil, readError(ctx, err, dir, img.manifest.Layers)
	}
	// The documents record each layer's media type as the manifest gives
	// it (layer.MediaType reports another to stereoscope for one type).
	for i, l := range simg.Layers {
		if i < len(img.manifest.Layers) {
			l.Metadata.MediaType = types.MediaType(img.manifest.Layers[i].MediaType)
		}
	}
	if _, err := adoptLowerHardLinks(simg); err != nil {
		return nil, nil, nil, fmt.Errorf("reading layers: %w", err)
	}
	if prefixGlobs {
		usePrefixGlobs(simg)
	}
	src := newPooledSource(stereoscopesource.New(simg, stereoscopesource.ImageConfig{Reference: names[0]}))
	s, err := createSBOM(ctx, src, dir, generator, pkgcataloging.ImageTag)
	if err != nil {
		return nil, nil, nil, withFileLimit(err, len(img.manifest.Layers))
	}
	descs = []source.Description{s.Source}
	for _, n := range names[1:] {
		descs = append(descs, stereoscopesource.New(simg, stereoscopesource.ImageConfig{Reference: n}).Describe())
	}
	return s, descs, v1img.core.notScanned(), nil
}

// readCancelable reads simg, whose layers stereoscope unpacks into dir,
// and returns soon after ctx is done. stereoscope stops fetching a layer
// then (the layer reader fails), but indexes a layer it has unpacked,
// one tar entry after another, without looking at a context: seconds
// for a layer of 200,000 files, which an interrupt waited for. Once ctx
// is done, the unpacked layers in dir (stereoscope's, no one else's) are
// truncated, so that the iteration meets the end of its tar at its next
// read; what it read until then is dropped with the error Read returns,
// or, when it took the end for the tar's, by the check of ctx after it.
func readCancelable(ctx context.Context, simg *image.Image, dir string) error {
	stop := context.AfterFunc(ctx, func() { truncateFiles(dir) })
	defer stop()
	if err := simg.Read(image.WithLazyLayerSquashes(ctx)); err != nil {
		return err
	}
	return ctx.Err()
}

// truncateFiles truncates the regular files directly in dir to nothing,
// as far as it can.
func truncateFiles(dir string) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range es {
		if e.Type().IsRegular() {
			_ = os.Truncate(filepath.Join(dir, e.Name()), 0)
		}
	}
}

// readError returns the error to report for a failed image read into
// dir: the cancellation when the context is done (what failed meanwhile,
// and its temporary paths, say nothing more), a full disk naming dir's
// parent, else err (which wraps the fetcher's error, for example
// oci.ErrDigestMismatch). An error about one layer is reported as the
// layer said it, naming its index and digest, without stereoscope's
// wrapping (a temporary path named by the diff ID); one stereoscope met
// indexing layer N (not a tar) or squashing it onto those below (a
// whiteout of the root) names that layer of layers too (and what is
// wrong with it, unless its file could not be opened for want of file
// descriptors). Running out of them is an *openFilesError.
func readError(ctx context.Context, err error, dir string, layers []ocispec.Descriptor) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("reading layers: %w", cerr)
	}
	return withFileLimit(layerReadError(err, dir, layers), len(layers))
}

// layerReadError is readError for a read that was not cancelled.
func layerReadError(err error, dir string, layers []ocispec.Descriptor) error {
	if errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "no space left on device") {
		return fmt.Errorf("reading layers: no space left for the uncompressed layers in %s (set TMPDIR to a larger file system): %w", filepath.Dir(dir), syscall.ENOSPC)
	}
	var le *layerError
	if errors.As(err, &le) {
		err = le
	} else if m := stereoscopeLayerRE.FindStringSubmatch(err.Error()); m != nil {
		if n, aerr := strconv.Atoi(m[2]); aerr == nil && n < len(layers) {
			what := "cannot read it as a tar archive: "
			switch {
			case filesErrno(err) != 0:
				what = "" // its file was not even opened
			case m[1] == "failed to squash tree":
				what = "cannot apply it to the layers below: "
			}
			return fmt.Errorf("reading layers: layer %d (%s): %s%w", n, layers[n].Digest, what, err)
		}
	}
	return fmt.Errorf("reading layers: %w", err)
}

// openFilesError is a scan that ran out of file descriptors. stereoscope
// reads each unpacked layer through a file it opens when it indexes the
// layer and keeps open until the scan ends (it reads the files in it with
// pread), so the scan of an image holds one per layer, besides those syft
// opens while it catalogs: the error names the layer count and the limit,
// and says how to raise it.
type openFilesError struct {
	layers int // of the image scanned; 0 for a directory
	// limit is the process's open-file limit when it failed; 0 when
	// not known.
	limit uint64
	// errno is EMFILE (the process's limit) or ENFILE (the system's
	// table).
	errno syscall.Errno
	err   error
}

func (e *openFilesError) Error() string {
	if e.errno == syscall.ENFILE {
		// The system's table is full, not the process's share of it:
		// ulimit does not help.
		return fmt.Sprintf("too many open files in the system: the kernel's table of open files is full (fs.file-max): close files elsewhere, or raise it (sysctl fs.file-max): %v", e.err)
	}
	var b strings.Builder
	b.WriteString("too many open files: ")
	if e.layers > 0 {
		fmt.Fprintf(&b, "the scan of an image keeps a file open per layer until it ends, and this image has %d layers; ", e.layers)
	}
	if e.limit > 0 {
		fmt.Fprintf(&b, "the process may open %d files (ulimit -n), shared by the images scanned at once: ", e.limit)
	}
	fmt.Fprintf(&b, "raise the limit, for example to %d (ulimit -n %[1]d): %v", suggestFileLimit(e.layers, e.limit), e.err)
	return b.String()
}

func (e *openFilesError) Unwrap() error { return e.err }

// withFileLimit returns err as an *openFilesError of an image of layers
// layers when the process ran out of file descriptors, else err.
func withFileLimit(err error, layers int) error {
	var oe *openFilesError
	if err == nil || errors.As(err, &oe) {
		return err
	}
	errno := filesErrno(err)
	if errno == 0 {
		return err
	}
	limit, _ := openFileLimit()
	return &openFilesError{layers: layers, limit: limit, errno: errno, err: err}
}

// filesErrno returns EMFILE when err says the process ran out of file
// descriptors, ENFILE when the system did, 0 otherwise: as a wrapped
// errno, or as an error's text that ends as theirs does ("... open /x:
// too many open files"; the errno closes the message, whose earlier
// parts may name files of the image).
func filesErrno(err error) syscall.Errno {
	msg := err.Error()
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE} {
		if errors.Is(err, e) || strings.HasSuffix(msg, ": "+e.Error()) {
			return e
		}
	}
	return 0
}

// suggestFileLimit returns an open-file limit to suggest for the scan of
// an image of layers layers when limit (0: unknown) was too low: the
// smallest power of two of at least 1024 that is above limit and leaves
// room for twice the layers and more.
func suggestFileLimit(layers int, limit uint64) uint64 {
	want := 2*uint64(layers) + 256
	if limit < 1<<30 {
		want = max(want, limit+1)
	}
	n := uint64(1024)
	for n < want {
		n *= 2
	}
	return n
}

// stereoscopeLayerRE matches stereoscope's errors about one layer (by
// index): one it cannot lay over those below it, one whose tar it cannot
// read (it names the layer by diff ID only).
var stereoscopeLayerRE = regexp.MustCompile(`(failed to squash tree|failed to index layer) (\d+): `)

// scanDir scans the root filesystem in root with the catalogers tagged
// with any of tags (see syftConfig). With prefixGlobs, basename globs are
// answered by a prefixIndex (the same documents, faster). With ownIndex,
// sbomgen indexes the directory itself (see dirSource).
func scanDir(ctx context.Context, root, name, generator, tags string, prefixGlobs, ownIndex bool) (*sbom.SBOM, error) {
	src, err := dirSource(ctx, root, source.Alias{Name: name}, ownIndex)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if prefixGlobs {
		// The source indexes the directory once, when first asked for its
		// resolver (the scope does not matter), and keeps the resolver:
		// asked here, before syft's catalogers share it. An error is left
		// for syft to meet and report as it would.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if r, err := src.FileResolver(source.SquashedScope); err == nil {
			useDirPrefixGlobs(r)
		}
	}
	csrc, err := newConfinedSource(src, root)
	if err != nil {
		return nil, err
	}
	s, err := createSBOM(ctx, csrc, root, generator, tags)
	if err != nil {
		return nil, withFileLimit(err, 0)
	}
	// The directory is wherever the caller mounted the root filesystem;
	// the documents describe the filesystem, not the mount point.
	s.Source.Metadata = source.DirectoryMetadata{Path: "/"}
	return s, nil
}

// unreadable returns what syft found in s but could not read (its
// unknowns: a package database that is not one, a broken archive), as
// "PATH: CATALOGER: WHY", sorted and each once. Left out are its notes
// that an executable has no package or an archive was not expanded (they
// say nothing failed), and what it says of a file it did find packages
// in (a stripped Go binary: "no symbol section", its modules listed all
// the same).
func unreadable(s *sbom.SBOM) []string {
	found := map[string]bool{}
	for p := range s.Artifacts.Packages.Enumerate() {
		for _, l := range p.Locations.ToSlice() {
			found[l.RealPath] = true
		}
	}
	var out []string
	for c, msgs := range s.Artifacts.Unknowns {
		if found[c.RealPath] {
			continue
		}
		for _, m := range msgs {
			if strings.HasSuffix(m, "no package identified in executable file") || m == "archive not cataloged" {
				continue
			}
			out = append(out, c.RealPath+": "+m)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// countPackages counts s's packages by type.
func countPackages(s *sbom.SBOM) map[string]int {
	out := map[string]int{}
	for p := range s.Artifacts.Packages.Enumerate() {
		out[string(p.Type)]++
	}
	return out
}
