package frontend

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fsutil"
)

// DefaultAddress is the buildkitd address used when Options.Builder is
// empty and BUILDKIT_HOST is not set.
const DefaultAddress = "unix:///run/buildkit/buildkitd.sock"

// DefaultConnectTimeout bounds the connection check of each builder node
// when Options.ConnectTimeout is zero.
const DefaultConnectTimeout = 15 * time.Second

// Options configure Build. The string forms are those of docker buildx
// build's flags, so a command passes its flag values through unchanged.
type Options struct {
	// ContextDir is the build context directory; empty means ".". It is
	// always a local directory: a git repository or URL (what buildx
	// takes for a remote context) that is not a directory here is
	// ErrInvalidOption saying so.
	ContextDir string
	// Dockerfile is the Dockerfile path (-f); empty means
	// ContextDir/Dockerfile. A relative path is relative to the working
	// directory, as with buildx.
	Dockerfile string
	// DockerfileName is how messages name the Dockerfile; empty means
	// its path (a caller that wrote stdin's Dockerfile to a temporary
	// file names it as the user gave it).
	DockerfileName string
	// Tags name the image in the layout's index.json
	// (io.containerd.image.name, org.opencontainers.image.ref.name); they
	// are normalized ("app" is docker.io/library/app:latest). Nothing is
	// pushed. Empty means the index.json entry is named "latest".
	Tags []string
	// Platforms are the platforms to build, os/arch[/variant], an
	// architecture alone (on this program's OS: "arm64" is linux/arm64 on
	// Linux, as buildx takes it) or "local" (the platform this program
	// runs on), repeated or comma-separated,
	// in the order the image index lists them. They are normalized and a
	// duplicate (linux/arm64 after linux/arm64/v8) is dropped, as buildx
	// does. Empty means the platforms of Nodes, in their order, or else
	// the builder's default platform.
	Platforms []string
	// BuildArgs are KEY=VALUE; a bare KEY takes its value from the
	// environment and is skipped when it is unset there.
	BuildArgs []string
	// Target is the stage to build; empty means the last one. It must be
	// a stage of the Dockerfile (compared ignoring case, as the frontend
	// does), checked when the Dockerfile parses here.
	Target string
	// Secrets are id=ID[,src=PATH] or id=ID,env=VAR (type=file|env may
	// be given as well); without src or env, the environment variable ID
	// is used if set, else the file ID (type=env: the variable ID, which
	// must be set; type=file: the file ID).
	Secrets []string
	// SSH are "default" or ID[=SOCKET_OR_KEY[,...]]: agent sockets or
	// keys to forward for RUN --mount=type=ssh. An ID without a path
	// ("default", "default=") uses $SSH_AUTH_SOCK.
	SSH []string
	// BuildContexts are NAME=VALUE named contexts: a local directory,
	// docker-image://REF, oci-layout://PATH[:TAG][@DIGEST], or a git or
	// https URL (passed through to BuildKit; a git reference without a
	// scheme, github.com/ORG/REPO[#REF[:DIR]], is sent as
	// https://github.com/ORG/REPO.git[#REF[:DIR]]). NAME is normalized as
	// the Dockerfile frontend looks it up, as buildx does:
	// docker.io/library/alpine:latest is alpine (NAME::PLATFORM keeps
	// its platform). Without TAG or DIGEST an
	// oci-layout context is the image tagged latest, else the layout's
	// only image (SBOMs and other artifacts beside it do not count).
	BuildContexts []string
	// Labels are KEY=VALUE image config labels; a bare KEY has an empty
	// value.
	Labels []string
	// Annotations are [TYPES:]KEY=VALUE OCI annotations, as buildx's
	// --annotation: TYPES is a comma-separated list of manifest (the
	// default), manifest-descriptor, index and index-descriptor, each set
	// ("index,manifest:key=value"); [PLATFORM] limits a manifest type to
	// one platform ("manifest[linux/arm64]:key=value"). Everything before
	// the first colon of the key is the type list, so a key with a colon
	// needs a type ("manifest:org.example:key=value"); an unknown type is
	// ErrInvalidOption.
	Annotations []string
	// NoCache builds every step anew.
	NoCache bool
	// NoCacheFilter are the stages to build anew without the cache, as
	// buildx's --no-cache-filter: stage names, comma-separated or
	// repeated, each a stage of the Dockerfile. NoCache wins.
	NoCacheFilter []string
	// Pull asks the registry again for every image that FROM or a
	// docker-image:// context names, as buildx's --pull, instead of
	// using what buildkitd has already.
	Pull bool
	// CgroupParent is the parent cgroup of RUN steps, as buildx's
	// --cgroup-parent; empty means buildkitd's default.
	CgroupParent string
	// AddHosts are HOST:IP (or HOST=IP, or HOST=IP,IP for several
	// addresses) entries for /etc/hosts of RUN steps, one a value: a
	// command splits buildx's comma-separated flag first. host-gateway is
	// ErrInvalidOption (buildx resolves it only with Docker Engine).
	AddHosts []string
	// Network is the network of RUN steps: "" or "default" (the
	// builder's), "none", or "host" (which needs buildkitd to allow the
	// network.host entitlement, and is asked for here).
	Network string
	// ShmSize is the size of /dev/shm in RUN steps ("64m"); empty means
	// BuildKit's default.
	ShmSize string
	// Ulimits are NAME=SOFT[:HARD] resource limits of RUN steps.
	Ulimits []string
	// Allow are entitlements the build asks for (network.host,
	// security.insecure, device[=NAME]); comma-separated or repeated.
	Allow []string
	// Provenance asks for an SLSA provenance attestation, as buildx's
	// --provenance: "" or "false" none, "true" mode=min, else its
	// attributes (mode=min|max,...). It lands in the image index as a
	// BuildKit attestation manifest and makes the index digest differ
	// from build to build.
	Provenance string
	// CacheFrom are build caches to import, as buildx's --cache-from:
	// type=registry,ref=REF | type=local,src=DIR | type=gha | type=s3 |
	// type=azblob, with their BuildKit attributes, or a bare REF (a
	// registry cache). Every node imports every one.
	CacheFrom []string
	// CacheTo are build caches to export, as buildx's --cache-to: the
	// types of CacheFrom (local with dest=DIR) and type=inline;
	// mode=min (the default) or max. Every node exports to every one: with
	// several nodes, a registry or local cache holds what the node that
	// exported last built.
	CacheTo []string
	// InsecureRegistry reports whether buildkitd reaches a registry host
	// over plain HTTP: registry caches there get registry.insecure=true.
	// nil means none.
	InsecureRegistry func(host string) bool
	// SourceDateEpoch is the SOURCE_DATE_EPOCH to build with: seconds
	// since the Unix epoch (at most MaxSourceDateEpoch), or a value BuildKit's Dockerfile frontend
	// resolves itself: "context" (the main context's commit time; a local
	// directory, which affix's context always is, gives none), the name
	// of a build context (a git commit time, an http Last-Modified) or of
	// a stage (FROM scratch with one remote ADD). Empty means the
	// SOURCE_DATE_EPOCH build argument, else the environment variable,
	// else none; a Dockerfile's ARG SOURCE_DATE_EPOCH default is not
	// seen here. When set, it is passed as the build argument and layer
	// and file timestamps are clamped to it (the exporter's
	// rewrite-timestamp, which buildx sets only when asked), so an
	// identical rebuild gives the same image index digest.
	// Result.SourceDateEpoch is the epoch only when it is an integer.
	SourceDateEpoch string
	// ExportAttrs are extra attributes of BuildKit's oci exporter, the
	// keys of buildx's --output type=oci,... other than type, dest and
	// tar: compression (uncompressed, gzip, estargz or zstd),
	// compression-level (0-9 for gzip and estargz, 0-22 for zstd),
	// force-compression (true recompresses base image layers too),
	// oci-mediatypes (only true: SBOM referrers need OCI media types) and
	// rewrite-timestamp (true is implied by SourceDateEpoch; false with
	// one is refused). Any other key, annotations included (they are
	// Annotations), is ErrInvalidOption.
	ExportAttrs map[string]string
	// Builder is the buildkitd address: unix://PATH, tcp://HOST:PORT,
	// docker-container://NAME, podman-container://NAME,
	// nerdctl-container://NAME, kube-pod://POD[?namespace=..&context=..]
	// or ssh://USER@HOST[:PORT]. Empty means $BUILDKIT_HOST, else
	// DefaultAddress. With Nodes, it builds only the platforms that no
	// node is given for, and only when it or $BUILDKIT_HOST is set
	// (DefaultAddress is never a fallback for nodes).
	Builder string
	// Nodes map platforms to builders, one per entry:
	// PLATFORM=ADDRESS[,cacert=PATH][,cert=PATH][,key=PATH][,servername=NAME].
	// Each node builds its platforms concurrently with the others; the
	// results are merged into one layout with one image index.
	Nodes []string
	// TLS configures TLS for tcp:// builders; a node's own TLS fields
	// replace the matching field here, one by one.
	TLS TLSOptions
	// ConnectTimeout bounds the check that each builder answers, before
	// any build starts; zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Output is the directory to write the OCI layout to. It must not
	// exist or be empty. Empty means a new temporary directory
	// (Result.Layout names it), which Result.Close removes.
	Output string
	// Progress is the display Build feeds; nil displays nothing. NewPlan
	// does not use it (Plan.Build takes the display).
	Progress *Progress
	// LookupEnv reads the environment (bare build arguments,
	// SOURCE_DATE_EPOCH, BUILDKIT_HOST, DOCKER_CONFIG, env secrets); nil means
	// os.LookupEnv.
	LookupEnv func(key string) (string, bool)
}

// TLSOptions are the TLS files and server name of a tcp:// builder. TLS is
// used when any field is set; without CACert the system roots verify the
// server. ServerName defaults to the address's host.
type TLSOptions struct {
	CACert     string
	Cert       string
	Key        string
	ServerName string
}

func (t TLSOptions) enabled() bool { return t != TLSOptions{} }

// node is one buildkitd.
type node struct {
	addr string
	tls  TLSOptions
}

func (n node) String() string { return n.addr }

// group is the platforms that one node builds in one solve. An empty
// platform list means the node's default platform.
type group struct {
	node      node
	platforms []ocispec.Platform
}

// annotation is an exporter annotation attribute limited to one platform.
type annotation struct {
	platform ocispec.Platform
	key      string // exporter attribute key
	value    string
}

// plan is Options parsed, validated and resolved: what every solve needs.
type plan struct {
	contextDir string
	dockerfile string // path
	// dockerfileName names the Dockerfile in messages
	// (Options.DockerfileName, else its path).
	dockerfileName string
	dockerfileDir  string
	// attrs are the frontend attributes common to every node.
	attrs map[string]string
	// exportAttrs are the oci exporter attributes common to every node.
	exportAttrs map[string]string
	// platAnnotations go only to the node building their platform.
	platAnnotations []annotation
	// locals maps local mount names to directories.
	locals map[string]string
	// ociStores maps store ids to OCI layout directories.
	ociStores map[string]string
	secrets   []secretsprovider.Source
	// cacheImports and cacheExports are shared by every solve; each
	// solve gets its own copy (cloneCache).
	cacheImports []client.CacheOptionsEntry
	cacheExports []client.CacheOptionsEntry
	// s3Creds adds the client's AWS credentials to s3 caches, once, at
	// the first Build (addS3Credentials).
	s3Creds sync.Once
	// entitlements are allowed for every solve.
	entitlements []string
	ssh          []sshprovider.AgentConfig
	// epoch is SOURCE_DATE_EPOCH when it is an integer; hasEpoch is
	// whether one is given at all.
	epoch    *time.Time
	hasEpoch bool
	// stages are the Dockerfile's stage names, read once by checkStage
	// (stagesRead); stagesOK is false when the Dockerfile did not parse
	// here, and then every name passes.
	stages     []string
	stagesRead bool
	stagesOK   bool
	platforms  []ocispec.Platform
	groups     []group
	names      []string
	output     string
	timeout    time.Duration
	// dockerConfig holds the registry credentials buildkitd asks for.
	dockerConfig *configfile.ConfigFile
	// nodes are Options.Nodes, parsed (groups assign the platforms to
	// them and to the default builder).
	nodes []mappedNode
	// warnings name settings the build ignores (tlsWarnings) or takes
	// otherwise than written (an env secret whose variable is unset).
	warnings []string
}

func optErr(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidOption)
}

// optWrap is optErr with a cause: the message, then cause, both wrapped,
// so that errors.Is and errors.As find the cause (fs.ErrPermission, a
// *fs.PathError) as well as ErrInvalidOption.
func optWrap(cause error, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %w", fmt.Sprintf(format, args...), cause, ErrInvalidOption)
}

// Plan is Options validated and resolved, before any builder is
// contacted: what Plan.Build builds, and what Warnings names.
type Plan struct {
	p *plan
}

// NewPlan validates opts and resolves what they name: the context
// directory and Dockerfile, files of secrets, contexts and caches, the
// builder addresses and their TLS files, and which builder builds which
// platform ($BUILDKIT_HOST, read through opts.LookupEnv, is the default
// builder when opts.Builder is empty). It reads the file system and the
// environment but contacts no builder and writes nothing. Bad options
// are ErrInvalidOption, ErrInvalidPlatform or ErrNoNode, wrapped with
// the input they name. opts.Progress is not used: Plan.Build takes the
// display.
func NewPlan(opts Options) (*Plan, error) {
	p, err := newPlan(opts)
	if err != nil {
		return nil, err
	}
	return &Plan{p: p}, nil
}

// Warnings are the settings the build will ignore or take otherwise than
// written, one sentence each, for the user to read before the build
// starts: the TLS fields of a node that is not tcp://, and Options.TLS
// when no builder that builds a platform is tcp:// (TLS applies to
// tcp:// builders only), naming the flags of affix build (--builder,
// --builder-tls-*) that set them; a --secret whose environment variable
// is not set (the build sees it empty, as BuildKit's store reads it).
func (pl *Plan) Warnings() []string { return slices.Clone(pl.p.warnings) }

// newPlan validates opts and resolves what it names (directories, files,
// addresses). It reads the file system and the environment but starts
// nothing. The steps run in a fixed order: the first bad option is the
// error, and later steps use what earlier ones resolved (the epoch may
// name a context, the groups need the platforms).
func newPlan(opts Options) (*plan, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	p := newPlanDefaults(opts)
	if err := p.setDirs(opts.ContextDir, opts.Dockerfile, opts.DockerfileName); err != nil {
		return nil, err
	}
	if err := p.loadDockerConfig(lookup); err != nil {
		return nil, err
	}
	if err := p.setSolveAttrs(opts); err != nil {
		return nil, err
	}
	args, err := parseBuildArgs(opts.BuildArgs, lookup)
	if err != nil {
		return nil, err
	}
	// BuildKit lets this build-arg override the exporter's multi-platform
	// attribute: false exports a bare manifest, not the index affix
	// publishes its SBOMs beside (found only after the build).
	if v := args["BUILDKIT_MULTI_PLATFORM"]; v != "" { // BuildKit ignores an empty one
		if b, err := strconv.ParseBool(v); err != nil || !b {
			return nil, optErr("--build-arg BUILDKIT_MULTI_PLATFORM=%s: affix always builds an image index (a single platform is an index of one), with its SBOMs attached to the platform manifests; leave the build-arg out", v)
		}
	}
	addProxyArgs(args, p.dockerConfig)
	if err := p.setCaches(opts.CacheFrom, opts.CacheTo, opts.InsecureRegistry); err != nil {
		return nil, err
	}
	if err := p.setSandbox(opts); err != nil {
		return nil, err
	}
	if err := p.setProvenance(opts.Provenance); err != nil {
		return nil, err
	}
	if err := p.addContexts(opts.BuildContexts); err != nil {
		return nil, err
	}
	// After the contexts: SOURCE_DATE_EPOCH may name one.
	if err := p.setEpoch(opts.SourceDateEpoch, args, lookup); err != nil {
		return nil, err
	}
	if err := p.setExportAttrs(opts.ExportAttrs); err != nil {
		return nil, err
	}
	if err := p.setArgsAndLabels(args, opts.Labels); err != nil {
		return nil, err
	}
	if err := p.setSecretsAndSSH(opts.Secrets, opts.SSH, lookup); err != nil {
		return nil, err
	}
	if err := p.setNames(opts.Tags); err != nil {
		return nil, err
	}
	if p.platforms, err = parsePlatforms(opts.Platforms); err != nil {
		return nil, err
	}
	if err := p.setGroups(defaultBuilderOf(opts.Builder, lookup), opts.Nodes, opts.TLS); err != nil {
		return nil, err
	}
	p.warnings = append(p.warnings, p.tlsWarnings(opts.TLS)...)
	p.warnings = append(p.warnings, p.sharedCacheWarnings()...)
	if err := p.addAnnotations(opts.Annotations); err != nil {
		return nil, err
	}
	return p, nil
}

// newPlanDefaults returns the plan before any option is parsed: the
// attributes every build sets (a multi-platform OCI layout directory),
// empty maps to fill, the output directory and the connect timeout
// (DefaultConnectTimeout when opts.ConnectTimeout is not positive).
func newPlanDefaults(opts Options) *plan {
	p := &plan{
		attrs:       map[string]string{"multi-platform": "true"},
		exportAttrs: map[string]string{"tar": "false", "oci-mediatypes": "true"},
		locals:      map[string]string{},
		ociStores:   map[string]string{},
		output:      opts.Output,
		timeout:     opts.ConnectTimeout,
	}
	if p.timeout <= 0 {
		p.timeout = DefaultConnectTimeout
	}
	return p
}

// loadDockerConfig reads the Docker config.json ($DOCKER_CONFIG, read
// through lookup, else the default directory) whose credentials buildkitd
// asks for. A broken config.json is an error, not a build that pulls
// without the credentials it names.
func (p *plan) loadDockerConfig(lookup func(string) (string, bool)) error {
	cfgDir, ok := lookup(config.EnvOverrideConfigDir)
	if !ok || cfgDir == "" {
		cfgDir = config.Dir()
	}
	cfg, err := config.Load(cfgDir)
	if err != nil {
		return fmt.Errorf("reading Docker credentials in %s: %w", cfgDir, err)
	}
	if !cfg.ContainsAuth() {
		// As the docker CLI: an installed credential helper is the store.
		cfg.CredentialsStore = credentials.DetectDefaultStore(cfg.CredentialsStore)
	}
	p.dockerConfig = cfg
	return nil
}

// setSolveAttrs sets the frontend attributes that choose what is built
// and what is reused: the target stage, the cache filters, pulling and
// the cgroup parent.
func (p *plan) setSolveAttrs(opts Options) error {
	if opts.Target != "" {
		// As --no-cache-filter: a stage the Dockerfile does not have fails
		// here, before a builder is contacted.
		if err := p.checkStage(opts.Target); err != nil {
			return fmt.Errorf("target %q: %w", opts.Target, err)
		}
		p.attrs["target"] = opts.Target
	}
	if err := p.setNoCache(opts.NoCache, opts.NoCacheFilter); err != nil {
		return err
	}
	if opts.Pull {
		p.attrs["image-resolve-mode"] = "pull"
	}
	if opts.CgroupParent != "" {
		p.attrs["cgroup-parent"] = opts.CgroupParent
	}
	return nil
}

// setCaches parses the caches to import (from) and export (to); the
// warnings name those left out.
func (p *plan) setCaches(from, to []string, insecure func(host string) bool) error {
	var err error
	var wFrom, wTo []string
	if p.cacheImports, wFrom, err = parseCache(false, from, insecure); err != nil {
		return err
	}
	if p.cacheExports, wTo, err = parseCache(true, to, insecure); err != nil {
		return err
	}
	p.warnings = append(p.warnings, wFrom...)
	p.warnings = append(p.warnings, wTo...)
	return nil
}

// addContexts adds the named build contexts, in order.
func (p *plan) addContexts(contexts []string) error {
	for _, c := range contexts {
		if err := p.addContext(c); err != nil {
			return err
		}
	}
	return nil
}

// addProxyArgs adds to args the proxies of the Docker config cfg
// ("proxies": {"default": {...}}) as the build arguments HTTP_PROXY,
// HTTPS_PROXY, NO_PROXY, FTP_PROXY and ALL_PROXY, each unless given, as
// buildx does: RUN steps behind a corporate proxy reach the network the
// same way. The Dockerfile frontend keeps these arguments out of the cache
// key and the image history.
func addProxyArgs(args map[string]string, cfg *configfile.ConfigFile) {
	if cfg == nil {
		return
	}
	proxy := cfg.Proxies["default"]
	for k, v := range map[string]string{
		"HTTP_PROXY":  proxy.HTTPProxy,
		"HTTPS_PROXY": proxy.HTTPSProxy,
		"NO_PROXY":    proxy.NoProxy,
		"FTP_PROXY":   proxy.FTPProxy,
		"ALL_PROXY":   proxy.AllProxy,
	} {
		if _, given := args[k]; !given && v != "" {
			args[k] = v
		}
	}
}

// setArgsAndLabels sets the parsed build arguments and parses labels into
// frontend attributes.
func (p *plan) setArgsAndLabels(args map[string]string, labels []string) error {
	for k, v := range args {
		p.attrs["build-arg:"+k] = v
	}
	parsed, err := parseLabels(labels)
	if err != nil {
		return err
	}
	for k, v := range parsed {
		p.attrs["label:"+k] = v
	}
	return nil
}

// sharedCacheWarnings says, when several builder nodes build, that each
// exports to every --cache-to but inline, so that the destination keeps
// the cache of the node that wrote last (as with a multi-node buildx
// builder), and the next build reuses only that node's steps.
func (p *plan) sharedCacheWarnings() []string {
	if len(p.groups) < 2 {
		return nil
	}
	var out []string
	for _, c := range p.cacheExports {
		if c.Type == "inline" {
			continue
		}
		where := "type=" + c.Type
		for _, k := range []string{"ref", "dest", "name", "scope"} {
			if v := c.Attrs[k]; v != "" {
				where += "," + k + "=" + v
				break
			}
		}
		out = append(out, fmt.Sprintf("--cache-to %s: each of the %d builder nodes exports its cache there, and the last export replaces the others': the next build reuses only that node's steps (type=inline keeps each platform's cache in its image)", where, len(p.groups)))
	}
	return out
}

// setSecretsAndSSH parses the secrets (env secrets read through lookup)
// and the SSH agents to forward.
func (p *plan) setSecretsAndSSH(secrets, ssh []string, lookup func(string) (string, bool)) error {
	for _, s := range secrets {
		src, err := parseSecret(s, lookup)
		if err != nil {
			return err
		}
		if _, ok := lookup(src.Env); src.Env != "" && !ok {
			p.warnings = append(p.warnings, fmt.Sprintf("secret %q: environment variable %s is not set: the build sees the secret empty, as with buildx", s, src.Env))
		}
		p.secrets = append(p.secrets, src)
	}
	var err error
	p.ssh, err = parseSSH(ssh)
	return err
}

// setNames normalizes the tags the layout's index.json names the image
// with, and passes them to the exporter.
func (p *plan) setNames(tags []string) error {
	var err error
	if p.names, err = normalizeTags(tags); err != nil {
		return err
	}
	if len(p.names) > 0 {
		p.exportAttrs["name"] = strings.Join(p.names, ",")
	}
	return nil
}

// defaultBuilderOf returns the builder of the platforms no node is given
// for: builder, else $BUILDKIT_HOST (read through lookup), else
// DefaultAddress (with set false: it builds nothing when nodes are given).
func defaultBuilderOf(builder string, lookup func(string) (string, bool)) defaultBuilder {
	def := defaultBuilder{addr: builder, set: builder != ""}
	if !def.set {
		if v, _ := lookup("BUILDKIT_HOST"); v != "" {
			def = defaultBuilder{addr: v, set: true, env: true}
		}
	}
	if def.addr == "" {
		def.addr = DefaultAddress
	}
	return def
}

// addAnnotations adds the OCI annotations, in order.
func (p *plan) addAnnotations(annotations []string) error {
	for _, a := range annotations {
		if err := p.addAnnotation(a); err != nil {
			return err
		}
	}
	return nil
}

// setDirs checks the context directory and the Dockerfile (not stdin, the
// context a local directory, the Dockerfile a regular file) and sets their
// absolute paths, their local mounts and the filename attribute; a
// Dockerfile that is a symlink is the file it points to (its directory
// and name are sent). Messages name the Dockerfile name, when not "",
// rather than its path, else the path as given (made absolute).
func (p *plan) setDirs(contextDir, dockerfile, name string) error {
	if contextDir == "" {
		contextDir = "."
	}
	if contextDir == "-" || dockerfile == "-" {
		return optErr("reading the context or Dockerfile from stdin is not supported")
	}
	fi, err := os.Stat(contextDir)
	if err != nil && isRemoteContext(contextDir) {
		return optErr("context %q: a remote build context (git repository or URL) is not supported: the main context is a local directory (clone or download it first; a named --build-context may be remote)", contextDir)
	}
	if err != nil {
		return fmt.Errorf("context %q: %w: %w", contextDir, ErrInvalidOption, err)
	}
	if !fi.IsDir() {
		return optErr("context %q is not a directory", contextDir)
	}
	if dockerfile == "" {
		dockerfile = filepath.Join(contextDir, "Dockerfile")
	}
	dockerfile = lowercaseDockerfile(dockerfile)
	shown := dockerfile
	fi, err = os.Stat(dockerfile)
	if name != "" {
		// The temporary path stdin's Dockerfile was written to means
		// nothing to the user.
		shown = name
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
	}
	if err != nil {
		return fmt.Errorf("dockerfile %q: %w: %w", shown, ErrInvalidOption, err)
	}
	if !fi.Mode().IsRegular() {
		return optErr("dockerfile %q is not a regular file", shown)
	}
	if p.contextDir, err = filepath.Abs(contextDir); err != nil {
		return err
	}
	abs, err := filepath.Abs(dockerfile)
	if err != nil {
		return err
	}
	p.dockerfileName = cmp.Or(name, abs)
	// A Dockerfile that is a symlink is sent as the link (BuildKit's file
	// sync follows links only within the directory it sends), and the
	// frontend then finds no file: send the directory and name it points
	// to, as the docker CLI does.
	p.dockerfile = abs
	if li, err := os.Lstat(abs); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		if p.dockerfile, err = filepath.EvalSymlinks(abs); err != nil {
			return fmt.Errorf("dockerfile %q: %w: %w", shown, ErrInvalidOption, err)
		}
	}
	p.dockerfileDir = filepath.Dir(p.dockerfile)
	p.locals["context"] = p.contextDir
	p.locals["dockerfile"] = p.dockerfileDir
	p.attrs["filename"] = filepath.Base(p.dockerfile)
	return nil
}

// lowercaseDockerfile returns the "dockerfile" beside a "Dockerfile"
// path that does not exist, when that directory holds one, as docker build
// and buildx take it; else p.
func lowercaseDockerfile(p string) string {
	if filepath.Base(p) != "Dockerfile" {
		return p
	}
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		return p
	}
	// A case-insensitive file system finds "Dockerfile" itself.
	lower := filepath.Join(filepath.Dir(p), "dockerfile")
	if _, err := os.Lstat(lower); err != nil {
		return p
	}
	return lower
}

// exportAttrsFor returns the exporter attributes of one group: the common
// ones and the platform annotations of its platforms.
func (p *plan) exportAttrsFor(g group) map[string]string {
	out := make(map[string]string, len(p.exportAttrs))
	for k, v := range p.exportAttrs {
		out[k] = v
	}
	for _, a := range p.platAnnotations {
		for _, pl := range g.platforms {
			if platforms.FormatAll(pl) == platforms.FormatAll(a.platform) {
				out[a.key] = a.value
			}
		}
		if len(g.platforms) == 0 {
			out[a.key] = a.value
		}
	}
	return out
}

// frontendAttrsFor returns the frontend attributes of one group.
func (p *plan) frontendAttrsFor(g group) map[string]string {
	out := make(map[string]string, len(p.attrs)+1)
	for k, v := range p.attrs {
		out[k] = v
	}
	if len(g.platforms) > 0 {
		out["platform"] = formatPlatforms(g.platforms)
	}
	// As buildx: with named contexts, a Dockerfile frontend image
	// (# syntax=) too old for them is refused rather than building FROM
	// the image a context was meant to replace.
	for k := range p.attrs {
		if strings.HasPrefix(k, "context:") {
			addCap(out, capContexts)
			break
		}
	}
	return out
}

func formatPlatforms(ps []ocispec.Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = platforms.FormatAll(p)
	}
	return strings.Join(s, ",")
}

// prepareOutput checks that dir, Options.Output, does not exist or is
// empty, and creates it. cleanup removes what the build wrote (the
// directory itself when prepareOutput created it). Without an output
// directory Build makes a temporary one (tmpdir.Make) instead.
func prepareOutput(dir string) (out string, cleanup func(), err error) {
	if dir, err = filepath.Abs(dir); err != nil {
		return "", nil, err
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		made, err := fsutil.MkdirAll(dir)
		if err != nil {
			return "", nil, fmt.Errorf("output %q: %w", dir, err)
		}
		// The parents it made too: a failed build leaves nothing behind.
		return dir, func() { os.RemoveAll(dir); fsutil.RemoveMade(dir, made) }, nil
	case err != nil:
		return "", nil, fmt.Errorf("output %q: %w: %w", dir, ErrInvalidOption, err)
	case len(entries) > 0:
		return "", nil, optErr("output %q is not empty", dir)
	}
	return dir, func() {
		// It was empty: everything in it is the build's.
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}, nil
}
