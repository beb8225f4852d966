package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/internal/fsutil"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

type sbomOptions struct {
	registryOptions
	platform    string
	digest      string
	all         bool
	formats     []string
	output      string
	noCache     bool
	name        string
	concurrency int
}

// newSBOMCmd returns the sbom command: documents written, nothing
// published.
func newSBOMCmd(g *globalOptions) *cobra.Command {
	var o sbomOptions
	cmd := &cobra.Command{
		Use:   "sbom [flags] SOURCE",
		Short: "Generate an SBOM for platform images of an OCI layout or a registry image",
		Long: `Generate an SBOM for one or more platform images of an OCI image layout,
or of an image in a registry.

SOURCE is oci-layout:DIR or oci-archive:FILE.TAR, with :TAG or @DIGEST to
name one image of a layout that holds several (a bare PATH[:TAG][@DIGEST]
works too), or registry:REF (HOST/REPOSITORY[:TAG|@DIGEST]; layers are
streamed from the registry, nothing is attached: that is affix attach).
Nested indexes are followed; BuildKit attestation manifests are never
scanned. Without a selection flag the source must hold a single platform.

With one platform and one format the document goes to stdout, or to FILE
with -o FILE. Several platforms or formats, and --all-platforms (whatever
the image holds), need -o DIR: each document is written to
DIR/<os>-<arch>[-<variant>]<ext> (.spdx.json, .cdx.json, .syft.json). A
summary line per platform goes to stderr.

Documents are deterministic: the creation time is SOURCE_DATE_EPOCH, else
the image config's created time. They are cached under
$AFFIX_CACHE_DIR/sbom (default: the user cache directory, affix/sbom).`,
		Example: `  affix sbom oci-layout:./out
  affix sbom --platform linux/arm/v7 --format cyclonedx-json oci-archive:image.tar
  affix sbom --all-platforms --format spdx-json --format syft-json -o sboms/ oci-layout:./out
  affix sbom --platform linux/arm64 registry:registry.example.com/app:1.0`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(fmt.Errorf("want one SOURCE (oci-layout:DIR, oci-archive:FILE or registry:REF), got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkName(o.name); err != nil {
				return err
			}
			err := runSBOM(cmd, g, args[0], o)
			if ref, ok := strings.CutPrefix(args[0], schemeRegistry+":"); ok {
				return hintHTTP(err, hostOf(ref))
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.platform, "platform", "", "scan the image for this platform, os[(os.version)]/arch[/variant] or an architecture alone")
	f.StringVar(&o.digest, "digest", "", "scan the platform manifest with this digest")
	f.BoolVar(&o.all, "all-platforms", false, "scan every platform image, one file each in -o DIR")
	f.StringArrayVar(&o.formats, "format", nil, "document format: spdx-json (default), cyclonedx-json, syft-json; repeatable")
	f.StringVarP(&o.output, "output", "o", "", "write to FILE (one document) or DIR (one file per platform and format; always with --all-platforms)")
	f.BoolVar(&o.noCache, "no-cache", false, "neither read nor write the SBOM cache")
	f.BoolVar(&o.noCache, "no-sbom-cache", false, "same as --no-cache, as affix build spells it")
	f.StringVar(&o.name, "name", "", "image name the documents use (default: REF for registry:REF, else the image name the layout's index.json records, else \"image\")")
	f.IntVar(&o.concurrency, "concurrency", sbomgen.DefaultConcurrency, "how many platforms to scan at once")
	o.registryOptions.addFlags(f)
	return cmd
}

// schemeRegistry prefixes an affix sbom SOURCE that is a registry image.
const schemeRegistry = "registry"

// scanSource is what affix sbom scans: a layout or a registry image.
type scanSource struct {
	fetcher oci.Fetcher
	// roots are the image roots (a layout's, without the SBOM referrers
	// index.json lists beside them; the registry image's index or
	// manifest).
	roots []ocispec.Descriptor
	// name is the image name documents use unless --name is given.
	name string
	// rootNames are, for a layout of several roots, each root's name
	// (layoutRefName, "" for none): the images picked from roots of one
	// name take it.
	rootNames []string
	// what names the source in messages.
	what  string
	close func() error
}

// openScanSource opens source: registry:REF, else an OCI layout.
func openScanSource(ctx context.Context, g *globalOptions, source string, o sbomOptions) (*scanSource, error) {
	if refStr, ok := strings.CutPrefix(source, schemeRegistry+":"); ok {
		img, err := o.openRemoteImage(ctx, g, refStr, nil)
		if err != nil {
			return nil, err
		}
		return &scanSource{fetcher: img.repo, roots: []ocispec.Descriptor{img.root}, name: img.name, what: refStr, close: func() error { return nil }}, nil
	}
	l, err := oci.OpenLayout(ctx, source)
	if err != nil {
		if looksLikeReference(source) && errors.Is(err, fs.ErrNotExist) || splitBare(source) {
			err = fmt.Errorf("%w (an image in a registry is registry:%s)", err, source)
		}
		return nil, sourceUsage(err)
	}
	// Referrers that index.json lists beside the image (the SBOMs of
	// affix build --output) are not images to scan.
	roots, _, err := oci.SplitRoots(ctx, l, l.Roots())
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("%s: %w", l.Source(), err)
	}
	named := make([]ocispec.Descriptor, len(roots))
	var rootNames []string
	for i, r := range roots {
		named[i] = l.NamedBy(r)
		if len(roots) > 1 {
			rootNames = append(rootNames, entriesName(l.Index().Manifests, r.Digest))
		}
	}
	return &scanSource{fetcher: l, roots: roots, name: layoutRefName(named), rootNames: rootNames, what: l.Source().String(), close: l.Close}, nil
}

// entriesName returns the name (layoutRefName) of the index.json entries
// of digest d, when those that have one name one repository; "" when
// none has one, or they name several.
func entriesName(entries []ocispec.Descriptor, d digest.Digest) string {
	name := ""
	for _, e := range entries {
		if e.Digest != d {
			continue
		}
		n := layoutRefName([]ocispec.Descriptor{e})
		switch {
		case n == "":
		case name == "":
			name = n
		case sbomgen.ImageName(n) != sbomgen.ImageName(name):
			return ""
		}
	}
	return name
}

// pickedName returns the name of the roots picked were found under, when
// they all have one and name the same repository ("" otherwise): in a
// layout of several images (skopeo's, oras's), the image --platform picks
// from one of them is named as that one is.
func (s *scanSource) pickedName(ctx context.Context, picked []oci.Image) string {
	if s.name != "" || len(s.rootNames) == 0 || len(picked) == 0 {
		return s.name
	}
	name := ""
	for i, r := range s.roots {
		images, err := oci.Walk(ctx, s.fetcher, r)
		if err != nil {
			return ""
		}
		for _, p := range picked {
			if !slices.ContainsFunc(images, func(img oci.Image) bool { return img.Descriptor.Digest == p.Descriptor.Digest }) {
				continue
			}
			n := s.rootNames[i]
			if n == "" || name != "" && sbomgen.ImageName(n) != sbomgen.ImageName(name) {
				return ""
			}
			name = n
		}
	}
	return name
}

// runSBOM generates the SBOMs of the platform images of source that the
// flags select and writes them where -o says.
func runSBOM(cmd *cobra.Command, g *globalOptions, source string, o sbomOptions) error {
	ctx := cmd.Context()
	formats, sel, err := o.check()
	if err != nil {
		return err
	}
	src, err := openScanSource(ctx, g, source, o)
	if err != nil {
		return err
	}
	defer src.close()
	picked, err := src.pick(ctx, sel)
	if err != nil {
		return err
	}
	toDir, err := o.toDir(len(picked), len(formats))
	if err != nil {
		return err
	}
	gen, err := sbomgen.New(sbomgen.Options{
		Formats:     formats,
		Name:        cmp.Or(o.name, src.pickedName(ctx, picked)),
		NoCache:     o.noCache,
		Concurrency: o.concurrency,
		Logf:        debugf(g, cmd.ErrOrStderr()),
	})
	if err != nil {
		return err
	}
	descs := make([]ocispec.Descriptor, len(picked))
	for i, p := range picked {
		descs[i] = p.Descriptor
	}
	// --all-platforms passes over a platform manifest that is no
	// container image (a wasm module listed under a platform), as a push
	// does; one named by --platform or --digest fails.
	var skip func(ocispec.Descriptor, error) bool
	if sel.All {
		warn := warnf(cmd)
		skip = func(m ocispec.Descriptor, err error) bool {
			return skipNotImage(warn, oci.Image{Descriptor: m}, err)
		}
	}
	results, err := gen.ImagesSkipping(ctx, src.fetcher, descs, skip)
	if err != nil {
		return fmt.Errorf("%s: %w", src.what, err)
	}
	results = slices.DeleteFunc(results, func(r *sbomgen.Result) bool { return r == nil })
	if len(results) == 0 {
		return fmt.Errorf("%s: no platform manifest is a container image to scan", src.what)
	}
	return writeDocuments(cmd, o.output, toDir, results)
}

// check checks the flags of sbom, before the source is opened, and
// returns the document formats and the selection of platform images.
func (o *sbomOptions) check() ([]sbomgen.Format, oci.Selector, error) {
	if err := checkScanEnv(sbomgen.Options{}); err != nil {
		return nil, oci.Selector{}, err
	}
	formats, err := parseDocFormats(o.formats)
	if err != nil {
		return nil, oci.Selector{}, err
	}
	if err := checkPositive("--concurrency", o.concurrency); err != nil {
		return nil, oci.Selector{}, err
	}
	sel := oci.Selector{Platform: o.platform, Digest: digest.Digest(o.digest), All: o.all}
	if (o.platform != "") && (o.digest != "") || (o.platform != "" || o.digest != "") && o.all {
		return nil, oci.Selector{}, usageError(fmt.Errorf("use one of --platform, --digest and --all-platforms"))
	}
	if o.all && o.output == "" {
		return nil, oci.Selector{}, usageError(errors.New("--all-platforms writes one file per platform: name a directory with -o DIR"))
	}
	// -o is checked before the source is opened, as --metadata-file is
	// (a directory for sure, else a file, or a directory should the
	// source hold several platforms: toDir checks that once known).
	if err := checkOutput(o.output, o.all || len(formats) > 1 || namesDir(o.output)); err != nil {
		return nil, oci.Selector{}, err
	}
	if o.digest != "" {
		if err := sel.Digest.Validate(); err != nil {
			return nil, oci.Selector{}, usageError(fmt.Errorf("--digest %q: %w", o.digest, err))
		}
	}
	if err := checkPlatformFlag(o.platform); err != nil {
		return nil, oci.Selector{}, err
	}
	return formats, sel, nil
}

// parseDocFormats parses --format values: any format sbomgen writes, each
// once, in the order given; spdx-json when none is given. A bad one is a
// usage error.
func parseDocFormats(values []string) ([]sbomgen.Format, error) {
	var formats []sbomgen.Format
	for _, s := range values {
		f, err := sbomgen.ParseFormat(s)
		if err != nil && s == formatSPDXInToto {
			return nil, usageError(fmt.Errorf("--format: %w; spdx-intoto is a referrer's form, which push, attach and build write (--sbom-format)", err))
		}
		if err != nil {
			return nil, usageError(fmt.Errorf("--format: %w", err))
		}
		if !slices.Contains(formats, f) {
			formats = append(formats, f)
		}
	}
	if len(formats) == 0 {
		formats = []sbomgen.Format{sbomgen.SPDXJSON}
	}
	return formats, nil
}

// pick returns the platform images of s that sel selects. A source of
// several platforms and no selection flag is an error that says how to
// select.
func (s *scanSource) pick(ctx context.Context, sel oci.Selector) ([]oci.Image, error) {
	images, err := oci.Walk(ctx, s.fetcher, s.roots...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.what, err)
	}
	picked, err := oci.Select(images, sel)
	if err != nil {
		if sel == (oci.Selector{}) && errors.Is(err, oci.ErrAmbiguous) {
			return nil, fmt.Errorf("%s: %w; name one with --platform or --digest, or scan them all with --all-platforms", s.what, err)
		}
		return nil, fmt.Errorf("%s: %w", s.what, err)
	}
	return picked, nil
}

// toDir reports whether the documents of the platforms and formats go to
// files in the directory -o names: with --all-platforms (as affix get
// --all-platforms -o DIR, whatever the image holds: a script written for
// DIR/<platform> files also works on a single-platform image), when there
// are several, or when -o names a directory (or ends in a path
// separator). Several documents without -o are a usage error (check
// refuses --all-platforms without it).
func (o *sbomOptions) toDir(platforms, formats int) (bool, error) {
	n := platforms * formats
	if n > 1 && o.output == "" {
		return false, usageError(fmt.Errorf("%d documents (%s, %s) need -o DIR", n, plural(platforms, "platform"), plural(formats, "format")))
	}
	toDir := o.output != "" && (o.all || n > 1 || namesDir(o.output))
	if toDir {
		// check took -o for a file; it is to be a directory.
		if err := checkOutput(o.output, true); err != nil {
			return false, err
		}
	}
	return toDir, nil
}

// checkOutput checks -o (path; empty: none) before anything is fetched or
// scanned: as a directory (toDir) that is one or can be made, its nearest
// existing parent one that takes new files; else as a file
// (checkOutputFile). A bad one is a usage error naming -o.
func checkOutput(path string, toDir bool) error {
	what := "-o " + path
	switch {
	case path == "":
		return nil
	case !toDir:
		if err := checkOutputFile(what, path); err != nil {
			return usageError(err)
		}
		return nil
	}
	p, fi, err := fsutil.NearestExisting(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // nothing up to the root: made, or failing, later
	case err != nil:
		return usageError(fmt.Errorf("%s: %w", what, err))
	case !fi.IsDir() && p == filepath.Clean(path):
		return usageError(fmt.Errorf("%s: not a directory", what))
	case !fi.IsDir():
		return usageError(fmt.Errorf("%s: %s is not a directory", what, p))
	}
	if err := checkWritableDir(what, p); err != nil {
		return usageError(err)
	}
	return nil
}

// writeDocuments writes the documents of results: each to
// output/<os>-<arch>[-<variant>]<ext> with toDir, else to the file output,
// else to stdout; and a summary line per result to stderr. A file is
// written whole or not at all (fsutil.WriteFile): a full disk leaves an
// earlier file as it was, not a truncated document.
func writeDocuments(cmd *cobra.Command, output string, toDir bool, results []*sbomgen.Result) error {
	stderr := cmd.ErrOrStderr()
	names := outputNames(results)
	for i, r := range results {
		for _, d := range r.Documents {
			switch {
			case toDir:
				if err := os.MkdirAll(output, 0o755); err != nil {
					return err
				}
				if err := fsutil.WriteFileContext(cmd.Context(), filepath.Join(output, names[i]+d.Format.Ext()), d.Data); err != nil {
					return err
				}
			case output != "":
				if err := fsutil.WriteFileContext(cmd.Context(), output, d.Data); err != nil {
					return err
				}
			default:
				if _, err := cmd.OutOrStdout().Write(d.Data); err != nil {
					return err
				}
			}
		}
		printSummary(stderr, r)
	}
	return nil
}

// namesDir reports whether the output path p names a directory: one that
// is there (following links), or a path ending in a separator.
func namesDir(p string) bool {
	return strings.HasSuffix(p, string(os.PathSeparator)) || isDir(p)
}

// layoutRefName returns the image name of a layout's only image root (an
// index.json entry): its io.containerd.image.name, else its
// org.opencontainers.image.ref.name when that is a reference (has a
// repository path or a tag, is not only a tag), else "".
func layoutRefName(roots []ocispec.Descriptor) string {
	if len(roots) != 1 {
		return ""
	}
	for _, k := range []string{oci.AnnotationImageName, ocispec.AnnotationRefName} {
		ref := roots[0].Annotations[k]
		if ref != "" && !strings.ContainsAny(ref, " \t\n") && strings.ContainsAny(ref, "/:") {
			return ref
		}
	}
	return ""
}

// outputNames returns a file name stem per result (outputStems).
func outputNames(results []*sbomgen.Result) []string {
	return outputStems(len(results), func(i int) (ocispec.Platform, digest.Digest) {
		return results[i].Platform, results[i].Manifest.Digest
	})
}

// outputStems returns a file name stem for each of n platform manifests,
// whose platform and digest at(i) gives: its platform (linux-arm-v7), with
// a short digest added where platforms repeat.
func outputStems(n int, at func(i int) (ocispec.Platform, digest.Digest)) []string {
	stems := make([]string, n)
	count := map[string]int{}
	for i := range n {
		p, _ := at(i)
		stems[i] = platformStem(p)
		count[stems[i]]++
	}
	for i := range n {
		if count[stems[i]] > 1 {
			_, d := at(i)
			stems[i] += "-" + d.Encoded()[:12]
		}
	}
	return stems
}

// platformStem turns a platform into a file name: linux/arm/v7 is
// linux-arm-v7, windows(10.0.17763)/amd64 is windows-10.0.17763-amd64.
func platformStem(p ocispec.Platform) string {
	s := oci.FormatPlatform(p)
	var b strings.Builder
	dash := false
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_'
		if !ok {
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		b.WriteRune(r)
		dash = false
	}
	return strings.TrimSuffix(b.String(), "-")
}

// printSummary prints one line about r: platform, short digest, packages
// by type (sbomgen.Result.PackageSummary, as affix-scanner prints them),
// cached or scanned.
func printSummary(w io.Writer, r *sbomgen.Result) {
	how := "scanned"
	if r.Cached {
		how = "cached"
	}
	short := r.Manifest.Digest.String()
	if len(short) > 19 {
		short = short[:19]
	}
	fmt.Fprintf(w, "%-16s %s  %s  %s\n", oci.FormatPlatform(r.Platform), short, r.PackageSummary(), how)
}

// looksLikeReference reports whether a source that is no path looks like
// a registry reference (HOST/REPOSITORY...: a first element with a dot or
// a port, or localhost), to hint at registry:. A source that names its
// kind (oci-layout:, oci-archive:) is a path.
func looksLikeReference(s string) bool {
	if isLayoutSource(s) {
		return false
	}
	host, _, ok := splitHost(s)
	if !ok || host == "." || host == ".." {
		return false
	}
	_, err := registry.ParseReference(s)
	return err == nil
}

// splitBare reports whether source is a bare path that does not exist as
// a whole, so that PATH:TAG or PATH@DIGEST was read into it: "alpine:3.20"
// beside a directory alpine, which may well mean the registry's image.
func splitBare(source string) bool {
	if isLayoutSource(source) || !strings.ContainsAny(source, ":@") {
		return false
	}
	_, err := os.Stat(source)
	return err != nil
}

// splitHost splits a registry host off a name as Docker does
// (HOST/PATH, HOST a first element with a dot or a port, or localhost);
// ok is false when the first element is no host (a Docker Hub path, or
// no slash at all).
func splitHost(s string) (host, rest string, ok bool) {
	host, rest, ok = strings.Cut(s, "/")
	if !ok || !isHostName(host) {
		return "", s, false
	}
	return host, rest, true
}
