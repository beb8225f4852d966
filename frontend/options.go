package frontend

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/moby/buildkit/util/gitutil"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/go-csvvalue"
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
	// ContextDir is the build context directory; empty means ".".
	ContextDir string
	// Dockerfile is the Dockerfile path (-f); empty means
	// ContextDir/Dockerfile. A relative path is relative to the working
	// directory, as with buildx.
	Dockerfile string
	// Tags name the image in the layout's index.json
	// (io.containerd.image.name, org.opencontainers.image.ref.name); they
	// are normalized ("app" is docker.io/library/app:latest). Nothing is
	// pushed. Empty means the index.json entry is named "latest".
	Tags []string
	// Platforms are the platforms to build, os/arch[/variant], in the
	// order the image index lists them. Empty means the platforms of
	// Nodes, in their order, or else the builder's default platform.
	Platforms []string
	// BuildArgs are KEY=VALUE; a bare KEY takes its value from the
	// environment and is skipped when it is unset there.
	BuildArgs []string
	// Target is the stage to build; empty means the last one.
	Target string
	// Secrets are id=ID[,src=PATH] or id=ID,env=VAR (type=file|env may
	// be given as well); without src or env, the environment variable ID
	// is used if set, else the file ID.
	Secrets []string
	// SSH are "default" or ID[=SOCKET_OR_KEY[,...]]: agent sockets or
	// keys to forward for RUN --mount=type=ssh. "default" without a path
	// uses $SSH_AUTH_SOCK.
	SSH []string
	// BuildContexts are NAME=VALUE named contexts: a local directory,
	// docker-image://REF, oci-layout://PATH[:TAG][@DIGEST], or a git or
	// https URL (passed through to BuildKit).
	BuildContexts []string
	// Labels are KEY=VALUE image config labels.
	Labels []string
	// Annotations are [TYPE[PLATFORM]:]KEY=VALUE OCI annotations, TYPE
	// being manifest (the default), manifest-descriptor, index or
	// index-descriptor; PLATFORM limits a manifest annotation to one
	// platform ("manifest[linux/arm64]:key=value").
	Annotations []string
	// NoCache builds every step anew.
	NoCache bool
	// SourceDateEpoch is the SOURCE_DATE_EPOCH (seconds since the Unix
	// epoch) to build with. Empty means the SOURCE_DATE_EPOCH build
	// argument, else the environment variable, else none. When set,
	// it is passed as the build argument and layer and file timestamps
	// are clamped to it (the exporter's rewrite-timestamp), so an
	// identical rebuild gives the same image index digest.
	SourceDateEpoch string
	// Builder is the buildkitd address: unix://PATH, tcp://HOST:PORT,
	// docker-container://NAME, podman-container://NAME,
	// nerdctl-container://NAME, kube-pod://POD[?namespace=..&context=..]
	// or ssh://USER@HOST[:PORT]. Empty means $BUILDKIT_HOST, else
	// DefaultAddress. With Nodes, it builds only the platforms that no
	// node is given for, and only when set explicitly.
	Builder string
	// Nodes map platforms to builders, one per entry:
	// PLATFORM=ADDRESS[,cacert=PATH][,cert=PATH][,key=PATH][,servername=NAME].
	// Each node builds its platforms concurrently with the others; the
	// results are merged into one layout with one image index.
	Nodes []string
	// TLS configures TLS for tcp:// builders that do not set their own.
	TLS TLSOptions
	// ConnectTimeout bounds the check that each builder answers, before
	// any build starts; zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Output is the directory to write the OCI layout to. It must not
	// exist or be empty. Empty means a new temporary directory, which the
	// caller removes (Result.Layout names it).
	Output string
	// Progress is the display the build feeds; nil displays nothing.
	Progress *Progress
	// LookupEnv reads the environment (bare build arguments,
	// SOURCE_DATE_EPOCH, BUILDKIT_HOST, env secrets); nil means
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
	contextDir    string
	dockerfile    string // path, for messages
	dockerfileDir string
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
	ssh       []sshprovider.AgentConfig
	epoch     *time.Time
	platforms []ocispec.Platform
	groups    []group
	names     []string
	output    string
	timeout   time.Duration
}

func optErr(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidOption)
}

// newPlan validates opts and resolves what it names (directories, files,
// addresses). It reads the file system and the environment but starts
// nothing.
func newPlan(opts Options) (*plan, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
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
	if err := p.setDirs(opts.ContextDir, opts.Dockerfile); err != nil {
		return nil, err
	}
	if opts.Target != "" {
		p.attrs["target"] = opts.Target
	}
	if opts.NoCache {
		p.attrs["no-cache"] = ""
	}
	args, err := parseBuildArgs(opts.BuildArgs, lookup)
	if err != nil {
		return nil, err
	}
	epoch, err := resolveEpoch(opts.SourceDateEpoch, args, lookup)
	if err != nil {
		return nil, err
	}
	if epoch != nil {
		p.epoch = epoch
		args["SOURCE_DATE_EPOCH"] = strconv.FormatInt(epoch.Unix(), 10)
		p.exportAttrs["rewrite-timestamp"] = "true"
	}
	for k, v := range args {
		p.attrs["build-arg:"+k] = v
	}
	labels, err := parseKeyValues("label", opts.Labels)
	if err != nil {
		return nil, err
	}
	for k, v := range labels {
		p.attrs["label:"+k] = v
	}
	for _, s := range opts.Secrets {
		src, err := parseSecret(s, lookup)
		if err != nil {
			return nil, err
		}
		p.secrets = append(p.secrets, src)
	}
	if p.ssh, err = parseSSH(opts.SSH); err != nil {
		return nil, err
	}
	for _, c := range opts.BuildContexts {
		if err := p.addContext(c); err != nil {
			return nil, err
		}
	}
	if p.names, err = normalizeTags(opts.Tags); err != nil {
		return nil, err
	}
	if len(p.names) > 0 {
		p.exportAttrs["name"] = strings.Join(p.names, ",")
	}
	if p.platforms, err = parsePlatforms(opts.Platforms); err != nil {
		return nil, err
	}
	builder := opts.Builder
	explicit := builder != ""
	if builder == "" {
		builder, _ = lookup("BUILDKIT_HOST")
	}
	if builder == "" {
		builder = DefaultAddress
	}
	if err := p.setGroups(builder, explicit, opts.Nodes, opts.TLS); err != nil {
		return nil, err
	}
	for _, a := range opts.Annotations {
		if err := p.addAnnotation(a); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *plan) setDirs(contextDir, dockerfile string) error {
	if contextDir == "" {
		contextDir = "."
	}
	if contextDir == "-" || dockerfile == "-" {
		return optErr("reading the context or Dockerfile from stdin is not supported")
	}
	fi, err := os.Stat(contextDir)
	if err != nil {
		return fmt.Errorf("context %q: %w: %w", contextDir, ErrInvalidOption, err)
	}
	if !fi.IsDir() {
		return optErr("context %q is not a directory", contextDir)
	}
	if dockerfile == "" {
		dockerfile = filepath.Join(contextDir, "Dockerfile")
	}
	fi, err = os.Stat(dockerfile)
	if err != nil {
		return fmt.Errorf("dockerfile %q: %w: %w", dockerfile, ErrInvalidOption, err)
	}
	if !fi.Mode().IsRegular() {
		return optErr("dockerfile %q is not a regular file", dockerfile)
	}
	if p.contextDir, err = filepath.Abs(contextDir); err != nil {
		return err
	}
	if p.dockerfile, err = filepath.Abs(dockerfile); err != nil {
		return err
	}
	p.dockerfileDir = filepath.Dir(p.dockerfile)
	p.locals["context"] = p.contextDir
	p.locals["dockerfile"] = p.dockerfileDir
	p.attrs["filename"] = filepath.Base(p.dockerfile)
	return nil
}

// parseKeyValues parses KEY=VALUE entries; kind names them in errors.
func parseKeyValues(kind string, in []string) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for _, s := range in {
		k, v, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, optErr("%s %q: want KEY=VALUE", kind, s)
		}
		out[k] = v
	}
	return out, nil
}

// parseBuildArgs parses KEY=VALUE and bare KEY (from the environment,
// skipped when unset there).
func parseBuildArgs(in []string, lookup func(string) (string, bool)) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for _, s := range in {
		k, v, ok := strings.Cut(s, "=")
		if strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t") {
			return nil, optErr("build-arg %q: want KEY=VALUE or KEY", s)
		}
		if !ok {
			if v, ok = lookup(k); !ok {
				continue
			}
		}
		out[k] = v
	}
	return out, nil
}

// resolveEpoch returns the SOURCE_DATE_EPOCH to build with: explicit, else
// the build argument, else the environment; nil when none is set.
func resolveEpoch(explicit string, args map[string]string, lookup func(string) (string, bool)) (*time.Time, error) {
	v, from := explicit, "SourceDateEpoch"
	if v == "" {
		if a, ok := args["SOURCE_DATE_EPOCH"]; ok {
			v, from = a, "build-arg SOURCE_DATE_EPOCH"
		} else if e, ok := lookup("SOURCE_DATE_EPOCH"); ok {
			v, from = e, "environment SOURCE_DATE_EPOCH"
		}
	}
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil, optErr("%s %q: want a non-negative integer (seconds since 1970-01-01 UTC)", from, v)
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}

// parseSecret parses one --secret value as buildx does, and checks that
// the file or environment variable it names exists.
func parseSecret(s string, lookup func(string) (string, bool)) (secretsprovider.Source, error) {
	var src secretsprovider.Source
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return src, fmt.Errorf("secret %q: %w: %w", s, ErrInvalidOption, err)
	}
	typ := ""
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return src, optErr("secret %q: field %q: want key=value", s, f)
		}
		switch strings.ToLower(k) {
		case "type":
			if v != "file" && v != "env" {
				return src, optErr("secret %q: type %q: want file or env", s, v)
			}
			typ = v
		case "id":
			src.ID = v
		case "src", "source":
			src.FilePath = v
		case "env":
			src.Env = v
		default:
			return src, optErr("secret %q: unknown key %q", s, k)
		}
	}
	if typ == "env" && src.Env == "" {
		src.Env, src.FilePath = src.FilePath, ""
	}
	if src.ID == "" {
		return src, optErr("secret %q: no id", s)
	}
	if src.Env == "" && src.FilePath == "" {
		if _, ok := lookup(src.ID); ok && typ != "file" {
			src.Env = src.ID
		} else {
			src.FilePath = src.ID
		}
	}
	if src.Env != "" && src.FilePath != "" {
		return src, optErr("secret %q: give src or env, not both", s)
	}
	if src.Env != "" {
		if _, ok := lookup(src.Env); !ok {
			return src, optErr("secret %q: environment variable %s is not set", s, src.Env)
		}
		return src, nil
	}
	fi, err := os.Stat(src.FilePath)
	if err != nil {
		return src, fmt.Errorf("secret %q: %w: %w", s, ErrInvalidOption, err)
	}
	if fi.IsDir() {
		return src, optErr("secret %q: %s is a directory", s, src.FilePath)
	}
	return src, nil
}

// parseSSH parses --ssh values: ID[=PATH[,PATH...]].
func parseSSH(in []string) ([]sshprovider.AgentConfig, error) {
	var out []sshprovider.AgentConfig
	seen := map[string]bool{}
	for _, s := range in {
		id, paths, ok := strings.Cut(s, "=")
		if id == "" {
			return nil, optErr("ssh %q: want default or ID[=SOCKET_OR_KEY[,...]]", s)
		}
		if seen[id] {
			return nil, optErr("ssh %q: id %q given twice", s, id)
		}
		seen[id] = true
		cfg := sshprovider.AgentConfig{ID: id}
		if ok {
			for p := range strings.SplitSeq(paths, ",") {
				if p == "" {
					return nil, optErr("ssh %q: empty path", s)
				}
				if _, err := os.Stat(p); err != nil {
					return nil, fmt.Errorf("ssh %q: %w: %w", s, ErrInvalidOption, err)
				}
				cfg.Paths = append(cfg.Paths, p)
			}
		}
		out = append(out, cfg)
	}
	if len(out) > 0 {
		// Resolve sockets and load keys now, so a bad path or a missing
		// agent fails before the build starts.
		if _, err := sshprovider.NewSSHAgentProvider(out); err != nil {
			return nil, fmt.Errorf("ssh: %w: %w", ErrInvalidOption, err)
		}
	}
	return out, nil
}

// addContext adds a NAME=VALUE named build context.
func (p *plan) addContext(s string) error {
	name, v, ok := strings.Cut(s, "=")
	if !ok || name == "" || v == "" {
		return optErr("build-context %q: want NAME=VALUE", s)
	}
	key := "context:" + name
	if _, dup := p.attrs[key]; dup {
		return optErr("build-context %q: %s given twice", s, name)
	}
	switch {
	case strings.HasPrefix(v, "docker-image://"):
		if _, err := reference.ParseNormalizedNamed(strings.TrimPrefix(v, "docker-image://")); err != nil {
			return fmt.Errorf("build-context %q: %w: %w", s, ErrInvalidOption, err)
		}
		p.attrs[key] = v
	case strings.HasPrefix(v, "oci-layout://"):
		ref, err := p.ociLayoutContext(name, strings.TrimPrefix(v, "oci-layout://"))
		if err != nil {
			return fmt.Errorf("build-context %q: %w", s, err)
		}
		p.attrs[key] = ref
	case strings.HasPrefix(v, "target:"):
		return optErr("build-context %q: target: contexts are a bake feature", s)
	case strings.HasPrefix(v, "http://"), strings.HasPrefix(v, "https://"), gitutil.IsGitTransport(v):
		p.attrs[key] = v
	default:
		dir, err := filepath.Abs(v)
		if err != nil {
			return err
		}
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("build-context %q: %w: %w", s, ErrInvalidOption, err)
		}
		if !fi.IsDir() {
			return optErr("build-context %q: %s is not a directory", s, v)
		}
		local := name
		if local == "context" || local == "dockerfile" {
			local = "_" + local
		}
		p.locals[local] = dir
		p.attrs[key] = "local:" + local
	}
	return nil
}

// ociLayoutContext resolves PATH[:TAG][@DIGEST] to the form the Dockerfile
// frontend reads, oci-layout://STOREID:TAG@DIGEST, and registers the store.
func (p *plan) ociLayoutContext(name, v string) (string, error) {
	path, dgst, hasDigest := strings.Cut(v, "@")
	tag := ""
	if i := strings.LastIndex(path, ":"); i > strings.LastIndex(path, "/") {
		path, tag = path[:i], path[i+1:]
	}
	if path == "" {
		return "", optErr("no layout path")
	}
	dir, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, ocispec.ImageIndexFile))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return "", fmt.Errorf("%s: %w: %w", filepath.Join(dir, ocispec.ImageIndexFile), ErrInvalidOption, err)
	}
	if hasDigest {
		if err := digest.Digest(dgst).Validate(); err != nil {
			return "", fmt.Errorf("digest %q: %w: %w", dgst, ErrInvalidOption, err)
		}
	} else {
		var found []ocispec.Descriptor
		for _, d := range idx.Manifests {
			if tag == "" || d.Annotations[ocispec.AnnotationRefName] == tag || strings.HasSuffix(d.Annotations["io.containerd.image.name"], ":"+tag) {
				found = append(found, d)
			}
		}
		if len(found) != 1 {
			return "", optErr("%s: %d images match tag %q; name one with :TAG or @DIGEST", dir, len(found), tag)
		}
		dgst = found[0].Digest.String()
	}
	if tag == "" {
		tag = "latest"
	}
	id := "affix-" + digest.FromString(name + "\x00" + dir).Encoded()[:16]
	p.ociStores[id] = dir
	return "oci-layout://" + id + ":" + tag + "@" + dgst, nil
}

// normalizeTags normalizes image names as buildx does ("app" is
// docker.io/library/app:latest).
func normalizeTags(tags []string) ([]string, error) {
	var out []string
	for _, t := range tags {
		if strings.Contains(t, ",") {
			return nil, optErr("tag %q: contains a comma", t)
		}
		n, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return nil, fmt.Errorf("tag %q: %w: %w", t, ErrInvalidOption, err)
		}
		out = append(out, reference.TagNameOnly(n).String())
	}
	return out, nil
}

// parsePlatform parses and normalizes one os/arch[/variant].
func parsePlatform(s string) (ocispec.Platform, error) {
	if !strings.Contains(s, "/") {
		return ocispec.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]: %w", s, ErrInvalidPlatform)
	}
	pl, err := platforms.Parse(s)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("platform %q: %w: %w", s, ErrInvalidPlatform, err)
	}
	return platforms.Normalize(pl), nil
}

// parsePlatforms parses platforms (also comma-separated lists, as buildx
// accepts "linux/amd64,linux/arm64") and refuses duplicates.
func parsePlatforms(in []string) ([]ocispec.Platform, error) {
	var out []ocispec.Platform
	seen := map[string]string{}
	for _, s := range in {
		for one := range strings.SplitSeq(s, ",") {
			one = strings.TrimSpace(one)
			pl, err := parsePlatform(one)
			if err != nil {
				return nil, err
			}
			f := platforms.FormatAll(pl)
			if prev, ok := seen[f]; ok {
				return nil, fmt.Errorf("platform %q: same as %q: %w", one, prev, ErrInvalidPlatform)
			}
			seen[f] = one
			out = append(out, pl)
		}
	}
	return out, nil
}

// knownSchemes are the builder address schemes the BuildKit client dials
// (grpc itself, or a connection helper registered in builder.go).
var knownSchemes = map[string]bool{
	"unix": true, "tcp": true, "docker-container": true, "podman-container": true,
	"nerdctl-container": true, "kube-pod": true, "ssh": true, "npipe": true,
}

// parseAddress validates a builder address.
func parseAddress(addr string) error {
	u, err := url.Parse(addr)
	if err != nil {
		return fmt.Errorf("builder %q: %w: %w", addr, ErrInvalidOption, err)
	}
	if !knownSchemes[u.Scheme] {
		return optErr("builder %q: unknown scheme %q (want unix, tcp, docker-container, podman-container, nerdctl-container, kube-pod or ssh)", addr, u.Scheme)
	}
	switch {
	case u.Scheme == "unix" && u.Path == "":
		return optErr("builder %q: no socket path", addr)
	case u.Scheme != "unix" && u.Host == "":
		return optErr("builder %q: no host", addr)
	}
	return nil
}

// parseNode parses PLATFORM=ADDRESS[,cacert=..][,cert=..][,key=..][,servername=..].
func parseNode(s string, tls TLSOptions) (ocispec.Platform, node, error) {
	plat, rest, ok := strings.Cut(s, "=")
	if !ok || rest == "" {
		return ocispec.Platform{}, node{}, optErr("node %q: want PLATFORM=ADDRESS[,cacert=PATH,cert=PATH,key=PATH,servername=NAME]", s)
	}
	pl, err := parsePlatform(plat)
	if err != nil {
		return ocispec.Platform{}, node{}, fmt.Errorf("node %q: %w", s, err)
	}
	fields := strings.Split(rest, ",")
	n := node{addr: fields[0]}
	var own TLSOptions
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || v == "" {
			return pl, n, optErr("node %q: field %q: want key=value", s, f)
		}
		switch strings.ToLower(k) {
		case "cacert":
			own.CACert = v
		case "cert":
			own.Cert = v
		case "key":
			own.Key = v
		case "servername":
			own.ServerName = v
		default:
			return pl, n, optErr("node %q: unknown key %q (want cacert, cert, key or servername)", s, k)
		}
	}
	if err := parseAddress(n.addr); err != nil {
		return pl, n, fmt.Errorf("node %q: %w", s, err)
	}
	n.tls = tls
	if own.enabled() {
		n.tls = own
	}
	if err := checkTLS(n); err != nil {
		return pl, n, fmt.Errorf("node %q: %w", s, err)
	}
	return pl, n, nil
}

// checkTLS refuses TLS on non-tcp addresses and half a client key pair.
func checkTLS(n node) error {
	if !n.tls.enabled() {
		return nil
	}
	if !strings.HasPrefix(n.addr, "tcp://") {
		return nil // TLS applies to tcp:// only; other schemes ignore it.
	}
	if (n.tls.Cert == "") != (n.tls.Key == "") {
		return optErr("builder %s: TLS cert and key must be given together", n.addr)
	}
	for _, f := range []string{n.tls.CACert, n.tls.Cert, n.tls.Key} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("builder %s: TLS file: %w: %w", n.addr, ErrInvalidOption, err)
		}
	}
	return nil
}

// setGroups assigns the requested platforms to nodes, in request order,
// one group (one solve) per distinct node.
func (p *plan) setGroups(builder string, explicit bool, nodes []string, tls TLSOptions) error {
	def := node{addr: builder, tls: tls}
	if !strings.HasPrefix(builder, "tcp://") {
		def.tls = TLSOptions{}
	}
	if len(nodes) == 0 || explicit {
		if err := parseAddress(builder); err != nil {
			return err
		}
		if err := checkTLS(def); err != nil {
			return err
		}
	}
	if len(nodes) == 0 {
		p.groups = []group{{node: def, platforms: p.platforms}}
		return nil
	}
	var all []mappedNode
	for _, s := range nodes {
		pl, n, err := parseNode(s, tls)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(n.addr, "tcp://") {
			n.tls = TLSOptions{}
		}
		for _, m := range all {
			if platforms.FormatAll(m.pl) == platforms.FormatAll(pl) {
				return fmt.Errorf("node %q: platform %s has a node already: %w", s, platforms.FormatAll(pl), ErrInvalidPlatform)
			}
		}
		all = append(all, mappedNode{pl, n})
	}
	if len(p.platforms) == 0 {
		for _, m := range all {
			p.platforms = append(p.platforms, m.pl)
		}
	}
	byNode := map[node]int{}
	for _, pl := range p.platforms {
		n, found := def, false
		for _, m := range all {
			if platforms.FormatAll(m.pl) == platforms.FormatAll(pl) {
				n, found = m.n, true
				break
			}
		}
		if !found && !explicit {
			return fmt.Errorf("platform %s (nodes are given for %s; set a builder for the others): %w", platforms.FormatAll(pl), nodePlatforms(all), ErrNoNode)
		}
		i, ok := byNode[n]
		if !ok {
			i = len(p.groups)
			byNode[n] = i
			p.groups = append(p.groups, group{node: n})
		}
		p.groups[i].platforms = append(p.groups[i].platforms, pl)
	}
	return nil
}

// mappedNode is one Options.Nodes entry.
type mappedNode struct {
	pl ocispec.Platform
	n  node
}

func nodePlatforms(all []mappedNode) string {
	s := make([]string, len(all))
	for i, m := range all {
		s[i] = platforms.FormatAll(m.pl)
	}
	return strings.Join(s, ", ")
}

var annotationPrefix = regexp.MustCompile(`^(manifest|manifest-descriptor|index|index-descriptor)(?:\[([^\]]+)\])?$`)

// addAnnotation parses [TYPE[PLATFORM]:]KEY=VALUE into an exporter
// attribute, as buildx --annotation does.
func (p *plan) addAnnotation(s string) error {
	kv, v, ok := strings.Cut(s, "=")
	if !ok || kv == "" {
		return optErr("annotation %q: want [TYPE[PLATFORM]:]KEY=VALUE", s)
	}
	ak := exptypes.AnnotationKey{Key: kv}
	if pre, key, ok := strings.Cut(kv, ":"); ok {
		if m := annotationPrefix.FindStringSubmatch(pre); m != nil {
			ak.Type, ak.Key = m[1], key
			if m[2] != "" {
				if ak.Type == exptypes.AnnotationIndex || ak.Type == exptypes.AnnotationIndexDescriptor {
					return optErr("annotation %q: %s annotations take no platform", s, ak.Type)
				}
				pl, err := parsePlatform(m[2])
				if err != nil {
					return fmt.Errorf("annotation %q: %w", s, err)
				}
				ak.Platform = &pl
			}
		}
	}
	if ak.Key == "" || strings.ContainsAny(ak.Key, " \t") {
		return optErr("annotation %q: bad key %q", s, ak.Key)
	}
	if ak.Platform == nil {
		p.exportAttrs[ak.String()] = v
		return nil
	}
	found := false
	for _, pl := range p.platforms {
		if platforms.FormatAll(pl) == platforms.FormatAll(*ak.Platform) {
			found = true
		}
	}
	if !found && len(p.platforms) > 0 {
		return fmt.Errorf("annotation %q: platform %s is not built: %w", s, platforms.FormatAll(*ak.Platform), ErrInvalidOption)
	}
	p.platAnnotations = append(p.platAnnotations, annotation{platform: *ak.Platform, key: ak.String(), value: v})
	return nil
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
	return out
}

func formatPlatforms(ps []ocispec.Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = platforms.FormatAll(p)
	}
	return strings.Join(s, ",")
}

// prepareOutput checks that dir does not exist or is empty, and creates it;
// an empty dir means a new temporary directory. cleanup removes what the
// build wrote (the directory itself when prepareOutput created it).
func prepareOutput(dir string) (out string, cleanup func(), err error) {
	if dir == "" {
		if dir, err = os.MkdirTemp("", "affix-build-"); err != nil {
			return "", nil, err
		}
		return dir, func() { os.RemoveAll(dir) }, nil
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", nil, err
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("output %q: %w", dir, err)
		}
		return dir, func() { os.RemoveAll(dir) }, nil
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
