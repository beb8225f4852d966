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
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestCertsDirs: a registry whose certificate a private CA signed is
// trusted through CERTS_DIR/HOST:PORT/*.crt, and one that asks for a
// client certificate gets NAME.cert with NAME.key from there, as the
// Docker daemon reads /etc/docker/certs.d.
func TestCertsDirs(t *testing.T) {
	dirs := exporter.CertsDirs
	t.Cleanup(func() { exporter.CertsDirs = dirs })
	absent := filepath.Join(t.TempDir(), "absent")

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
			// Each case its own certs.d: the files are read once per
			// CertsDirs and host, and a case's server may get the port
			// of one before it (a CI run failed "not PEM" so, reading
			// the earlier case's answer).
			certsDir := t.TempDir()
			exporter.CertsDirs = []string{absent, certsDir}
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

// TestClientCertificateRefusedOverHTTP2: a registry that speaks HTTP/2 and
// does not accept the client certificate certs.d offers, or gets none,
// refuses after Go's side of the TLS 1.3 handshake has ended. Over HTTP/2
// that refusal raced the connection's preface: the error was at times
// "http2: client conn could not be established" or a broken pipe, with no
// word of the certificate. Every attempt must say what to do.
func TestClientCertificateRefusedOverHTTP2(t *testing.T) {
	dirs := exporter.CertsDirs
	t.Cleanup(func() { exporter.CertsDirs = dirs })
	ca, err := registrytest.NewCA(t.TempDir(), "registry CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := registrytest.NewCA(t.TempDir(), "another CA")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.Server("registry", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := registrytest.TLSCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	clientCert, clientKey, err := other.Client("client")
	if err != nil {
		t.Fatal(err)
	}
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Each attempt a certs.d directory of its own: a new transport, a
	// new connection.
	for _, withCert := range []bool{true, false} {
		for i := range 20 {
			certsDir := t.TempDir()
			exporter.CertsDirs = []string{certsDir}
			hostDir := filepath.Join(certsDir, host)
			if err := os.MkdirAll(hostDir, 0o755); err != nil {
				t.Fatal(err)
			}
			copyFile(ca.CertFile, filepath.Join(hostDir, "ca.crt"))
			// The alert read, or only the connection closed (HTTP/2).
			want, want2 := "client certificate", "put it and its key as NAME.cert and NAME.key in /etc/docker/certs.d/"+host+"/"
			if withCert {
				copyFile(clientCert, filepath.Join(hostDir, "client.cert"))
				copyFile(clientKey, filepath.Join(hostDir, "client.key"))
				want = host + " did not accept the client certificate " + filepath.Join(hostDir, "client.cert")
				want2 = want
			}
			c, _ := client(nil)
			r, err := exporter.NewRemote(registry.Reference{Registry: host, Repository: "app"}, exporter.RemoteOptions{Client: c})
			if err != nil {
				t.Fatal(err)
			}
			_, _, _, err = r.FetchManifest(context.Background(), "v1")
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), want2) {
				t.Fatalf("client certificate %v, attempt %d: %v\nwant %q and %q", withCert, i+1, err, want, want2)
			}
		}
	}
}
