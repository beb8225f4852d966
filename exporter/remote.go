package exporter

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/affix-oci/affix/internal/oci"
)

// ErrReferrersAPIUnsupported means the registry does not serve the
// referrers API: it answered the referrers endpoint with 404 (or 405, 501,
// an unchallenged 401), or with something other than an image index.
var ErrReferrersAPIUnsupported = errors.New("referrers API not supported")

// manifestAccept is the Accept header of manifest reads.
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest,
	oci.MediaTypeDockerManifestList, oci.MediaTypeDockerManifest,
}, ", ")

// mediaTypeArtifactManifest is the artifact manifest of the OCI 1.1
// release candidates, dropped from the final specification; oras 1.0
// wrote referrers in it, and some registries still hold them.
const mediaTypeArtifactManifest = "application/vnd.oci.artifact.manifest.v1+json"

// referrersTagAccept is the Accept header of referrers tag reads
// (withAccept): manifestAccept and the artifact manifest. A registry that
// answers 404 to a read whose Accept does not list what the tag holds
// (olareg matches it strictly) would otherwise have a tag holding an
// artifact manifest taken for absent, and overwritten; given it, the read
// refuses it as not an image index (ErrReferrersTagConflict).
var referrersTagAccept = manifestAccept + ", " + mediaTypeArtifactManifest

// acceptKey is the context key of withAccept.
type acceptKey struct{}

// withAccept returns ctx asking Remote's manifest reads under it to send
// accept as their Accept header, in place of manifestAccept.
func withAccept(ctx context.Context, accept string) context.Context {
	return context.WithValue(ctx, acceptKey{}, accept)
}

// Remote is a repository in a registry. It implements Target (and Mounter,
// ReferrersLister and oci.Fetcher) over HTTP: blobs through oras-go's
// repository client, manifests through raw requests on the same
// authenticating client, so that response headers (OCI-Subject, ETag) are
// seen and no library referrers logic runs. Fetched content is verified
// against its digest. Remote is safe for concurrent use.
type Remote struct {
	ref       registry.Reference
	client    remote.Client
	plainHTTP bool
	repo      *remote.Repository
	// credsFile is RemoteOptions.CredentialsFile.
	credsFile string
	// blobAttempts bounds whole-upload retries of one blob, blobElapsed
	// their time.
	blobAttempts int
	blobElapsed  time.Duration
	// noMount holds the repositories the registry refused to mount
	// from (the credentials cannot read them): their blobs are uploaded
	// without asking again.
	noMount sync.Map
	// ignoreSubject is RemoteOptions.IgnoreSubjectHeader, or the host
	// is Docker Hub's.
	ignoreSubject bool
}

var (
	_ Target          = (*Remote)(nil)
	_ Mounter         = (*Remote)(nil)
	_ ReferrersLister = (*Remote)(nil)
	_ oci.Fetcher     = (*Remote)(nil)
)

// RemoteOptions configure a Remote.
type RemoteOptions struct {
	// Client sends the requests; nil means NewClient(nil, nil). Use an
	// *auth.Client so that credentials and tokens are handled.
	Client remote.Client
	// PlainHTTP talks HTTP instead of HTTPS.
	PlainHTTP bool
	// MaxElapsed bounds the time one blob upload spends being restarted
	// from its source after its PUT failed, waits included; 0 means 2
	// minutes. A Retry-After that does not fit in what is left ends the
	// upload with an error naming it. (Each request's own retries are the
	// client's: see Retry.)
	MaxElapsed time.Duration
	// CredentialsFile is where the client's credentials come from (the
	// Docker config file), for messages about missing or unusable ones;
	// "" says "the Docker config".
	CredentialsFile string
	// IgnoreSubjectHeader makes a push take every referrer PUT as
	// answered without OCI-Subject, so that each referrer goes into its
	// subject's referrers tag, for a registry whose header is not to be
	// trusted. It is always on for Docker Hub (DockerHub), which answered
	// OCI-Subject without serving the referrers API (docker/hub-feedback
	// #2372): trusting the header, a push there left SBOMs that no reader
	// finds. Where the registry does index referrers, its API lists them
	// still; the tag costs a few requests.
	IgnoreSubjectHeader bool
}

// DockerHub reports whether host is Docker Hub's registry.
func DockerHub(host string) bool {
	switch strings.ToLower(host) {
	case "docker.io", "registry-1.docker.io", "index.docker.io":
		return true
	}
	return false
}

// NewRemote returns the repository that ref (host/repository, a tag or
// digest is ignored) names.
func NewRemote(ref registry.Reference, opts RemoteOptions) (*Remote, error) {
	if err := ref.ValidateRepository(); err != nil {
		return nil, fmt.Errorf("repository %q: %w", ref.Registry+"/"+ref.Repository, err)
	}
	ref.Reference = ""
	c := opts.Client
	if c == nil {
		c = NewClient(nil, nil)
	}
	elapsed := opts.MaxElapsed
	if elapsed <= 0 {
		elapsed = 2 * time.Minute
	}
	// oras-go builds its errors without the response headers: the
	// Retry-After of its requests is noted on the way.
	// Affix's own requests go through it too, for the challenge of a
	// refusal and the token cache's bookkeeping.
	nc := notingClient{c}
	repo := &remote.Repository{Client: nc, Reference: ref, PlainHTTP: opts.PlainHTTP}
	return &Remote{ref: ref, client: nc, plainHTTP: opts.PlainHTTP, repo: repo, credsFile: opts.CredentialsFile, blobAttempts: 3, blobElapsed: elapsed,
		ignoreSubject: opts.IgnoreSubjectHeader || DockerHub(ref.Registry)}, nil
}

// ignoresSubjectHeader reports whether a push takes the OCI-Subject of
// this registry's answers for absent (RemoteOptions.IgnoreSubjectHeader).
func (r *Remote) ignoresSubjectHeader() bool { return r.ignoreSubject }

// NewClient returns an authenticating client that sends requests through
// counter (when not nil) and retries as Retry does. cred resolves
// credentials per registry host (nil means anonymous). Its token cache
// fetches one bearer token per scope, however many requests of a Remote
// asked for it at once.
func NewClient(cred auth.CredentialFunc, counter *Counter) *auth.Client {
	var base http.RoundTripper = defaultTransport
	if counter != nil {
		base = counter
	}
	c := &auth.Client{
		Client:     &http.Client{Transport: &Retry{Base: base}},
		Cache:      newTokenCache(),
		Credential: cred,
	}
	c.SetUserAgent("affix")
	return c
}

// Name returns registry/repository.
func (r *Remote) Name() string { return r.ref.Registry + "/" + r.ref.Repository }

// Reference returns the repository reference (without tag or digest).
func (r *Remote) Reference() registry.Reference { return r.ref }

func (r *Remote) url(kind, reference string) string {
	scheme := "https"
	if r.plainHTTP {
		scheme = "http"
	}
	return fmt.Sprintf("%s://%s/v2/%s/%s/%s", scheme, r.ref.Host(), r.ref.Repository, kind, reference)
}

// Exists reports whether the registry has the blob (one HEAD). A
// descriptor whose digest is not one is an error (checkDescriptor).
func (r *Remote) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	if err := r.checkDescriptor("checking blob", desc); err != nil {
		return false, err
	}
	ctx, note := withRetryAfterNote(ctx)
	ok, err := r.repo.Blobs().Exists(ctx, desc)
	if err != nil {
		return false, r.wrapNoted(note, "checking blob "+desc.Digest.String(), err)
	}
	return ok, nil
}

// ManifestExists reports whether the registry has the manifest or index
// desc (one HEAD by digest). A descriptor whose digest is not one is an
// error (checkDescriptor), never a HEAD of the tag of that name.
func (r *Remote) ManifestExists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	if err := r.checkDescriptor("checking manifest", desc); err != nil {
		return false, err
	}
	ctx, note := withRetryAfterNote(ctx)
	ok, err := r.repo.Manifests().Exists(ctx, desc)
	if err != nil {
		return false, r.wrapNoted(note, "checking manifest "+desc.Digest.String(), err)
	}
	return ok, nil
}

// PushBlob uploads the blob (POST then PUT), retrying the whole upload from
// open when its PUT fails on a dropped connection, 5xx or 429, honouring
// Retry-After as Retry does, within RemoteOptions.MaxElapsed.
func (r *Remote) PushBlob(ctx context.Context, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	return r.retryBlob(ctx, desc, func(ctx context.Context) error {
		rc, err := open()
		if err != nil {
			return err
		}
		defer rc.Close()
		return r.repo.Blobs().Push(ctx, desc, rc)
	})
}

// Mount mounts the blob from repository from; the registry falls back to
// an upload in the same session when it cannot mount. A registry that
// refuses the mount request itself (a token registry: the credentials
// cannot read from, so the token lacks its pull scope and distribution
// answers 401 to the whole request) gets a plain upload, as Docker does,
// and no more mount requests from from; so does one whose token server
// refuses the mount's token outright.
func (r *Remote) Mount(ctx context.Context, desc ocispec.Descriptor, from string, open func() (io.ReadCloser, error)) error {
	m, ok := r.repo.Blobs().(registry.Mounter)
	if _, refused := r.noMount.Load(from); !ok || refused {
		return r.PushBlob(ctx, desc, open)
	}
	err := r.retryBlob(ctx, desc, func(ctx context.Context) error { return m.Mount(ctx, desc, from, open) })
	if err != nil && (mountRefused(err) || mountTokenRefused(err)) && ctx.Err() == nil {
		r.noMount.Store(from, true)
		return r.PushBlob(ctx, desc, open)
	}
	return err
}

// mountRefused reports whether err is a refusal (401, 403) of a mount
// request, not of an upload.
func mountRefused(err error) bool {
	var er *errcode.ErrorResponse
	if !errors.As(err, &er) || er.Method != http.MethodPost || er.URL == nil || !er.URL.Query().Has("mount") {
		return false
	}
	return er.StatusCode == http.StatusUnauthorized || er.StatusCode == http.StatusForbidden
}

// mountTokenRefused reports whether err is the refusal (401, 403) of a
// token request: inside a mount, that is the mount's scope (push to the
// repository, pull from the other one), which a token server may refuse
// outright rather than issue a token without the pull. The upload asks
// for push alone; if that is what was refused, it fails again, explained.
func mountTokenRefused(err error) bool {
	if tokenRequest(err) == "" {
		return false
	}
	s := status(err)
	return s == http.StatusUnauthorized || s == http.StatusForbidden
}

// retryBlob runs push, and again from the start when its PUT failed in a
// way that may pass, at most blobAttempts times in blobElapsed. It waits
// what a Retry-After asks when that fits in the time left, and otherwise
// gives up at once with an error naming the wait.
func (r *Remote) retryBlob(ctx context.Context, desc ocispec.Descriptor, push func(context.Context) error) error {
	ctx, note := withRetryAfterNote(ctx)
	start := time.Now()
	var err error
	for attempt := 1; ; attempt++ {
		err = push(ctx)
		if err == nil || errors.Is(err, errdef.ErrAlreadyExists) {
			return nil
		}
		if attempt >= r.blobAttempts || !retryableOp(err) || ctx.Err() != nil {
			break
		}
		wait := backoff(500*time.Millisecond, attempt)
		if status(err) == http.StatusTooManyRequests {
			wait = max(wait, time.Second)
		}
		if ra, ok := note.get(); ok {
			wait = ra
		}
		if wait > r.blobElapsed-time.Since(start) { // not elapsed+wait: a huge wait would overflow
			break
		}
		if serr := sleep(ctx, wait); serr != nil {
			return serr
		}
	}
	return r.wrapNoted(note, fmt.Sprintf("uploading blob %s (%s)", desc.Digest, desc.MediaType), err)
}

// retryAfterNote holds the Retry-After and the bearer challenge's error
// of the last response to a request of one Remote operation through
// oras-go, whose errors do not keep the response headers.
type retryAfterNote struct {
	mu   sync.Mutex
	wait time.Duration
	ok   bool
	// authErr is the error parameter of the last response's bearer
	// challenge (see challengeError).
	authErr string
}

type retryAfterKey struct{}

// withRetryAfterNote returns ctx carrying a new note, and the note.
func withRetryAfterNote(ctx context.Context) (context.Context, *retryAfterNote) {
	n := &retryAfterNote{}
	return context.WithValue(ctx, retryAfterKey{}, n), n
}

// get returns the Retry-After of the last response, ok false when it had
// none.
func (n *retryAfterNote) get() (time.Duration, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.wait, n.ok
}

// authErrParam returns the error parameter of the last response's
// bearer challenge, "" when none.
func (n *retryAfterNote) authErrParam() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.authErr
}

// notingClient is a remote.Client that records the Retry-After and the
// bearer challenge of each response on the note in its request's context,
// if any, and gives each request a fresh tokenAttempt for the token
// cache.
type notingClient struct{ remote.Client }

func (c notingClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.Client.Do(req.WithContext(withTokenAttempt(req.Context())))
	if n, ok := req.Context().Value(retryAfterKey{}).(*retryAfterNote); ok {
		var wait time.Duration
		var has bool
		authErr := ""
		if err == nil {
			wait, has = retryAfter(resp)
			authErr = challengeError(resp)
		}
		n.mu.Lock()
		n.wait, n.ok, n.authErr = wait, has, authErr
		n.mu.Unlock()
	}
	return resp, err
}

// wrapNoted is wrap for the errors of oras-go requests: a 429 or 503 also
// says how long the registry asked to wait, as ResponseError does.
func (r *Remote) wrapNoted(n *retryAfterNote, what string, err error) error {
	err = scrub(r.explain(what, err, n.authErrParam()))
	if s := status(err); s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable {
		if wait, ok := n.get(); ok && wait > 0 {
			return fmt.Errorf("%w (%s)", err, retryAfterText(wait))
		}
	}
	return err
}

// retryableOp reports whether a blob upload that failed with err may
// succeed when repeated from the start. Only failures of the PUT that
// carries the content count: the transport could not retry it (its body
// streams from the source), while it has already retried the bodiless
// HEAD and POST.
func retryableOp(err error) bool {
	var ue *url.Error
	var er *errcode.ErrorResponse
	switch {
	case errors.As(err, &er):
		if er.Method != http.MethodPut {
			return false
		}
	case errors.As(err, &ue):
		if !strings.EqualFold(ue.Op, http.MethodPut) {
			return false
		}
	}
	switch s := status(err); {
	case s == http.StatusTooManyRequests || s == http.StatusRequestTimeout:
		return true
	case s >= 500 && s != http.StatusNotImplemented:
		return true
	case s != 0:
		return false
	}
	return retryableErr(err)
}

// status returns the HTTP status of a registry error, 0 if none.
func status(err error) int {
	var er *errcode.ErrorResponse
	if errors.As(err, &er) {
		return er.StatusCode
	}
	var re *ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// displayURL is u as messages and logs show it: without a password, and
// without its query, which for a blob a registry redirects to storage is
// a pre-signed credential (X-Amz-Signature, sig=) that must not reach CI
// logs.
func displayURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	q := c.RawQuery != "" || c.ForceQuery
	c.RawQuery, c.ForceQuery = "", false
	s := c.Redacted()
	if q {
		s += "?…"
	}
	return s
}

// queryRE matches a URL's query in an error's text.
var queryRE = regexp.MustCompile(`(https?://[^\s"?]+)\?[^\s"]*`)

// scrubbedError is an error whose text shows URLs without their query
// (displayURL); its chain is err's. The error values inside are not
// changed: oras-go shares some (a failed token fetch) between goroutines.
type scrubbedError struct{ err error }

func (e *scrubbedError) Error() string { return queryRE.ReplaceAllString(e.err.Error(), "$1?…") }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub returns err with URL queries removed from its text, nil for nil.
func scrub(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{err}
}

// wrap adds what was being done, and maps registry status errors (of
// oras-go and of responseError) to the package's sentinels, with a hint at
// the usual cause when there is one.
func (r *Remote) wrap(what string, err error) error {
	authErr := ""
	var re *ResponseError
	if errors.As(err, &re) {
		authErr = re.authErr
	}
	return scrub(r.explain(what, err, authErr))
}

// explain is wrap before the URLs in the text lose their query. authErr
// is the error parameter of the registry's bearer challenge, if any.
func (r *Remote) explain(what string, err error, authErr string) error {
	reg := r.ref.Registry
	if errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return fmt.Errorf("%s: %s: no credentials for %s in %s (docker login %s, or DOCKER_CONFIG): %w: %w", r.Name(), what, reg, r.credentialsFile(), reg, ErrUnauthorized, err)
	}
	if strings.Contains(err.Error(), "missing username or password for basic auth") {
		// An identitytoken or registrytoken alone: oras-go sends those
		// to token servers only.
		return fmt.Errorf("%s: %s: the registry asks for basic auth (a username and password), and the credentials for %s in %s have none (an identitytoken or registrytoken is only for token registries): docker login %s with a username and password: %w: %w", r.Name(), what, reg, r.credentialsFile(), reg, ErrUnauthorized, err)
	}
	// A failed token request is the token server's answer, whatever the
	// registry request it was for.
	if e, ok := r.explainToken(what, err); ok {
		return e
	}
	if e, ok := r.explainChallenge(what, err, authErr); ok {
		return e
	}
	switch status(err) {
	case http.StatusUnauthorized:
		if m := method(err); m != "" && m != http.MethodGet && m != http.MethodHead {
			// A token registry answers 401 (insufficient_scope) to a
			// write the credentials may not make, as to wrong ones.
			return fmt.Errorf("%s: %s: the registry refused the write: the credentials for %s may not push to %s, or are wrong (docker login, or DOCKER_CONFIG): %w: %w", r.Name(), what, r.ref.Registry, r.ref.Repository, ErrUnauthorized, err)
		}
		return fmt.Errorf("%s: %s: the registry refused the request: check the credentials for %s (docker login, or DOCKER_CONFIG): %w: %w", r.Name(), what, r.ref.Registry, ErrUnauthorized, err)
	case http.StatusBadRequest:
		if r.plainHTTP && (method(err) == http.MethodHead || strings.Contains(err.Error(), "HTTP request to an HTTPS server")) {
			// Go's HTTPS server (distribution's) answers plain HTTP
			// with 400; to a HEAD, without the body that says so.
			return fmt.Errorf("%s: %s: %w (%s answers HTTPS: drop --insecure-registry %s or --plain-http; to trust a private CA put it in /etc/docker/certs.d/%s/ca.crt)", r.Name(), what, err, r.ref.Registry, r.ref.Registry, r.ref.Registry)
		}
	case http.StatusForbidden:
		if h := requestHost(err); h != "" && !sameHost(h, r.ref.Host(), r.plainHTTP) {
			// A blob GET the registry redirected to storage (a
			// pre-signed URL): the credentials never went there.
			return fmt.Errorf("%s: %s: the storage host %s the registry redirected to refused it (403): the pre-signed URL the registry gave is likely expired or invalid; try again, and if it persists tell the operators of %s: %w: %w", r.Name(), what, h, r.ref.Registry, ErrUnauthorized, err)
		}
		return fmt.Errorf("%s: %s: the registry denied it (the credentials have no access to this repository, or a policy such as immutable tags forbids it): %w: %w", r.Name(), what, ErrUnauthorized, err)
	case http.StatusNotFound:
		return fmt.Errorf("%s: %s: %w: %w", r.Name(), what, ErrNotFound, err)
	case http.StatusMethodNotAllowed:
		if m := method(err); m != http.MethodGet && m != http.MethodHead {
			return fmt.Errorf("%s: %s: the registry takes no writes to this repository (read-only, or a mirror): %w", r.Name(), what, err)
		}
	}
	if hint := transportHint(err, r.ref.Registry); hint != "" {
		return fmt.Errorf("%s: %s: %w (%s)", r.Name(), what, err, hint)
	}
	return fmt.Errorf("%s: %s: %w", r.Name(), what, err)
}

// credentialsFile names where the credentials come from, for messages.
func (r *Remote) credentialsFile() string {
	if r.credsFile == "" {
		return "the Docker config"
	}
	return r.credsFile
}

// requestHost returns the host[:port] of the request a registry error
// answers, "" if unknown.
func requestHost(err error) string {
	var er *errcode.ErrorResponse
	if errors.As(err, &er) && er.URL != nil {
		return er.URL.Host
	}
	var re *ResponseError
	if errors.As(err, &re) {
		if u, perr := url.Parse(re.URL); perr == nil {
			return u.Host
		}
	}
	return ""
}

// sameHost reports whether host (of a request URL) is the registry reg,
// in any case, the scheme's default port written or not.
func sameHost(host, reg string, plainHTTP bool) bool {
	port := ":443"
	if plainHTTP {
		port = ":80"
	}
	host, reg = strings.TrimSuffix(strings.ToLower(host), port), strings.TrimSuffix(strings.ToLower(reg), port)
	return host == reg
}

// method returns the HTTP method of the request a registry error answers,
// "" if unknown.
func method(err error) string {
	var er *errcode.ErrorResponse
	if errors.As(err, &er) {
		return er.Method
	}
	var re *ResponseError
	if errors.As(err, &re) {
		return re.Method
	}
	return ""
}

// transportHint returns what to do about a connection-level error to
// registry host, "" when there is nothing to say.
func transportHint(err error, registryHost string) string {
	host := registryHost
	// A redirect (blob storage) may have led to another host: the
	// certs.d directory is the one of the host the request went to.
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			host = u.Host
		}
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		whose := "the registry's CA"
		if host != registryHost {
			whose = "the CA of " + host
		}
		return fmt.Sprintf("trust %s: put it in /etc/docker/certs.d/%s/ca.crt, or name it with SSL_CERT_FILE", whose, host)
	}
	// A server's TLS alert reaches the client only as text.
	if msg := err.Error(); strings.Contains(msg, "tls: certificate required") || strings.Contains(msg, "tls: bad certificate") ||
		strings.Contains(msg, "tls: expired certificate") || strings.Contains(msg, "tls: unknown certificate authority") {
		// Go sends no certificate that the server's list of accepted
		// CAs rules out: "required" then means the one there is not
		// one the registry takes.
		if files := clientCertFiles(host); len(files) > 0 {
			return fmt.Sprintf("%s did not accept the client certificate %s: it takes certificates of another CA, or this one expired; put one it accepts there instead, as NAME.cert with NAME.key", host, strings.Join(files, ", "))
		}
		return fmt.Sprintf("the registry asks for a client certificate: put it and its key as NAME.cert and NAME.key in /etc/docker/certs.d/%s/", host)
	}
	// Over HTTP/2 (hosts offered no client certificate) a registry's
	// refusal of the handshake can close the connection before Go reads
	// its alert: all that is left is this. Nothing was sent.
	if strings.Contains(err.Error(), "http2: client conn could not be established") {
		return fmt.Sprintf("%s closed the connection before the request was sent, as a registry that asks for a client certificate does without one: if it asks for one, put it and its key as NAME.cert and NAME.key in /etc/docker/certs.d/%s/", host, host)
	}
	// oras-go sends no upload to a Location on another host than the
	// registry's, where the credentials would follow (GHSA-jxpm-75mh-9fp7);
	// a registry that names itself otherwise (distribution's http.host,
	// the external URL of a proxy in front of it) gets no push through.
	if msg := err.Error(); strings.Contains(msg, "blob upload Location") && strings.Contains(msg, "different host") {
		return "the registry sends uploads to another host than the one in the reference, and affix sends neither content nor credentials there: push to the host it names, or make the registry advertise the host it is reached by (distribution's http.host, a proxy's external URL)"
	}
	// oras-go refuses to send credentials to a token server (the bearer
	// realm) on a loopback or private address unless the registry was
	// reached under the realm's host name; it says so only in words.
	if msg := err.Error(); strings.Contains(msg, "bearer realm host") && strings.Contains(msg, "blocked prefix") {
		return "the registry's token server is on a private or loopback address under another name: reach the registry by the host name of its token realm"
	}
	return ""
}

// PushManifest PUTs a manifest by tag or digest and returns the OCI-Subject
// response header.
//
// An error after an attempt that may have reached the registry (the
// answer was lost; a retry may then have met another failure) is marked
// so (see TagWriteError): the manifest may have been written.
func (r *Remote) PushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, reference, ifMatch string) (digest.Digest, error) {
	ctx, delivered := withDeliveryLog(ctx)
	d, err := r.pushManifest(ctx, desc, data, reference, ifMatch)
	if err != nil && (delivered.Load() || status(err) == 0 && maybeSent(err)) {
		return "", &deliveryUnknown{err}
	}
	return d, err
}

func (r *Remote) pushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, reference, ifMatch string) (digest.Digest, error) {
	ctx = auth.AppendRepositoryScope(ctx, r.ref, auth.ActionPull, auth.ActionPush)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, r.url("manifests", reference), bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", desc.MediaType)
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	what := "pushing manifest " + desc.Digest.String()
	if reference != desc.Digest.String() {
		what += " as tag " + reference
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return "", r.wrap(what, err)
	}
	defer drain(resp)
	// The spec's answer is 201; any 2xx (200, 202) says the registry
	// took the manifest.
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", r.wrap(what, responseError(resp))
	}
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != desc.Digest.String() {
		// Accepted, yet under another digest: whatever the reference
		// names now, the registry calls it h.
		return "", &storedOtherError{
			error:  fmt.Errorf("%s: pushing manifest %s: registry stored %s: %w", r.Name(), desc.Digest, h, oci.ErrDigestMismatch),
			stored: h,
		}
	}
	return digest.Digest(resp.Header.Get("OCI-Subject")), nil
}

// storedOtherError is the error of a manifest PUT the registry accepted
// (2xx) but answered with a Docker-Content-Digest other than the
// manifest's: the write took effect, and the reference now names content
// the registry reports as stored. It wraps oci.ErrDigestMismatch.
type storedOtherError struct {
	error
	stored string
}

func (e *storedOtherError) Unwrap() error { return e.error }

// FetchManifest GETs a manifest by tag or digest and verifies it: against
// the digest when reference is one, else against Docker-Content-Digest
// when the registry sends it.
//
// A body that does not match its digest, or whose connection dropped or
// stalled after the response began (which the transport, having returned
// the response, cannot retry), is read again, up to 3 times.
func (r *Remote) FetchManifest(ctx context.Context, reference string) (desc ocispec.Descriptor, data []byte, etag string, err error) {
	for attempt := 1; ; attempt++ {
		desc, data, etag, err = r.fetchManifest(ctx, reference)
		var be *bodyError
		again := errors.Is(err, oci.ErrDigestMismatch) || (errors.As(err, &be) && retryableErr(be.err))
		if !again || attempt == 3 || ctx.Err() != nil {
			return desc, data, etag, err
		}
		if serr := sleep(ctx, backoff(200*time.Millisecond, attempt)); serr != nil {
			return desc, data, etag, err
		}
	}
}

// bodyError is a failure to read a response body that had begun.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

func (r *Remote) fetchManifest(ctx context.Context, reference string) (ocispec.Descriptor, []byte, string, error) {
	ctx = auth.AppendRepositoryScope(ctx, r.ref, auth.ActionPull)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url("manifests", reference), nil)
	if err != nil {
		return ocispec.Descriptor{}, nil, "", err
	}
	accept := manifestAccept
	if a, ok := ctx.Value(acceptKey{}).(string); ok {
		accept = a
	}
	req.Header.Set("Accept", accept)
	what := manifestName(reference)
	resp, err := r.client.Do(req)
	if err != nil {
		return ocispec.Descriptor{}, nil, "", r.wrap("reading "+what, err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return ocispec.Descriptor{}, nil, "", r.wrap("reading "+what, responseError(resp))
	}
	if resp.ContentLength > oci.MaxManifestSize {
		return ocispec.Descriptor{}, nil, "", fmt.Errorf("%s: %s: %d bytes: %w", r.Name(), what, resp.ContentLength, oci.ErrTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, oci.MaxManifestSize+1))
	if err != nil {
		return ocispec.Descriptor{}, nil, "", fmt.Errorf("%s: reading %s: %w", r.Name(), what, &bodyError{err})
	}
	if len(data) > oci.MaxManifestSize {
		return ocispec.Descriptor{}, nil, "", fmt.Errorf("%s: %s: %w", r.Name(), what, oci.ErrTooLarge)
	}
	want := digest.Digest(reference)
	if want.Validate() != nil {
		want = digest.Digest(resp.Header.Get("Docker-Content-Digest"))
	}
	var got digest.Digest
	if want.Validate() == nil {
		got = want.Algorithm().FromBytes(data)
		if got != want {
			return ocispec.Descriptor{}, nil, "", fmt.Errorf("%s: %s: body hashes to %s, want %s: %w", r.Name(), what, got, want, oci.ErrDigestMismatch)
		}
	} else {
		got = digest.FromBytes(data)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(data, &probe) == nil && probe.MediaType != "" {
		mt = probe.MediaType
	}
	desc := ocispec.Descriptor{MediaType: mt, Digest: got, Size: int64(len(data))}
	return desc, data, resp.Header.Get("ETag"), nil
}

// manifestName names the manifest reference points at in messages:
// "manifest sha256:…" for a digest, "tag v1" for a tag (so that a tag "1"
// does not read as a count).
func manifestName(reference string) string {
	if digest.Digest(reference).Validate() == nil {
		return "manifest " + reference
	}
	return "tag " + reference
}

var _ oci.VerifyingFetcher = (*Remote)(nil)

// FetchVerifies marks Remote as an oci.VerifyingFetcher: Fetch verifies
// manifests and blobs against their descriptors.
func (r *Remote) FetchVerifies() {}

// Fetch implements oci.Fetcher: manifests through FetchManifest, blobs
// through the blob endpoint, both verified against desc. A descriptor
// whose digest is not one, or whose size is negative, is refused before
// any request (checkDescriptor): FetchManifest would take such a
// "digest" for a tag.
func (r *Remote) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := r.checkDescriptor("reading", desc); err != nil {
		return nil, err
	}
	if oci.IsManifest(desc.MediaType) || oci.IsIndex(desc.MediaType) {
		_, data, _, err := r.FetchManifest(ctx, desc.Digest.String())
		if err != nil {
			return nil, err
		}
		if int64(len(data)) != desc.Size {
			return nil, fmt.Errorf("%s: manifest %s: %d bytes, descriptor says %d: %w", r.Name(), desc.Digest, len(data), desc.Size, oci.ErrDigestMismatch)
		}
		// FetchManifest checked it against the digest it was asked for.
		return oci.NewVerifiedBytes(desc.Digest, data), nil
	}
	ctx, note := withRetryAfterNote(ctx)
	rc, err := r.repo.Blobs().Fetch(ctx, desc)
	if err != nil {
		werr := r.wrapNoted(note, "reading blob "+desc.Digest.String(), err)
		if servedOtherContent(err) {
			// The descriptor's size or digest is not the blob's: a
			// fault of the descriptor (or of the registry), which no
			// retry mends, as for a body that fails verification.
			return nil, fmt.Errorf("%w (%w)", werr, oci.ErrDigestMismatch)
		}
		if errors.Is(err, errdef.ErrNotFound) {
			// As a layout says it: a scan tells a missing foreign
			// layer (skipped) from another failure.
			return nil, fmt.Errorf("%w (%w)", werr, oci.ErrBlobNotFound)
		}
		return nil, werr
	}
	return struct {
		io.Reader
		io.Closer
	}{oci.VerifyReader(rc, desc), rc}, nil
}

// servedOtherContent reports whether err, from oras-go's blob fetch, says
// that the registry answered with content other than the descriptor's:
// a Content-Length other than its size, or a Docker-Content-Digest
// other than its digest. oras-go has no sentinel for either; its
// messages are matched.
func servedOtherContent(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, ": mismatch Content-Length") || strings.Contains(msg, "invalid response; digest mismatch in Docker-Content-Digest")
}

// checkDescriptor returns an error naming desc when it cannot be asked
// for by digest (validEntry): its digest is not a digest (a reference
// such as "latest" would name a tag, whose content nothing verifies) or
// its size is negative. what says what the request was for.
func (r *Remote) checkDescriptor(what string, desc ocispec.Descriptor) error {
	if err := validEntry(desc); err != nil {
		return fmt.Errorf("%s: %s: invalid descriptor: %w", r.Name(), what, err)
	}
	return nil
}

// maxReferrerPages bounds the pages ReferrersAPI follows.
const maxReferrerPages = 100

// ReferrersAPI lists the referrers of subject through the referrers API,
// following Link pagination (at most maxReferrerPages pages; a list that
// goes on is an error, not the pages read). Only an answer to the first
// page can mean the registry has no API (ErrReferrersAPIUnsupported): a
// 404, 405, 501 or unchallenged 401 (referrersUnsupported), or a 200 that
// is not an image index (its Content-Type, or the mediaType of its body:
// a catch-all route or proxy answering every path, as oras-go takes it).
// A later page that fails, or is not an index, is an error, since the
// list would be partial; so is a page over oci.MaxManifestSize
// (oci.ErrTooLarge, as for a manifest), and a next page that was read
// already (a Link back to an earlier page would repeat the list for
// ever). Each digest is listed once (its first entry kept, in order); an
// entry whose digest is not a digest, or whose size is negative, is left
// out (validEntry): no fetch could verify it.
func (r *Remote) ReferrersAPI(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
	ctx = auth.AppendRepositoryScope(ctx, r.ref, auth.ActionPull)
	next := r.url("referrers", subject.String())
	var out []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	read := map[string]int{} // page URLs read, to their page number
	for page := 0; next != ""; page++ {
		if page == maxReferrerPages {
			return nil, fmt.Errorf("%s: referrers of %s: more than %d pages", r.Name(), subject, maxReferrerPages)
		}
		if p, ok := read[next]; ok {
			return nil, fmt.Errorf("%s: referrers of %s: page %d links back to page %d", r.Name(), subject, page, p+1)
		}
		read[next] = page
		what := "referrers of " + subject.String()
		if page > 0 {
			what += fmt.Sprintf(" (page %d)", page+1)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", ocispec.MediaTypeImageIndex)
		resp, err := r.client.Do(req)
		if err != nil {
			return nil, r.wrap("listing "+what, err)
		}
		if page == 0 && referrersUnsupported(resp) {
			drain(resp)
			return nil, fmt.Errorf("%s: %s: %w", r.Name(), resp.Status, ErrReferrersAPIUnsupported)
		}
		if resp.StatusCode != http.StatusOK {
			err := responseError(resp)
			drain(resp)
			return nil, r.wrap("listing "+what, err)
		}
		idx, err := decodeReferrersPage(resp)
		// Several Link field lines are one list, comma-separated.
		link := strings.Join(resp.Header.Values("Link"), ", ")
		drain(resp)
		if errors.Is(err, errNotIndex) && page == 0 {
			return nil, fmt.Errorf("%s: %s: %w: %w", r.Name(), what, err, ErrReferrersAPIUnsupported)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: decoding %s: %w", r.Name(), what, err)
		}
		for _, m := range idx.Manifests {
			if validEntry(m) != nil || seen[m.Digest] {
				continue
			}
			seen[m.Digest] = true
			out = append(out, m)
		}
		next, err = nextLink(req.URL, link)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", r.Name(), what, err)
		}
	}
	return out, nil
}

// errNotIndex means a referrers API answer is not an image index.
var errNotIndex = errors.New("not an image index")

// decodeReferrersPage decodes resp, a 200 answer of the referrers API,
// as an image index: its Content-Type must be the index's, and so must
// the mediaType of the body when it has one (else errNotIndex); a body
// over oci.MaxManifestSize is oci.ErrTooLarge, not JSON cut short.
func decodeReferrersPage(resp *http.Response) (ocispec.Index, error) {
	var idx ocispec.Index
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != ocispec.MediaTypeImageIndex {
		return idx, fmt.Errorf("Content-Type %q: %w", ct, errNotIndex)
	}
	if resp.ContentLength > oci.MaxManifestSize {
		return idx, fmt.Errorf("%d bytes: %w", resp.ContentLength, oci.ErrTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, oci.MaxManifestSize+1))
	if err != nil {
		return idx, err
	}
	if len(data) > oci.MaxManifestSize {
		return idx, fmt.Errorf("more than %d bytes: %w", oci.MaxManifestSize, oci.ErrTooLarge)
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return idx, err
	}
	if idx.MediaType != "" && idx.MediaType != ocispec.MediaTypeImageIndex {
		return idx, fmt.Errorf("mediaType %q: %w", idx.MediaType, errNotIndex)
	}
	return idx, nil
}

// validEntry returns why d, an entry of a referrers list (the API's or a
// referrers tag's), cannot be taken: a digest that is not one (a fetch
// by it would resolve a tag of that name, and verify nothing), or a
// negative size.
func validEntry(d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w", d.Digest, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%s: negative size %d", d.Digest, d.Size)
	}
	return nil
}

// referrersUnsupported reports whether a response to the referrers
// endpoint means the registry does not serve the API, so that the
// referrers tag is read instead: 404 (the spec's answer), 405 and 501
// (registries without the route), and 401 without a WWW-Authenticate
// challenge, which no credential can answer (Harbor once sent it for the
// endpoint it did not serve, goharbor/harbor#18305). A 401 with a
// challenge reaches here only after the auth client failed it: wrong
// credentials, an error.
func referrersUnsupported(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	case http.StatusUnauthorized:
		return resp.Header.Get("WWW-Authenticate") == ""
	}
	return false
}

// nextLink returns the target of the next page in header, a Link field
// value (RFC 8288: comma-separated link-values, each a <URI-reference>
// and ;-separated parameters in any order, tokens or quoted strings),
// resolved against base: the first link whose first rel parameter lists
// "next" (relation types are space-separated, case-insensitive). "" means
// none. A next page on another origin is an error: the credentials would
// go with it.
func nextLink(base *url.URL, header string) (string, error) {
	rest := header
	for {
		rest = strings.TrimLeft(rest, " \t,")
		if !strings.HasPrefix(rest, "<") {
			return "", nil // the end, or not a link-value
		}
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return "", nil
		}
		target := rest[1:end]
		params, after, _ := cutUnquoted(rest[end+1:], ',')
		rest = after
		if !relNext(params) {
			continue
		}
		u, err := base.Parse(target)
		if err != nil {
			return "", fmt.Errorf("bad Link header %q: %w", header, err)
		}
		if !sameOrigin(u, base) {
			return "", fmt.Errorf("link header %q leaves the registry (%s://%s)", header, base.Scheme, base.Host)
		}
		return u.String(), nil
	}
}

// relNext reports whether the first rel parameter of params (a link's
// ";name=value" parameters) lists the relation type "next".
func relNext(params string) bool {
	for rest := params; rest != ""; {
		var p string
		p, rest, _ = cutUnquoted(rest, ';')
		name, value, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		for _, rel := range strings.Fields(value) {
			if strings.EqualFold(rel, "next") {
				return true
			}
		}
		return false // only the first rel parameter counts
	}
	return false
}

// cutUnquoted cuts s around the first sep outside a quoted string
// (backslash escapes in it honoured).
func cutUnquoted(s string, sep byte) (before, after string, found bool) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// sameOrigin reports whether a and b have the same scheme, host and port
// (default ports made explicit): credentials for one are sent to the
// other, so a next page over http from an https registry, or on another
// port, is not followed.
func sameOrigin(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if strings.EqualFold(u.Scheme, "https") {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// maxErrorDetail bounds ResponseError.Detail, the part of an error
// response's body shown in messages; maxErrorBody what is read of it.
const (
	maxErrorDetail = 1024
	maxErrorBody   = 64 << 10
)

func responseError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	b := body[:min(len(body), maxErrorDetail)]
	u := ""
	if resp.Request != nil {
		u = displayURL(resp.Request.URL)
	}
	m := ""
	if resp.Request != nil {
		m = resp.Request.Method
	}
	ra, _ := retryAfter(resp)
	return &ResponseError{Method: m, URL: u, StatusCode: resp.StatusCode, Detail: strings.TrimSpace(string(b)), RetryAfter: ra, authErr: challengeError(resp), body: string(body)}
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
