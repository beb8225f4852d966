package cli

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"github.com/tonistiigi/go-csvvalue"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/frontend"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

func init() { extraCommands = append(extraCommands, newBuildCmd) }

// buildOptions are the flags of affix build.
type buildOptions struct {
	registryOptions
	file           string
	tags           []string
	platforms      []string
	buildArgs      []string
	target         string
	secrets        []string
	ssh            []string
	buildContexts  []string
	labels         []string
	annotations    []string
	noCache        bool
	progress       string
	metadataFile   string
	sbomFormats    []string
	sbom           bool
	noSBOMCache    bool
	push           bool
	outputs        []string
	builders       []string
	tls            frontend.TLSOptions
	maxConcurrency int
}

func newBuildCmd(g *globalOptions) *cobra.Command {
	var o buildOptions
	cmd := &cobra.Command{
		Use:   "build [flags] CONTEXT",
		Short: "Build a Dockerfile with BuildKit and publish every platform image with its SBOM referrer, in one push",
		Long: `Build the Dockerfile of CONTEXT with BuildKit for one or more platforms,
generate one SBOM per platform image, and publish the image index and the
SBOMs together: each SBOM is an OCI referrer (subject = its platform
manifest).

With --push, every -t tag is pushed: blobs and platform manifests upload
while the SBOMs are generated, then the SBOM referrers (the referrers API,
else the referrers tag schema), and the index by tag last, once every SBOM
of every repository is in place. If anything fails, no tag moves.

With --output type=oci,dest=PATH the image and its SBOM manifests are
written to an OCI layout (a tar file; a directory with tar=false) that
` + "`affix push`" + ` and ` + "`oras discover --oci-layout`" + ` read. --push and --output may be
combined. Without either, the image is built and scanned but not exported.

SOURCE_DATE_EPOCH (environment or --build-arg) makes the build and the
SBOMs reproducible: an identical rebuild gives the same index digest and
the same SBOM referrer digests.

Builders: --builder ADDR (unix://, tcp://, docker-container://, kube-pod://,
podman-container://, nerdctl-container://, ssh://), else $BUILDKIT_HOST,
else unix:///run/buildkit/buildkitd.sock. --builder PLATFORM=ADDR (repeated)
builds each platform on its own node and merges the results into one index.`,
		Example: `  affix build --platform linux/amd64,linux/arm64 --push -t registry.example.com/app:1.0 .
  affix build -f build/Dockerfile --build-arg VERSION=1.2 --output type=oci,dest=app.tar .
  affix build --builder linux/amd64=tcp://amd64:1234 --builder linux/arm64=tcp://arm64:1234 \
      --builder-tls-cacert ca.pem --builder-tls-cert cert.pem --builder-tls-key key.pem \
      --push -t registry.example.com/app:1.0 .`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(fmt.Errorf("want one CONTEXT directory, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runBuild(cmd, g, args[0], o) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", "Dockerfile (default: CONTEXT/Dockerfile)")
	f.StringArrayVarP(&o.tags, "tag", "t", nil, "image name and tag, NAME[:TAG] (repeatable); pushed with --push")
	f.StringArrayVar(&o.platforms, "platform", nil, "platforms to build, os/arch[/variant], comma-separated or repeated (default: the builder's)")
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "build argument KEY=VALUE, or KEY to take it from the environment (repeatable)")
	f.StringVar(&o.target, "target", "", "stage to build (default: the last)")
	f.StringArrayVar(&o.secrets, "secret", nil, "secret for RUN --mount=type=secret: id=ID[,src=PATH] or id=ID,env=VAR (repeatable)")
	f.StringArrayVar(&o.ssh, "ssh", nil, "ssh agent socket or keys for RUN --mount=type=ssh: default or ID[=PATH[,PATH]] (repeatable)")
	f.StringArrayVar(&o.buildContexts, "build-context", nil, "named context NAME=DIR|docker-image://REF|oci-layout://PATH[:TAG][@DIGEST]|URL (repeatable)")
	f.StringArrayVar(&o.labels, "label", nil, "image label KEY=VALUE (repeatable)")
	f.StringArrayVar(&o.annotations, "annotation", nil, "OCI annotation [TYPE[PLATFORM]:]KEY=VALUE, TYPE manifest (default), manifest-descriptor, index or index-descriptor (repeatable)")
	f.BoolVar(&o.noCache, "no-cache", false, "build every step anew (the SBOM cache is --no-sbom-cache)")
	f.StringVar(&o.progress, "progress", "auto", "progress output: auto, plain, tty, rawjson or quiet")
	f.StringVar(&o.metadataFile, "metadata-file", "", "write the build result (buildx keys, digests, SBOM referrers, referrers mode, request counts) as JSON to FILE")
	f.StringArrayVar(&o.sbomFormats, "sbom-format", nil, "SBOM format to attach: spdx-json (default), cyclonedx-json; repeatable")
	f.BoolVar(&o.sbom, "sbom", true, "generate and publish SBOMs (--sbom=false publishes the image alone)")
	f.BoolVar(&o.noSBOMCache, "no-sbom-cache", false, "neither read nor write the SBOM cache")
	f.BoolVar(&o.push, "push", false, "push the image and its SBOMs to every -t tag (same as --output type=registry)")
	f.StringArrayVarP(&o.outputs, "output", "o", nil, "output: type=oci,dest=PATH[,tar=false] (an OCI layout tar, or a directory) or type=registry")
	f.StringArrayVar(&o.builders, "builder", nil, "buildkitd address, or PLATFORM=ADDR[,cacert=..,cert=..,key=..,servername=..] per node (repeatable; default $BUILDKIT_HOST, else "+frontend.DefaultAddress+")")
	f.StringVar(&o.tls.CACert, "builder-tls-cacert", "", "CA certificate of tcp:// builders")
	f.StringVar(&o.tls.Cert, "builder-tls-cert", "", "client certificate for tcp:// builders")
	f.StringVar(&o.tls.Key, "builder-tls-key", "", "client key for tcp:// builders")
	f.StringVar(&o.tls.ServerName, "builder-tls-servername", "", "server name to verify tcp:// builders' certificates against (default: the address's host)")
	o.registryOptions.addFlags(f)
	f.IntVar(&o.maxConcurrency, "max-concurrency", 4, "uploads at once, per repository")
	return cmd
}

// ociOutput is a parsed --output type=oci.
type ociOutput struct {
	// dest is the directory (tar=false) or tar file; "-" is stdout.
	dest string
	tar  bool
}

// repoTags are the -t tags of one repository, in the order given.
type repoTags struct {
	ref  registry.Reference // repository (Reference empty)
	tags []string
}

func (r repoTags) name() string { return r.ref.Registry + "/" + r.ref.Repository }

// buildPlan is buildOptions validated: what runBuild needs, checked
// before anything is built.
type buildPlan struct {
	// tags are the -t tags, normalized (docker.io/library/app:latest).
	tags []string
	// repos group tags by repository, in the order they first appear.
	repos    []repoTags
	push     bool
	output   *ociOutput
	formats  []sbomgen.Format // empty: no SBOMs
	progress frontend.ProgressMode
	builder  string
	nodes    []string
}

// plan validates the flags. Everything a user can get wrong on the
// command line that does not need the file system or a builder is a usage
// error here, before any build starts.
func (o *buildOptions) plan() (*buildPlan, error) {
	p := &buildPlan{push: o.push}
	mode, err := frontend.ParseProgressMode(o.progress)
	if err != nil {
		return nil, usageError(err)
	}
	p.progress = mode
	for _, s := range o.outputs {
		out, push, err := parseOutput(s)
		if err != nil {
			return nil, usageError(err)
		}
		if push {
			p.push = true
			continue
		}
		if p.output != nil {
			return nil, usageError(fmt.Errorf("--output %q: only one type=oci output is supported", s))
		}
		p.output = out
	}
	seen := map[string]bool{}
	for _, t := range o.tags {
		norm, ref, err := parseTag(t)
		if err != nil {
			return nil, usageError(err)
		}
		if seen[norm] {
			continue
		}
		seen[norm] = true
		p.tags = append(p.tags, norm)
		i := slices.IndexFunc(p.repos, func(r repoTags) bool {
			return r.ref.Registry == ref.Registry && r.ref.Repository == ref.Repository
		})
		if i < 0 {
			repo := ref
			repo.Reference = ""
			p.repos = append(p.repos, repoTags{ref: repo})
			i = len(p.repos) - 1
		}
		p.repos[i].tags = append(p.repos[i].tags, ref.Reference)
	}
	if p.push && len(p.tags) == 0 {
		return nil, usageError(errors.New("--push needs at least one -t NAME:TAG to push to"))
	}
	if o.sbom {
		if p.formats, err = sbomFormats(o.sbomFormats); err != nil {
			return nil, err
		}
	} else if len(o.sbomFormats) > 0 {
		return nil, usageError(errors.New("--sbom-format with --sbom=false: no SBOM is generated"))
	}
	if o.maxConcurrency < 1 {
		return nil, usageError(fmt.Errorf("--max-concurrency %d: must be at least 1", o.maxConcurrency))
	}
	if p.output != nil && !p.output.tar {
		// Checked here too, so that a wrong directory fails before a
		// builder is contacted.
		if entries, err := os.ReadDir(p.output.dest); err == nil && len(entries) > 0 {
			return nil, usageError(fmt.Errorf("--output dest=%s: the directory is not empty", p.output.dest))
		}
	}
	if p.builder, p.nodes, err = splitBuilders(o.builders); err != nil {
		return nil, usageError(err)
	}
	return p, nil
}

// parseOutput parses one --output value: type=oci,dest=PATH[,tar=BOOL] or
// type=registry (the same as --push). push reports type=registry.
func parseOutput(s string) (out *ociOutput, push bool, err error) {
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return nil, false, fmt.Errorf("--output %q: %w", s, err)
	}
	kv := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, false, fmt.Errorf("--output %q: field %q: want key=value (type=oci,dest=PATH)", s, f)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := kv[k]; dup {
			return nil, false, fmt.Errorf("--output %q: %s given twice", s, k)
		}
		kv[k] = v
	}
	switch kv["type"] {
	case "registry":
		for k := range kv {
			if k != "type" && k != "push" {
				return nil, false, fmt.Errorf("--output %q: type=registry takes no %s (tags are -t)", s, k)
			}
		}
		if v, ok := kv["push"]; ok && v != "true" {
			return nil, false, fmt.Errorf("--output %q: type=registry always pushes", s)
		}
		return nil, true, nil
	case "oci":
	case "":
		return nil, false, fmt.Errorf("--output %q: no type (want type=oci,dest=PATH or type=registry)", s)
	default:
		return nil, false, fmt.Errorf("--output %q: type %q is not supported (want oci or registry: affix exports OCI layouts and pushes, it has no local, tar, docker or image exporter)", s, kv["type"])
	}
	out = &ociOutput{dest: kv["dest"], tar: true}
	for k, v := range kv {
		switch k {
		case "type", "dest":
		case "tar":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, false, fmt.Errorf("--output %q: tar=%q: want true or false", s, v)
			}
			out.tar = b
		default:
			return nil, false, fmt.Errorf("--output %q: unknown key %q (type=oci takes dest and tar)", s, k)
		}
	}
	switch {
	case out.dest == "":
		return nil, false, fmt.Errorf("--output %q: no dest (type=oci,dest=PATH)", s)
	case out.dest == "-" && !out.tar:
		return nil, false, fmt.Errorf("--output %q: a directory output (tar=false) cannot go to stdout", s)
	}
	return out, false, nil
}

// parseTag normalizes a -t value as buildx does ("app" is
// docker.io/library/app:latest) and parses it as a registry reference.
func parseTag(s string) (string, registry.Reference, error) {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return "", registry.Reference{}, fmt.Errorf("-t %q: %w", s, err)
	}
	if _, ok := n.(reference.Digested); ok {
		return "", registry.Reference{}, fmt.Errorf("-t %q: a tag names no digest (NAME[:TAG])", s)
	}
	norm := reference.TagNameOnly(n).String()
	ref, err := registry.ParseReference(norm)
	if err != nil {
		return "", registry.Reference{}, fmt.Errorf("-t %q: %w", s, err)
	}
	return norm, ref, nil
}

// splitBuilders splits --builder values into the default builder address
// (at most one) and PLATFORM=ADDR nodes.
func splitBuilders(values []string) (string, []string, error) {
	var builder string
	var nodes []string
	for _, v := range values {
		k, _, ok := strings.Cut(v, "=")
		if ok && !strings.Contains(k, "://") && strings.Contains(k, "/") {
			nodes = append(nodes, v)
			continue
		}
		if v == "" {
			return "", nil, errors.New("--builder: empty address")
		}
		if builder != "" {
			return "", nil, fmt.Errorf("--builder %q: a builder address is given already (%s); name nodes as PLATFORM=ADDR", v, builder)
		}
		builder = v
	}
	return builder, nodes, nil
}

// frontendOptions returns the frontend options of the build. dir is the
// layout directory to build into ("" for a temporary one).
func (o *buildOptions) frontendOptions(contextDir string, p *buildPlan, dir string, prog *frontend.Progress) frontend.Options {
	return frontend.Options{
		ContextDir:    contextDir,
		Dockerfile:    o.file,
		Tags:          p.tags,
		Platforms:     o.platforms,
		BuildArgs:     o.buildArgs,
		Target:        o.target,
		Secrets:       o.secrets,
		SSH:           o.ssh,
		BuildContexts: o.buildContexts,
		Labels:        o.labels,
		Annotations:   o.annotations,
		NoCache:       o.noCache,
		Builder:       p.builder,
		Nodes:         p.nodes,
		TLS:           o.tls,
		Output:        dir,
		Progress:      prog,
	}
}

// buildError maps the frontend's option errors to usage errors (exit 2).
func buildError(err error) error {
	for _, s := range []error{frontend.ErrInvalidOption, frontend.ErrInvalidPlatform, frontend.ErrNoNode, frontend.ErrInvalidProgress} {
		if errors.Is(err, s) {
			return usageError(err)
		}
	}
	return err
}

func runBuild(cmd *cobra.Command, g *globalOptions, contextDir string, o buildOptions) error {
	p, err := o.plan()
	if err != nil {
		return err
	}
	err = build(cmd, g, contextDir, o, p)
	for _, r := range p.repos {
		if err != nil && strings.Contains(err.Error(), r.ref.Registry) {
			return hintHTTP(err, r.ref.Registry)
		}
	}
	return err
}

// sink is one place the image and its SBOMs go: a registry repository or
// the OCI layout of --output.
type sink struct {
	// verb and name label its progress tasks ("push REPO", "export DIR").
	verb, name string
	push       *exporter.Push
	target     exporter.Target
	// tags are the tags of a repository; the first is written by Commit,
	// the others after it.
	tags   []string
	result *exporter.Result
}

func (s *sink) task(what string) string { return s.verb + " " + s.name + ": " + what }

// buildRun is the state of one build command after the image is built.
type buildRun struct {
	plan      *buildPlan
	layout    *oci.Layout
	res       *frontend.Result
	gen       *sbomgen.Generator
	sinks     []*sink
	counter   *exporter.Counter
	sboms     []*sbomgen.Result
	attached  *referrerLog
	prog      *frontend.Progress
	platforms []oci.Image
}

func build(cmd *cobra.Command, g *globalOptions, contextDir string, o buildOptions, p *buildPlan) (err error) {
	ctx := cmd.Context()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if p.output != nil && p.output.dest == "-" {
		stdout = stderr // the tar goes to stdout
	}
	// The layout directory: the --output directory itself, else a
	// temporary one removed at exit.
	dir := ""
	if p.output != nil && !p.output.tar {
		dir = p.output.dest
	}
	prog, err := frontend.StartProgress(ctx, p.progress, stderr)
	if err != nil {
		return usageError(err)
	}
	defer prog.Close()
	res, err := frontend.Build(ctx, o.frontendOptions(contextDir, p, dir, prog))
	if err != nil {
		prog.Close()
		return buildError(err)
	}
	if dir == "" {
		defer os.RemoveAll(res.Layout)
	} else {
		defer func() {
			if err != nil {
				// No half-written layout (an image without its SBOMs).
				// The frontend made sure it was empty or absent.
				removeContents(res.Layout)
			}
		}()
	}
	l, err := oci.OpenLayout(ctx, oci.SchemeLayout+":"+res.Layout)
	if err != nil {
		return err
	}
	defer l.Close()
	images, err := oci.Walk(ctx, l, res.Index)
	if err != nil {
		return fmt.Errorf("%s: %w", l.Source(), err)
	}
	platforms, err := oci.Select(images, oci.Selector{All: true})
	if err != nil {
		return fmt.Errorf("%s: %w", l.Source(), err)
	}
	r := &buildRun{plan: p, layout: l, res: res, counter: &exporter.Counter{}, attached: &referrerLog{}, prog: prog, platforms: platforms}
	if len(p.formats) > 0 {
		name := sbomgen.DefaultName
		if len(p.tags) > 0 {
			name = p.tags[0]
		}
		r.gen, err = sbomgen.New(sbomgen.Options{
			Formats: p.formats,
			Name:    name,
			Created: res.SourceDateEpoch,
			NoCache: o.noSBOMCache,
		})
		if err != nil {
			return err
		}
	}
	if err := r.openSinks(ctx, g, o, stderr); err != nil {
		return err
	}
	if err := r.run(ctx); err != nil {
		return err
	}
	if p.output != nil {
		if err := r.finishLayout(ctx); err != nil {
			return err
		}
	}
	if err := prog.Close(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "affix: progress display: %v\n", err)
	}
	meta := r.metadata()
	printBuild(stdout, meta, r)
	if !p.push && p.output == nil {
		fmt.Fprintln(stderr, "WARNING: no output specified: the image and its SBOMs were built but not exported; use --push -t NAME:TAG or --output type=oci,dest=PATH")
	}
	if o.metadataFile != "" {
		return writeJSON(o.metadataFile, meta)
	}
	return nil
}

// openSinks prepares one push per repository of the -t tags (with --push)
// and one to the layout (with --output). No request is sent yet.
func (r *buildRun) openSinks(ctx context.Context, g *globalOptions, o buildOptions, stderr io.Writer) error {
	img := &exporter.Image{Source: r.layout, Root: r.res.Index}
	if r.plan.push {
		for _, rt := range r.plan.repos {
			tgt, err := o.connect(g, rt.ref, r.counter)
			if err != nil {
				return err
			}
			s := &sink{verb: "push", name: rt.name(), target: tgt, tags: rt.tags}
			s.push = exporter.New(tgt, img, exporter.Options{
				Tag:            rt.tags[0],
				MaxConcurrency: o.maxConcurrency,
				Logf:           debugf(g, stderr),
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
		s := &sink{verb: "export", name: name, target: tgt}
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
				frontend.Logf(ctx, "%d platform manifests by digest", len(r.platforms))
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
				r.sboms[i] = res
				return r.attach(ectx, img, res)
			})
		}
	}
	if err := eg.Wait(); err != nil {
		return r.failed(err)
	}
	// Every SBOM is in every sink: now the indexes and tags.
	eg, ectx = errgroup.WithContext(ctx)
	for _, s := range r.sinks {
		eg.Go(func() error { return r.commit(ectx, s) })
	}
	return eg.Wait()
}

// failed describes a failure before any tag was written.
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
	return fmt.Errorf("push to %s failed, no tag moved: %w", strings.Join(names, ", "), err)
}

// scan generates the SBOMs of one platform image, as the task "sbom P".
func (r *buildRun) scan(ctx context.Context, img oci.Image) (*sbomgen.Result, error) {
	var res *sbomgen.Result
	err := r.prog.Task(ctx, "sbom "+img.String(), func(ctx context.Context) error {
		var err error
		if res, err = r.gen.Image(ctx, r.layout, img.Descriptor); err != nil {
			return err
		}
		how := "scanned"
		if res.Cached {
			how = "cached"
		}
		frontend.Logf(ctx, "%s: %d packages (%s), %s", img.Descriptor.Digest, res.PackageCount(), packageTypes(res.Packages), how)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("SBOM of %s (%s): %w", img, img.Descriptor.Digest, err)
	}
	return res, nil
}

// attach attaches the documents of one platform to every sink, each sink
// as its own task.
func (r *buildRun) attach(ctx context.Context, img oci.Image, res *sbomgen.Result) error {
	eg, ectx := errgroup.WithContext(ctx)
	for _, s := range r.sinks {
		eg.Go(func() error {
			return r.prog.Task(ectx, s.task("sbom "+img.String()), func(ctx context.Context) error {
				for _, doc := range res.Documents {
					d, err := s.push.Attach(ctx, sbomArtifact(img.Descriptor, img.Platform(), res, doc))
					if err != nil {
						return err
					}
					frontend.Logf(ctx, "%s referrer %s", doc.Format, d.Digest)
					r.attached.add(img.Descriptor.Digest, doc.Format.String(), d)
				}
				return nil
			})
		})
	}
	return eg.Wait()
}

// commit writes a sink's index by its first tag (Commit), then its other
// tags, each by one manifest PUT.
func (r *buildRun) commit(ctx context.Context, s *sink) error {
	what := "index"
	if len(s.tags) > 0 {
		what = "index, tag " + strings.Join(s.tags, ", ")
	}
	return r.prog.Task(ctx, s.task(what), func(ctx context.Context) error {
		res, err := s.push.Commit(ctx)
		if err != nil {
			if len(s.tags) > 0 {
				return fmt.Errorf("%s %s: tag %s not moved: %w", s.verb, s.name, s.tags[0], err)
			}
			return fmt.Errorf("%s %s: %w", s.verb, s.name, err)
		}
		s.result = res
		for m, mode := range res.Modes {
			frontend.Logf(ctx, "referrers: %s (%s)", mode, m)
		}
		if len(s.tags) > 1 {
			data, err := oci.ReadBlob(ctx, r.layout, r.res.Index, oci.MaxManifestSize)
			if err != nil {
				return err
			}
			root := ocispec.Descriptor{MediaType: r.res.Index.MediaType, Digest: r.res.Index.Digest, Size: r.res.Index.Size}
			for _, t := range s.tags[1:] {
				if _, err := s.target.PushManifest(ctx, root, data, t, ""); err != nil {
					return fmt.Errorf("%s %s: tag %s: %w", s.verb, s.name, t, err)
				}
			}
		}
		for _, t := range s.tags {
			frontend.Logf(ctx, "%s:%s@%s", s.name, t, res.Root.Digest)
		}
		return nil
	})
}

// finishLayout gives the --output layout a deterministic index.json (the
// image entry first, then the SBOM manifests, which the referrers index
// descriptors describe: artifactType and annotations), and writes the tar
// when one is asked for.
func (r *buildRun) finishLayout(ctx context.Context) error {
	if err := rewriteLayoutIndex(r.res.Layout, r.layout.Roots(), r.referrers()); err != nil {
		return err
	}
	if !r.plan.output.tar {
		return nil
	}
	dest := r.plan.output.dest
	name := dest
	if dest == "-" {
		name = "stdout"
	}
	return r.prog.Task(ctx, "export "+name+": tar", func(ctx context.Context) error {
		if dest == "-" {
			return writeLayoutTar(os.Stdout, r.res.Layout)
		}
		return writeLayoutTarFile(dest, r.res.Layout)
	})
}

// referrers returns the SBOM referrers attached, in platform order, then
// format order.
func (r *buildRun) referrers() []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, img := range r.platforms {
		for _, m := range r.attached.get(img.Descriptor.Digest) {
			out = append(out, m.desc)
		}
	}
	return out
}

// rewriteLayoutIndex writes index.json as the image entries BuildKit wrote
// (images, in their order) followed by refs, replacing whatever order
// oras-go's layout store left (it writes from a map).
func rewriteLayoutIndex(dir string, images, refs []ocispec.Descriptor) error {
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: append(slices.Clone(images), refs...),
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, ocispec.ImageIndexFile)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// writeLayoutTarFile writes the layout dir as a tar to dest, through a
// temporary file renamed into place.
func writeLayoutTarFile(dest, dir string) error {
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".*")
	if err != nil {
		return fmt.Errorf("output %s: %w", dest, err)
	}
	defer os.Remove(f.Name())
	if err := writeLayoutTar(f, dir); err != nil {
		f.Close()
		return fmt.Errorf("output %s: %w", dest, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("output %s: %w", dest, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), dest); err != nil {
		return fmt.Errorf("output %s: %w", dest, err)
	}
	return nil
}

// writeLayoutTar writes the OCI layout in dir as a tar: oci-layout,
// index.json, then the blobs in name order, with fixed owners, modes and
// times, so the same layout always gives the same bytes.
func writeLayoutTar(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != ocispec.ImageBlobsDir && !strings.HasPrefix(rel, ocispec.ImageBlobsDir+"/") {
				return filepath.SkipDir // ingest and other scratch directories
			}
			files = append(files, rel+"/")
			return nil
		}
		if rel == ocispec.ImageLayoutFile || rel == ocispec.ImageIndexFile || strings.HasPrefix(rel, ocispec.ImageBlobsDir+"/") {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	rank := func(s string) int {
		switch s {
		case ocispec.ImageLayoutFile:
			return 0
		case ocispec.ImageIndexFile:
			return 1
		}
		return 2
	}
	slices.SortFunc(files, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	for _, name := range files {
		hdr := &tar.Header{Name: name, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if strings.HasSuffix(name, "/") {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			continue
		}
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			f.Close()
			return err
		}
		_, err = io.Copy(tw, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// removeContents removes everything in dir, keeping dir.
func removeContents(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// packageTypes formats package counts by type: "deb 4, npm 2".
func packageTypes(c map[string]int) string {
	if len(c) == 0 {
		return "none"
	}
	return formatCounts(c)
}

// buildMetadata is the --metadata-file document of affix build: buildx's
// keys, then the fields of push's metadata (index, tag, platforms with
// their SBOM referrers, referrers mode, requests), then build's own.
type buildMetadata struct {
	// ContainerImageDigest is the image index digest (buildx's key).
	ContainerImageDigest digest.Digest `json:"containerimage.digest"`
	// ContainerImageDescriptor is the image index descriptor (buildx's key).
	ContainerImageDescriptor ocispec.Descriptor `json:"containerimage.descriptor"`
	// ImageName is the tags, comma-separated (buildx's key).
	ImageName string `json:"image.name,omitempty"`
	pushMetadata
	// Tags are every tag written (with --push), or named (without).
	Tags []string `json:"tags,omitempty"`
	// Pushed reports whether the image was pushed to the tags.
	Pushed bool `json:"pushed"`
	// Output is the OCI layout written (--output), "-" for stdout.
	Output string `json:"output,omitempty"`
	// SourceDateEpoch is the SOURCE_DATE_EPOCH the image and the SBOMs
	// were made with, in seconds; absent when none was set.
	SourceDateEpoch *int64 `json:"sourceDateEpoch,omitempty"`
	// SBOMs describe each platform's scan.
	SBOMs []sbomMeta `json:"sboms,omitempty"`
}

type sbomMeta struct {
	Platform string         `json:"platform"`
	Packages map[string]int `json:"packages"`
	Cached   bool           `json:"cached"`
	Created  time.Time      `json:"created"`
}

func (r *buildRun) metadata() *buildMetadata {
	idx := ocispec.Descriptor{MediaType: r.res.Index.MediaType, Digest: r.res.Index.Digest, Size: r.res.Index.Size}
	m := &buildMetadata{
		ContainerImageDigest:     idx.Digest,
		ContainerImageDescriptor: idx,
		ImageName:                strings.Join(r.plan.tags, ","),
		Tags:                     r.plan.tags,
		Pushed:                   r.plan.push,
	}
	m.pushMetadata = pushMetadata{
		Index:         &idx,
		ReferrersMode: map[string]exporter.Mode{},
		Requests:      r.counter.Counts(),
		RequestsTotal: r.counter.Total(),
	}
	if len(r.plan.tags) > 0 {
		m.Tag = r.plan.tags[0]
	}
	for _, s := range r.sinks {
		if s.result != nil && s.verb == "push" {
			for k, v := range s.result.Modes {
				m.ReferrersMode[k] = v
			}
		}
	}
	for _, img := range r.platforms {
		pm := platformMeta{Platform: img.String(), Digest: img.Descriptor.Digest, Referrers: []referrerMeta{}}
		for _, a := range r.attached.get(img.Descriptor.Digest) {
			pm.Referrers = append(pm.Referrers, a.meta)
		}
		m.Platforms = append(m.Platforms, pm)
	}
	if r.plan.output != nil {
		m.Output = r.plan.output.dest
	}
	if !r.res.SourceDateEpoch.IsZero() {
		s := r.res.SourceDateEpoch.Unix()
		m.SourceDateEpoch = &s
	}
	for i, res := range r.sboms {
		if res == nil {
			continue
		}
		m.SBOMs = append(m.SBOMs, sbomMeta{Platform: r.platforms[i].String(), Packages: res.Packages, Cached: res.Cached, Created: res.Created})
	}
	return m
}

func printBuild(w io.Writer, m *buildMetadata, r *buildRun) {
	fmt.Fprintf(w, "built %s (%d platforms)\n", m.ContainerImageDigest, len(m.Platforms))
	for i, p := range m.Platforms {
		line := fmt.Sprintf("  %-14s %s", p.Platform, p.Digest)
		if res := r.sboms[i]; res != nil {
			how := ""
			if res.Cached {
				how = ", cached"
			}
			line += fmt.Sprintf("  %d packages%s", res.PackageCount(), how)
		}
		fmt.Fprintln(w, line)
		for _, ref := range p.Referrers {
			fmt.Fprintf(w, "    %-14s %s %s\n", ref.Format, ref.Digest, ref.ArtifactType)
		}
	}
	for _, s := range r.sinks {
		if s.verb != "push" || s.result == nil {
			continue
		}
		for _, t := range s.tags {
			fmt.Fprintf(w, "pushed %s:%s@%s\n", s.name, t, s.result.Root.Digest)
		}
		for repo, mode := range s.result.Modes {
			fmt.Fprintf(w, "  referrers: %s (%s)\n", mode, repo)
		}
	}
	if r.plan.output != nil {
		kind := "directory"
		if r.plan.output.tar {
			kind = "tar"
		}
		fmt.Fprintf(w, "wrote OCI layout (%s) %s\n", kind, r.plan.output.dest)
	}
	if m.RequestsTotal > 0 {
		fmt.Fprintf(w, "registry requests: %d (%s)\n", m.RequestsTotal, formatCounts(m.Requests))
	}
}

// attachedRef is one referrer attached, with its metadata.
type attachedRef struct {
	desc ocispec.Descriptor
	meta referrerMeta
}

// referrerLog records the SBOM referrers attached, by subject. Every sink
// gets the same artifacts (hence digests), so each is recorded once.
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
	a.ref[subject] = append(a.ref[subject], attachedRef{desc: d, meta: referrerMeta{Digest: d.Digest, ArtifactType: d.ArtifactType, Format: format}})
	slices.SortFunc(a.ref[subject], func(x, y attachedRef) int { return strings.Compare(x.meta.Format, y.meta.Format) })
}

// get returns the referrers of subject, in format order.
func (a *referrerLog) get(subject digest.Digest) []attachedRef {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.ref[subject])
}
