package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/frontend"
	"github.com/affix-oci/affix/internal/fsutil"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

// sink is one place the image and its SBOMs go: a registry repository or
// the OCI layout of --output.
type sink struct {
	// verb and name label its progress tasks ("push REPO", "export DIR").
	verb, name string
	push       *exporter.Push
	// tags are the tags of a repository; the first is written by Commit,
	// the others after it.
	tags []string
	// sbomName is the image name of the SBOMs it gets (one of
	// buildRun.sbomNames).
	sbomName string
	// repo is the repository of a push, with its tags and mount source.
	repo   repoTags
	result *exporter.Result
	// moved are the tags written; unknown those whose write got no answer
	// (exporter.ErrTagUnknown).
	moved, unknown []string
}

func (s *sink) task(what string) string { return s.verb + " " + s.name + ": " + what }

// modeLine describes how the referrers of where (a repository, or the
// layout's source) were written. A layout is named as the user gave it
// (the --output dest), not by the build's temporary directory the tar is
// made from.
func (s *sink) modeLine(where string, mode exporter.Mode) string {
	if s.verb == "export" {
		where = s.name
	}
	return fmt.Sprintf("referrers: %s (%s)", mode, where)
}

// buildRun is the state of one build command after the image is built.
type buildRun struct {
	plan   *buildPlan
	layout *oci.Layout
	res    *frontend.Result
	gen    *sbomgen.Generator
	// sbomNames are the image names SBOMs are made for, each
	// repository's (its first tag): the first -t's (sbomgen's default
	// without -t), which the --output layout's SBOMs use too, then, with
	// --push, the other repositories'. So the SBOMs in a repository name
	// it, as an attach there would make them.
	sbomNames []string
	sinks     []*sink
	counter   *exporter.Counter
	sboms     []*sbomgen.Result
	attached  *referrerLog
	prog      *frontend.Progress
	platforms []oci.Image
	// layoutDone reports that the --output layout is complete.
	layoutDone bool
	// tarOut is the command's stdout, where --output dest=- goes.
	tarOut io.Writer
	// warns are the pushes' warnings, held while the progress display
	// runs.
	warns heldWarnings
}

// heldWarnings holds warnings given while the progress display runs, to
// print once it is closed, where they neither garble a tty display nor
// break a rawjson stream.
type heldWarnings struct {
	mu    sync.Mutex
	lines []string
}

// warnf holds one warning.
func (h *heldWarnings) warnf(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, fmt.Sprintf(format, args...))
}

// flush prints the warnings held with warn, and forgets them.
func (h *heldWarnings) flush(warn func(format string, args ...any)) {
	h.mu.Lock()
	lines := h.lines
	h.lines = nil
	h.mu.Unlock()
	for _, l := range lines {
		warn("%s", l)
	}
}

// any reports whether warnings are held.
func (h *heldWarnings) any() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.lines) > 0
}

// build builds the image of plan p, generates its SBOMs, publishes both
// to every sink (the -t repositories with --push, the --output layout)
// and reports what it built.
func build(cmd *cobra.Command, g *globalOptions, o buildOptions, p *buildPlan) (err error) {
	ctx := cmd.Context()
	stdout, stderr, warn := cmd.OutOrStdout(), cmd.ErrOrStderr(), warnf(cmd)
	if p.output != nil && p.output.dest == "-" {
		stdout = stderr // the tar goes to stdout
	}
	// The layout directory: the --output directory itself, else a
	// temporary one removed at exit.
	dir, layoutDone, built := p.layoutDir(), false, false
	if dir != "" {
		made := fsutil.Missing(dir) // with the parents the build makes
		defer func() {
			if err == nil || layoutDone {
				return
			}
			// No half-written layout (an image without its SBOMs). The
			// frontend made sure it was empty or absent. One finished
			// before a push failed is kept: it is whole.
			if built {
				removeContents(dir)
			}
			fsutil.RemoveMade(dir, made) // each only if empty: ours, nothing else in it
		}()
	}
	prog, res, err := startBuild(ctx, p, stderr, warn)
	if err != nil {
		return err
	}
	defer prog.Close()
	built = true
	if dir == "" {
		defer res.Close() // the build's temporary layout
	}
	l, err := oci.Open(ctx, oci.Source{Scheme: oci.SchemeLayout, Path: res.Layout})
	if err != nil {
		return err
	}
	defer l.Close()
	_, platforms, err := layoutPlatforms(ctx, l, res.Index)
	if err != nil {
		return err
	}
	r := &buildRun{plan: p, layout: l, res: res, counter: &exporter.Counter{}, attached: &referrerLog{}, prog: prog, platforms: platforms, tarOut: cmd.OutOrStdout()}
	if err := r.newGenerator(g, o, stderr); err != nil {
		return err
	}
	err = r.openSinks(ctx, g, o, stderr)
	defer func() {
		// A failed push stops verifying its referrers at once.
		for _, s := range r.sinks {
			s.push.Abort()
		}
	}()
	if err != nil {
		return err
	}
	err = r.run(ctx)
	layoutDone = r.layoutDone
	if err != nil {
		if r.warns.any() {
			// What a push changed before it failed (a dangling
			// referrer dropped) stays changed: said after the display.
			prog.Close()
			r.warns.flush(warn)
		}
		return err
	}
	if err := prog.Close(); err != nil && !errors.Is(err, context.Canceled) {
		warn("progress display: %v", err)
	}
	warnBuild(p.progress, prog.Warnings(), warn)
	r.warns.flush(warn)
	for _, s := range r.sinks {
		if s.result != nil && s.repo.mountFrom != "" && !s.repo.mountAuto {
			warnNotMounted(warn, s.result.Blobs, o.mountFrom, s.repo.mountFrom, s.repo.ref.Registry)
		}
	}
	return r.report(ctx, stdout, warn, o)
}

// warnBuild repeats, after the display, the warnings the build reported
// on it (Dockerfile build checks), one line each, as buildx sums them up:
// on a plain display they scroll away, and a tty display folds them in.
// Not with a display that shows nothing or is read by a program
// (quiet, rawjson, whose stream holds them). A warning every node
// reported is repeated once.
func warnBuild(mode frontend.ProgressMode, warnings []string, warn func(format string, args ...any)) {
	if mode == frontend.ProgressQuiet || mode == frontend.ProgressRawJSON {
		return
	}
	seen := make(map[string]bool, len(warnings))
	for _, w := range warnings {
		// Each node's frontend reports the Dockerfile's warnings.
		if !seen[w] {
			seen[w] = true
			warn("%s", w)
		}
	}
}

// startBuild prints the plan's warnings, starts the progress display on
// stderr and builds the image into a layout. The caller closes the
// display; a failed build closes it before returning its error.
func startBuild(ctx context.Context, p *buildPlan, stderr io.Writer, warn func(format string, args ...any)) (*frontend.Progress, *frontend.Result, error) {
	for _, w := range p.frontend.Warnings() {
		warn("%s", w)
	}
	prog, err := frontend.StartProgress(ctx, p.progress, stderr)
	if err != nil {
		return nil, nil, usageError(err)
	}
	if len(p.formats) > 0 {
		// The SBOM engine's one-time setup overlaps the build rather than
		// following it.
		sbomgen.Warm()
	}
	res, err := p.frontend.Build(ctx, prog)
	if err != nil {
		prog.Close()
		return nil, nil, buildError(err)
	}
	return prog, res, nil
}

// newGenerator sets up the SBOM generator when the build makes SBOMs: the
// documents name each repository they go to (sbomNames) and take the
// build's SOURCE_DATE_EPOCH.
func (r *buildRun) newGenerator(g *globalOptions, o buildOptions, stderr io.Writer) error {
	if len(r.plan.formats) == 0 {
		return nil
	}
	repos := r.plan.repos
	if !r.plan.push && len(repos) > 1 {
		repos = repos[:1] // the layout's name only
	}
	for _, rt := range repos {
		r.sbomNames = append(r.sbomNames, refName(rt.ref, rt.tags[0]))
	}
	if len(r.sbomNames) == 0 {
		r.sbomNames = []string{sbomgen.DefaultName}
	}
	var err error
	r.gen, err = sbomgen.New(sbomgen.Options{
		Formats: docFormats(r.plan.formats),
		Name:    r.sbomNames[0],
		Created: r.res.SourceDateEpoch,
		// The frontend resolved the epoch (environment, build
		// argument, or BuildKit's for SOURCE_DATE_EPOCH=context).
		CreatedFromImage: true,
		NoCache:          o.noSBOMCache,
		Logf:             debugf(g, stderr),
	})
	return err
}

// report prints what the build made on stdout (the index digest alone
// with quiet progress), warns when it was exported nowhere, and writes
// --iidfile and --metadata-file.
func (r *buildRun) report(ctx context.Context, stdout io.Writer, warn func(format string, args ...any), o buildOptions) error {
	meta := r.metadata()
	if r.plan.progress == frontend.ProgressQuiet {
		fmt.Fprintln(stdout, meta.ContainerImageDigest)
	} else {
		printBuild(stdout, meta, r)
	}
	if !r.plan.push && r.plan.output == nil {
		warn("no output specified: the image and its SBOMs were built but not exported; use --push -t NAME:TAG or --output type=oci,dest=PATH")
	}
	var err error
	if o.iidFile != "" {
		if err = fsutil.WriteFileContext(ctx, o.iidFile, []byte(meta.ContainerImageDigest.String())); err != nil {
			err = fmt.Errorf("--iidfile was not written: %w", err)
		}
	}
	if err == nil {
		if err = writeMetadataFile(ctx, o.metadataFile, meta); err != nil {
			err = fmt.Errorf("--metadata-file was not written: %w", err)
		}
	}
	if err != nil {
		// The build is done: a CI script reading the error must not
		// take it for a failed one and retry or roll back.
		return fmt.Errorf("build succeeded (%s), but %w", r.doneSummary(), err)
	}
	return nil
}

// doneSummary says what a successful build published: the tags moved
// and the layout written, else the index built.
func (r *buildRun) doneSummary() string {
	var moved, parts []string
	for _, s := range r.sinks {
		switch s.verb {
		case "push":
			for _, t := range s.moved {
				moved = append(moved, s.name+":"+t)
			}
		case "export":
			parts = append(parts, "OCI layout written to "+s.name)
		}
	}
	if len(moved) > 0 {
		parts = append([]string{tagStates(moved, nil, nil)}, parts...)
	}
	if len(parts) == 0 {
		return "index " + r.res.Index.Digest.String()
	}
	return strings.Join(parts, "; ")
}

// openSinks prepares one push per repository of the -t tags (with --push)
// and one to the layout (with --output). No request is sent yet.
func (r *buildRun) openSinks(ctx context.Context, g *globalOptions, o buildOptions, stderr io.Writer) error {
	img := &exporter.Image{Source: r.layout, Root: r.res.Index}
	if r.plan.push {
		for _, rt := range r.plan.repos {
			tgt, err := o.connect(ctx, g, rt.ref, r.counter)
			if err != nil {
				return err
			}
			s := &sink{verb: "push", name: rt.name(), tags: rt.tags, sbomName: refName(rt.ref, rt.tags[0]), repo: rt}
			if rt.byDigest {
				s.tags = nil // the root by digest, no tag
			}
			if logf := debugf(g, stderr); rt.mountAuto && logf != nil {
				logf("push %s: mounting the blobs of the FROM image from %s/%s", rt.name(), rt.ref.Registry, rt.mountFrom)
			}
			s.push = exporter.New(tgt, img, exporter.Options{
				Tag:            firstOr(s.tags, ""),
				MaxConcurrency: o.maxConcurrency,
				MountFrom:      rt.mountFrom,
				Logf:           debugf(g, stderr),
				Warnf:          r.warns.warnf,
			})
			r.sinks = append(r.sinks, s)
		}
	}
	if r.plan.output != nil {
		tgt, err := exporter.NewLayout(ctx, r.res.Layout)
		if err != nil {
			return err
		}
		name := r.plan.output.dest
		if r.plan.output.dest == "-" {
			name = "stdout"
		}
		s := &sink{verb: "export", name: name}
		if len(r.sbomNames) > 0 {
			s.sbomName = r.sbomNames[0]
		}
		// By digest: the index keeps the index.json entry BuildKit named.
		s.push = exporter.New(tgt, img, exporter.Options{Logf: debugf(g, stderr)})
		r.sinks = append(r.sinks, s)
	}
	return nil
}

// run generates the SBOMs and publishes them with the image: every sink
// uploads its blobs and platform manifests while the SBOMs are generated;
// each SBOM is attached as soon as it is ready; when every SBOM is in
// every sink, each sink writes its index and tags.
func (r *buildRun) run(ctx context.Context) error {
	r.sboms = make([]*sbomgen.Result, len(r.platforms))
	eg, ectx := errgroup.WithContext(ctx)
	for _, s := range r.sinks {
		eg.Go(func() error {
			return r.prog.Task(ectx, s.task("layers and platform manifests"), func(ctx context.Context) error {
				if err := s.push.Images(ctx); err != nil {
					return err
				}
				frontend.Logf(ctx, "%s by digest", plural(len(r.platforms), "platform manifest"))
				return nil
			})
		})
	}
	if r.gen != nil {
		for i, img := range r.platforms {
			eg.Go(func() error {
				res, err := r.scan(ectx, img)
				if err != nil {
					return err
				}
				r.sboms[i] = summary(res)
				return r.attach(ectx, img, res)
			})
		}
	}
	if err := eg.Wait(); err != nil {
		return r.failed(err)
	}
	// Every SBOM is in every sink. Before any tag: every referrers index
	// verified, in every repository.
	eg, ectx = errgroup.WithContext(ctx)
	for _, s := range r.sinks {
		eg.Go(func() error { return s.push.Ready(ectx) })
	}
	if err := eg.Wait(); err != nil {
		return r.failed(err)
	}
	// Then the layout (its tar too): local, so a full disk fails here,
	// before a registry tag moves.
	var pushes []*sink
	for _, s := range r.sinks {
		if s.verb == "push" {
			pushes = append(pushes, s)
			continue
		}
		if err := r.commit(ctx, s); err != nil {
			return r.failed(err)
		}
		if err := r.finishLayout(ctx, s); err != nil {
			return r.failed(err)
		}
		r.layoutDone = true
	}
	// An interrupt that came by now keeps every tag where it is (Commit
	// checks too, but then the error would list each tag as not moved).
	if ctx.Err() != nil {
		return r.failed(context.Cause(ctx))
	}
	// Last, the tags: one PUT each, none cancelled by another's failure,
	// so that the error can say which moved, nor by an interrupt once
	// they start (the commit of the whole publication: every tag of
	// every repository moves, within CommitContext's grace; a second
	// signal cuts them short).
	tctx, done := exporter.CommitContext(ctx)
	defer done()
	errs := make([]error, len(pushes))
	var wg sync.WaitGroup
	for i, s := range pushes {
		wg.Go(func() { errs[i] = r.commit(tctx, s) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return tagsError(pushes, err)
	}
	return nil
}

// tagsError describes err, a failure of the tag writes of pushes, by what
// became of each tag: moved, may have moved (a write whose answer was
// lost), or not moved.
func tagsError(pushes []*sink, err error) error {
	var moved, unknown, stayed []string
	for _, s := range pushes {
		for _, t := range s.tags {
			switch {
			case slices.Contains(s.moved, t):
				moved = append(moved, s.name+":"+t)
			case slices.Contains(s.unknown, t):
				unknown = append(unknown, s.name+":"+t)
			default:
				stayed = append(stayed, s.name+":"+t)
			}
		}
	}
	if len(moved) == 0 && len(unknown) == 0 {
		return fmt.Errorf("no tag moved: %w", err)
	}
	return fmt.Errorf("%s: %w", tagStates(moved, unknown, stayed), err)
}

// tagStates says what became of tags (references) whose writes did not
// all succeed: "tags moved: A; may have moved (rerun to settle): B; not
// moved: C", leaving out the empty parts.
func tagStates(moved, unknown, stayed []string) string {
	var parts []string
	for _, p := range []struct {
		what string
		tags []string
	}{{"tags moved", moved}, {"may have moved (rerun to settle)", unknown}, {"not moved", stayed}} {
		if len(p.tags) > 0 {
			parts = append(parts, p.what+": "+strings.Join(p.tags, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// failed describes a failure before any tag was written: of a scan, an
// upload or the layout, so it names the repositories whose tags did not
// move rather than blaming their push.
func (r *buildRun) failed(err error) error {
	var names []string
	for _, s := range r.sinks {
		if s.verb == "push" {
			names = append(names, s.name)
		}
	}
	if len(names) == 0 {
		return err
	}
	return fmt.Errorf("no tag moved in %s: %w", strings.Join(names, ", "), err)
}

// sbomTask names the progress task that scans img: "sbom linux/amd64"
// (docs/build.md shows it).
func sbomTask(img oci.Image) string { return "sbom " + img.String() }

// scanLine is the log line of an sbomTask: the manifest, its packages
// (sbomgen's PackageSummary) and how ("scanned", "cached").
func scanLine(img oci.Image, packages, how string) string {
	return fmt.Sprintf("%s: %s, %s", img.Descriptor.Digest, packages, how)
}

// scan generates the SBOMs of one platform image, one result per
// sbomNames entry, as the task "sbom P".
func (r *buildRun) scan(ctx context.Context, img oci.Image) ([]*sbomgen.Result, error) {
	var res []*sbomgen.Result
	err := r.prog.Task(ctx, sbomTask(img), func(ctx context.Context) error {
		var err error
		if res, err = r.gen.ImageAs(ctx, r.layout, img.Descriptor, r.sbomNames...); err != nil {
			return err
		}
		sum := summary(res)
		how := "scanned"
		if sum.Cached {
			how = "cached"
		}
		frontend.Logf(ctx, "%s", scanLine(img, sum.PackageSummary(), how))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("SBOM of %s (%s): %w", img, img.Descriptor.Digest, err)
	}
	return res, nil
}

// summary is what the build reports of one platform's results (one per
// image name, from one scan): the first, cached when they all were.
func summary(res []*sbomgen.Result) *sbomgen.Result {
	sum := *res[0]
	for _, r := range res {
		sum.Cached = sum.Cached && r.Cached
	}
	return &sum
}

// attach attaches the documents of one platform to every sink, each sink
// as its own task, with the documents that name it (res holds one result
// per sbomNames entry).
func (r *buildRun) attach(ctx context.Context, img oci.Image, res []*sbomgen.Result) error {
	refs := map[string][]sbomReferrer{}
	for i, n := range r.sbomNames {
		var err error
		if refs[n], err = sbomReferrers(img, res[i], r.plan.formats, n); err != nil {
			return err
		}
	}
	eg, ectx := errgroup.WithContext(ctx)
	for _, s := range r.sinks {
		repo := ""
		if s.verb == "push" {
			repo = s.name
		}
		eg.Go(func() error {
			return r.prog.Task(ectx, s.task(sbomTask(img)), func(ctx context.Context) error {
				return attachTogether(ctx, s.push, img, refs[s.sbomName], r.attached, repo)
			})
		})
	}
	return eg.Wait()
}

// commit writes a sink's index by its first tag (Commit), then its other
// tags, each by one manifest PUT.
func (r *buildRun) commit(ctx context.Context, s *sink) error {
	what := "index"
	switch {
	case len(s.tags) > 0:
		what = "index, tag " + strings.Join(s.tags, ", ")
	case s.verb == "push":
		what = "index by digest"
	}
	return r.prog.Task(ctx, s.task(what), func(ctx context.Context) error {
		res, err := s.push.Commit(ctx)
		if err != nil {
			if errors.Is(err, exporter.ErrTagUnknown) && len(s.tags) > 0 {
				s.unknown = append(s.unknown, s.tags[0])
			}
			return fmt.Errorf("%s %s: %w", s.verb, s.name, err)
		}
		s.result = res
		if len(s.tags) > 0 {
			s.moved = append(s.moved, s.tags[0])
		}
		for m, mode := range res.Modes {
			frontend.Logf(ctx, "%s", s.modeLine(m, mode))
		}
		for _, t := range s.tags[min(1, len(s.tags)):] {
			if err := s.push.Tag(ctx, t); err != nil {
				if errors.Is(err, exporter.ErrTagUnknown) {
					s.unknown = append(s.unknown, t)
				}
				// Tag's errors name the tag: not again here.
				return fmt.Errorf("%s %s: %w", s.verb, s.name, err)
			}
			s.moved = append(s.moved, t)
		}
		for _, t := range s.tags {
			frontend.Logf(ctx, "%s:%s@%s", s.name, t, res.Root.Digest)
		}
		if len(s.tags) == 0 && s.verb == "push" {
			frontend.Logf(ctx, "%s@%s", s.name, res.Root.Digest)
		}
		return nil
	})
}

// firstOr returns the first of list, else def.
func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}
