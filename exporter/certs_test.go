package exporter_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/buildkittest"
)

// TestCertsDirs: a registry whose certificate a private CA signed is
// trusted through CERTS_DIR/HOST:PORT/*.crt, and one that asks for a
// client certificate gets NAME.cert with NAME.key from there, as the
// Docker daemon reads /etc/docker/certs.d.
func TestCertsDirs(t *testing.T) {
	dirs := exporter.CertsDirs
	t.Cleanup(func() { exporter.CertsDirs = dirs })
	certsDir := t.TempDir()
	exporter.CertsDirs = []string{filepath.Join(t.TempDir(), "absent"), certsDir}

	// A throwaway CA, a server certificate for 127.0.0.1 and a client
	// certificate it signed.
	server, cl, err := buildkittest.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	caPEM, clientCert, clientKey := read(server.CACert), read(cl.Cert), read(cl.Key)
	serverPair, err := tls.LoadX509KeyPair(server.Cert, server.Key)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AppendCertsFromPEM(caPEM)

	for _, tc := range []struct {
		name   string
		mTLS   bool
		files  map[string][]byte // in CERTS_DIR/HOST:PORT
		errHas string            // "" means the registry answered (404)
	}{
		{name: "no directory", errHas: "certificate signed by unknown authority"},
		{name: "CA", files: map[string][]byte{"ca.crt": caPEM}},
		{name: "client certificate missing", mTLS: true, files: map[string][]byte{"ca.crt": caPEM}, errHas: "certificate"},
		{name: "client certificate", mTLS: true, files: map[string][]byte{"ca.crt": caPEM, "client.cert": clientCert, "client.key": clientKey}},
		{name: "key without certificate", files: map[string][]byte{"ca.crt": caPEM, "client.key": clientKey}, errHas: "has no client.cert beside it"},
		{name: "not PEM", files: map[string][]byte{"ca.crt": []byte("nope")}, errHas: "no PEM certificate in it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.NotFoundHandler())
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverPair}}
			if tc.mTLS {
				srv.TLS.ClientAuth, srv.TLS.ClientCAs = tls.RequireAndVerifyClientCert, clientCAs
			}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			host := strings.TrimPrefix(srv.URL, "https://")
			if tc.files != nil {
				hostDir := filepath.Join(certsDir, host)
				os.MkdirAll(hostDir, 0o755)
				for name, data := range tc.files {
					if err := os.WriteFile(filepath.Join(hostDir, name), data, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			c, _ := client(nil)
			r, err := exporter.NewRemote(registry.Reference{Registry: host, Repository: "app"}, exporter.RemoteOptions{Client: c})
			if err != nil {
				t.Fatal(err)
			}
			_, _, _, err = r.FetchManifest(context.Background(), "v1")
			if tc.errHas == "" {
				if !errors.Is(err, exporter.ErrNotFound) {
					t.Errorf("err = %v, want the registry's 404", err)
				}
				return
			}
			if err == nil || errors.Is(err, exporter.ErrNotFound) || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("err = %v, want one with %q", err, tc.errHas)
			}
		})
	}
}
