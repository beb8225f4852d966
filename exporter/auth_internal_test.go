package exporter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// TestTokenCache: a scope's token is fetched again only by a request that
// was refused with the token cached now; requests that went out without
// one, or with an older one, take the token cached since. Requests
// refused at once fetch one token between them, also when they ask just
// as a fetch ends (oras-go's cache forgets the fetch before it caches the
// token).
func TestTokenCache(t *testing.T) {
	const reg, key = "registry.example", "repository:app:pull,push"
	var fetches atomic.Int32
	fetch := func(ctx context.Context) (string, error) {
		n := fetches.Add(1)
		time.Sleep(time.Millisecond)
		return fmt.Sprintf("token-%d", n), nil
	}
	c := newTokenCache()
	// A request with no token cached (oras-go asks the cache first
	// once the host's scheme is known), refused: it fetches.
	a := withTokenAttempt(context.Background())
	if _, err := c.GetToken(a, reg, auth.SchemeBearer, key); err == nil {
		t.Fatal("token cached before any fetch")
	}
	b := withTokenAttempt(context.Background())
	c.GetToken(b, reg, auth.SchemeBearer, key)
	if tok, err := c.Set(a, reg, auth.SchemeBearer, key, fetch); err != nil || tok != "token-1" {
		t.Fatalf("first fetch: %q, %v", tok, err)
	}
	// Another request that went out without a token takes it.
	if tok, _ := c.Set(b, reg, auth.SchemeBearer, key, fetch); tok != "token-1" || fetches.Load() != 1 {
		t.Errorf("second request refused without a token: %q after %d fetches, want token-1 after 1", tok, fetches.Load())
	}
	// A request refused with the cached token fetches a new one (it
	// expired).
	d := withTokenAttempt(context.Background())
	c.GetToken(d, reg, auth.SchemeBearer, key)
	if tok, _ := c.Set(d, reg, auth.SchemeBearer, key, fetch); tok != "token-2" {
		t.Errorf("refused with the cached token: %q, want a new token-2", tok)
	}
	// One refused with the older token takes the newer.
	if tok, _ := c.Set(b, reg, auth.SchemeBearer, key, fetch); tok != "token-2" || fetches.Load() != 2 {
		t.Errorf("refused with an older token: %q after %d fetches, want token-2 after 2", tok, fetches.Load())
	}
	// A request without an attempt (a client other than a Remote's)
	// fetches as oras-go does.
	if tok, _ := c.Set(context.Background(), reg, auth.SchemeBearer, key, fetch); tok != "token-3" {
		t.Errorf("without an attempt: %q, want token-3", tok)
	}

	// Many refused at once, in rounds: one fetch per round. Every request
	// goes out (GetToken) before any is refused (Set): one that went out
	// after the first fetch would carry its token, and its refusal would
	// rightly fetch again.
	for round := range 50 {
		c := newTokenCache()
		fetches.Store(0)
		var wg, sent sync.WaitGroup
		sent.Add(16)
		for range 16 {
			wg.Go(func() {
				ctx := withTokenAttempt(context.Background())
				c.GetToken(ctx, reg, auth.SchemeBearer, key)
				sent.Done()
				sent.Wait()
				if _, err := c.Set(ctx, reg, auth.SchemeBearer, key, fetch); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := fetches.Load(); n != 1 {
			t.Fatalf("round %d: %d fetches for 16 requests refused at once, want 1", round, n)
		}
	}

	// A canceled wait for another request's fetch ends.
	c = newTokenCache()
	started, release := make(chan struct{}), make(chan struct{})
	go c.Set(withTokenAttempt(context.Background()), reg, auth.SchemeBearer, key, func(context.Context) (string, error) {
		close(started)
		<-release
		return "slow", nil
	})
	<-started
	ctx, cancel := context.WithCancel(withTokenAttempt(context.Background()))
	cancel()
	if _, err := c.Set(ctx, reg, auth.SchemeBearer, key, fetch); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled while another fetch runs: %v, want context.Canceled", err)
	}
	close(release)
}

// TestChallengeError: the error parameter of a 401's bearer challenge.
func TestChallengeError(t *testing.T) {
	for _, tc := range []struct {
		status int
		header string
		want   string
	}{
		{401, `Bearer realm="https://auth.example/token",service="reg",scope="repository:app:pull,push",error="insufficient_scope"`, "insufficient_scope"},
		{401, `Bearer realm="https://auth.example/token",error="invalid_token"`, "invalid_token"},
		{401, `Bearer error=invalid_token, realm="x"`, "invalid_token"},
		{401, `Bearer realm="https://auth.example/token?error=x",service="reg"`, ""},
		{401, `Basic realm="registry"`, ""},
		{403, `Bearer error="insufficient_scope"`, ""},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
		resp.Header.Set("WWW-Authenticate", tc.header)
		if got := challengeError(resp); got != tc.want {
			t.Errorf("%d %s: %q, want %q", tc.status, tc.header, got, tc.want)
		}
	}
}

// TestTokenRequest: which failed requests are a token server's.
func TestTokenRequest(t *testing.T) {
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"token GET", fmt.Errorf("GET %q: %w", "https://r.example/v2/app/manifests/v1",
			&errcode.ErrorResponse{Method: "GET", URL: mustURL("https://auth.example/token?scope=repository%3Aapp%3Apull&service=r"), StatusCode: 401}), "auth.example"},
		{"OAuth2 POST", fmt.Errorf("GET %q: %w", "https://r.example/v2/app/manifests/v1",
			&errcode.ErrorResponse{Method: "POST", URL: mustURL("https://r.example/service/token"), StatusCode: 401}), "r.example"},
		{"token server down", fmt.Errorf("HEAD %q: %w", "https://r.example/v2/app/blobs/x",
			&url.Error{Op: "Get", URL: "https://auth.example:5001/token?service=r", Err: errors.New("connection refused")}), "auth.example:5001"},
		{"registry GET", &errcode.ErrorResponse{Method: "GET", URL: mustURL("https://r.example/v2/app/manifests/v1"), StatusCode: 401}, ""},
		{"blob upload POST", &errcode.ErrorResponse{Method: "POST", URL: mustURL("https://r.example/v2/app/blobs/uploads/?mount=x&from=y"), StatusCode: 401}, ""},
		{"blob storage redirect", &errcode.ErrorResponse{Method: "GET", URL: mustURL("https://storage.example/bucket/blob?sig=x"), StatusCode: 403}, ""},
		{"registry response", &ResponseError{Method: "PUT", URL: "https://r.example/v2/app/manifests/v1", StatusCode: 401}, ""},
		{"token answer not JSON", fmt.Errorf("GET %q: %w", "https://r.example/v2/app/manifests/v1",
			fmt.Errorf("%s %q: failed to decode response: %w", "GET", "https://auth.example/token?scope=repository%3Aapp%3Apull&service=r", errors.New("invalid character '<'"))), "auth.example"},
		{"registry answer not JSON", errors.New(`GET "https://r.example/v2/app/tags/list": failed to decode response: invalid character '<'`), ""},
	} {
		if got := tokenRequest(tc.err); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestExplainTokenTransport: a token request that failed below HTTP is
// called unreachable only when the connection or the name lookup failed;
// an interrupt, a timeout of the command, a certificate for another name
// or a refused redirect is named as what it is, with the error kept.
func TestExplainTokenTransport(t *testing.T) {
	r := &Remote{ref: registry.Reference{Registry: "registry.example.com", Repository: "app"}}
	const realm = "https://auth.example.com/token?scope=repository%3Aapp%3Apull&service=registry"
	tokenErr := func(err error) error {
		return fmt.Errorf("GET %q: %w", "https://registry.example.com/v2/app/manifests/v1", &url.Error{Op: "Get", URL: realm, Err: err})
	}
	const unreachable = "cannot be reached"
	for _, tc := range []struct {
		name    string
		err     error
		is      error
		want    string
		notWant string
	}{
		{name: "connection refused", err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, is: syscall.ECONNREFUSED, want: unreachable},
		{name: "no such host", err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "auth.example.com", IsNotFound: true}}, want: unreachable},
		{name: "interrupted", err: context.Canceled, is: context.Canceled, notWant: unreachable},
		{name: "out of time", err: context.DeadlineExceeded, is: context.DeadlineExceeded, notWant: unreachable},
		{name: "certificate for another name", err: &tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"other.example.com"}}, Host: "auth.example.com"}},
			want: "other.example.com", notWant: unreachable},
		{name: "redirect refused", err: errors.New(`POST "https://auth.example.com/token": refusing to resend a token request body to another origin`),
			want: "refusing to resend", notWant: unreachable},
	} {
		got, ok := r.explainToken("reading tag v1", tokenErr(tc.err))
		if !ok {
			t.Errorf("%s: not taken for a token request", tc.name)
			continue
		}
		if tc.is != nil && !errors.Is(got, tc.is) {
			t.Errorf("%s: %v: lost %v", tc.name, got, tc.is)
		}
		if !strings.Contains(got.Error(), "auth.example.com") || tc.want != "" && !strings.Contains(got.Error(), tc.want) || tc.notWant != "" && strings.Contains(got.Error(), tc.notWant) {
			t.Errorf("%s: %v\nwant the token server named, %q in it and no %q", tc.name, got, tc.want, tc.notWant)
		}
	}
}
