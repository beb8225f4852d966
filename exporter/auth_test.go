package exporter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote/auth"
)

type authCred = auth.Credential

func staticCred(host, user, pw string) auth.CredentialFunc {
	if user == "" {
		return nil
	}
	return auth.StaticCredential(host, auth.Credential{Username: user, Password: pw})
}

// TestTokenServerAnswers: a token server that denies the scope (403: it
// took the credentials) names the repository and action, not the
// credentials as wrong; one answering something that is not JSON is named
// as the token server.
func TestTokenServerAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  func(http.ResponseWriter)
		want    []string
		notWant string
	}{
		{"403", func(w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) },
			[]string{"token server", "denied pull on team/app (403)", "no such right"}, "check the credentials"},
		{"401", func(w http.ResponseWriter) { w.WriteHeader(http.StatusUnauthorized) },
			[]string{"refused the credentials given", "check the credentials"}, "denied"},
		{"HTML", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>login</html>"))
		}, []string{"the registry's token server", "answered with no token", "failed to decode response"}, "check the credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tc.answer(w) }))
			t.Cleanup(tokens.Close)
			reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+tokens.URL+`/token",service="test",scope="repository:team/app:pull"`)
				w.WriteHeader(http.StatusUnauthorized)
			}))
			t.Cleanup(reg.Close)
			c, _ := client(nil)
			_, _, _, err := target(t, strings.TrimPrefix(reg.URL, "http://"), "team/app", c).FetchManifest(context.Background(), "v1")
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range append(tc.want, strings.TrimPrefix(tokens.URL, "http://")) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("want %q in: %v", want, err)
				}
			}
			if strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("want no %q in: %v", tc.notWant, err)
			}
		})
	}
}
