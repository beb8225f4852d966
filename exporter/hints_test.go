package exporter_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestErrorHints: a refused request says what usually causes it, whether
// oras-go or affix's own request code met it: wrong credentials on a read
// (basic auth answers the request itself with 401), a registry that takes
// no writes (405 on PUT), a token server oras-go refuses to send
// credentials to, a certificate no trusted CA signed.
func TestErrorHints(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.Distribution, registrytest.Options{Auth: true})
	c, _ := client(staticCred(reg.Host, reg.Username, "nope"))
	_, _, _, err := target(t, reg.Host, "app", c).FetchManifest(ctx, "v1")
	if !errors.Is(err, exporter.ErrUnauthorized) || !strings.Contains(err.Error(), "app: reading tag v1: the registry refused the request: check the credentials for "+reg.Host) {
		t.Errorf("reading with a wrong password: %v, want ErrUnauthorized and a hint", err)
	}

	readOnly := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMethodNotAllowed)
	}))
	t.Cleanup(readOnly.Close)
	host := strings.TrimPrefix(readOnly.URL, "http://")
	c, _ = client(nil)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("{}"), Size: 2}
	for _, tc := range []struct {
		name, ref, want string
	}{
		{"by digest", desc.Digest.String(), "pushing manifest " + desc.Digest.String() + ": the registry takes no writes"},
		{"by tag", "v1", "pushing manifest " + desc.Digest.String() + " as tag v1: the registry takes no writes"},
	} {
		_, err := target(t, host, "app", c).PushManifest(ctx, desc, []byte("{}"), tc.ref, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: PUT answered 405: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, _, _, err := target(t, host, "app", c).FetchManifest(ctx, "v1"); err == nil || strings.Contains(err.Error(), "no writes") {
		t.Errorf("GET answered 405: %v, want an error without the read-only hint", err)
	}

	// A registry reached as localhost whose token realm names 127.0.0.1:
	// oras-go will not send credentials there.
	var realm string
	tokenAuth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="test"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(tokenAuth.Close)
	realm = tokenAuth.URL + "/token"
	host = strings.Replace(strings.TrimPrefix(tokenAuth.URL, "http://"), "127.0.0.1", "localhost", 1)
	if _, _, _, err := target(t, host, "app", c).FetchManifest(ctx, "v1"); err == nil || !strings.Contains(err.Error(), "reach the registry by the host name of its token realm") {
		t.Errorf("token realm on loopback under another name: %v, want the realm hint", err)
	}

	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsSrv.Close)
	host = strings.TrimPrefix(tlsSrv.URL, "https://")
	r, err := exporter.NewRemote(registry.Reference{Registry: host, Repository: "app"}, exporter.RemoteOptions{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := r.FetchManifest(ctx, "v1"); err == nil || !strings.Contains(err.Error(), "/etc/docker/certs.d/"+host+"/ca.crt") {
		t.Errorf("untrusted certificate: %v, want the certs.d hint", err)
	}

	// Plain HTTP to an HTTPS registry (--insecure-registry HOST, as
	// Docker users name a self-signed one): Go's server answers 400, to a
	// HEAD without the body that says why.
	plain, err := exporter.NewRemote(registry.Reference{Registry: host, Repository: "app"}, exporter.RemoteOptions{Client: c, PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	want := host + " answers HTTPS: drop --insecure-registry " + host
	if _, _, _, err := plain.FetchManifest(ctx, "v1"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("GET over plain HTTP to HTTPS: %v, want %q", err, want)
	}
	if _, err := plain.Exists(ctx, desc); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("HEAD over plain HTTP to HTTPS: %v, want %q", err, want)
	}

	// A write the credentials may not make: token registries answer 401
	// (insufficient_scope), not 403.
	noPush := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(noPush.Close)
	host = strings.TrimPrefix(noPush.URL, "http://")
	c, _ = client(staticCred(host, "reader", "pw"))
	if _, err := target(t, host, "app", c).PushManifest(ctx, desc, []byte("{}"), "v1", ""); !errors.Is(err, exporter.ErrUnauthorized) || !strings.Contains(err.Error(), "the credentials for "+host+" may not push to app") {
		t.Errorf("PUT answered 401: %v, want ErrUnauthorized and the push hint", err)
	}
}

// TestPresignedURLHidden: a blob the registry redirects to pre-signed
// storage that refuses it: the error names the storage host as the one
// that refused (not the registry, not the credentials) but holds no query
// (the signature).
func TestPresignedURLHidden(t *testing.T) {
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	t.Cleanup(storage.Close)
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, storage.URL+"/bucket/blob?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=TOPSECRET", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(reg.Close)
	c, _ := client(nil)
	r := target(t, strings.TrimPrefix(reg.URL, "http://"), "app", c)
	blob := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("layer"), Size: 5}
	_, err := r.Fetch(context.Background(), blob)
	storageHost := strings.TrimPrefix(storage.URL, "http://")
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") || strings.Contains(err.Error(), "AKIAEXAMPLE") ||
		!strings.Contains(err.Error(), storageHost+"/bucket/blob?…") || !errors.Is(err, exporter.ErrUnauthorized) ||
		!strings.Contains(err.Error(), "the storage host "+storageHost+" the registry redirected to refused it (403)") || strings.Contains(err.Error(), "credentials") {
		t.Errorf("err = %v; want the storage host named as refusing, its URL without its query, ErrUnauthorized", err)
	}
}

// TestBasicAuthCredentialsNamed: a basic-auth registry with no usable
// credentials names the host and the config file they were looked for in:
// none at all, or an identitytoken alone (for token registries only).
func TestBasicAuthCredentialsNamed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	const file = "/home/ci/.docker/config.json"
	for _, tc := range []struct {
		name string
		cred auth.CredentialFunc
		want string
	}{
		{"none", nil, "no credentials for " + host + " in " + file + " (docker login " + host},
		{"identitytoken", auth.StaticCredential(host, auth.Credential{RefreshToken: "tok"}),
			"the credentials for " + host + " in " + file + " have none (an identitytoken or registrytoken is only for token registries): docker login " + host},
	} {
		c, _ := client(tc.cred)
		r, err := exporter.NewRemote(registry.Reference{Registry: host, Repository: "app"}, exporter.RemoteOptions{Client: c, PlainHTTP: true, CredentialsFile: file})
		if err != nil {
			t.Fatal(err)
		}
		_, _, _, err = r.FetchManifest(context.Background(), "v1")
		if !errors.Is(err, exporter.ErrUnauthorized) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrUnauthorized and %q", tc.name, err, tc.want)
		}
	}
}
