package registrytest

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestSecure: StartSecure serves HTTPS with a certificate of the test's
// CA, with htpasswd users, client certificates, or the tokens of a
// TokenServer, which grants per repository what Grant allowed.
func TestSecure(t *testing.T) {
	for _, k := range []Kind{Distribution, DistributionV3} {
		t.Run(string(k), func(t *testing.T) {
			dir := t.TempDir()
			ca, err := NewCA(dir, "test CA")
			if err != nil {
				t.Fatal(err)
			}
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
			get := func(url string, set func(*http.Request)) *http.Response {
				t.Helper()
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				if set != nil {
					set(req)
				}
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}

			basic := StartSecure(t, k, SecureOptions{CA: ca, Users: map[string]string{"u": "p"}})
			if resp := get(basic.URL()+"/v2/", nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("basic, anonymous: %s", resp.Status)
			}
			if resp := get(basic.URL()+"/v2/", func(r *http.Request) { r.SetBasicAuth("u", "p") }); resp.StatusCode != http.StatusOK {
				t.Errorf("basic, user: %s", resp.Status)
			}

			mtls := StartSecure(t, k, SecureOptions{CA: ca, ClientCerts: true})
			if _, err := hc.Get(mtls.URL() + "/v2/"); err == nil {
				t.Errorf("mutual TLS without a client certificate: no error")
			}

			ts, err := NewTokenServer(dir, ca)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(ts.Close)
			ts.AddUser("u", "p")
			ts.Grant("u", "ro", "pull")
			tok := StartSecure(t, k, SecureOptions{CA: ca, Token: ts})
			resp := get(tok.URL()+"/v2/ro/tags/list", nil)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `realm="`+ts.Realm+`"`) {
				t.Fatalf("token, anonymous: %s %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
			}
			token := func(scope string) string {
				req, _ := http.NewRequest(http.MethodGet, ts.Realm+"?service="+ts.Service+"&scope="+scope, nil)
				req.SetBasicAuth("u", "p")
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body struct{ Token string }
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Token == "" {
					t.Fatalf("token: %s %v", resp.Status, err)
				}
				return body.Token
			}
			bearer := func(tok string) func(*http.Request) {
				return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
			}
			// ro exists once something was pushed there; a 404 (not
			// a 401) shows the token was accepted.
			if resp := get(tok.URL()+"/v2/ro/tags/list", bearer(token("repository:ro:pull"))); resp.StatusCode != http.StatusNotFound {
				t.Errorf("token with pull on ro: %s, want 404 (accepted, no repository)", resp.Status)
			}
			if resp := get(tok.URL()+"/v2/other/tags/list", bearer(token("repository:other:pull"))); resp.StatusCode != http.StatusUnauthorized ||
				!strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") {
				t.Errorf("token without rights on other: %s %q, want 401 insufficient_scope", resp.Status, resp.Header.Get("WWW-Authenticate"))
			}
			ts.SetUntrusted(true)
			if resp := get(tok.URL()+"/v2/ro/tags/list", bearer(token("repository:ro:pull"))); resp.StatusCode != http.StatusUnauthorized ||
				!strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("token of an untrusted key: %s %q, want 401 invalid_token", resp.Status, resp.Header.Get("WWW-Authenticate"))
			}
			if n := len(ts.Requests()); n != 3 {
				t.Errorf("%d token requests logged, want 3", n)
			}
		})
	}
}
