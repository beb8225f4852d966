package registrytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// TokenServer is a bearer token server of the kind distribution's `auth:
// token` trusts (the Docker registry token protocol): a GET with basic
// auth (or none, anonymous), or an OAuth2 POST with a password or a
// refresh token (what a Docker config's identitytoken is), answered with
// a JWT that grants, per repository, the requested actions that Grant
// allowed the user. It is a test double for the part no local server
// provides; the registry that checks its tokens is a real one.
type TokenServer struct {
	// URL is its base URL (https when made with a CA); Realm is the
	// token endpoint.
	URL, Realm string
	// Service is the audience of its tokens, Issuer their issuer.
	Service, Issuer string
	// RootCertFile holds the certificate of its signing key, for the
	// registry's rootcertbundle.
	RootCertFile string

	srv       *httptest.Server
	key       *ecdsa.PrivateKey
	x5c       string
	untrusted *ecdsa.PrivateKey
	untrX5c   string

	mu       sync.Mutex
	users    map[string]string
	refresh  map[string]string
	grants   map[string]map[string][]string
	ttl      time.Duration
	badKey   bool
	failWith int
	strict   bool
	log      []TokenRequest
}

// TokenRequest is one request the token server answered.
type TokenRequest struct {
	// Method is GET (the token protocol) or POST (OAuth2).
	Method string
	// Account is the authenticated user, "" for anonymous.
	Account string
	// Scopes are the scopes asked for, in order.
	Scopes []string
	// Status is the HTTP status of the answer.
	Status int
}

// NewTokenServer starts a token server; dir receives its signing
// certificate. With ca it serves HTTPS with a certificate ca issues for
// 127.0.0.1 and localhost, else plain HTTP. Close stops it.
func NewTokenServer(dir string, ca *CA) (*TokenServer, error) {
	s := &TokenServer{
		Service: "affix-test-registry",
		Issuer:  "affix-test-token-server",
		users:   map[string]string{},
		refresh: map[string]string{},
		grants:  map[string]map[string][]string{},
		ttl:     5 * time.Minute,
	}
	var err error
	if s.key, s.x5c, err = signingKey(); err != nil {
		return nil, err
	}
	if s.untrusted, s.untrX5c, err = signingKey(); err != nil {
		return nil, err
	}
	der, _ := base64.StdEncoding.DecodeString(s.x5c)
	s.RootCertFile = filepath.Join(dir, "token-signer.crt")
	if err := writePEM(s.RootCertFile, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if ca != nil {
		certFile, keyFile, err := ca.Server("token-server", "127.0.0.1", "localhost")
		if err != nil {
			return nil, err
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	s.URL = s.srv.URL
	s.Realm = s.URL + "/token"
	return s, nil
}

// signingKey makes a key and a self-signed certificate for it, returned
// as an x5c header value (base64 DER).
func signingKey() (*ecdsa.PrivateKey, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "affix test token signer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, "", err
	}
	return key, base64.StdEncoding.EncodeToString(der), nil
}

// Close stops the server: its realm then refuses connections.
func (s *TokenServer) Close() { s.srv.Close() }

// AddUser lets user log in with password.
func (s *TokenServer) AddUser(user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[user] = password
}

// AddRefreshToken lets token stand for user in OAuth2 refresh_token
// grants (a Docker config's identitytoken).
func (s *TokenServer) AddRefreshToken(token, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh[token] = user
}

// Grant allows user ("" for anonymous requests) actions (pull, push,
// delete, "*") on repository repo, or on every repository when repo is
// "*".
func (s *TokenServer) Grant(user, repo string, actions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grants[user] == nil {
		s.grants[user] = map[string][]string{}
	}
	s.grants[user][repo] = append(s.grants[user][repo], actions...)
}

// SetTTL sets the lifetime of the tokens it issues from now on; one in
// the past (beyond distribution's minute of leeway) issues tokens that
// are expired already.
func (s *TokenServer) SetTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ttl = d
}

// SetUntrusted makes it sign tokens with a key the registry does not
// trust (on) or with its own (off).
func (s *TokenServer) SetUntrusted(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.badKey = on
}

// FailWith makes it answer every request with status (0: answer
// normally).
func (s *TokenServer) FailWith(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith = status
}

// RefuseUngranted makes it refuse (403) a token request asking for any
// action Grant did not allow, as some token servers do, rather than
// issue a token with only the actions allowed (off, distribution's
// reference behaviour).
func (s *TokenServer) RefuseUngranted(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.strict = on
}

// Requests returns the requests it answered, in order.
func (s *TokenServer) Requests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// Reset forgets the requests answered so far.
func (s *TokenServer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

func (s *TokenServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" {
		http.NotFound(w, r)
		return
	}
	req := TokenRequest{Method: r.Method}
	status, body := s.answer(r, &req)
	req.Status = status
	s.mu.Lock()
	s.log = append(s.log, req)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="affix-test-token-server"`)
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func (s *TokenServer) answer(r *http.Request, req *TokenRequest) (int, any) {
	s.mu.Lock()
	fail := s.failWith
	s.mu.Unlock()
	if fail != 0 {
		return fail, map[string]string{"error": "token server failure injected by the test"}
	}
	var service string
	oauth := false
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		service = q.Get("service")
		for _, sc := range q["scope"] {
			req.Scopes = append(req.Scopes, strings.Fields(sc)...)
		}
		if user, pw, ok := r.BasicAuth(); ok {
			if !s.checkPassword(user, pw) {
				return http.StatusUnauthorized, map[string]string{"details": "incorrect username or password"}
			}
			req.Account = user
		}
	case http.MethodPost:
		oauth = true
		if err := r.ParseForm(); err != nil {
			return http.StatusBadRequest, map[string]string{"error": "invalid_request"}
		}
		service = r.PostForm.Get("service")
		req.Scopes = strings.Fields(r.PostForm.Get("scope"))
		switch r.PostForm.Get("grant_type") {
		case "password":
			user := r.PostForm.Get("username")
			if !s.checkPassword(user, r.PostForm.Get("password")) {
				return http.StatusUnauthorized, map[string]string{"error": "invalid_grant"}
			}
			req.Account = user
		case "refresh_token":
			s.mu.Lock()
			user, ok := s.refresh[r.PostForm.Get("refresh_token")]
			s.mu.Unlock()
			if !ok {
				return http.StatusUnauthorized, map[string]string{"error": "invalid_grant"}
			}
			req.Account = user
		default:
			return http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"}
		}
	default:
		return http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"}
	}
	if service != s.Service {
		return http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("unknown service %q", service)}
	}
	if sc, ok := s.ungranted(req.Account, req.Scopes); ok {
		return http.StatusForbidden, map[string]string{"error": "denied", "details": "access to " + sc + " denied"}
	}
	tok, ttl, err := s.token(req.Account, req.Scopes)
	if err != nil {
		return http.StatusInternalServerError, map[string]string{"error": err.Error()}
	}
	secs := int(ttl / time.Second)
	if oauth {
		return http.StatusOK, map[string]any{"access_token": tok, "expires_in": secs, "scope": strings.Join(req.Scopes, " ")}
	}
	return http.StatusOK, map[string]any{"token": tok, "access_token": tok, "expires_in": secs, "issued_at": time.Now().UTC().Format(time.RFC3339)}
}

// ungranted returns the first of scopes asking for an action Grant did
// not allow account, when RefuseUngranted is on.
func (s *TokenServer) ungranted(account string, scopes []string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.strict {
		return "", false
	}
	for _, sc := range scopes {
		parts := strings.Split(sc, ":")
		if len(parts) != 3 || parts[0] != "repository" {
			continue
		}
		for _, a := range strings.Split(parts[2], ",") {
			if !slices.Contains(s.grants[account][parts[1]], a) {
				return sc, true
			}
		}
	}
	return "", false
}

func (s *TokenServer) checkPassword(user, pw string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	want, ok := s.users[user]
	return ok && want == pw
}

type tokenAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// token signs a JWT for account granting of scopes what Grant allowed.
func (s *TokenServer) token(account string, scopes []string) (string, time.Duration, error) {
	s.mu.Lock()
	grants := s.grants[account]
	ttl := s.ttl
	key, x5c := s.key, s.x5c
	if s.badKey {
		key, x5c = s.untrusted, s.untrX5c
	}
	access := []tokenAccess{}
	for _, sc := range scopes {
		typ, rest, ok := strings.Cut(sc, ":")
		if !ok || typ != "repository" {
			continue
		}
		i := strings.LastIndex(rest, ":")
		if i < 0 {
			continue
		}
		name, wanted := rest[:i], strings.Split(rest[i+1:], ",")
		allowed := append(slices.Clone(grants[name]), grants["*"]...)
		var got []string
		for _, a := range wanted {
			if slices.Contains(allowed, a) || slices.Contains(allowed, "*") {
				got = append(got, a)
			}
		}
		if len(got) > 0 {
			access = append(access, tokenAccess{Type: "repository", Name: name, Actions: got})
		}
	}
	s.mu.Unlock()
	now := time.Now()
	jti := make([]byte, 8)
	rand.Read(jti)
	claims := map[string]any{
		"iss":    s.Issuer,
		"sub":    account,
		"aud":    s.Service,
		"exp":    now.Add(ttl).Unix(),
		"nbf":    now.Add(-time.Minute).Unix(),
		"iat":    now.Unix(),
		"jti":    base64.RawURLEncoding.EncodeToString(jti),
		"access": access,
	}
	header := map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{x5c}}
	hb, err := json.Marshal(header)
	if err != nil {
		return "", 0, err
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", 0, err
	}
	signing := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sum := sha256.Sum256([]byte(signing))
	r, sig, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return "", 0, err
	}
	raw := make([]byte, 64)
	r.FillBytes(raw[:32])
	sig.FillBytes(raw[32:])
	if ttl < 0 {
		ttl = 0
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(raw), ttl, nil
}
