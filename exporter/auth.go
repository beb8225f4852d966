package exporter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// tokenCache is an auth.Cache that fetches a token for a scope only when
// the request that asks for one was refused with the token the cache
// holds now (or with none while none was cached). oras-go's cache
// combines fetches that overlap in time, but a request refused before
// another one's fetch for the same scope finished, and asking after it
// (or in the moment between oras-go ending a fetch and caching its
// token), fetched a second token: with --max-concurrency uploads starting
// at once, a scope of a push cost up to one token per upload slot instead
// of one. Fetches of one scope are serialized here, so that each sees
// what the one before cached.
type tokenCache struct {
	auth.Cache

	mu    sync.Mutex
	locks map[string]chan struct{}
}

// newTokenCache returns a tokenCache over oras-go's cache.
func newTokenCache() *tokenCache {
	return &tokenCache{Cache: auth.NewCache(), locks: map[string]chan struct{}{}}
}

// tokenAttempt records, for one request, the cached token it was sent
// with per cache key ("" when the cache had none).
type tokenAttempt struct {
	mu    sync.Mutex
	tried map[string]string
}

type tokenAttemptKey struct{}

// withTokenAttempt returns ctx carrying a new, empty tokenAttempt.
func withTokenAttempt(ctx context.Context) context.Context {
	return context.WithValue(ctx, tokenAttemptKey{}, &tokenAttempt{tried: map[string]string{}})
}

func cacheKey(registry string, scheme auth.Scheme, key string) string {
	return registry + " " + scheme.String() + " " + key
}

// GetToken returns the cached token and notes on the request's attempt
// what it was.
func (c *tokenCache) GetToken(ctx context.Context, registry string, scheme auth.Scheme, key string) (string, error) {
	tok, err := c.Cache.GetToken(ctx, registry, scheme, key)
	if a, ok := ctx.Value(tokenAttemptKey{}).(*tokenAttempt); ok {
		a.mu.Lock()
		a.tried[cacheKey(registry, scheme, key)] = tok // "" on a miss
		a.mu.Unlock()
	}
	return tok, err
}

// Set returns the cached token without fetching when it is not the one
// the request was refused with: another request fetched it meanwhile.
// Otherwise it fetches, one request of a scope at a time.
func (c *tokenCache) Set(ctx context.Context, registry string, scheme auth.Scheme, key string, fetch func(context.Context) (string, error)) (string, error) {
	a, ok := ctx.Value(tokenAttemptKey{}).(*tokenAttempt)
	if !ok {
		return c.Cache.Set(ctx, registry, scheme, key, fetch)
	}
	k := cacheKey(registry, scheme, key)
	c.mu.Lock()
	lock, found := c.locks[k]
	if !found {
		lock = make(chan struct{}, 1)
		c.locks[k] = lock
	}
	c.mu.Unlock()
	select {
	case lock <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-lock }()
	if cur, err := c.Cache.GetToken(ctx, registry, scheme, key); err == nil && cur != "" {
		a.mu.Lock()
		tried, sent := a.tried[k]
		a.mu.Unlock()
		if !sent || tried != cur {
			return cur, nil
		}
	}
	return c.Cache.Set(ctx, registry, scheme, key, fetch)
}

// authErrorRE finds the error parameter of a WWW-Authenticate challenge.
var authErrorRE = regexp.MustCompile(`(?i)(?:^|[\s,])error\s*=\s*"?([A-Za-z_]+)`)

// challengeError returns the error parameter of a 401 response's bearer
// challenge (RFC 6750: invalid_token, insufficient_scope), "" when none.
func challengeError(resp *http.Response) string {
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		return ""
	}
	for _, h := range resp.Header.Values("WWW-Authenticate") {
		if m := authErrorRE.FindStringSubmatch(h); m != nil {
			return strings.ToLower(m[1])
		}
	}
	return ""
}

// tokenAnswerRE matches oras-go's error for a token server's answer it
// could not read as a token: METHOD "URL": failed to decode response, or
// empty token returned.
var tokenAnswerRE = regexp.MustCompile(`\b(GET|POST) "([^"]+)": (?:failed to decode response|empty token returned)`)

// tokenRequest returns the host of the registry's token server when err
// is the failure of a token request (oras-go fetching a bearer token for
// a registry request), "" otherwise. A token request is one outside the
// registry API (/v2/) that asks for a service or scope (the token
// protocol's GET) or POSTs (OAuth2); blob storage a registry redirects to
// gets neither.
func tokenRequest(err error) string {
	var u *url.URL
	m := ""
	var er *errcode.ErrorResponse
	var ue *url.Error
	switch {
	case errors.As(err, &er) && er.URL != nil:
		u, m = er.URL, er.Method
	case errors.As(err, &ue):
		pu, perr := url.Parse(ue.URL)
		if perr != nil {
			return ""
		}
		u, m = pu, strings.ToUpper(ue.Op)
	default:
		// A token server's answer that is not a token: oras-go says so
		// in words only.
		sm := tokenAnswerRE.FindStringSubmatch(err.Error())
		if sm == nil {
			return ""
		}
		pu, perr := url.Parse(sm[2])
		if perr != nil {
			return ""
		}
		u, m = pu, sm[1]
	}
	if strings.HasPrefix(u.Path, "/v2/") || u.Path == "/v2" {
		return ""
	}
	q := u.Query()
	if q.Has("service") || q.Has("scope") || m == http.MethodPost {
		return u.Host
	}
	return ""
}

// explainToken explains the failure of a token request to tokenHost for
// registry request what; ok is false when it was none.
func (r *Remote) explainToken(what string, err error) (error, bool) {
	th := tokenRequest(err)
	if th == "" {
		return nil, false
	}
	reg := r.ref.Registry
	switch s := status(err); {
	case s == http.StatusUnauthorized:
		return fmt.Errorf("%s: %s: the registry's token server %s refused the credentials given for %s, or with none given, anonymous access: check the credentials for %s (docker login %s, or DOCKER_CONFIG): %w: %w", r.Name(), what, th, reg, reg, reg, ErrUnauthorized, err), true
	case s == http.StatusForbidden:
		// The credentials were taken; the scope was not granted.
		asked := "access to " + r.ref.Repository
		if rs := tokenScopes(err); len(rs) > 0 {
			asked = strings.Join(rs, ", ")
		}
		return fmt.Errorf("%s: %s: the registry's token server %s denied %s (403): it took the credentials given for %s (or anonymous access, with none given), but they have no such right, or the repository does not exist: %w: %w", r.Name(), what, th, asked, reg, ErrUnauthorized, err), true
	case s == 0 && tokenAnswerRE.MatchString(err.Error()):
		return fmt.Errorf("%s: %s: the registry's token server %s answered with no token: %w (its WWW-Authenticate realm names no token service, or a proxy or login page answered for it)", r.Name(), what, th, err), true
	case s != 0:
		return fmt.Errorf("%s: %s: the registry's token server %s failed to issue a token: %w (try again later; if it persists, the token service the registry names in its WWW-Authenticate realm is broken)", r.Name(), what, th, err), true
	}
	if hint := transportHint(err, reg); hint != "" {
		return fmt.Errorf("%s: %s: %w (the registry's token server %s: %s)", r.Name(), what, err, th, hint), true
	}
	// Only a failed connection or name lookup: every *url.Error is a
	// net.Error, an interrupt, a certificate for another name or a
	// refused redirect too, and none of those means the server is down.
	var oe *net.OpError
	var de *net.DNSError
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
		(errors.As(err, &oe) && oe.Op == "dial" || errors.As(err, &de)) {
		return fmt.Errorf("%s: %s: %w (the registry's token server %s, which its WWW-Authenticate realm names, cannot be reached: it is down, or the realm names an address this machine cannot reach)", r.Name(), what, err, th), true
	}
	return fmt.Errorf("%s: %s: the registry's token server %s: %w", r.Name(), what, th, err), true
}

// tokenScopes returns the repository scopes (repository:NAME:ACTIONS) the
// failed token GET of err asked for, as "pull and push on NAME"; none for
// an OAuth2 POST (its scopes are in the body).
func tokenScopes(err error) []string {
	var er *errcode.ErrorResponse
	if !errors.As(err, &er) || er.URL == nil {
		return nil
	}
	var out []string
	for _, v := range er.URL.Query()["scope"] {
		for _, sc := range strings.Fields(v) {
			rest, ok := strings.CutPrefix(sc, "repository:")
			i := strings.LastIndex(rest, ":")
			if !ok || i < 0 {
				continue
			}
			out = append(out, strings.ReplaceAll(rest[i+1:], ",", " and ")+" on "+rest[:i])
		}
	}
	return out
}

// explainChallenge explains a registry's 401 whose bearer challenge says
// why (authErr, see challengeError); ok is false for other errors.
func (r *Remote) explainChallenge(what string, err error, authErr string) (error, bool) {
	if status(err) != http.StatusUnauthorized {
		return nil, false
	}
	reg, repo := r.ref.Registry, r.ref.Repository
	switch authErr {
	case "invalid_token":
		// The token server issued the token: the credentials are not
		// the cause; the registry and its token server disagree.
		return fmt.Errorf("%s: %s: the registry rejected the token its token server issued (invalid_token: expired, not yet valid, or not signed by a key the registry trusts): the registry's token setup, or the clocks of the registry and its token server, disagree; tell the operators of %s (a registrytoken the Docker config holds for it is sent as it is: if there is one, it may be what expired; docker login %s again): %w: %w", r.Name(), what, reg, reg, ErrUnauthorized, err), true
	case "insufficient_scope":
		action := "pull from"
		if m := method(err); m != "" && m != http.MethodGet && m != http.MethodHead {
			action = "push to"
		}
		return fmt.Errorf("%s: %s: the registry's token for %s grants no right to %s %s (insufficient_scope): the account may not do that, the repository does not exist, or no credentials for %s were found and anonymous access is refused (docker login %s, or DOCKER_CONFIG): %w: %w", r.Name(), what, reg, action, repo, reg, reg, ErrUnauthorized, err), true
	}
	return nil, false
}

// clientCertFiles returns the client certificates (NAME.cert) the certs.d
// directories hold for host, as paths.
func clientCertFiles(host string) []string {
	for _, dir := range CertsDirs {
		hostDir := filepath.Join(dir, host)
		ents, err := os.ReadDir(hostDir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		var out []string
		for _, e := range ents {
			if filepath.Ext(e.Name()) == ".cert" {
				out = append(out, filepath.Join(hostDir, e.Name()))
			}
		}
		return out
	}
	return nil
}
