package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/distribution/reference"
	dockercreds "github.com/docker/cli/cli/config/credentials"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/credentials/trace"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fsutil"
	"github.com/affix-oci/affix/internal/oci"
)

// registryOptions are the flags of commands that talk to a registry.
type registryOptions struct {
	insecure  []string
	plainHTTP bool

	// loopback remembers PlainLoopback by host, so that a command probes
	// each host once (the options are copied: it is shared).
	loopback *hostMemo
}

// hostMemo remembers a boolean per registry host. It is safe for
// concurrent use; the nil *hostMemo remembers nothing.
type hostMemo struct {
	mu sync.Mutex
	m  map[string]bool
}

// get returns host's value, computing it with f the first time; a value
// f computed as ctx ended (an interrupt cut it short) is not kept.
func (h *hostMemo) get(ctx context.Context, host string, f func() bool) bool {
	if h == nil {
		return f()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[host]
	if !ok {
		v = f()
		if ctx.Err() != nil {
			return v
		}
		if h.m == nil {
			h.m = map[string]bool{}
		}
		h.m[host] = v
	}
	return v
}

func (o *registryOptions) addFlags(f *pflag.FlagSet) {
	f.Var((*hostList)(&o.insecure), "insecure-registry", "talk plain HTTP to this registry host[:port] (repeatable); a registry on this machine (localhost, 127.0.0.1, ::1) that answers in plain HTTP needs no flag")
	f.BoolVar(&o.plainHTTP, "plain-http", false, "talk plain HTTP to every registry")
	o.loopback = &hostMemo{}
}

// hostList is the value of --insecure-registry: registry hosts, HOST[:PORT]
// each, one per use of the flag. A URL or a repository is refused when the
// flag is parsed (a usage error): compared with a reference's host it
// would match nothing, and the registry would silently get HTTPS.
type hostList []string

// String is the flag's value as pflag shows it; "" when empty, so that
// help shows no "(default [])", which would read as a value to give.
func (h *hostList) String() string {
	if len(*h) == 0 {
		return ""
	}
	return "[" + strings.Join(*h, ",") + "]"
}

// Type is the type name help shows, as for the string array it was.
func (h *hostList) Type() string { return "stringArray" }

// Set checks s and adds it.
func (h *hostList) Set(s string) error {
	if s == "" || strings.Contains(s, "://") || strings.Contains(s, "/") {
		return fmt.Errorf("%q: the flag takes a registry HOST[:PORT] (localhost:5000), not a URL or a repository", s)
	}
	if err := checkRegistryHost(s); err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	*h = append(*h, s)
	return nil
}

// checkRegistryHost checks that s is a registry HOST[:PORT] a reference
// could name: a host name or IP address ([::1] for IPv6), and a port, when
// given, from 1 to 65535.
func checkRegistryHost(s string) error {
	if err := (registry.Reference{Registry: s}).ValidateRegistry(); err != nil {
		return fmt.Errorf("not a registry HOST[:PORT] (localhost:5000)")
	}
	if _, port, err := net.SplitHostPort(s); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q: want a number from 1 to 65535", port)
		}
	}
	return nil
}

// plainHTTPTo reports whether the registry at host is reached over plain
// HTTP: when the flags say so (plain), or, as Docker and BuildKit do, when
// it is a registry on this machine that speaks plain HTTP (probed once per
// host with exporter.PlainLoopback: a TLS handshake, no HTTP request).
func (o *registryOptions) plainHTTPTo(ctx context.Context, host string, logf func(string, ...any)) bool {
	if o.plain(host) {
		return true
	}
	return o.loopback.get(ctx, host, func() bool {
		plain := exporter.PlainLoopback(ctx, host)
		if plain && logf != nil {
			logf("%s answers in plain HTTP, as a registry on this machine may: using HTTP (--insecure-registry %s says so without the probe)", host, host)
		}
		return plain
	})
}

// plain reports whether host is to be reached over plain HTTP: with
// --plain-http, or when --insecure-registry names it, in any case (host
// names are case-insensitive: localhost:5000 covers LOCALHOST:5000).
func (o *registryOptions) plain(host string) bool {
	return o.plainHTTP || slices.ContainsFunc(o.insecure, func(h string) bool { return strings.EqualFold(h, host) })
}

// parseRef parses a registry reference, [HOST/]REPOSITORY[:TAG][@DIGEST],
// normalized as docker does ("alpine:3" is docker.io/library/alpine:3), as
// a usage error when it is malformed.
func parseRef(s string) (registry.Reference, error) {
	if isLayoutSource(s) {
		return registry.Reference{}, usageError(fmt.Errorf("reference %q: want a registry reference [HOST/]REPOSITORY[:TAG][@DIGEST], not a local layout", s))
	}
	if err := checkHostOnly(fmt.Sprintf("reference %q", s), s); err != nil {
		return registry.Reference{}, usageError(err)
	}
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return registry.Reference{}, usageError(fmt.Errorf("reference %q: want [HOST/]REPOSITORY[:TAG][@DIGEST]: %w", s, err))
	}
	ref, err := registry.ParseReference(n.String())
	if err != nil {
		return registry.Reference{}, usageError(fmt.Errorf("reference %q: want [HOST/]REPOSITORY[:TAG][@DIGEST]: %w", s, err))
	}
	return ref, nil
}

// checkImageTag refuses to tag an image with a tag of the referrers tag
// schema's form (sha256-<hex>): on a registry without the referrers API
// that tag lists the referrers of the manifest with that digest (its
// SBOMs), and an image written over it would hide them. ref names the
// reference in the message.
func checkImageTag(ref, tag string) error {
	if !oci.IsReferrersTag(tag) {
		return nil
	}
	alg, hex, _ := strings.Cut(tag, "-")
	return usageError(fmt.Errorf("%s: tag %q is the referrers tag of %s:%s...: registries without the referrers API list that manifest's referrers (its SBOMs) under it, and an image tagged so would hide them; choose another tag", ref, tag, alg, hex[:12]))
}

// checkHostOnly refuses s, named what in the message, when it is a host
// and port alone (localhost:5000): Docker would read it as Docker Hub's
// library/HOST with tag PORT, which is never what was meant.
func checkHostOnly(what, s string) error {
	name, port, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(s, "/") || !isHostName(name) || !isDigits(port) {
		return nil
	}
	return fmt.Errorf("%s names no repository: want HOST:PORT/REPOSITORY[:TAG] (%s is read as Docker Hub's library/%s, tag %s)", what, s, name, port)
}

// isHostName reports whether a name's first element is a registry host
// as Docker tells one (not a Docker Hub repository): it has a dot or a
// port, or is localhost.
func isHostName(first string) bool {
	return strings.ContainsAny(first, ".:") || first == "localhost"
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// connect returns the repository of ref, with credentials from the Docker
// config (and its credential helpers), counting requests with counter.
func (o *registryOptions) connect(ctx context.Context, g *globalOptions, ref registry.Reference, counter *exporter.Counter) (*exporter.Remote, error) {
	r, _, err := o.connectTags(ctx, g, ref, counter)
	return r, err
}

// connectTags is connect, and the tag lister of the repository on the same
// client (credentials, retries, counting): oras-go's, as exporter.Remote
// lists no tags.
func (o *registryOptions) connectTags(ctx context.Context, g *globalOptions, ref registry.Reference, counter *exporter.Counter) (*exporter.Remote, *remote.Repository, error) {
	logf := g.logf(g.stderr)
	cred, file, err := dockerCredentials(logf)
	if err != nil {
		return nil, nil, err
	}
	client := exporter.NewClient(cred, counter)
	retry := client.Client.Transport.(*exporter.Retry)
	if g.debug {
		retry.Logf = logf // every retry, the long waits among them
	} else {
		retry.Notef = logf
	}
	var debug func(string, ...any)
	if g.debug {
		debug = logf
	}
	plain := o.plainHTTPTo(ctx, ref.Registry, debug)
	r, err := exporter.NewRemote(ref, exporter.RemoteOptions{Client: client, PlainHTTP: plain, CredentialsFile: file})
	if err != nil {
		return nil, nil, err
	}
	repo := ref
	repo.Reference = ""
	return r, &remote.Repository{Client: client, Reference: repo, PlainHTTP: plain, TagListMaxPages: maxTagPages}, nil
}

// maxTagPages bounds the pages of a repository's tag list ls reads
// (oras-go follows the registry's Link headers); past it, ls reads
// cosign's tags of each manifest instead.
const maxTagPages = 10

// helperTimeout bounds one run of a credential helper: one waiting for a
// passphrase nobody will type (gpg's pinentry in CI) would block the
// command forever.
var helperTimeout = 30 * time.Second

// errHelperTimeout is the cause of a helper run's context ending at
// helperTimeout.
var errHelperTimeout = errors.New("credential helper timed out")

// dockerCredentials returns the credentials of the Docker config, as
// credentialsFrom reads them, and the path of its file. As the docker CLI
// does (config.LoadDefaultConfigFile), a config naming no credentials at
// all (no auths, credsStore or credHelpers) has the platform's credential
// helper (docker-credential-pass or -secretservice) as its store when one
// is on PATH; unlike docker pull, a detected helper that fails (pass with
// no gpg key) is noted with note and read as no credentials, since the
// config did not ask for it and anonymous reads must still work.
func dockerCredentials(note func(string, ...any)) (auth.CredentialFunc, string, error) {
	store, err := credentials.NewStoreFromDocker(credentials.StoreOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("reading Docker credentials: %w", err)
	}
	file := store.ConfigPath()
	if !store.IsAuthConfigured() {
		// As the docker CLI detects it: pass or secretservice on Linux,
		// when its docker-credential-NAME is on PATH.
		if helper := dockercreds.DetectDefaultStore(""); helper != "" {
			return credentialsFrom(credentials.Credential(credentials.NewNativeStore(helper)), file, note), file, nil
		}
	}
	return credentialsFrom(credentials.Credential(store), file, nil), file, nil
}

// credentialsFrom is cred with its errors (an auth field that does not
// decode, a credential helper that fails, is missing or hangs) naming the
// host, file (the Docker config) and the helper that ran, and never
// quoting an auth field: oras-go quotes the decoded field, the password
// in it, when it has no colon. A helper run is bounded by helperTimeout.
// As host names are case-insensitive, a host spelt with capitals
// (LOCALHOST:5000) that has no credentials is looked up in lower case
// too: docker login writes the host as typed, in lower case by habit.
// When note is not nil, a failing helper is noted with it, once, and read
// as no credentials (see dockerCredentials).
func credentialsFrom(cred auth.CredentialFunc, file string, note func(string, ...any)) auth.CredentialFunc {
	var (
		mu     sync.Mutex
		failed bool // the helper note names failed: not run again
	)
	get := func(ctx context.Context, hostport string) (auth.Credential, error) {
		if note != nil {
			mu.Lock()
			defer mu.Unlock()
			if failed {
				return auth.EmptyCredential, nil
			}
		}
		ctx, cancel := context.WithTimeoutCause(ctx, helperTimeout, errHelperTimeout)
		defer cancel()
		c, helper, err := runBounded(ctx, cred, hostport)
		if err == nil {
			return c, nil
		}
		if helper == "" {
			// The file store's only errors are an auths entry that is
			// not what docker login writes; its text may quote the
			// secret, so it is not passed on.
			if strings.Contains(err.Error(), "failed to decode auth field") {
				return auth.EmptyCredential, fmt.Errorf("reading the credentials for %s: the auth field for %s in %s is not base64(username:password)", hostport, hostport, file)
			}
			return auth.EmptyCredential, fmt.Errorf("reading the credentials for %s: the auths entry for %s in %s is not what docker login writes (a JSON object of strings)", hostport, hostport, file)
		}
		var missing *exec.Error
		switch {
		case errors.As(err, &missing) && errors.Is(err, exec.ErrNotFound):
			err = fmt.Errorf("reading the credentials for %s: %s names the credential helper %s, which is not installed: install it, or remove credsStore/credHelpers naming it: %w", hostport, file, helper, err)
		case context.Cause(ctx) == errHelperTimeout:
			err = fmt.Errorf("reading the credentials for %s: the credential helper %s (of %s) did not answer within %s: it may be waiting for a passphrase or a locked keyring: %w", hostport, helper, file, helperTimeout, err)
		default:
			err = fmt.Errorf("reading the credentials for %s: the credential helper %s (of %s) failed: %w", hostport, helper, file, err)
		}
		if note == nil {
			return auth.EmptyCredential, err
		}
		failed = true
		note("%v; %s names no credential store, %s was found on PATH as the docker CLI finds it: going on without credentials", err, file, helper)
		return auth.EmptyCredential, nil
	}
	return func(ctx context.Context, hostport string) (auth.Credential, error) {
		c, err := get(ctx, hostport)
		if lower := strings.ToLower(hostport); err == nil && c == auth.EmptyCredential && lower != hostport {
			return get(ctx, lower)
		}
		return c, err
	}
}

// runBounded runs cred for hostport until ctx ends, and returns what it
// returned, or ctx's error when it ends first, and the name of the
// credential helper it ran ("" for none). oras-go waits for a helper's
// standard output to close, which a child of the helper holding it (sh
// running sleep, gpg-agent) keeps open after the helper is killed: the
// call is left to finish on its own.
func runBounded(ctx context.Context, cred auth.CredentialFunc, hostport string) (auth.Credential, string, error) {
	var helper atomic.Pointer[string]
	ctx = trace.WithExecutableTrace(ctx, &trace.ExecutableTrace{ExecuteStart: func(name, _ string) { helper.Store(&name) }})
	type result struct {
		c   auth.Credential
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := cred(ctx, hostport)
		done <- result{c, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		r.err = context.Cause(ctx)
	}
	name := ""
	if p := helper.Load(); p != nil {
		name = *p
	}
	return r.c, name, r.err
}

// hintHTTP adds a hint to errors of an HTTPS request answered in HTTP.
func hintHTTP(err error, host string) error {
	return hintHTTPHosts(err, host)
}

// hintHTTPHosts is hintHTTP for a command that talks to several
// registries (hosts, the first the default): the hint names the first
// host the error names, else the first.
func hintHTTPHosts(err error, hosts ...string) error {
	// crypto/tls says the second when the answer is no TLS record but
	// does not start with "HTTP/" (a server taking the handshake for an
	// HTTP/0.9 request answers with a bare HTML page).
	if err == nil || !strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") &&
		!strings.Contains(err.Error(), "first record does not look like a TLS handshake") {
		return err
	}
	host := hosts[0]
	for _, h := range hosts {
		if strings.Contains(err.Error(), "://"+h+"/") {
			host = h
			break
		}
	}
	return fmt.Errorf("%w (for a plain-HTTP registry, name it: --insecure-registry %s)", err, host)
}

// resolve reads the manifest or index ref names (its digest, else its tag,
// "latest" when neither is given).
func resolve(ctx context.Context, r *exporter.Remote, ref registry.Reference) (ocispec.Descriptor, error) {
	d, _, err := resolveData(ctx, r, ref)
	return d, err
}

// resolveData is resolve, with the manifest's bytes (their digest d's).
func resolveData(ctx context.Context, r *exporter.Remote, ref registry.Reference) (ocispec.Descriptor, []byte, error) {
	d, data, _, err := r.FetchManifest(ctx, ref.ReferenceOrDefault())
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if !oci.IsIndex(d.MediaType) && !oci.IsManifest(d.MediaType) {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: %s is %q, not an image manifest or index", r.Name(), ref.ReferenceOrDefault(), d.MediaType)
	}
	return d, data, nil
}

// remoteImage is an image in a registry, as a command's REF names it.
type remoteImage struct {
	repo *exporter.Remote
	// root is the index or manifest REF names.
	root ocispec.Descriptor
	// name is REF as the user would write it (refName), with its tag or
	// digest ("latest" when it names neither).
	name string
}

// openRemoteImage opens the image the registry reference s names: parses
// s (parseRef), connects to its repository counting requests with counter
// (connect; nil counts none) and resolves the image (resolve).
func (o *registryOptions) openRemoteImage(ctx context.Context, g *globalOptions, s string, counter *exporter.Counter) (*remoteImage, error) {
	ref, err := parseRef(s)
	if err != nil {
		return nil, err
	}
	repo, err := o.connect(ctx, g, ref, counter)
	if err != nil {
		return nil, err
	}
	root, err := resolve(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	return &remoteImage{repo: repo, root: root, name: refName(ref, ref.ReferenceOrDefault())}, nil
}

// refName formats ref as the user would write it, with its registry host
// in lower case: host names are case-insensitive, and the SBOM name of an
// image (sbomgen.ImageName of this) must not depend on how REF spelt it
// (LOCALHOST:5000/app and localhost:5000/app are one repository, and
// get one referrer per platform). The repository path is case-sensitive
// and kept.
func refName(ref registry.Reference, tagOrDigest string) string {
	s := strings.ToLower(ref.Registry) + "/" + ref.Repository
	if tagOrDigest == "" {
		return s
	}
	if _, err := digest.Parse(tagOrDigest); err == nil {
		return s + "@" + tagOrDigest
	}
	return s + ":" + tagOrDigest
}

// debugf returns a logger for the exporter when --debug is on.
func debugf(g *globalOptions, w io.Writer) func(string, ...any) {
	if !g.debug {
		return nil
	}
	return g.logf(w)
}

// logf returns the printer of debug lines and notes (retries) on w, else
// on the command's error stream, else on os.Stderr: "NAME: TEXT" lines,
// escaped (they quote registries' answers).
func (g *globalOptions) logf(w io.Writer) func(string, ...any) {
	if w == nil {
		w = g.stderr
	}
	if w == nil {
		w = os.Stderr
	}
	name := g.name
	if name == "" {
		name = "affix"
	}
	return linePrinter(name+": ", w)
}

// checkOutputFile checks that path can be written as a file, what naming
// it in errors: not a directory, in a directory that takes new files.
// Commands check their output files before they publish anything, so that
// a typo in a path fails before a tag moves, not after.
func checkOutputFile(what, path string) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("%s: is a directory", what)
	case err == nil && !fi.Mode().IsRegular():
		// A FIFO or a device (/dev/stdout, >(cat)) is written
		// through, whatever its directory takes.
		return nil
	}
	return checkWritableDir(what, filepath.Dir(path))
}

// checkWritableDir checks that the directory dir takes new files, by
// creating and removing one, what naming it in errors.
// The probe file's name is not in the errors: they name dir.
func checkWritableDir(what, dir string) error {
	f, err := os.CreateTemp(dir, ".affix-output-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		switch {
		case errors.Is(err, fs.ErrNotExist) && !isDir(dir):
			return fmt.Errorf("%s: the directory %s does not exist: %w", what, dir, err)
		case errors.Is(err, fs.ErrPermission):
			return fmt.Errorf("%s: the directory %s is not writable: %w", what, dir, err)
		case errors.Is(err, syscall.ENOTDIR):
			return fmt.Errorf("%s: %s is not a directory: %w", what, dir, err)
		}
		return fmt.Errorf("%s: cannot create a file in the directory %s: %w", what, dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// isDir reports whether path is a directory (following symbolic links).
// A file system such as /proc answers ENOENT to a file created in a
// directory that exists.
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// checkPlatformFlag checks a --platform value (empty: none) before any
// request; a bad one is a usage error.
func checkPlatformFlag(s string) error {
	if s == "" {
		return nil
	}
	if _, err := oci.ParsePlatform(s); err != nil {
		return usageError(fmt.Errorf("--platform: %w", err))
	}
	return nil
}

// prepareMetadataFile checks a --metadata-file path (empty: none) with
// checkOutputFile, a bad one being a usage error, and removes an earlier
// regular file there as affix build does (removeOldOutputs): a push,
// attach or convert that fails then leaves no metadata of an earlier one
// for a CI step to take as its own. A symlink or FIFO is left, and
// written through once the command succeeded.
func prepareMetadataFile(ctx context.Context, path string) error {
	if path == "" {
		return nil
	}
	if err := checkOutputFile("--metadata-file "+path, path); err != nil {
		return usageError(err)
	}
	return removeOldOutputs(ctx, []outputFile{{"--metadata-file", path}})
}

// writeJSON writes v, indented, to path, whole or not at all
// (fsutil.WriteFile: a full disk leaves an earlier file as it was).
func writeJSON(ctx context.Context, path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileContext(ctx, path, append(b, '\n'))
}

// writeMetadataFile writes meta, the document of --metadata-file, to path
// (empty: none), as prepareMetadataFile checked it.
func writeMetadataFile(ctx context.Context, path string, meta any) error {
	if path == "" {
		return nil
	}
	return writeJSON(ctx, path, meta)
}

// hostOf returns the host part of a reference string.
func hostOf(ref string) string {
	h, _, _ := strings.Cut(ref, "/")
	return h
}

// checkName checks --name as REF is checked (distribution's reference
// grammar): the documents are permanent, so a name no registry could hold
// is a usage error before anything is written, not a lowercased,
// percent-encoded purl in every referrer.
func checkName(name string) error {
	if name == "" {
		return nil
	}
	if _, err := reference.ParseNormalizedNamed(name); err != nil {
		return usageError(fmt.Errorf("--name %q: want [HOST/]REPOSITORY[:TAG][@DIGEST]: %w", name, err))
	}
	return nil
}
