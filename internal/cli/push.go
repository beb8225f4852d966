package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

func init() { extraCommands = append(extraCommands, newPushCmd) }

type pushOptions struct {
	registryOptions
	formats           []string
	maxConcurrency    int
	mountFrom         string
	stripAttestations bool
	metadataFile      string
	name              string
	noCache           bool
	noSBOM            bool
	sbom              bool
}

// newPushCmd returns the push command: an OCI layout published with one
// SBOM referrer per platform manifest.
func newPushCmd(g *globalOptions) *cobra.Command {
	var o pushOptions
	cmd := &cobra.Command{
		Use:   "push [flags] SOURCE REF",
		Short: "Push an OCI layout to a registry with one SBOM referrer per platform manifest, in one push",
		Long: `Push the image of an OCI layout (SOURCE: oci-layout:DIR or oci-archive:FILE,
with :TAG or @DIGEST to name one image of a layout that holds several)
to REF (HOST/REPOSITORY:TAG, or :TAG1,TAG2,... for several tags, as oras
cp takes them), generating an SBOM for every platform image and attaching
it as an OCI referrer (subject = the platform manifest).

Order: blobs (skipping those the registry has), platform manifests, SBOM
blobs and manifests (and the referrers tag where the registry has no
referrers API), the index by tag last. Uploads overlap SBOM generation.
If a step fails the tag stays where it was; a rerun completes the push, and
a rerun of a completed push changes nothing. Several tags are written one
after the other, after everything else; should one fail, the error names
the tags that moved.

A layout written by affix build --output holds the SBOM manifests beside
the image (index.json lists them): push selects the image as the root and
pushes those SBOMs as they are, without scanning again, unless --name or
--no-cache is given: they name what the build named (its first -t
repository), not REF, and a note says so when that differs.

Credentials come from the Docker config (docker login, credential helpers).
Registries are reached over HTTPS unless named with --insecure-registry; a
registry on this machine that answers in plain HTTP needs no flag.`,
		Example: `  affix push oci-layout:./out registry.example.com/app:1.0
  affix push oci-archive:app.tar registry.example.com/app:1.0.3,1.0,latest
  affix push --sbom-format spdx-json --sbom-format cyclonedx-json --insecure-registry localhost:5000 out.tar localhost:5000/app:dev`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError(fmt.Errorf("want SOURCE and REF, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runPush(cmd, g, args[0], args[1], o) },
	}
	f := cmd.Flags()
	o.registryOptions.addFlags(f)
	f.StringArrayVar(&o.formats, "sbom-format", nil, "SBOM referrer format: spdx-json (default), cyclonedx-json, spdx-intoto (SPDX in an in-toto statement); repeatable")
	f.IntVar(&o.maxConcurrency, "max-concurrency", 4, "uploads at once")
	f.StringVar(&o.mountFrom, "mount-from", "", "repository of the same registry to mount blobs from, REPO or HOST/REPO")
	f.BoolVar(&o.stripAttestations, "strip-attestations", false, "leave BuildKit attestation manifests out of the pushed index (it gets a new digest); warns about the statements no referrer replaces, such as provenance")
	f.StringVar(&o.metadataFile, "metadata-file", "", "write what was pushed (digests, referrers, referrers mode, request counts) as JSON to FILE")
	f.StringVar(&o.name, "name", "", "image name the SBOMs push generates use (default: REF; a layout's SBOMs keep theirs)")
	f.BoolVar(&o.noCache, "no-cache", false, "neither read nor write the SBOM cache")
	f.BoolVar(&o.noCache, "no-sbom-cache", false, "same as --no-cache, as affix build spells it")
	f.BoolVar(&o.noSBOM, "no-sbom", false, "push the image without SBOMs")
	f.BoolVar(&o.sbom, "sbom", true, "generate and publish SBOMs; --sbom=false is --no-sbom, as affix build and buildx spell it")
	return cmd
}

// runPush checks push's arguments and pushes source to refStr. A usage
// error comes before prepareMetadataFile removes an earlier file.
func runPush(cmd *cobra.Command, g *globalOptions, source, refStr string, o pushOptions) error {
	a, err := o.checkArgs(cmd, refStr)
	if err != nil {
		return err
	}
	// A missing or wrong-kind layout path is a usage error too, found
	// before an earlier metadata file is removed; a layout that does not
	// read is a failure like any later one.
	if src, err := oci.ParseSource(source); err == nil && o.metadataFile != "" && samePath(o.metadataFile, src.Path) {
		return usageError(fmt.Errorf("--metadata-file %s is the SOURCE", o.metadataFile))
	}
	l, err := oci.OpenLayout(cmd.Context(), source)
	if isSourceError(err) {
		return usageError(err)
	}
	if err := prepareMetadataFile(cmd.Context(), o.metadataFile); err != nil {
		if l != nil {
			l.Close()
		}
		return err
	}
	if err != nil {
		return err
	}
	defer l.Close()
	return hintHTTP(push(cmd, g, l, a, o), hostOf(refStr))
}

// push pushes the image of the layout l to REF (a, checkArgs) in the
// order the command's help gives: images while the SBOMs are generated
// and attached, the layout's other referrers, the index by tag, the other
// tags; then it reports what it pushed.
func push(cmd *cobra.Command, g *globalOptions, l *oci.Layout, a pushArgs, o pushOptions) error {
	ctx, warn := cmd.Context(), warnf(cmd)
	src, err := readPushSource(ctx, l)
	if err != nil {
		return err
	}
	gen, err := o.sbomGenerator(a.formats, a.name, debugf(g, cmd.ErrOrStderr()))
	if err != nil {
		return err
	}
	if o.stripAttestations {
		warnStripped(ctx, warn, l, src.images, gen != nil)
	}

	counter := &exporter.Counter{}
	tgt, err := o.connect(ctx, g, a.ref, counter)
	if err != nil {
		return err
	}
	popts := exporter.Options{
		Tag:               a.ref.Reference,
		MaxConcurrency:    o.maxConcurrency,
		MountFrom:         a.mountFrom,
		StripAttestations: o.stripAttestations,
		Logf:              debugf(g, cmd.ErrOrStderr()),
		Warnf:             warn,
	}
	if o.stripAttestations {
		// What warnStripped warned about, from the same walk, is what
		// the push strips.
		popts.StripSet = exporter.StripSetOf(src.images)
	}
	p := exporter.New(tgt, &exporter.Image{Source: l, Root: src.root}, popts)
	defer p.Abort()
	attached := &referrerLog{}
	var sp *sbomPusher
	if gen != nil {
		// SBOMs the layout holds already (affix build --output) are pushed
		// as they are rather than generated again, unless asked otherwise.
		sp = &sbomPusher{
			p: p, gen: gen, src: l, l: l, layoutRefs: src.layoutRefs, formats: a.formats, name: a.name,
			reuse: !o.noCache && !cmd.Flags().Changed("name"),
			warn:  warn, note: notef(cmd), logf: debugf(g, cmd.ErrOrStderr()), attached: attached,
		}
	}
	if err := pushImages(ctx, p, src.platforms, sp); err != nil {
		return fmt.Errorf("push to %s failed, tag %s not moved: %w", tgt.Name(), a.ref.Reference, err)
	}
	// What else the layout holds for the image goes with it, before the
	// tag.
	extra, err := pushLayoutReferrers(ctx, warn, p, l, src.layoutRefs, src.images, attached, o.noSBOM || !o.sbom)
	if err != nil {
		return fmt.Errorf("push to %s failed, tag %s not moved: %w", tgt.Name(), a.ref.Reference, err)
	}
	res, tags, err := commitTags(ctx, p, "push", tgt.Name(), a.ref, a.moreTags)
	if err != nil {
		return err
	}

	warnNotMounted(warn, res.Blobs, o.mountFrom, a.mountFrom, a.ref.Registry)
	meta := newMetadata(res, refName(a.ref, a.ref.Reference), src.platforms, attached, counter)
	meta.LayoutReferrers = extra
	meta.Tags = refNames(a.ref, tags)
	printPush(cmd.OutOrStdout(), inFormatOrder(meta, a.formats), res)
	if err := writeMetadataFile(cmd.Context(), o.metadataFile, meta); err != nil {
		// The push is done: a CI script reading the error must not take
		// it for a failed one and retry or roll back.
		return fmt.Errorf("push to %s succeeded (%s), but --metadata-file was not written: %w", tgt.Name(), tagStates(meta.Tags, nil, nil), err)
	}
	return nil
}

// pushArgs are REF and the flags of push, checked before the layout is
// opened.
type pushArgs struct {
	// ref is REF with its first tag ("latest" when it names none).
	ref registry.Reference
	// moreTags are the other tags of REF's tag list, each once.
	moreTags []string
	// mountFrom is the repository of --mount-from ("" for none).
	mountFrom string
	formats   []referrerFormat
	// name is the image name the SBOMs use: --name, else REF.
	name string
}

// sbomOnlyFlags are push's flags that shape the SBOMs: with --no-sbom
// they would be ignored, so they are refused.
var sbomOnlyFlags = []string{"sbom-format", "name", "no-cache", "no-sbom-cache"}

// checkArgs parses REF (refStr) and checks the flags of cmd, push, that
// need no layout and no registry.
func (o *pushOptions) checkArgs(cmd *cobra.Command, refStr string) (pushArgs, error) {
	if o.noSBOM && o.sbom && cmd.Flags().Changed("sbom") {
		return pushArgs{}, usageError(fmt.Errorf("--sbom=true asks for SBOMs and --no-sbom for none: give one"))
	}
	if o.noSBOM || !o.sbom {
		if f := changedFlag(cmd, sbomOnlyFlags); f != "" {
			off := "--no-sbom"
			if !o.sbom {
				off = "--sbom=false"
			}
			return pushArgs{}, usageError(fmt.Errorf("--%s with %s: no SBOM is generated", f, off))
		}
	} else if err := checkScanEnv(sbomgen.Options{}); err != nil {
		return pushArgs{}, err
	}
	if err := checkName(o.name); err != nil {
		return pushArgs{}, err
	}
	first, moreTags, err := splitTagList(refStr)
	if err != nil {
		return pushArgs{}, err
	}
	ref, err := parseRef(first)
	if err != nil {
		if first != refStr {
			// Messages quote REF as typed, not its first tag's form.
			return pushArgs{}, usageError(fmt.Errorf("REF %q: %w", refStr, err))
		}
		return pushArgs{}, err
	}
	if ref.Reference == "" {
		ref.Reference = "latest"
	}
	if _, err := digest.Parse(ref.Reference); err == nil {
		return pushArgs{}, usageError(fmt.Errorf("REF %q: push writes a tag: name HOST/REPOSITORY:TAG, without @DIGEST", refStr))
	}
	for _, t := range append([]string{ref.Reference}, moreTags...) {
		if err := checkImageTag(fmt.Sprintf("REF %q", refStr), t); err != nil {
			return pushArgs{}, err
		}
	}
	mountFrom, err := mountRepository(o.mountFrom, ref)
	if err != nil {
		return pushArgs{}, err
	}
	formats, err := sbomFormats(o.formats)
	if err != nil {
		return pushArgs{}, err
	}
	if err := checkPositive("--max-concurrency", o.maxConcurrency); err != nil {
		return pushArgs{}, err
	}
	name := o.name
	if name == "" {
		name = refName(ref, ref.Reference)
	}
	return pushArgs{ref: ref, moreTags: moreTags, mountFrom: mountFrom, formats: formats, name: name}, nil
}

// pushSource is the image push reads from its SOURCE layout.
type pushSource struct {
	root ocispec.Descriptor
	// layoutRefs are the referrer manifests index.json lists beside the
	// image, by subject digest (see layoutRoot).
	layoutRefs map[digest.Digest][]ocispec.Descriptor
	// images are the manifests of root (oci.Walk), platforms those of
	// every platform (oci.Select).
	images    []oci.Image
	platforms []oci.Image
}

// readPushSource reads the one image of l, its manifests and the
// referrers the layout holds for them.
func readPushSource(ctx context.Context, l *oci.Layout) (*pushSource, error) {
	root, layoutRefs, err := layoutRoot(ctx, l, "push", nil)
	if err != nil {
		return nil, err
	}
	images, platforms, err := layoutPlatforms(ctx, l, root)
	if err != nil {
		return nil, err
	}
	return &pushSource{root: root, layoutRefs: layoutRefs, images: images, platforms: platforms}, nil
}

// sbomGenerator returns the generator of the SBOMs in formats, which name
// the image name; nil with --no-sbom or --sbom=false.
func (o *pushOptions) sbomGenerator(formats []referrerFormat, name string, logf func(format string, args ...any)) (*sbomgen.Generator, error) {
	if o.noSBOM || !o.sbom {
		return nil, nil
	}
	return sbomgen.New(sbomgen.Options{Formats: docFormats(formats), Name: name, NoCache: o.noCache, Logf: logf})
}

// pushImages runs steps 1-2 of the push, the blobs and the platform
// manifests, while sp (nil for no SBOMs) generates the SBOMs of
// platforms; each SBOM is attached as soon as it is ready (its manifest
// waits for the images).
func pushImages(ctx context.Context, p *exporter.Push, platforms []oci.Image, sp *sbomPusher) error {
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error { return p.Images(ectx) })
	if sp != nil {
		for _, img := range platforms {
			eg.Go(func() error { return sp.attach(ectx, img) })
		}
	}
	return eg.Wait()
}

// tagMore writes the other tags of REF's tag list (more) to the
// committed index of target, ref's repository, one after the other, and
// returns every tag written, ref's first. Its error, worded for verb
// ("push", "merge"), names, as references, the tags that moved, the one
// that may have (its answer lost) and those that did not.
func tagMore(ctx context.Context, p *exporter.Push, verb, target string, ref registry.Reference, more []string) ([]string, error) {
	tags := []string{ref.Reference}
	for i, t := range more {
		if err := p.Tag(ctx, t); err != nil {
			var unknown []string
			stayed := more[i+1:]
			if errors.Is(err, exporter.ErrTagUnknown) {
				unknown = []string{t}
			} else {
				stayed = more[i:]
			}
			states := tagStates(refNames(ref, tags), refNames(ref, unknown), refNames(ref, stayed))
			// Tag's errors name the tag ("tag v2 not written: ...",
			// "writing v2: ..."): not again here.
			return nil, fmt.Errorf("%s to %s: %w (%s)", verb, target, err, states)
		}
		tags = append(tags, t)
	}
	return tags, nil
}

// commitTags commits p, ref's repository target, by ref's tag and writes
// the other tags of its list (more), as verb ("push", "merge"), once p is
// ready (Ready: its images and referrers in place, every referrers index
// verified). The tag writes are the publication's commit: once they
// start, an interrupt lets every tag of the list be written
// (exporter.CommitContext: within its grace, a second signal cuts them
// short), so that the tags of one release move together, not :1.2.3
// without :latest; an interrupt that came before moves none. It returns
// what was pushed and the tags written, ref's first; its errors name the
// tags that moved, may have, and did not.
func commitTags(ctx context.Context, p *exporter.Push, verb, target string, ref registry.Reference, more []string) (*exporter.Result, []string, error) {
	if err := p.Ready(ctx); err != nil {
		return nil, nil, commitError(verb, target, ref.Reference, err)
	}
	tctx := ctx
	if ctx.Err() == nil {
		// Released when the last tag is written, not when the command
		// ends: a signal while it prints is no longer one during the
		// tag writes.
		var done context.CancelFunc
		tctx, done = exporter.CommitContext(ctx)
		defer done()
	}
	res, err := p.Commit(tctx)
	if err != nil {
		return nil, nil, commitError(verb, target, ref.Reference, err)
	}
	tags, err := tagMore(tctx, p, verb, target, ref, more)
	if err != nil {
		return nil, nil, err
	}
	return res, tags, nil
}

// commitError is the error of a failed Commit of a verb ("push",
// "merge") to target with tag: the tag did not move, unless its write got
// no answer (ErrTagUnknown), which says so itself.
func commitError(verb, target, tag string, err error) error {
	if errors.Is(err, exporter.ErrTagUnknown) {
		return fmt.Errorf("%s to %s: %w", verb, target, err)
	}
	return fmt.Errorf("%s to %s failed, tag %s not moved: %w", verb, target, tag, err)
}

// refNames returns the reference of each of tags in ref's repository.
func refNames(ref registry.Reference, tags []string) []string {
	names := make([]string, len(tags))
	for i, t := range tags {
		names[i] = refName(ref, t)
	}
	return names
}

// warnNotMounted warns (see NewWarnf) when --mount-from (flag as given, repo its
// repository of host) mounted no blob, so every blob of b was uploaded.
func warnNotMounted(warn func(format string, args ...any), b exporter.BlobCounts, flag, repo, host string) {
	if repo != "" && b.Mounted == 0 && b.NotMounted > 0 {
		warn("--mount-from %s: no blob could be mounted, %d uploaded instead (is %s a repository of %s that the credentials can read?)",
			flag, b.NotMounted, repo, host)
	}
}

// sbomPusher attaches the SBOMs of each platform image of a push: those
// the layout holds already (affix build --output), pushed as they are
// when reuse is set, and the missing formats generated.
type sbomPusher struct {
	p   *exporter.Push
	gen *sbomgen.Generator
	// src reads the images scanned.
	src oci.Fetcher
	// l and layoutRefs are the layout whose SBOMs are reused, and its
	// referrers by subject (see layoutRoot); only read with reuse.
	l          *oci.Layout
	layoutRefs map[digest.Digest][]ocispec.Descriptor
	formats    []referrerFormat
	name       string // the image name the SBOMs use
	reuse      bool
	// failNotImage fails on a platform manifest that is no container
	// image (the one attach --platform names); else it is skipped, with a
	// warning (skipNotImage).
	failNotImage bool
	warn         func(format string, args ...any) // see NewWarnf
	// note prints the note that the layout's SBOMs name another image
	// than name (nil: none), once (noted).
	note     func(format string, args ...any)
	noted    sync.Once
	logf     func(format string, args ...any) // nil: no debug output
	attached *referrerLog
}

// attach attaches the SBOMs of img, all at once (one referrers tag round
// where the registry has no referrers API).
func (s *sbomPusher) attach(ctx context.Context, img oci.Image) error {
	var reused []sbomReferrer
	missing := s.formats
	if s.reuse {
		var err error
		reused, missing, err = layoutSBOMs(ctx, s.l, s.layoutRefs[img.Descriptor.Digest], img.Descriptor, s.formats)
		if err != nil {
			return err
		}
		if len(reused) > 0 && s.unnamed(reused[0]) {
			// Pushed to REF, an SBOM that names no image is worse than
			// the scan that names it.
			if s.note != nil {
				s.noted.Do(func() {
					s.note("the SBOMs from the layout name no image (%q: it was built without -t): scanned again, naming %s", sbomgen.DefaultName, sbomgen.ImageName(s.name))
					if others := s.unnamedOthers(ctx, img); len(others) > 0 {
						var flags []string
						for _, f := range s.formats {
							flags = append(flags, "--sbom-format "+f.String())
						}
						for _, f := range others {
							flags = append(flags, "--sbom-format "+f)
						}
						s.note("the layout's %s SBOMs, a format this push does not publish, go as they are, naming no image: %s scans them again too", strings.Join(others, ", "), strings.Join(flags, " "))
					}
				})
			}
			reused, missing = nil, s.formats
		}
		if len(reused) > 0 && s.note != nil {
			s.noted.Do(func() { s.noteName(reused[0]) })
		}
		if reused, missing, err = wrapReused(reused, missing, s.name); err != nil {
			return err
		}
		if s.logf != nil && len(reused) > 0 {
			s.logf("%s: %d SBOMs from the layout, not scanned again; %d to scan", img, len(reused), len(missing))
		}
		if len(missing) == 0 {
			return attachTogether(ctx, s.p, img, reused, s.attached, "")
		}
	}
	res, err := s.gen.Image(ctx, s.src, img.Descriptor)
	if !s.failNotImage && skipNotImage(s.warn, img, err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("SBOM of %s (%s): %w", img, img.Descriptor.Digest, err)
	}
	warnUnreadable(s.warn, img, res)
	refs, err := sbomReferrers(img, res, missing, s.name)
	if err != nil {
		return err
	}
	return attachTogether(ctx, s.p, img, append(reused, refs...), s.attached, "")
}

// unnamed reports whether r, an SBOM from the layout, names no image
// (sbomgen.DefaultName) while the SBOMs push generates name one.
func (s *sbomPusher) unnamed(r sbomReferrer) bool {
	if len(r.artifact.Blobs) == 0 || sbomgen.ImageName(s.name) == sbomgen.DefaultName {
		return false
	}
	return sbomDocName(r.format, r.artifact.Blobs[0].Data) == sbomgen.DefaultName
}

// unnamedOthers returns the formats, other than those the push publishes,
// of the SBOMs affix made that the layout holds for img and that name no
// image: they go as they are (the layout's other referrers).
func (s *sbomPusher) unnamedOthers(ctx context.Context, img oci.Image) []string {
	var others []string
	for _, v := range []string{sbomgen.SPDXJSON.String(), sbomgen.CycloneDXJSON.String(), formatSPDXInToto} {
		fs, err := sbomFormats([]string{v})
		if err != nil || slices.Contains(s.formats, fs[0]) {
			continue
		}
		found, _, err := layoutSBOMs(ctx, s.l, s.layoutRefs[img.Descriptor.Digest], img.Descriptor, fs)
		if err == nil && len(found) > 0 && s.unnamed(found[0]) {
			others = append(others, v)
		}
	}
	return others
}

// noteName notes when r, an SBOM from the layout, names another image
// repository than the SBOMs push generates (--name's default, REF): the
// layout's SBOMs are pushed as they are, naming what the build named (its
// first -t repository).
func (s *sbomPusher) noteName(r sbomReferrer) {
	if len(r.artifact.Blobs) == 0 {
		return
	}
	got, want := sbomDocName(r.format, r.artifact.Blobs[0].Data), sbomgen.ImageName(s.name)
	if got != "" && got != want {
		s.note("the SBOMs from the layout name %s, not %s: pushed as they are (--no-cache scans again, naming %s)", got, want, want)
	}
}

// sbomDocName returns the image name an SBOM document of format f names
// (SPDX: its name without @DIGEST; CycloneDX: its metadata component; an
// in-toto statement: its subject), "" when it names none.
func sbomDocName(f referrerFormat, data []byte) string {
	var doc struct {
		Name     string `json:"name"`
		Metadata struct {
			Component struct {
				Name string `json:"name"`
			} `json:"component"`
		} `json:"metadata"`
		Subject []struct {
			Name string `json:"name"`
		} `json:"subject"`
	}
	if json.Unmarshal(data, &doc) != nil {
		return ""
	}
	switch {
	case f.inToto:
		if len(doc.Subject) > 0 {
			return doc.Subject[0].Name
		}
		return ""
	case f.doc == sbomgen.CycloneDXJSON:
		return doc.Metadata.Component.Name
	default:
		n, _, _ := strings.Cut(doc.Name, "@")
		return n
	}
}

// inFormatOrder returns m for the summary: each platform's referrers in
// the order of formats (--sbom-format as given), where the log, and the
// metadata file, keep them by format name.
func inFormatOrder(m *pushMetadata, formats []referrerFormat) *pushMetadata {
	rank := func(f string) int {
		if i := slices.IndexFunc(formats, func(x referrerFormat) bool { return x.String() == f }); i >= 0 {
			return i
		}
		return len(formats)
	}
	c := *m
	c.Platforms = slices.Clone(m.Platforms)
	for i := range c.Platforms {
		refs := slices.Clone(c.Platforms[i].Referrers)
		slices.SortStableFunc(refs, func(x, y referrerMeta) int { return cmp.Compare(rank(x.Format), rank(y.Format)) })
		c.Platforms[i].Referrers = refs
	}
	return &c
}

// attachEach attaches the SBOMs of each of images (attach), all at once.
func (s *sbomPusher) attachEach(ctx context.Context, images []oci.Image) error {
	eg, ectx := errgroup.WithContext(ctx)
	for _, img := range images {
		eg.Go(func() error { return s.attach(ectx, img) })
	}
	return eg.Wait()
}

// splitTagList splits the tag list off REF as oras cp takes it,
// [HOST/]REPOSITORY:TAG1,TAG2,...: REF with its first tag, and the other
// tags, each valid and named once. A REF without a comma in its tag is
// returned as it is.
func splitTagList(s string) (string, []string, error) {
	slash := strings.LastIndex(s, "/")
	name, list, ok := strings.Cut(s[slash+1:], ":")
	if !ok || !strings.Contains(list, ",") {
		return s, nil, nil
	}
	if strings.Contains(list, "@") {
		return "", nil, usageError(fmt.Errorf("REF %q: a tag list takes no @DIGEST", s))
	}
	tags := strings.Split(list, ",")
	var more []string
	for _, t := range tags {
		r := registry.Reference{Registry: "localhost", Repository: "r", Reference: t}
		if err := r.ValidateReferenceAsTag(); err != nil {
			return "", nil, usageError(fmt.Errorf("REF %q: tag %q: want [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", s, t))
		}
		if t != tags[0] && !slices.Contains(more, t) {
			more = append(more, t)
		}
	}
	return s[:slash+1] + name + ":" + tags[0], more, nil
}

// mountRepository returns the repository --mount-from names, from: a
// repository of ref's registry, written as a repository path or as a
// reference with ref's host (the host is dropped). Another host is a usage
// error, since a registry mounts only its own blobs.
func mountRepository(from string, ref registry.Reference) (string, error) {
	if from == "" {
		return "", nil
	}
	repo := from
	if host, rest, ok := splitHost(from); ok {
		if !exporter.SameRegistry(host, ref.Registry) {
			return "", usageError(fmt.Errorf("--mount-from %q: a registry mounts only its own blobs; name a repository of %s", from, ref.Registry))
		}
		repo = rest
	}
	r := registry.Reference{Registry: ref.Registry, Repository: repo}
	if err := r.ValidateRepository(); err != nil {
		return "", usageError(fmt.Errorf("--mount-from %q: want a repository of %s, [%s/]REPOSITORY: %w", from, ref.Registry, ref.Registry, err))
	}
	return repo, nil
}

// pushLayoutReferrers publishes the layout's other referrers of the pushed
// image (see layoutReferrers): of every manifest and index the push
// writes unchanged, and of the SBOMs it pushed. Left out are the SBOMs a
// new scan replaces (a layout SBOM of a platform to which the push
// attached a new SBOM of the same kind), every SBOM with --no-sbom, and
// the referrers of what --strip-attestations leaves out or rewrites.
func pushLayoutReferrers(ctx context.Context, warn func(format string, args ...any), p *exporter.Push, l *oci.Layout, refs map[digest.Digest][]ocispec.Descriptor, images []oci.Image, attached *referrerLog, noSBOM bool) ([]layoutReferrerMeta, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	pushed, err := p.Pushed(ctx)
	if err != nil {
		return nil, err
	}
	var subjects []digest.Digest
	notWritten := map[digest.Digest]string{}
	for _, src := range slices.Sorted(maps.Keys(pushed)) {
		if d := pushed[src]; d != src {
			notWritten[src] = fmt.Sprintf("rewritten by --strip-attestations (pushed as %s)", d)
			continue
		}
		subjects = append(subjects, src)
	}
	for _, img := range images {
		if _, ok := pushed[img.Descriptor.Digest]; !ok {
			notWritten[img.Descriptor.Digest] = "an attestation manifest --strip-attestations leaves out"
		}
	}
	written := map[digest.Digest]bool{}
	for _, d := range subjects {
		for _, a := range attached.get(d) {
			written[a.desc.Digest] = true
		}
	}
	inLayout := func(subject, d digest.Digest) bool {
		return slices.ContainsFunc(refs[subject], func(r ocispec.Descriptor) bool { return r.Digest == d })
	}
	x := &layoutReferrers{l: l, refs: refs, warn: warn, drop: func(subject digest.Digest, r ocispec.Descriptor) string {
		if !oci.IsSBOMReferrer(r) {
			return ""
		}
		if noSBOM {
			return "it is an SBOM, and --no-sbom pushes none"
		}
		if !madeByAffix(r.Annotations) {
			return "" // another tool's: the user's, beside affix's
		}
		for _, a := range attached.get(subject) {
			if sameSBOMKind(a.desc, r) && !inLayout(subject, a.desc.Digest) {
				return fmt.Sprintf("replaced by the %s SBOM %s this push generated", a.format, a.desc.Digest)
			}
		}
		return ""
	}}
	return x.push(ctx, p, subjects, written, notWritten)
}

// layoutSBOMs returns, for each of formats, the SBOM artifact affix made
// that the layout holds for subject among refs (its referrer manifests),
// and the formats it holds none of. A referrer counts only when it
// re-encodes to the same manifest digest, so pushing the artifact
// publishes exactly the referrer the layout has; the first in index.json
// order is taken (the others go as the layout's other referrers).
func layoutSBOMs(ctx context.Context, l *oci.Layout, refs []ocispec.Descriptor, subject ocispec.Descriptor, formats []referrerFormat) (found []sbomReferrer, missing []referrerFormat, err error) {
	for _, f := range formats {
		ok := false
		for _, r := range refs {
			a, is, err := layoutSBOM(ctx, l, r, subject, f)
			if err != nil {
				return nil, nil, err
			}
			if is {
				found = append(found, sbomReferrer{f, a})
				ok = true
				break
			}
		}
		if !ok {
			missing = append(missing, f)
		}
	}
	return found, missing, nil
}

// layoutSBOM reads the referrer r as an SBOM artifact of format f about
// subject; ok is false when it is not one.
func layoutSBOM(ctx context.Context, l *oci.Layout, r, subject ocispec.Descriptor, f referrerFormat) (exporter.Artifact, bool, error) {
	if r.MediaType != ocispec.MediaTypeImageManifest {
		return exporter.Artifact{}, false, nil
	}
	var m ocispec.Manifest
	if _, err := oci.ReadJSON(ctx, l, r, &m); err != nil {
		return exporter.Artifact{}, false, fmt.Errorf("%s: reading referrer %s: %w", l.Source(), r.Digest, err)
	}
	at := oci.ReferrerDescriptor(r, m).ArtifactType
	if at != f.artifactType() || m.Subject == nil || m.Subject.Digest != subject.Digest || len(m.Layers) != 1 || m.Layers[0].MediaType != at {
		return exporter.Artifact{}, false, nil
	}
	if !madeByAffix(m.Annotations) {
		// Another tool's SBOM is not affix's scan: it goes as it is,
		// beside the one affix makes.
		return exporter.Artifact{}, false, nil
	}
	if f.inToto && m.Layers[0].Annotations[oci.AnnotationPredicateType] != oci.PredicateSPDX {
		return exporter.Artifact{}, false, nil
	}
	data, err := oci.ReadBlob(ctx, l, m.Layers[0], discover.MaxSBOMSize)
	if err != nil {
		return exporter.Artifact{}, false, fmt.Errorf("%s: SBOM of referrer %s: %w", l.Source(), r.Digest, err)
	}
	// ReadBlob checked data against the layer's digest: the blob's
	// digest, not hashed again.
	a := exporter.Artifact{
		Subject:      *m.Subject,
		ArtifactType: at,
		Blobs:        []exporter.Blob{{MediaType: m.Layers[0].MediaType, Data: data, Digest: m.Layers[0].Digest, Annotations: m.Layers[0].Annotations}},
		Annotations:  m.Annotations,
	}
	d, _, err := a.Manifest()
	if err != nil || d.Digest != r.Digest {
		return exporter.Artifact{}, false, nil
	}
	return a, true, nil
}
