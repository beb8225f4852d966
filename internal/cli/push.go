package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"github.com/affix-oci/affix/frontend"
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
--no-cache is given.

Credentials come from the Docker config (docker login, credential helpers).
Registries are reached over HTTPS unless named with --insecure-registry.`,
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
	f.BoolVar(&o.stripAttestations, "strip-attestations", false, "leave BuildKit attestation manifests out of the pushed index (it gets a new digest)")
	f.StringVar(&o.metadataFile, "metadata-file", "", "write what was pushed (digests, referrers, referrers mode, request counts) as JSON to FILE")
	f.StringVar(&o.name, "name", "", "image name the SBOMs use (default: REF)")
	f.BoolVar(&o.noCache, "no-cache", false, "neither read nor write the SBOM cache")
	f.BoolVar(&o.noCache, "no-sbom-cache", false, "same as --no-cache, as affix build spells it")
	f.BoolVar(&o.noSBOM, "no-sbom", false, "push the image without SBOMs")
	f.BoolVar(&o.sbom, "sbom", true, "generate and publish SBOMs; --sbom=false is --no-sbom, as affix build and buildx spell it")
	return cmd
}

func runPush(cmd *cobra.Command, g *globalOptions, source, refStr string, o pushOptions) error {
	if err := checkMetadataFile(o.metadataFile); err != nil {
		return err
	}
	if err := checkName(o.name); err != nil {
		return err
	}
	return hintHTTP(push(cmd, g, source, refStr, o), hostOf(refStr))
}

// push pushes the image of the layout source to REF (refStr) in the
// order the command's help gives: checks, images while the SBOMs are
// generated and attached, the layout's other referrers, the index by tag,
// the other tags; then it reports what it pushed.
func push(cmd *cobra.Command, g *globalOptions, source, refStr string, o pushOptions) error {
	ctx := cmd.Context()
	a, err := o.checkArgs(refStr)
	if err != nil {
		return err
	}
	l, err := oci.OpenLayout(ctx, source)
	if err != nil {
		return err
	}
	defer l.Close()
	src, err := readPushSource(ctx, l)
	if err != nil {
		return err
	}
	gen, err := o.sbomGenerator(a.formats, a.name, debugf(g, cmd.ErrOrStderr()))
	if err != nil {
		return err
	}

	counter := &exporter.Counter{}
	tgt, err := o.connect(g, a.ref, counter)
	if err != nil {
		return err
	}
	p := exporter.New(tgt, &exporter.Image{Source: l, Root: src.root}, exporter.Options{
		Tag:               a.ref.Reference,
		MaxConcurrency:    o.maxConcurrency,
		MountFrom:         a.mountFrom,
		StripAttestations: o.stripAttestations,
		Logf:              debugf(g, cmd.ErrOrStderr()),
	})
	defer p.Abort()
	attached := &referrerLog{}
	var sp *sbomPusher
	if gen != nil {
		// SBOMs the layout holds already (affix build --output) are pushed
		// as they are rather than generated again, unless asked otherwise.
		sp = &sbomPusher{
			p: p, gen: gen, l: l, layoutRefs: src.layoutRefs, formats: a.formats, name: a.name,
			reuse: !o.noCache && !cmd.Flags().Changed("name"),
			warn:  cmd.ErrOrStderr(), logf: debugf(g, cmd.ErrOrStderr()), attached: attached,
		}
	}
	if err := pushImages(ctx, p, src.platforms, sp); err != nil {
		return fmt.Errorf("push to %s failed, tag %s not moved: %w", tgt.Name(), a.ref.Reference, err)
	}
	// What else the layout holds for the image goes with it, before the
	// tag.
	extra, err := pushLayoutReferrers(ctx, cmd.ErrOrStderr(), p, l, src.layoutRefs, src.images, attached, o.noSBOM || !o.sbom)
	if err != nil {
		return fmt.Errorf("push to %s failed, tag %s not moved: %w", tgt.Name(), a.ref.Reference, err)
	}
	res, err := p.Commit(ctx)
	if err != nil {
		return fmt.Errorf("push to %s: %w", tgt.Name(), err)
	}
	tags, err := tagMore(ctx, p, tgt.Name(), a.ref, a.moreTags)
	if err != nil {
		return err
	}

	warnNotMounted(cmd.ErrOrStderr(), res.Blobs, o.mountFrom, a.mountFrom, a.ref.Registry)
	meta := newMetadata(res, refName(a.ref, a.ref.Reference), src.platforms, attached, counter)
	meta.LayoutReferrers = extra
	meta.Tags = refNames(a.ref, tags)
	printPush(cmd.OutOrStdout(), meta, res)
	if o.metadataFile != "" {
		return writeJSON(o.metadataFile, meta)
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

// checkArgs parses REF (refStr) and checks the flags that need no layout
// and no registry.
func (o *pushOptions) checkArgs(refStr string) (pushArgs, error) {
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
	if o.maxConcurrency < 1 {
		return pushArgs{}, usageError(fmt.Errorf("--max-concurrency %d: must be at least 1", o.maxConcurrency))
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
	images, err := oci.Walk(ctx, l, root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.Source(), err)
	}
	platforms, err := oci.Select(images, oci.Selector{All: true})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.Source(), err)
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
// returns every tag written, ref's first. Its error names, as references,
// the tags that moved, the one that may have (its answer lost) and those
// that did not.
func tagMore(ctx context.Context, p *exporter.Push, target string, ref registry.Reference, more []string) ([]string, error) {
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
			return nil, fmt.Errorf("push to %s: tag %s: %w (%s)", target, t, err, states)
		}
		tags = append(tags, t)
	}
	return tags, nil
}

// refNames returns the reference of each of tags in ref's repository.
func refNames(ref registry.Reference, tags []string) []string {
	names := make([]string, len(tags))
	for i, t := range tags {
		names[i] = refName(ref, t)
	}
	return names
}

// warnNotMounted warns on w when --mount-from (flag as given, repo its
// repository of host) mounted no blob, so every blob of b was uploaded.
func warnNotMounted(w io.Writer, b exporter.BlobCounts, flag, repo, host string) {
	if repo != "" && b.Mounted == 0 && b.NotMounted > 0 {
		fmt.Fprintf(w, "affix: warning: --mount-from %s: no blob could be mounted, %d uploaded instead (is %s a repository of %s that the credentials can read?)\n",
			flag, b.NotMounted, repo, host)
	}
}

// sbomPusher attaches the SBOMs of each platform image of a push: those
// the layout holds already (affix build --output), pushed as they are
// when reuse is set, and the missing formats generated.
type sbomPusher struct {
	p          *exporter.Push
	gen        *sbomgen.Generator
	l          *oci.Layout
	layoutRefs map[digest.Digest][]ocispec.Descriptor
	formats    []referrerFormat
	name       string // the image name the SBOMs use
	reuse      bool
	warn       io.Writer
	logf       func(format string, args ...any) // nil: no debug output
	attached   *referrerLog
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
		if s.logf != nil && len(reused) > 0 {
			s.logf("%s: %d SBOMs from the layout, not scanned again; %d to scan", img, len(reused), len(missing))
		}
		if len(missing) == 0 {
			return attachTogether(ctx, s.p, img, reused, s.attached)
		}
	}
	res, err := s.gen.Image(ctx, s.l, img.Descriptor)
	if skipNotImage(s.warn, img, err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("SBOM of %s (%s): %w", img, img.Descriptor.Digest, err)
	}
	refs, err := sbomReferrers(img, res, missing, s.name)
	if err != nil {
		return err
	}
	return attachTogether(ctx, s.p, img, append(reused, refs...), s.attached)
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
		if host != ref.Registry {
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
func pushLayoutReferrers(ctx context.Context, warn io.Writer, p *exporter.Push, l *oci.Layout, refs map[digest.Digest][]ocispec.Descriptor, images []oci.Image, attached *referrerLog, noSBOM bool) ([]layoutReferrerMeta, error) {
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

// layoutRoot returns the one image (index or manifest) of a layout, and
// the referrer manifests index.json lists beside it, by subject digest
// (see oci.SplitRoots). verb says what the command does with the image, in
// the error for a layout of several. An index.json entry that cannot be
// read fails it, unless warn is set (readers: ls, get): then it is skipped
// with a warning there, as ls skips a registry's unreadable referrers.
func layoutRoot(ctx context.Context, l *oci.Layout, verb string, warn io.Writer) (ocispec.Descriptor, map[digest.Digest][]ocispec.Descriptor, error) {
	// The referrers of the whole index.json: a :TAG or @DIGEST in the
	// source selects the image, not the SBOMs listed beside it.
	entries := l.Index().Manifests
	all, refs, unreadable := oci.ClassifyRoots(ctx, l, entries)
	for _, e := range entries {
		err := unreadable[e.Digest]
		if err == nil {
			continue
		}
		if warn == nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("%s: %w", l.Source(), err)
		}
		fmt.Fprintf(warn, "affix: warning: %s: index.json lists %s, which cannot be read; skipped: %v\n", l.Source(), e.Digest, err)
	}
	roots := l.Roots()
	if len(roots) == 1 && !slices.ContainsFunc(entries, func(e ocispec.Descriptor) bool { return e.Digest == roots[0].Digest }) {
		// @DIGEST named a manifest inside the image (a platform's).
		return roots[0], refs, nil
	}
	images := slices.DeleteFunc(all, func(d ocispec.Descriptor) bool {
		return !slices.ContainsFunc(roots, func(r ocispec.Descriptor) bool { return r.Digest == d.Digest })
	})
	if len(images) == 1 {
		return images[0], refs, nil
	}
	if len(images) == 0 {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: index.json lists no image: %w", l.Source(), oci.ErrNoMatch)
	}
	var names []string
	for _, r := range images {
		n := oci.EntryName(r)
		if n == "" {
			n = "(unnamed)"
		}
		names = append(names, n+" "+r.Digest.String())
	}
	src := l.Source()
	src.Tag, src.Digest = "TAG", ""
	return ocispec.Descriptor{}, nil, fmt.Errorf("%s: index.json lists %d images (%s); name the one to %s: %s or @DIGEST", l.Source(), len(images), strings.Join(names, ", "), verb, src)
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
	data, err := oci.ReadBlob(ctx, l, m.Layers[0], maxSBOMSize)
	if err != nil {
		return exporter.Artifact{}, false, fmt.Errorf("%s: SBOM of referrer %s: %w", l.Source(), r.Digest, err)
	}
	a := exporter.Artifact{
		Subject:      *m.Subject,
		ArtifactType: at,
		Blobs:        []exporter.Blob{{MediaType: m.Layers[0].MediaType, Data: data, Annotations: m.Layers[0].Annotations}},
		Annotations:  m.Annotations,
	}
	d, _, err := a.Manifest()
	if err != nil || d.Digest != r.Digest {
		return exporter.Artifact{}, false, nil
	}
	return a, true, nil
}

// pushMetadata is the --metadata-file document of push and attach.
type pushMetadata struct {
	// Index is the root pushed (absent for attach).
	Index *ocispec.Descriptor `json:"index,omitempty"`
	// SourceIndex is the source root's digest when it differs (stripped
	// attestations).
	SourceIndex digest.Digest `json:"sourceIndex,omitempty"`
	// Tag is REF as written (with its first tag).
	Tag string `json:"tag,omitempty"`
	// Tags are the references written (push), in order: REF, then one
	// per other tag of its tag list; as affix build's tags.
	Tags []string `json:"tags,omitempty"`
	// Platforms are the platform manifests and their referrers.
	Platforms []platformMeta `json:"platforms"`
	// LayoutReferrers are the referrers the source layout held for the
	// image beside its SBOMs (signatures, VEX documents, ...), pushed as
	// they are.
	LayoutReferrers []layoutReferrerMeta `json:"layoutReferrers,omitempty"`
	// StrippedAttestations are the attestation manifests left out.
	StrippedAttestations []digest.Digest `json:"strippedAttestations,omitempty"`
	// ReferrersMode is "api", "tag-schema" or (a layout) "oci-layout", by
	// repository.
	ReferrersMode map[string]exporter.Mode `json:"referrersMode"`
	// Requests counts registry requests by method; RequestsTotal sums them.
	Requests      map[string]int `json:"requests"`
	RequestsTotal int            `json:"requestsTotal"`
	// Blobs counts the blobs by what the push did with them: found in the
	// registry, mounted (--mount-from), uploaded.
	Blobs *exporter.BlobCounts `json:"blobs,omitempty"`
}

type platformMeta struct {
	Platform  string         `json:"platform"`
	Digest    digest.Digest  `json:"digest"`
	Referrers []referrerMeta `json:"referrers"`
}

type referrerMeta struct {
	Digest       digest.Digest `json:"digest"`
	ArtifactType string        `json:"artifactType"`
	Format       string        `json:"format,omitempty"`
}

// attachedRef is one referrer attached, and the format of its SBOM ("" for
// other artifacts).
type attachedRef struct {
	desc   ocispec.Descriptor
	format string
}

func (r attachedRef) meta() referrerMeta {
	return referrerMeta{Digest: r.desc.Digest, ArtifactType: r.desc.ArtifactType, Format: r.format}
}

// allAttacher attaches several referrers at once (exporter.Push).
type allAttacher interface {
	AttachAll(ctx context.Context, arts []exporter.Artifact) ([]ocispec.Descriptor, error)
}

// attachTogether attaches refs, the SBOMs of img (one per --sbom-format),
// with one AttachAll rather than one Attach after the other: where the
// registry has no referrers API, the referrers index of img is then read,
// written and verified once for all of them, not once per format. It
// records each SBOM attached in log under its format, in order (and in the
// progress task of ctx, if any), and returns the failures, each naming
// its referrer.
func attachTogether(ctx context.Context, p allAttacher, img oci.Image, refs []sbomReferrer, log *referrerLog) error {
	arts := make([]exporter.Artifact, len(refs))
	for i, r := range refs {
		arts[i] = r.artifact
	}
	descs, err := p.AttachAll(ctx, arts)
	for i, d := range descs {
		if d.Digest == "" {
			continue // failed: err says why
		}
		frontend.Logf(ctx, "%s referrer %s", refs[i].format, d.Digest)
		log.add(img.Descriptor.Digest, refs[i].format.String(), d)
	}
	return err
}

// referrerLog records the referrers attached, by subject, for the summary
// and the metadata file of build, push and attach. A referrer attached
// more than once (every sink of a build gets the same artifacts, hence
// digests) is recorded once.
type referrerLog struct {
	mu  sync.Mutex
	ref map[digest.Digest][]attachedRef
}

func (a *referrerLog) add(subject digest.Digest, format string, d ocispec.Descriptor) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ref == nil {
		a.ref = map[digest.Digest][]attachedRef{}
	}
	for _, r := range a.ref[subject] {
		if r.desc.Digest == d.Digest {
			return
		}
	}
	a.ref[subject] = append(a.ref[subject], attachedRef{desc: d, format: format})
	slices.SortFunc(a.ref[subject], func(x, y attachedRef) int { return strings.Compare(x.format, y.format) })
}

// get returns the referrers of subject, in format order.
func (a *referrerLog) get(subject digest.Digest) []attachedRef {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.ref[subject])
}

// platformMetas returns the metadata of each platform image with the
// referrers attached to it.
func platformMetas(platforms []oci.Image, attached *referrerLog) []platformMeta {
	var out []platformMeta
	for _, img := range platforms {
		pm := platformMeta{Platform: img.String(), Digest: img.Descriptor.Digest, Referrers: []referrerMeta{}}
		for _, a := range attached.get(img.Descriptor.Digest) {
			pm.Referrers = append(pm.Referrers, a.meta())
		}
		out = append(out, pm)
	}
	return out
}

func newMetadata(res *exporter.Result, tag string, platforms []oci.Image, attached *referrerLog, counter *exporter.Counter) *pushMetadata {
	m := &pushMetadata{
		Tag:           tag,
		ReferrersMode: res.Modes,
		Requests:      counter.Counts(),
		RequestsTotal: counter.Total(),
	}
	if b := res.Blobs; b != (exporter.BlobCounts{}) {
		m.Blobs = &b
	}
	if res.Root.Digest != "" {
		root := res.Root
		m.Index = &root
		if res.SourceRoot.Digest != res.Root.Digest {
			m.SourceIndex = res.SourceRoot.Digest
		}
	}
	for _, s := range res.Stripped {
		m.StrippedAttestations = append(m.StrippedAttestations, s.Digest)
	}
	m.Platforms = platformMetas(platforms, attached)
	return m
}

func printPush(w io.Writer, m *pushMetadata, res *exporter.Result) {
	if m.Index != nil {
		fmt.Fprintf(w, "pushed %s@%s\n", m.Tag, m.Index.Digest)
		if len(m.Tags) > 1 {
			fmt.Fprintf(w, "  also tagged %s\n", strings.Join(m.Tags[1:], ", "))
		}
		if m.SourceIndex != "" {
			fmt.Fprintf(w, "  %d attestation manifests stripped: new index digest (source index %s)\n", len(m.StrippedAttestations), m.SourceIndex)
		}
	}
	for _, p := range m.Platforms {
		fmt.Fprintf(w, "  %-14s %s\n", p.Platform, p.Digest)
		for _, r := range p.Referrers {
			fmt.Fprintf(w, "    %-14s %s %s\n", r.Format, r.Digest, r.ArtifactType)
		}
	}
	if n := len(m.LayoutReferrers); n > 0 {
		fmt.Fprintf(w, "  %d more referrers from the layout, pushed as they are\n", n)
	}
	for repo, mode := range res.Modes {
		if strings.HasPrefix(repo, oci.SchemeLayout+":") {
			fmt.Fprintf(w, "referrers: listed in the layout's index.json (%s)\n", repo)
			continue
		}
		fmt.Fprintf(w, "referrers: %s (%s)\n", mode, repo)
	}
	if m.RequestsTotal > 0 {
		fmt.Fprintf(w, "registry requests: %d (%s)\n", m.RequestsTotal, formatCounts(m.Requests))
	}
}

func formatCounts(c map[string]int) string {
	var keys []string
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var s []string
	for _, k := range keys {
		s = append(s, fmt.Sprintf("%s %d", k, c[k]))
	}
	return strings.Join(s, ", ")
}
