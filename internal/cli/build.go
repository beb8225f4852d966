package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/frontend"
	"github.com/affix-oci/affix/internal/contexttar"
	"github.com/affix-oci/affix/internal/tmpdir"
)

func init() { extraCommands = append(extraCommands, newBuildCmd) }

// buildOptions are the flags of affix build.
type buildOptions struct {
	registryOptions
	// load is buildx's --load, which affix has no engine for: it is
	// refused with what to do instead.
	load bool
	file string
	// fileName names the Dockerfile in messages when file is a
	// temporary copy of stdin's ("" for file itself).
	fileName  string
	tags      []string
	platforms []string
	// platformsEnv is set when platforms come from
	// $DOCKER_DEFAULT_PLATFORM, not --platform.
	platformsEnv  bool
	buildArgs     []string
	target        string
	secrets       []string
	ssh           []string
	buildContexts []string
	labels        []string
	annotations   []string
	noCache       bool
	noCacheFilter []string
	pull          bool
	cgroupParent  string
	cacheFrom     []string
	cacheTo       []string
	addHosts      []string
	network       string
	shmSize       string
	ulimits       []string
	allow         []string
	provenance    string
	attests       []string
	progress      string
	progressFlag  bool // --progress given on the command line, not from $BUILDKIT_PROGRESS
	quiet         bool
	iidFile       string
	metadataFile  string
	sbomFormats   []string
	// sbom is --sbom, buildx's shorthand of --attest type=sbom: "" (not
	// given: SBOMs), a bool, or type=sbom's attributes.
	sbom           string
	noSBOM         bool
	noSBOMCache    bool
	push           bool
	outputs        []string
	builders       []string
	tls            frontend.TLSOptions
	maxConcurrency int
	// mountFrom is --mount-from, as affix push takes it ("" for none:
	// the FROM image's repository, where the push's registry has it).
	mountFrom string
	// call and check are buildx's --call and --check: a question to
	// the Dockerfile frontend instead of a build.
	call  string
	check bool
}

// newBuildCmd returns the build command: buildx's flags, BuildKit builds,
// one SBOM per platform image, one push.
func newBuildCmd(g *globalOptions) *cobra.Command {
	var o buildOptions
	cmd := &cobra.Command{
		Use:   "build [flags] CONTEXT",
		Short: "Build a Dockerfile with BuildKit and publish every platform image with its SBOM referrer, in one push",
		Long: `Build the Dockerfile of CONTEXT with BuildKit for one or more platforms,
generate one SBOM per platform image, and publish the image index and the
SBOMs together: each SBOM is an OCI referrer (subject = its platform
manifest). CONTEXT is a directory, or - for a tar of the context (or a
Dockerfile alone) on stdin; -f - reads the Dockerfile from stdin.

With --push, every -t tag is pushed: blobs and platform manifests upload
while the SBOMs are generated, then the SBOM referrers (the referrers API,
else the referrers tag schema), and the index by tag last, once every SBOM
of every repository is in place and verified. If anything fails before, no
tag moves; if a tag write itself fails, the error names the tags that moved
and those that did not.

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
builds each platform on its own node and merges the results into one index;
its cacert= and servername= each default to the --builder-tls-* flag of
the same name; cert= and key= go together (both, or neither for the
flags' pair).`,
		Example: `  affix build --platform linux/amd64,linux/arm64 --push -t registry.example.com/app:1.0 .
  affix build -f build/Dockerfile --build-arg VERSION=1.2 --output type=oci,dest=app.tar .
  affix build --builder linux/amd64=tcp://amd64:1234 --builder linux/arm64=tcp://arm64:1234 \
      --builder-tls-cacert ca.pem --builder-tls-cert cert.pem --builder-tls-key key.pem \
      --push -t registry.example.com/app:1.0 .`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(fmt.Errorf("want one CONTEXT directory, got %d arguments%s", len(args), o.tookContextHint(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.progressFlag = cmd.Flags().Changed("progress")
			warnLegacyFlags(cmd.Flags(), warnf(cmd))
			o.defaultPlatforms(cmd.Flags().Changed("platform"), os.LookupEnv)
			if o.progress == "" {
				o.progress = string(frontend.ProgressAuto)
				if v := os.Getenv("BUILDKIT_PROGRESS"); v != "" {
					if _, err := frontend.ParseProgressMode(v); err != nil {
						return usageError(fmt.Errorf("BUILDKIT_PROGRESS: %w", err))
					}
					o.progress = v
				}
			}
			return runBuild(cmd, g, args[0], o)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// tookContextHint says, when args (the command's arguments) are none,
// which of --sbom and --provenance, string flags as in buildx, took as its
// value what looks like CONTEXT (neither a bool nor attributes), as in
// "--sbom ."; else it returns "".
func (o *buildOptions) tookContextHint(args []string) string {
	if len(args) > 0 {
		return ""
	}
	for _, f := range []struct{ name, v string }{{"--sbom", o.sbom}, {"--provenance", o.provenance}} {
		if _, err := strconv.ParseBool(f.v); f.v != "" && err != nil && !strings.Contains(f.v, "=") {
			return fmt.Sprintf(" (%s took %q as its value: it takes one, as in buildx, e.g. %s=true)", f.name, f.v, f.name)
		}
	}
	return ""
}

// defaultPlatforms sets the platforms to $DOCKER_DEFAULT_PLATFORM (read
// through lookup) when --platform is not given, as buildx's default of
// --platform.
func (o *buildOptions) defaultPlatforms(given bool, lookup func(string) (string, bool)) {
	if v, _ := lookup("DOCKER_DEFAULT_PLATFORM"); !given && v != "" {
		o.platforms, o.platformsEnv = []string{v}, true
	}
}

// addFlags defines build's flags on f, bound to o.
func (o *buildOptions) addFlags(f *pflag.FlagSet) {
	f.StringVarP(&o.file, "file", "f", "", "Dockerfile (default: CONTEXT/Dockerfile)")
	f.StringArrayVarP(&o.tags, "tag", "t", nil, "image name and tag, NAME[:TAG] (repeatable); pushed with --push")
	f.StringArrayVar(&o.platforms, "platform", nil, "platforms to build, os/arch[/variant] or an architecture alone (linux/ARCH here), comma-separated or repeated (default: $DOCKER_DEFAULT_PLATFORM, else the builder's)")
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "build argument KEY=VALUE, or KEY to take it from the environment (repeatable)")
	f.StringVar(&o.target, "target", "", "stage to build (default: the last)")
	f.StringArrayVar(&o.secrets, "secret", nil, "secret for RUN --mount=type=secret: id=ID[,src=PATH] or id=ID,env=VAR (repeatable)")
	f.StringArrayVar(&o.ssh, "ssh", nil, "ssh agent socket or keys for RUN --mount=type=ssh: default or ID[=PATH[,PATH]] (repeatable)")
	f.StringArrayVar(&o.buildContexts, "build-context", nil, "named context NAME=DIR|docker-image://REF|oci-layout://PATH[:TAG][@DIGEST]|URL (repeatable)")
	f.StringArrayVar(&o.labels, "label", nil, "image label KEY=VALUE (repeatable)")
	f.StringArrayVar(&o.annotations, "annotation", nil, "OCI annotation [TYPES:]KEY=VALUE, TYPES a comma-separated list of manifest (default), manifest-descriptor, index, index-descriptor, manifest types optionally [PLATFORM] (repeatable)")
	f.BoolVar(&o.noCache, "no-cache", false, "build every step anew (the SBOM cache is --no-sbom-cache)")
	f.StringArrayVar(&o.noCacheFilter, "no-cache-filter", nil, "build these stages anew, STAGE[,STAGE] (repeatable)")
	f.BoolVar(&o.pull, "pull", false, "always look up base images in their registries, not only in the builder's cache")
	f.StringVar(&o.cgroupParent, "cgroup-parent", "", "parent cgroup of RUN steps")
	f.StringArrayVar(&o.cacheFrom, "cache-from", nil, "build cache to import: REF, type=registry,ref=REF, type=local,src=DIR, type=gha, ... (repeatable)")
	f.StringSliceVar(&o.addHosts, "add-host", nil, "HOST:IP or HOST=IP for /etc/hosts in RUN steps (comma-separated or repeated, as in buildx)")
	f.StringVar(&o.network, "network", "", "network of RUN steps: default, none or host (host needs buildkitd to allow network.host)")
	f.StringVar(&o.shmSize, "shm-size", "", "size of /dev/shm in RUN steps, e.g. 64m")
	f.StringArrayVar(&o.ulimits, "ulimit", nil, "resource limit of RUN steps, NAME=SOFT[:HARD], e.g. nofile=1024:2048 (repeatable)")
	f.StringVar(&o.provenance, "provenance", "", "SLSA provenance attestation in the index, as buildx's shorthand of --attest type=provenance: true (mode=min), false, or its attributes mode=min|max[,builder-id=URL,...]; makes the index digest differ per build")
	f.StringArrayVar(&o.attests, "attest", nil, "buildx's attestation form: type=provenance[,mode=..] is --provenance; type=sbom is affix's own SBOM (disabled=true is --sbom=false) (repeatable)")
	f.StringSliceVar(&o.allow, "allow", nil, "entitlements to allow: network.host, security.insecure, device[=NAME] (comma-separated or repeated)")
	f.StringArrayVar(&o.cacheTo, "cache-to", nil, "build cache to export: REF, type=registry,ref=REF[,mode=max], type=local,dest=DIR, type=inline, type=gha, ... (repeatable)")
	f.StringVar(&o.progress, "progress", "", "progress output: auto, plain, tty, rawjson or quiet (as -q: only the index digest on stdout) (default $BUILDKIT_PROGRESS, else auto)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress display; print only the image index digest on stdout (same as --progress quiet)")
	f.StringVar(&o.iidFile, "iidfile", "", "write the image index digest to FILE")
	f.StringVar(&o.metadataFile, "metadata-file", "", "write the build result (buildx keys, digests, SBOM referrers, referrers mode, request counts) as JSON to FILE")
	f.StringArrayVar(&o.sbomFormats, "sbom-format", nil, "SBOM referrer format: spdx-json (default), cyclonedx-json, spdx-intoto (SPDX in an in-toto statement); repeatable")
	f.StringVar(&o.sbom, "sbom", "", "generate and publish SBOMs (the default), as buildx's shorthand of --attest type=sbom: true, false (the image alone), or its attributes (disabled=true)")
	f.BoolVar(&o.noSBOMCache, "no-sbom-cache", false, "neither read nor write the SBOM cache")
	f.BoolVar(&o.noSBOM, "no-sbom", false, "same as --sbom=false, as affix push spells it")
	f.BoolVar(&o.push, "push", false, "push the image and its SBOMs to every -t tag (same as --output type=registry)")
	f.BoolVar(&o.load, "load", false, "")
	f.MarkHidden("load")
	f.StringArrayVarP(&o.outputs, "output", "o", nil, "output: type=oci,dest=PATH[,tar=false] (an OCI layout tar, dest=- or none for stdout, or a directory), type=registry[,name=NAME] or type=image,name=NAME,push=true; with BuildKit's exporter keys (compression, oci-mediatypes, rewrite-timestamp, ...); repeatable, one type=oci")
	f.StringArrayVar(&o.builders, "builder", nil, "buildkitd address, or PLATFORM=ADDR[,cacert=..,cert=..,key=..,servername=..] per node (repeatable; default $BUILDKIT_HOST, else "+frontend.DefaultAddress+")")
	f.StringVar(&o.tls.CACert, "builder-tls-cacert", "", "CA certificate of tcp:// builders")
	f.StringVar(&o.tls.Cert, "builder-tls-cert", "", "client certificate for tcp:// builders")
	f.StringVar(&o.tls.Key, "builder-tls-key", "", "client key for tcp:// builders")
	f.StringVar(&o.tls.ServerName, "builder-tls-servername", "", "server name to verify tcp:// builders' certificates against (default: the address's host)")
	o.registryOptions.addFlags(f)
	f.IntVar(&o.maxConcurrency, "max-concurrency", 4, "uploads at once, per repository")
	f.StringVar(&o.mountFrom, "mount-from", "", "with --push, repository of the -t registry to mount blobs from, REPO or HOST/REPO (default: the FROM image's repository, when it is on that registry)")
	f.StringVar(&o.call, "call", "build", "what to ask the Dockerfile frontend: build, or instead of building check (build checks), outline (build arguments, secrets), targets (stages), subrequests.describe; [,format=json][,ignorestatus=true]")
	f.BoolVar(&o.check, "check", false, "run the Dockerfile's build checks instead of building (--call check): exits 1 when a check finds something")
	addLegacyFlags(f)
}

// flagWarn is the annotation of a flag whose use prints a warning
// (legacyFlagWarnings).
const flagWarn = "flag-warn"

// addLegacyFlags defines the flags of docker build that buildx accepts and
// ignores (its commands/build.go "hidden flags"), so that a docker build
// command line works unchanged: hidden, their values ignored; --isolation,
// --security-opt and --squash print buildx's warning (warnLegacyFlags).
func addLegacyFlags(f *pflag.FlagSet) {
	var ignore string
	var ignoreSlice []string
	var ignoreBool bool
	var ignoreInt int64
	f.BoolVar(&ignoreBool, "compress", false, "Compress the build context using gzip")
	f.StringVar(&ignore, "isolation", "", "Container isolation technology")
	f.StringSliceVar(&ignoreSlice, "security-opt", nil, "Security options")
	f.BoolVar(&ignoreBool, "squash", false, "Squash newly built layers into a single new layer")
	f.StringVarP(&ignore, "memory", "m", "", "Memory limit")
	f.StringVar(&ignore, "memory-swap", "", `Swap limit equal to memory plus swap: "-1" to enable unlimited swap`)
	f.Int64VarP(&ignoreInt, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Int64Var(&ignoreInt, "cpu-period", 0, "Limit the CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&ignoreInt, "cpu-quota", 0, "Limit the CPU CFS (Completely Fair Scheduler) quota")
	f.StringVar(&ignore, "cpuset-cpus", "", `CPUs in which to allow execution ("0-3", "0,1")`)
	f.StringVar(&ignore, "cpuset-mems", "", `MEMs in which to allow execution ("0-3", "0,1")`)
	f.BoolVar(&ignoreBool, "rm", true, "Remove intermediate containers after a successful build")
	f.BoolVar(&ignoreBool, "force-rm", false, "Always remove intermediate containers")
	for _, name := range legacyFlags {
		f.MarkHidden(name)
	}
	for name, msg := range legacyFlagWarnings {
		f.SetAnnotation(name, flagWarn, []string{msg})
	}
}

// legacyFlags are the flags addLegacyFlags defines.
var legacyFlags = []string{"compress", "isolation", "security-opt", "squash", "memory", "memory-swap", "cpu-shares",
	"cpu-period", "cpu-quota", "cpuset-cpus", "cpuset-mems", "rm", "force-rm"}

// legacyFlagWarnings are buildx's warnings for the legacy flags that have
// one, word for word.
var legacyFlagWarnings = map[string]string{
	"isolation":    "isolation flag is deprecated with BuildKit.",
	"security-opt": `security-opt flag is deprecated. "RUN --security=insecure" should be used with BuildKit.`,
	"squash":       "experimental flag squash is removed with BuildKit. You should squash inside build using a multi-stage Dockerfile for efficiency.",
}

// warnLegacyFlags prints, with warn, the warning of each flag of f given
// on the command line that has one, in name order, as buildx does.
func warnLegacyFlags(f *pflag.FlagSet, warn func(format string, args ...any)) {
	f.Visit(func(fl *pflag.Flag) {
		if m := fl.Annotations[flagWarn]; len(m) > 0 {
			warn("%s", m[0])
		}
	})
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
	// byDigest pushes to the repository by digest only, writing none
	// of tags (push-by-digest=true).
	byDigest bool
	// mountFrom is the repository of ref's registry the push mounts
	// missing blobs from ("" for none): --mount-from's, or, when
	// mountAuto, the FROM image's (setMountFrom, autoMount).
	mountFrom string
	mountAuto bool
}

func (r repoTags) name() string { return r.ref.Registry + "/" + r.ref.Repository }

// repoKey identifies ref's repository: its host in lower case (host names
// are case-insensitive), then its path.
func repoKey(ref registry.Reference) string {
	return strings.ToLower(ref.Registry) + "/" + ref.Repository
}

// tagRepoKey is repoKey of a tag addTags checked.
func tagRepoKey(tag string) string {
	_, ref, _ := parseTag(tag)
	return repoKey(ref)
}

// buildPlan is buildOptions validated: what runBuild needs, checked
// before anything is built.
type buildPlan struct {
	// tags are the -t tags, normalized (docker.io/library/app:latest).
	tags []string
	// repos group tags by repository, in the order they first appear.
	repos []repoTags
	push  bool
	// digestNames are the name= of push-by-digest=true outputs, whose
	// repositories get the image by digest, no tag; digestAll is such an
	// output without name=, which applies to the -t repositories;
	// taggedNames are the name= of the other push outputs.
	digestNames, taggedNames []string
	digestAll                bool
	output                   *ociOutput
	formats                  []referrerFormat // empty: no SBOMs
	// provenance is the frontend's Provenance (--provenance or --attest
	// type=provenance).
	provenance string
	// exportAttrs are the exporter attributes of --output (compression,
	// ...), for every output.
	exportAttrs map[string]string
	// progress is the display; ProgressQuiet (-q, or --progress quiet,
	// as in buildx) also prints only the index digest on stdout.
	progress frontend.ProgressMode
	builder  string
	nodes    []string
	// frontend is the frontend's plan of the build, made by runBuild
	// once the flags are valid, from frontendOptions; Plan.Build builds
	// it without checking the options again. Its warnings (settings the
	// build ignores) are printed before the progress display starts.
	frontend *frontend.Plan
	// call is --call other than build (or --check): nothing is built.
	call *callSpec
}

// layoutDir is the directory the image is built into: the --output
// directory (tar=false), else "" for a temporary one.
func (p *buildPlan) layoutDir() string {
	if p.output != nil && !p.output.tar {
		return p.output.dest
	}
	return ""
}

// plan validates the flags. Everything a user can get wrong on the
// command line that does not need the file system or a builder is a usage
// error here, before any build starts.
func (o *buildOptions) plan() (*buildPlan, error) {
	if o.load {
		return nil, usageError(errors.New("--load: affix loads into no Docker engine; write an OCI tar with --output type=oci,dest=FILE (docker load -i FILE reads it), or publish with --push"))
	}
	p := &buildPlan{push: o.push}
	if o.platformsEnv {
		// Named here: the frontend's error would name no variable.
		if err := frontend.CheckPlatforms(o.platforms); err != nil {
			return nil, usageError(fmt.Errorf("DOCKER_DEFAULT_PLATFORM (the default of --platform): %w", err))
		}
	}
	var err error
	if p.progress, err = o.progressMode(); err != nil {
		return nil, err
	}
	if p.call, err = parseCall(o.call, o.check); err != nil {
		return nil, err
	}
	pushNames, err := p.addOutputs(o.outputs)
	if err != nil {
		return nil, err
	}
	if err := p.addTags(slices.Concat(o.tags, pushNames)); err != nil {
		return nil, err
	}
	if err := p.markByDigest(o.tags, p.taggedNames); err != nil {
		return nil, err
	}
	if p.push && len(p.tags) == 0 {
		if !o.push {
			// Asked for by an --output (type=registry, push=true).
			return nil, usageError(errors.New("--output pushing to a registry needs a name= or at least one -t NAME:TAG to push to"))
		}
		return nil, usageError(errors.New("--push needs at least one -t NAME:TAG to push to"))
	}
	if err := o.planAttestations(p); err != nil {
		return nil, err
	}
	if err := p.setMountFrom(o.mountFrom); err != nil {
		return nil, err
	}
	if err := checkPositive("--max-concurrency", o.maxConcurrency); err != nil {
		return nil, err
	}
	if err := o.checkOutputPaths(p.output); err != nil {
		return nil, err
	}
	if p.builder, p.nodes, err = splitBuilders(o.builders); err != nil {
		return nil, usageError(err)
	}
	return p, nil
}

// progressMode returns the display --progress and -q ask for.
func (o *buildOptions) progressMode() (frontend.ProgressMode, error) {
	mode, err := frontend.ParseProgressMode(o.progress)
	if err != nil {
		return "", usageError(err)
	}
	if o.quiet {
		// As buildx: -q is --progress quiet, and another display asked
		// for on the command line contradicts it (BUILDKIT_PROGRESS, a
		// default, gives way).
		if o.progressFlag && mode != frontend.ProgressAuto && mode != frontend.ProgressQuiet {
			return "", usageError(fmt.Errorf("--progress %s and -q/--quiet cannot be used together (-q is --progress quiet)", o.progress))
		}
		mode = frontend.ProgressQuiet
	}
	return mode, nil
}

// addOutputs records the --output values in p: their exporter
// attributes, which must agree across outputs; a push output; the one
// type=oci output. It returns the name= tags of the push outputs, in
// order, to be pushed as if given with -t.
func (p *buildPlan) addOutputs(values []string) ([]string, error) {
	var names []string
	for _, s := range values {
		out, err := parseOutput(s)
		if err != nil {
			return nil, usageError(err)
		}
		for _, k := range slices.Sorted(maps.Keys(out.attrs)) {
			v := out.attrs[k]
			if old, ok := p.exportAttrs[k]; ok && old != v {
				return nil, usageError(fmt.Errorf("--output %q: %s=%s, another output has %s=%s (one build feeds every output)", s, k, v, k, old))
			}
			if p.exportAttrs == nil {
				p.exportAttrs = map[string]string{}
			}
			p.exportAttrs[k] = v
		}
		if out.push {
			p.push = true
			switch {
			case out.byDigest && len(out.names) == 0:
				p.digestAll = true
			case out.byDigest:
				p.digestNames = append(p.digestNames, out.names...)
			default:
				p.taggedNames = append(p.taggedNames, out.names...)
			}
			names = append(names, out.names...)
			continue
		}
		if p.output != nil {
			return nil, usageError(fmt.Errorf("--output %q: only one type=oci output is supported", s))
		}
		p.output = out.oci
	}
	return names, nil
}

// markByDigest marks the repositories push-by-digest=true outputs name
// (the -t repositories, tags, for such an output without name=) to get the
// image by digest, no tag. A repository also named with a tag elsewhere
// (-t, unless it is what a push-by-digest=true output without name=
// applies to, or name= of another push output, tagged) is a usage error:
// which is meant cannot be told.
func (p *buildPlan) markByDigest(tags, tagged []string) error {
	byDigest := map[string]bool{}
	for _, n := range p.digestNames {
		byDigest[tagRepoKey(n)] = true
	}
	if p.digestAll {
		for _, n := range tags {
			byDigest[tagRepoKey(n)] = true
		}
	} else {
		tagged = slices.Concat(tags, tagged)
	}
	for _, n := range tagged {
		if k := tagRepoKey(n); byDigest[k] {
			return usageError(fmt.Errorf("%s is pushed with a tag (%s) and by digest (an output with push-by-digest=true): give one", k, n))
		}
	}
	for i := range p.repos {
		p.repos[i].byDigest = byDigest[repoKey(p.repos[i].ref)]
	}
	return nil
}

// writtenTags returns the tags a push writes, in the order given: those
// of the repositories not pushed by digest.
func (p *buildPlan) writtenTags() []string {
	byDigest := map[string]bool{}
	for _, rt := range p.repos {
		byDigest[repoKey(rt.ref)] = rt.byDigest
	}
	out := []string{}
	for _, t := range p.tags {
		if !byDigest[tagRepoKey(t)] {
			out = append(out, t)
		}
	}
	return out
}

// allByDigest reports whether every repository pushed to gets the image
// by digest only.
func (p *buildPlan) allByDigest() bool {
	for _, rt := range p.repos {
		if !rt.byDigest {
			return false
		}
	}
	return p.push && len(p.repos) > 0
}

// addTags normalizes tags into p.tags, each once in the order given, and
// groups them by repository into p.repos.
func (p *buildPlan) addTags(tags []string) error {
	seen := map[string]bool{}
	for _, t := range tags {
		norm, ref, err := parseTag(t)
		if err != nil {
			return usageError(err)
		}
		if err := checkImageTag(fmt.Sprintf("-t %q", t), ref.Reference); err != nil {
			return err
		}
		if seen[norm] {
			continue
		}
		seen[norm] = true
		p.tags = append(p.tags, norm)
		i := slices.IndexFunc(p.repos, func(r repoTags) bool { return repoKey(r.ref) == repoKey(ref) })
		if i < 0 {
			repo := ref
			repo.Reference = ""
			p.repos = append(p.repos, repoTags{ref: repo})
			i = len(p.repos) - 1
		}
		p.repos[i].tags = append(p.repos[i].tags, ref.Reference)
	}
	return nil
}

// setMountFrom sets the repository the pushes mount blobs from, from:
// --mount-from as affix push takes it (mountRepository), REPO or
// HOST/REPO, a repository of the registry the -t tags name. With -t tags
// in several registries, HOST/REPO says which one's repositories mount
// from it (the others upload, as a registry mounts only its own blobs)
// and REPO alone is a usage error; so is --mount-from without a push,
// and a HOST no -t names. A repository does not mount from itself.
func (p *buildPlan) setMountFrom(from string) error {
	if from == "" {
		return nil
	}
	if !p.push {
		return usageError(fmt.Errorf("--mount-from %q: nothing is pushed; it mounts blobs for --push", from))
	}
	var hosts []string
	for _, rt := range p.repos {
		if !slices.ContainsFunc(hosts, func(h string) bool { return exporter.SameRegistry(h, rt.ref.Registry) }) {
			hosts = append(hosts, rt.ref.Registry)
		}
	}
	host, _, hasHost := splitHost(from)
	if !hasHost && len(hosts) > 1 {
		return usageError(fmt.Errorf("--mount-from %q: -t names several registries (%s); name the repository with its registry, HOST/REPO", from, strings.Join(hosts, ", ")))
	}
	if hasHost && !slices.ContainsFunc(hosts, func(h string) bool { return exporter.SameRegistry(h, host) }) {
		return usageError(fmt.Errorf("--mount-from %q: a registry mounts only its own blobs; name a repository of %s", from, strings.Join(hosts, " or ")))
	}
	for i := range p.repos {
		rt := &p.repos[i]
		if hasHost && !exporter.SameRegistry(host, rt.ref.Registry) {
			continue
		}
		repo, err := mountRepository(from, rt.ref)
		if err != nil {
			return err
		}
		if repo != rt.ref.Repository {
			rt.mountFrom = repo
		}
	}
	return nil
}

// autoMount sets, for the repositories pushed to that have no
// --mount-from, the repository of base (the image the build's layers
// start with, frontend.Plan.BaseImage; "" for unknown) to mount its
// layers from, when it is on that repository's registry: they are then
// mounted rather than uploaded again. A registry that cannot mount them
// (no access, another image than thought) answers with an upload, at no
// extra request.
func (p *buildPlan) autoMount(base string) {
	if base == "" || !p.push {
		return
	}
	n, err := reference.ParseNormalizedNamed(base)
	if err != nil {
		return
	}
	host, repo := reference.Domain(n), reference.Path(n)
	for i := range p.repos {
		rt := &p.repos[i]
		if rt.mountFrom == "" && exporter.SameRegistry(host, rt.ref.Registry) && repo != rt.ref.Repository {
			rt.mountFrom, rt.mountAuto = repo, true
		}
	}
}

// checkOutputPaths checks the files the build writes: the --output dest
// (out, nil for none), --metadata-file and --iidfile.
func (o *buildOptions) checkOutputPaths(out *ociOutput) error {
	if out != nil && !out.tar {
		// Checked here too, so that a wrong directory fails before a
		// builder is contacted.
		if entries, err := os.ReadDir(out.dest); err == nil && len(entries) > 0 {
			return usageError(fmt.Errorf("--output dest=%s: the directory is not empty", out.dest))
		}
	}
	if out != nil && out.tar && out.dest != "-" {
		// Checked before the build: the tar is written before any tag
		// moves, and a push must not be undone by a typo in a path.
		if err := checkOutputTar("--output dest="+out.dest, out.dest); err != nil {
			return usageError(err)
		}
	}
	for _, f := range []outputFile{{"--metadata-file", o.metadataFile}, {"--iidfile", o.iidFile}} {
		if f.path != "" {
			if err := checkOutputFile(f.flag+" "+f.path, f.path); err != nil {
				return usageError(err)
			}
		}
	}
	return nil
}

// parseTag normalizes a -t value as buildx does ("app" is
// docker.io/library/app:latest) and parses it as a registry reference.
func parseTag(s string) (string, registry.Reference, error) {
	if err := checkHostOnly(fmt.Sprintf("-t %q", s), s); err != nil {
		return "", registry.Reference{}, err
	}
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
		// A node: PLATFORM=ADDR; also a PLATFORM without a slash before
		// an address, for the frontend to say what is wrong with it.
		k, addr, ok := strings.Cut(v, "=")
		if ok && !strings.Contains(k, "://") && (strings.Contains(k, "/") || strings.Contains(addr, "://")) {
			nodes = append(nodes, v)
			continue
		}
		if v == "" {
			return "", nil, errors.New("--builder: empty address")
		}
		if addr, rest, ok := strings.Cut(v, ","); ok && hasTLSField(strings.Split(rest, ",")) {
			return "", nil, fmt.Errorf("--builder %q: per-builder TLS fields (cacert=, cert=, key=, servername=) need the PLATFORM=ADDR,... form (--builder linux/amd64=%s,%s); for a single builder use the --builder-tls-cacert, --builder-tls-cert, --builder-tls-key and --builder-tls-servername flags", v, addr, rest)
		}
		if builder != "" {
			return "", nil, fmt.Errorf("--builder %q: a builder address is given already (%s); name nodes as PLATFORM=ADDR", v, builder)
		}
		builder = v
	}
	return builder, nodes, nil
}

// tlsFields are the TLS keys of --builder PLATFORM=ADDR,KEY=VALUE,...
var tlsFields = []string{"cacert", "cert", "key", "servername"}

// hasTLSField reports whether a KEY=VALUE field names a TLS key.
func hasTLSField(fields []string) bool {
	for _, f := range fields {
		if k, _, ok := strings.Cut(f, "="); ok && slices.Contains(tlsFields, strings.ToLower(k)) {
			return true
		}
	}
	return false
}

// frontendOptions returns the frontend options of the build, which builds
// into p.layoutDir() ("" for a temporary directory). The display is
// Plan.Build's to take.
func (o *buildOptions) frontendOptions(contextDir string, p *buildPlan) frontend.Options {
	return frontend.Options{
		ContextDir:     contextDir,
		Dockerfile:     o.file,
		DockerfileName: o.fileName,
		Tags:           p.tags,
		Platforms:      o.platforms,
		BuildArgs:      o.buildArgs,
		Target:         o.target,
		Secrets:        o.secrets,
		SSH:            o.ssh,
		BuildContexts:  o.buildContexts,
		Labels:         o.labels,
		Annotations:    o.annotations,
		NoCache:        o.noCache,
		NoCacheFilter:  o.noCacheFilter,
		Pull:           o.pull,
		CgroupParent:   o.cgroupParent,
		ExportAttrs:    p.exportAttrs,
		CacheFrom:      o.cacheFrom,
		CacheTo:        o.cacheTo,
		AddHosts:       o.addHosts,
		Network:        o.network,
		ShmSize:        o.shmSize,
		Ulimits:        o.ulimits,
		Allow:          o.allow,
		Provenance:     p.provenance,
		// buildkitd reaches registry caches; the hosts named for affix's
		// own pushes are the ones it is told to reach over plain HTTP.
		InsecureRegistry: o.registryOptions.plain,
		Builder:          p.builder,
		Nodes:            p.nodes,
		TLS:              o.tls,
		Output:           p.layoutDir(),
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

// runBuild checks the build's options, builds CONTEXT and publishes what
// the outputs name.
func runBuild(cmd *cobra.Command, g *globalOptions, contextDir string, o buildOptions) error {
	p, err := o.plan()
	if err != nil {
		return err
	}
	outputs := []outputFile{{"--iidfile", o.iidFile}, {"--metadata-file", o.metadataFile}}
	if err := checkOutputClash(outputs, contextDir, o.file, p.output); err != nil {
		return usageError(err)
	}
	if p.output != nil && p.output.dest == "-" && isTerminal(cmd.OutOrStdout()) {
		// As buildx: a tar is no display.
		return usageError(fmt.Errorf("--output type=oci with dest=- or no dest writes the layout tar to stdout, which is a terminal; redirect it to a file or pipe, or give dest=PATH"))
	}
	if p.call != nil {
		// --call builds nothing and writes neither file: an earlier
		// build's stay.
		outputs = nil
	}
	if err := removeOldOutputs(cmd.Context(), outputs); err != nil {
		return err
	}
	switch {
	case o.file == "-" && contextDir == "-":
		return usageError(fmt.Errorf("-f - and CONTEXT -: stdin can hold the Dockerfile or the context, not both"))
	case o.file == "-":
		// -f -: the Dockerfile on stdin, as buildx reads it.
		path, tmp, err := stdinDockerfile(cmd.InOrStdin())
		if err != nil {
			return err
		}
		defer tmp.Remove()
		o.file, o.fileName = path, "the Dockerfile on stdin (-f -)"
	case contextDir == "-":
		// CONTEXT -: a tar of the context, or a Dockerfile alone, on
		// stdin, as docker build - reads it.
		dir, tmp, err := stdinContext(cmd.InOrStdin(), o.file)
		if err != nil {
			return err
		}
		defer tmp.Remove()
		contextDir = dir
		switch {
		case o.file == "":
			o.fileName = "the Dockerfile of the context on stdin (CONTEXT -)"
		case !filepath.IsAbs(o.file):
			// As docker build -: -f names a file of the context.
			o.fileName = o.file + " of the context on stdin (CONTEXT -)"
			o.file = filepath.Join(dir, o.file)
		}
	}
	// The frontend checks what the flags name (the context, the
	// Dockerfile, the builders and their TLS files) and which builder
	// builds which platform; its warnings come from that assignment.
	if p.frontend, err = frontend.NewPlan(o.frontendOptions(contextDir, p)); err != nil {
		return buildError(err)
	}
	p.autoMount(p.frontend.BaseImage())
	if p.call != nil {
		return runCall(cmd, p, p.call, o.iidFile != "" || o.metadataFile != "")
	}
	err = build(cmd, g, o, p)
	for _, r := range p.repos {
		if err != nil && strings.Contains(err.Error(), r.ref.Registry) {
			return hintHTTP(err, r.ref.Registry)
		}
	}
	return err
}

// outputFile is a file a flag names for the build to write ("" for none).
type outputFile struct{ flag, path string }

// checkOutputClash refuses an output file that is the Dockerfile (-f,
// else CONTEXT/Dockerfile), the --output dest (out, nil for none) or
// another output file, and one that is stdout when the layout tar goes
// there (dest=-): the build would remove or overwrite its own input or
// output. Paths are the same when they are the same cleaned absolute path,
// or name the same existing file (through a symlink or a hard link).
func checkOutputClash(files []outputFile, contextDir, dockerfile string, out *ociOutput) error {
	for i, f := range files {
		for _, g := range files[i+1:] {
			if f.path != "" && g.path != "" && samePath(f.path, g.path) {
				return fmt.Errorf("%s %s: is the %s %s (give another file)", g.flag, g.path, f.flag, f.path)
			}
		}
		if out != nil && out.dest == "-" && f.path != "" && isStdout(f.path) {
			return fmt.Errorf("%s %s: is stdout, where --output dest=- writes the layout tar (give another file)", f.flag, f.path)
		}
	}
	if dockerfile == "" && contextDir != "-" {
		dockerfile = filepath.Join(contextDir, "Dockerfile")
	}
	others := []outputFile{{"-f", dockerfile}}
	if out != nil {
		others = append(others, outputFile{"--output dest", out.dest})
	}
	for _, f := range files {
		for _, o := range others {
			if f.path != "" && o.path != "" && o.path != "-" && samePath(f.path, o.path) {
				return fmt.Errorf("%s %s: is the %s %s (give another file)", f.flag, f.path, o.flag, o.path)
			}
		}
	}
	return nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// isStdout reports whether p names the file this process's stdout is
// (/dev/stdout, /dev/fd/1, the terminal or pipe it is).
func isStdout(p string) bool {
	fo, err1 := os.Stdout.Stat()
	fp, err2 := os.Stat(p)
	return err1 == nil && err2 == nil && os.SameFile(fo, fp)
}

// samePath reports whether a and b name the same file: the same absolute
// path, or the same existing file.
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	ab, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == ab {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// removeOldOutputs removes the regular files that files name, in order,
// as buildx removes its --iidfile before it builds: a build that fails
// then leaves no digest of an earlier one for a CI step to pick up. They
// come back if the run of ctx ends in a usage error (removeEarlier). A
// symlink, FIFO or device (--iidfile /dev/stdout) is left alone and
// written through after the build, as before. plan has checked the paths
// (not directories, in directories that take new files).
func removeOldOutputs(ctx context.Context, files []outputFile) error {
	for _, f := range files {
		if f.path == "" {
			continue
		}
		fi, err := os.Lstat(f.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil && !fi.Mode().IsRegular() {
			continue
		}
		if err == nil {
			err = removeEarlier(ctx, f.path, fi)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s %s: removing the file of an earlier build: %w", f.flag, f.path, err)
		}
	}
	return nil
}

// stdinContext unpacks the build context on r (CONTEXT -) into a
// temporary directory, as docker build - does (contexttar.Read), and
// returns it and the directory to remove when the build is done. A
// Dockerfile alone on stdin, with -f (file) naming another, is refused:
// which one is meant cannot be told.
func stdinContext(r io.Reader, file string) (string, *tmpdir.Dir, error) {
	tmp, err := tmpdir.Make("", "affix-context-")
	if err != nil {
		return "", nil, fmt.Errorf("CONTEXT -: %w", err)
	}
	dockerfile, err := contexttar.Read(r, tmp.Path)
	if err == nil && dockerfile && file != "" {
		err = usageError(fmt.Errorf("CONTEXT - is a Dockerfile, and -f %s names another: give one", file))
	}
	if errors.Is(err, contexttar.ErrUnsupported) {
		err = usageError(err)
	}
	if err != nil {
		tmp.Remove()
		return "", nil, fmt.Errorf("CONTEXT - (stdin): %w", err)
	}
	return tmp.Path, tmp, nil
}

// maxStdinDockerfile bounds the Dockerfile -f - reads from stdin.
const maxStdinDockerfile = 16 << 20

// stdinDockerfile writes the Dockerfile r holds (-f -) into a temporary
// directory, as buildx does, and returns its path and the directory to
// remove when the build is done. A Dockerfile over maxStdinDockerfile is
// refused.
func stdinDockerfile(r io.Reader) (string, *tmpdir.Dir, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxStdinDockerfile+1))
	if err != nil {
		return "", nil, fmt.Errorf("-f -: reading the Dockerfile from stdin: %w", err)
	}
	if len(data) > maxStdinDockerfile {
		return "", nil, usageError(fmt.Errorf("-f -: the Dockerfile on stdin is over %d MiB", maxStdinDockerfile>>20))
	}
	tmp, err := tmpdir.Make("", "affix-dockerfile-")
	if err != nil {
		return "", nil, fmt.Errorf("-f -: %w", err)
	}
	path := filepath.Join(tmp.Path, "Dockerfile")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tmp.Remove()
		return "", nil, fmt.Errorf("-f -: %w", err)
	}
	return path, tmp, nil
}
