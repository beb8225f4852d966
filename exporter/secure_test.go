package exporter_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/registrytest"
)

// tokenScene is a distribution registry over TLS (a CA of the test's own,
// trusted through a certs.d directory as affix documents) with token
// auth: its token server knows ci (push and pull on app, pull only on
// base), admin (everything) and ci's identity token.
type tokenScene struct {
	ca  *registrytest.CA
	ts  *registrytest.TokenServer
	reg *registrytest.SecureRegistry
	// certsDir is the certs.d directory CertsDirs names for the test.
	certsDir string
}

const (
	ciPassword    = "ci-s3cret"
	adminPassword = "adm1n-s3cret"
	ciIDToken     = "identity-token-of-ci"
)

func newTokenScene(t *testing.T, kind registrytest.Kind, trustTokenServer bool) *tokenScene {
	t.Helper()
	dir := t.TempDir()
	ca, err := registrytest.NewCA(dir, "affix test CA")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := registrytest.NewTokenServer(dir, ca)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.Close)
	ts.AddUser("ci", ciPassword)
	ts.AddUser("admin", adminPassword)
	ts.AddRefreshToken(ciIDToken, "ci")
	ts.Grant("ci", "app", "pull", "push")
	ts.Grant("ci", "base", "pull")
	ts.Grant("admin", "*", "*")
	reg := registrytest.StartSecure(t, kind, registrytest.SecureOptions{CA: ca, Token: ts})
	s := &tokenScene{ca: ca, ts: ts, reg: reg, certsDir: t.TempDir()}
	dirs := exporter.CertsDirs
	t.Cleanup(func() { exporter.CertsDirs = dirs })
	exporter.CertsDirs = []string{s.certsDir}
	s.trust(t, reg.Host)
	if trustTokenServer {
		s.trust(t, strings.TrimPrefix(ts.URL, "https://"))
	}
	return s
}

// trust puts the scene's CA in the certs.d directory of host.
func (s *tokenScene) trust(t *testing.T, host string) {
	t.Helper()
	pem, err := os.ReadFile(s.ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(s.certsDir, host)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "ca.crt"), pem, 0o644); err != nil {
		t.Fatal(err)
	}
}

// remote returns a counting Remote for repo over HTTPS with cred.
func (s *tokenScene) remote(t *testing.T, repo string, cred auth.CredentialFunc) (*exporter.Remote, *exporter.Counter) {
	t.Helper()
	c, counter := client(cred)
	return httpsTarget(t, s.reg.Host, repo, c), counter
}

func (s *tokenScene) user(name, password string) auth.CredentialFunc {
	return staticCred(s.reg.Host, name, password)
}

// tokenHost is the token server's host:port.
func (s *tokenScene) tokenHost() string { return strings.TrimPrefix(s.ts.URL, "https://") }

// scopesFetched counts the token requests per scope set since the last
// Reset.
func (s *tokenScene) scopesFetched() map[string]int {
	out := map[string]int{}
	for _, r := range s.ts.Requests() {
		out[strings.Join(r.Scopes, " ")]++
	}
	return out
}

// tagOf returns what tag names in repo, as admin sees it ("" for
// nothing).
func (s *tokenScene) tagOf(t *testing.T, repo, tag string) string {
	t.Helper()
	r, _ := s.remote(t, repo, s.user("admin", adminPassword))
	d, _, _, err := r.FetchManifest(context.Background(), tag)
	if errors.Is(err, exporter.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatalf("reading %s:%s: %v", repo, tag, err)
	}
	return d.Digest.String()
}

func httpsTarget(t testing.TB, host, repo string, c remote.Client) *exporter.Remote {
	t.Helper()
	r, err := exporter.NewRemote(registry.Reference{Registry: host, Repository: repo}, exporter.RemoteOptions{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var tokenKinds = []registrytest.Kind{registrytest.Distribution, registrytest.DistributionV3}

// TestTokenRegistryPush: a push, its referrers tag writes and the reads
// of affix ls/get work against a token registry over TLS, each with one
// token per scope however many uploads ask for it at once (oras-go's
// cache fetched a second one for a scope when a request was refused
// after another request's fetch had finished), and reads need only the
// pull scope.
func TestTokenRegistryPush(t *testing.T) {
	ctx := context.Background()
	spec, err := fixture.Standard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec.Attestations = true
	l, res := source(t, spec)
	for _, kind := range tokenKinds {
		t.Run(string(kind), func(t *testing.T) {
			s := newTokenScene(t, kind, true)
			// Several pushes to fresh repositories, 8 uploads at once:
			// a second fetch for one scope showed in about one push
			// of three.
			for i, repo := range []string{"app", "app", "base"} {
				s.ts.Reset()
				cred := s.user("ci", ciPassword)
				if repo == "base" {
					cred = s.user("admin", adminPassword)
				}
				r, counter := s.remote(t, repo, cred)
				got, err := pushAll(ctx, r, l, res, exporter.Options{Tag: "v1", MaxConcurrency: 8})
				if err != nil {
					t.Fatalf("push %d to %s: %v", i, repo, err)
				}
				if got.Modes[r.Name()] != exporter.ModeTagSchema {
					t.Errorf("push %d: mode %v, want tag-schema", i, got.Modes)
				}
				for scopes, n := range s.scopesFetched() {
					if n != 1 {
						t.Errorf("push %d: %d tokens fetched for %q, want 1", i, n, scopes)
					}
				}
				if i == 0 && len(s.scopesFetched()) != 2 {
					t.Errorf("push %d: tokens %v, want one for pull and one for pull,push", i, s.scopesFetched())
				}
				t.Logf("push %d: %s; tokens %v", i, countsString(counter.Counts()), s.scopesFetched())
			}
			// Reading with pull rights only (ci on base): the tree and
			// the SBOMs, through the referrers tag.
			s.ts.Reset()
			r, _ := s.remote(t, "base", s.user("ci", ciPassword))
			f := exporter.NewFinder(r)
			for _, m := range res.Manifests {
				refs, mode, err := f.Referrers(ctx, m.Digest)
				if err != nil || mode != exporter.ModeTagSchema || len(refs) != 1 {
					t.Fatalf("referrers of %s with pull rights: %v, %s, %v", m.Digest, refs, mode, err)
				}
				rc, err := r.Fetch(ctx, refs[0])
				if err != nil {
					t.Fatalf("reading referrer with pull rights: %v", err)
				}
				rc.Close()
			}
			if got := s.scopesFetched(); len(got) != 1 || got["repository:base:pull"] != 1 {
				t.Errorf("reads fetched tokens %v, want one for repository:base:pull", got)
			}
		})
	}
}

// TestTokenRegistryPullOnly: attaching where the credentials may only
// pull fails, naming the missing push right, and writes nothing: neither
// the referrer nor the referrers tag, nor a push's tag.
func TestTokenRegistryPullOnly(t *testing.T) {
	ctx := context.Background()
	l, res := source(t, twoPlatforms(false))
	for _, kind := range tokenKinds {
		t.Run(string(kind), func(t *testing.T) {
			s := newTokenScene(t, kind, true)
			admin, _ := s.remote(t, "base", s.user("admin", adminPassword))
			if _, err := pushAll(ctx, admin, l, res, exporter.Options{Tag: "v1"}); err != nil {
				t.Fatal(err)
			}
			r, _ := s.remote(t, "base", s.user("ci", ciPassword))
			p := exporter.New(r, nil, exporter.Options{})
			defer p.Abort()
			subject := res.Manifests[0]
			a := exporter.Artifact{
				Subject:      subject,
				ArtifactType: "application/vnd.example.vex+json",
				Blobs:        []exporter.Blob{{Data: []byte(`{"vex":1}`)}},
			}
			_, err := p.Attach(ctx, a)
			want := "grants no right to push to base (insufficient_scope)"
			if !errors.Is(err, exporter.ErrUnauthorized) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "or are wrong") {
				t.Errorf("attach with pull rights: %v, want ErrUnauthorized and %q", err, want)
			}
			refs, _, err := exporter.NewFinder(admin).Referrers(ctx, subject.Digest)
			if err != nil || len(refs) != 1 {
				t.Errorf("referrers after the refused attach: %v, %v; want the push's SBOM alone", refs, err)
			}
			// A push there fails before anything is written.
			spec := twoPlatforms(false)
			spec.Images[0].Labels = map[string]string{"new": "yes"}
			l2, res2 := source(t, spec)
			_, err = pushAll(ctx, r, l2, res2, exporter.Options{Tag: "v2"})
			if !errors.Is(err, exporter.ErrUnauthorized) || !strings.Contains(err.Error(), "push to base") {
				t.Errorf("push with pull rights: %v, want ErrUnauthorized naming the push right", err)
			}
			if d := s.tagOf(t, "base", "v2"); d != "" {
				t.Errorf("tag v2 names %s after a refused push", d)
			}
			// Reading a repository the credentials cannot read says so.
			none, _ := s.remote(t, "secret", s.user("ci", ciPassword))
			_, _, _, err = none.FetchManifest(ctx, "v1")
			want = "grants no right to pull from secret (insufficient_scope)"
			if !errors.Is(err, exporter.ErrUnauthorized) || !strings.Contains(err.Error(), want) {
				t.Errorf("reading without rights: %v, want %q", err, want)
			}
		})
	}
}

// TestTokenMountFrom: mounting from a repository the credentials can
// read mounts every image blob; from one they cannot read, distribution
// refuses the whole mount request (401: the token has no pull scope on
// it) and the push uploads instead, as Docker does, rather than fail,
// and asks for no more mounts from there.
func TestTokenMountFrom(t *testing.T) {
	ctx := context.Background()
	for _, kind := range tokenKinds {
		t.Run(string(kind), func(t *testing.T) {
			s := newTokenScene(t, kind, true)
			l, res := source(t, twoPlatforms(false))
			for _, repo := range []string{"base", "secret"} {
				admin, _ := s.remote(t, repo, s.user("admin", adminPassword))
				if _, err := pushAll(ctx, admin, l, res, exporter.Options{Tag: "v1"}); err != nil {
					t.Fatal(err)
				}
			}
			r, _ := s.remote(t, "app", s.user("ci", ciPassword))
			got, err := pushAll(ctx, r, l, res, exporter.Options{Tag: "v1", MountFrom: "base"})
			if err != nil {
				t.Fatalf("mount from a readable repository: %v", err)
			}
			if want := (exporter.BlobCounts{Mounted: 4, Uploaded: 3}); got.Blobs != want {
				t.Errorf("mount from a readable repository: blobs %+v, want %+v", got.Blobs, want)
			}

			spec := twoPlatforms(false)
			spec.Images[0].Labels = map[string]string{"new": "yes"}
			spec.Images[1].Labels = map[string]string{"new": "yes"}
			l2, res2 := source(t, spec)
			admin, _ := s.remote(t, "secret", s.user("admin", adminPassword))
			if _, err := pushAll(ctx, admin, l2, res2, exporter.Options{Tag: "v2"}); err != nil {
				t.Fatal(err)
			}
			s.ts.Reset()
			r, counter := s.remote(t, "app", s.user("ci", ciPassword))
			got, err = pushAll(ctx, r, l2, res2, exporter.Options{Tag: "v2", MountFrom: "secret"})
			if err != nil {
				t.Fatalf("mount from an unreadable repository: %v", err)
			}
			// The two new configs are the image's only new blobs.
			if want := (exporter.BlobCounts{Existing: 3, Uploaded: 4, NotMounted: 2}); got.Blobs != want {
				t.Errorf("mount from an unreadable repository: blobs %+v, want %+v", got.Blobs, want)
			}
			if d := s.tagOf(t, "app", "v2"); d != res2.Index.Digest.String() {
				t.Errorf("tag v2 names %q, want %s", d, res2.Index.Digest)
			}
			mounts := 0
			for _, line := range counter.Log() {
				if strings.Contains(line, "mount=") {
					mounts++
				}
			}
			// At most one refused mount per upload slot (the ones
			// under way when the first was refused), each sent twice
			// (without and with its token).
			if mounts > 2*2 {
				t.Errorf("%d mount requests after the registry refused them:\n%s", mounts, strings.Join(counter.Log(), "\n"))
			}
			if n := s.scopesFetched()["repository:app:pull,push repository:secret:pull"]; n < 1 || n > 2 {
				t.Errorf("%d tokens fetched for the mount scope, want 1 (2 when a mount was sent with the first token before it was refused): %v", n, s.scopesFetched())
			}

			// A token server that refuses the mount's scope outright
			// (403 to the token request) rather than issue a token
			// without secret's pull: the blobs are uploaded all the same.
			spec.Images[0].Labels = map[string]string{"new": "again"}
			spec.Images[1].Labels = map[string]string{"new": "again"}
			l3, res3 := source(t, spec)
			if _, err := pushAll(ctx, admin, l3, res3, exporter.Options{Tag: "v3"}); err != nil {
				t.Fatal(err)
			}
			s.ts.RefuseUngranted(true)
			r, _ = s.remote(t, "app", s.user("ci", ciPassword))
			got, err = pushAll(ctx, r, l3, res3, exporter.Options{Tag: "v3", MountFrom: "secret"})
			s.ts.RefuseUngranted(false)
			if err != nil {
				t.Fatalf("mount whose token is refused: %v", err)
			}
			if want := (exporter.BlobCounts{Existing: 3, Uploaded: 4, NotMounted: 2}); got.Blobs != want {
				t.Errorf("mount whose token is refused: blobs %+v, want %+v", got.Blobs, want)
			}
			if d := s.tagOf(t, "app", "v3"); d != res3.Index.Digest.String() {
				t.Errorf("tag v3 names %q, want %s", d, res3.Index.Digest)
			}
		})
	}
}

// TestTokenRegistryErrors: each way token auth fails is an error that
// names the party at fault and what to do, with ErrUnauthorized where the
// credentials or rights are the cause, and a push's tag is not moved.
func TestTokenRegistryErrors(t *testing.T) {
	ctx := context.Background()
	l, res := source(t, twoPlatforms(false))
	s := newTokenScene(t, registrytest.DistributionV3, true)
	th := s.tokenHost()
	idToken := func(tok string) auth.CredentialFunc {
		return auth.StaticCredential(s.reg.Host, auth.Credential{RefreshToken: tok})
	}
	for _, tc := range []struct {
		name   string
		cred   auth.CredentialFunc
		setup  func()
		want   []string
		not    []string
		unauth bool
	}{
		{name: "wrong password", cred: s.user("ci", "nope"),
			want:   []string{"the registry's token server " + th + " refused the credentials given for " + s.reg.Host, "docker login " + s.reg.Host},
			unauth: true},
		// OAuth2 (a Docker config's identitytoken) POSTs to the token
		// server: a refusal of a read is no refused write.
		{name: "revoked identity token", cred: idToken("revoked"),
			want:   []string{"token server " + th + " refused the credentials"},
			not:    []string{"write", "may not push"},
			unauth: true},
		{name: "expired token", cred: s.user("ci", ciPassword), setup: func() { s.ts.SetTTL(-10 * time.Minute) },
			want:   []string{"rejected the token its token server issued (invalid_token", "tell the operators of " + s.reg.Host},
			not:    []string{"check the credentials"},
			unauth: true},
		{name: "untrusted signer", cred: s.user("ci", ciPassword), setup: func() { s.ts.SetUntrusted(true) },
			want:   []string{"invalid_token"},
			unauth: true},
		// 404: a realm that names no token endpoint (a 5xx is the
		// same, after the retries).
		{name: "token server failing", cred: s.user("ci", ciPassword), setup: func() { s.ts.FailWith(404) },
			want: []string{"the registry's token server " + th + " failed to issue a token", "404"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			// A read (the tag) and a push, each with a client of its own.
			r, _ := s.remote(t, "app", tc.cred)
			_, _, _, rerr := r.FetchManifest(ctx, "v1")
			r, _ = s.remote(t, "app", tc.cred)
			_, perr := pushAll(ctx, r, l, res, exporter.Options{Tag: "v1"})
			for what, err := range map[string]error{"read": rerr, "push": perr} {
				if err == nil {
					t.Fatalf("%s succeeded", what)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %v\nwant %q", what, err, w)
					}
				}
				for _, n := range tc.not {
					if strings.Contains(err.Error(), n) {
						t.Errorf("%s: %v\nwant no %q", what, err, n)
					}
				}
				if errors.Is(err, exporter.ErrUnauthorized) != tc.unauth {
					t.Errorf("%s: errors.Is(ErrUnauthorized) = %v, want %v", what, !tc.unauth, tc.unauth)
				}
			}
			s.ts.SetTTL(5 * time.Minute)
			s.ts.SetUntrusted(false)
			s.ts.FailWith(0)
			if d := s.tagOf(t, "app", "v1"); d != "" {
				t.Errorf("tag v1 names %s after a failed push", d)
			}
		})
	}

	// A token server that is down.
	s.ts.Close()
	r, _ := s.remote(t, "app", s.user("ci", ciPassword))
	_, err := pushAll(ctx, r, l, res, exporter.Options{Tag: "v1"})
	want := "the registry's token server " + th + ", which its WWW-Authenticate realm names, cannot be reached"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("token server down: %v\nwant %q", err, want)
	}
	// A token server whose CA is not in certs.d (a scene of its own).
	u := newTokenScene(t, registrytest.DistributionV3, false)
	r, _ = u.remote(t, "app", u.user("ci", ciPassword))
	_, _, _, err = r.FetchManifest(ctx, "v1")
	want = "(the registry's token server " + u.tokenHost() + ": trust the CA of " + u.tokenHost() + ": put it in /etc/docker/certs.d/" + u.tokenHost() + "/ca.crt"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("token server CA not trusted: %v\nwant %q", err, want)
	}
}

// TestTokenExpiresDuringPush: tokens that expire while a client is still
// at work are fetched again (once per scope), and manifest writes, whose
// body is affix's, are resent with the new one.
func TestTokenExpiresDuringPush(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for tokens to expire")
	}
	ctx := context.Background()
	s := newTokenScene(t, registrytest.DistributionV3, true)
	l, res := source(t, twoPlatforms(false))
	// distribution accepts a token up to a minute past its expiry:
	// these are good for about 2 seconds.
	s.ts.SetTTL(-58 * time.Second)
	r, _ := s.remote(t, "app", s.user("ci", ciPassword))
	p := exporter.New(r, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1"})
	defer p.Abort()
	if err := p.Images(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	// The tokens fetched from now on outlive the rest of the push, however
	// slow the machine: one fetch per scope is what the test allows.
	s.ts.SetTTL(5 * time.Minute)
	s.ts.Reset()
	for _, m := range res.Manifests {
		if _, err := p.Attach(ctx, sbomArtifact(m)); err != nil {
			t.Fatalf("attach after the tokens expired: %v", err)
		}
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatalf("commit after the tokens expired: %v", err)
	}
	for scopes, n := range s.scopesFetched() {
		if n > 2 {
			t.Errorf("%d tokens fetched for %q after expiry", n, scopes)
		}
	}
	if d := s.tagOf(t, "app", "v1"); d != res.Index.Digest.String() {
		t.Errorf("tag v1 names %q, want %s", d, res.Index.Digest)
	}
}

// TestClientCertificateNotAccepted: a registry that requires a client
// certificate, and a certs.d directory holding one of another CA: Go
// sends none the registry's CA list rules out, so the registry says a
// certificate is required; the error names the one that was not
// accepted rather than asking for one to be put there.
func TestClientCertificateNotAccepted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ca, err := registrytest.NewCA(dir, "registry CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := registrytest.NewCA(t.TempDir(), "another CA")
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.StartSecure(t, registrytest.DistributionV3, registrytest.SecureOptions{CA: ca, ClientCerts: true})
	certsDir := t.TempDir()
	dirs := exporter.CertsDirs
	t.Cleanup(func() { exporter.CertsDirs = dirs })
	exporter.CertsDirs = []string{certsDir}
	hostDir := filepath.Join(certsDir, reg.Host)
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(hostDir, 0o755)
	copyFile(ca.CertFile, filepath.Join(hostDir, "ca.crt"))

	read := func() error {
		c, _ := client(nil)
		_, _, _, err := httpsTarget(t, reg.Host, "app", c).FetchManifest(ctx, "v1")
		return err
	}
	// CertsDirs is read once per host and process: each case its own
	// registry host would be needed; the absent certificate is
	// TestCertsDirs'. Here: one of another CA.
	cert, key, err := other.Client("client")
	if err != nil {
		t.Fatal(err)
	}
	copyFile(cert, filepath.Join(hostDir, "client.cert"))
	copyFile(key, filepath.Join(hostDir, "client.key"))
	err = read()
	want := reg.Host + " did not accept the client certificate " + filepath.Join(hostDir, "client.cert")
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("client certificate of another CA: %v\nwant %q", err, want)
	}
}

// TestBasicAuthTLS: htpasswd basic auth over TLS with a private CA
// trusted through certs.d: a push with the Docker config's credentials
// works, at the cost of one refused request per upload slot that was
// sent before the registry's scheme was known; wrong and missing
// credentials fail with what to do, and the tag is not moved.
func TestBasicAuthTLS(t *testing.T) {
	ctx := context.Background()
	l, res := source(t, twoPlatforms(false))
	for _, kind := range tokenKinds {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			ca, err := registrytest.NewCA(dir, "affix test CA")
			if err != nil {
				t.Fatal(err)
			}
			reg := registrytest.StartSecure(t, kind, registrytest.SecureOptions{CA: ca, Users: map[string]string{"ci": ciPassword}})
			s := &tokenScene{ca: ca, reg: reg, certsDir: t.TempDir()}
			dirs := exporter.CertsDirs
			t.Cleanup(func() { exporter.CertsDirs = dirs })
			exporter.CertsDirs = []string{s.certsDir}
			s.trust(t, reg.Host)

			r, counter := s.remote(t, "app", s.user("ci", ciPassword))
			if _, err := pushAll(ctx, r, l, res, exporter.Options{Tag: "v1"}); err != nil {
				t.Fatal(err)
			}
			// The root and 7 blobs (4 image, 2 SBOMs, the empty
			// config): HEAD 8, and at most 4 (the upload slots) sent
			// before the first 401.
			if n := counter.Counts()[http.MethodHead]; n > 1+7+4 {
				t.Errorf("HEAD %d, want at most 12: %s\n%s", n, countsString(counter.Counts()), strings.Join(counter.Log(), "\n"))
			}
			for _, tc := range []struct {
				name string
				cred auth.CredentialFunc
				want string
			}{
				{"wrong password", s.user("ci", "nope"), "the registry refused the request: check the credentials for " + reg.Host},
				{"no credentials", nil, "no credentials for " + reg.Host + " in the Docker config (docker login " + reg.Host + ", or DOCKER_CONFIG)"},
			} {
				r, _ := s.remote(t, "app", tc.cred)
				_, perr := pushAll(ctx, r, l, res, exporter.Options{Tag: "v2"})
				_, _, _, rerr := r.FetchManifest(ctx, "v1")
				for what, err := range map[string]error{"push": perr, "read": rerr} {
					if !errors.Is(err, exporter.ErrUnauthorized) || !strings.Contains(err.Error(), tc.want) {
						t.Errorf("%s, %s: %v\nwant ErrUnauthorized and %q", tc.name, what, err, tc.want)
					}
				}
			}
			r, _ = s.remote(t, "app", s.user("ci", ciPassword))
			if _, _, _, err := r.FetchManifest(ctx, "v2"); !errors.Is(err, exporter.ErrNotFound) {
				t.Errorf("tag v2 after refused pushes: %v, want not found", err)
			}
		})
	}
}

// TestTokenAnonymous: a token registry that lets anyone pull one
// repository (Docker Hub's public images): without credentials, reads
// there work with one anonymous token for the pull scope, the SBOMs too;
// a push there, or a read elsewhere, is refused naming the missing
// credentials; with credentials, the same repository is pushed to.
func TestTokenAnonymous(t *testing.T) {
	ctx := context.Background()
	l, res := source(t, twoPlatforms(false))
	s := newTokenScene(t, registrytest.DistributionV3, true)
	s.ts.Grant("", "base", "pull")
	admin, _ := s.remote(t, "base", s.user("admin", adminPassword))
	if _, err := pushAll(ctx, admin, l, res, exporter.Options{Tag: "v1"}); err != nil {
		t.Fatal(err)
	}

	s.ts.Reset()
	anon, _ := s.remote(t, "base", nil)
	d, _, _, err := anon.FetchManifest(ctx, "v1")
	if err != nil || d.Digest != res.Index.Digest {
		t.Fatalf("anonymous read: %v, %v", d.Digest, err)
	}
	for _, m := range res.Manifests {
		refs, _, err := exporter.NewFinder(anon).Referrers(ctx, m.Digest)
		if err != nil || len(refs) != 1 {
			t.Fatalf("anonymous referrers of %s: %v, %v", m.Digest, refs, err)
		}
		rc, err := anon.Fetch(ctx, refs[0])
		if err != nil {
			t.Fatalf("anonymous read of the SBOM: %v", err)
		}
		rc.Close()
	}
	for _, r := range s.ts.Requests() {
		if r.Account != "" {
			t.Errorf("anonymous reads sent credentials: %+v", r)
		}
	}
	if got := s.scopesFetched(); len(got) != 1 || got["repository:base:pull"] != 1 {
		t.Errorf("anonymous reads fetched tokens %v, want one for repository:base:pull", got)
	}

	spec := twoPlatforms(false)
	spec.Images[0].Labels = map[string]string{"new": "yes"}
	l2, res2 := source(t, spec)
	_, err = pushAll(ctx, anon, l2, res2, exporter.Options{Tag: "v2"})
	want := "grants no right to push to base (insufficient_scope): the account may not do that, the repository does not exist, or no credentials for " + s.reg.Host + " were found"
	if !errors.Is(err, exporter.ErrUnauthorized) || !strings.Contains(err.Error(), want) {
		t.Errorf("anonymous push: %v\nwant ErrUnauthorized and %q", err, want)
	}
	private, _ := s.remote(t, "app", nil)
	if _, _, _, err := private.FetchManifest(ctx, "v1"); !errors.Is(err, exporter.ErrUnauthorized) || !strings.Contains(err.Error(), "grants no right to pull from app") {
		t.Errorf("anonymous read of a private repository: %v, want ErrUnauthorized naming the pull right", err)
	}
	if d := s.tagOf(t, "base", "v2"); d != "" {
		t.Errorf("tag v2 names %s after a refused anonymous push", d)
	}
	r, _ := s.remote(t, "base", s.user("admin", adminPassword))
	if _, err := pushAll(ctx, r, l2, res2, exporter.Options{Tag: "v2"}); err != nil {
		t.Fatalf("push with credentials after the anonymous one: %v", err)
	}
}

// TestUploadLocationOtherHost: a registry that advertises another host
// than the one it is reached by (distribution's http.host, a proxy's
// external URL) names it in its upload Locations; oras-go sends no blob
// there (the credentials would follow), so the push fails, saying what
// to do, and the tag is not moved.
func TestUploadLocationOtherHost(t *testing.T) {
	ctx := context.Background()
	l, res := source(t, twoPlatforms(false))
	reg := registrytest.StartSecure(t, registrytest.DistributionV3, registrytest.SecureOptions{AdvertisedURL: "http://registry.invalid"})
	c, _ := client(nil)
	r := target(t, reg.Host, "app", c)
	_, err := pushAll(ctx, r, l, res, exporter.Options{Tag: "v1"})
	want := "the registry sends uploads to another host than the one in the reference"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `"registry.invalid"`) {
		t.Errorf("push: %v\nwant it to name registry.invalid and %q", err, want)
	}
	if _, _, _, err := r.FetchManifest(ctx, "v1"); !errors.Is(err, exporter.ErrNotFound) {
		t.Errorf("tag v1 after the refused push: %v, want not found", err)
	}
}
