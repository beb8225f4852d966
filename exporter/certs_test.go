package exporter_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
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

	clientCert, clientKey := selfSigned(t)
	clientPool := x509.NewCertPool()
	block, _ := pem.Decode(clientCert)
	parsed, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	clientPool.AddCert(parsed)

	for _, tc := range []struct {
		name   string
		mTLS   bool
		files  map[string][]byte // in CERTS_DIR/HOST:PORT; "ca.crt": nil means the server's certificate
		errHas string            // "" means the registry answered (404)
	}{
		{name: "no directory", errHas: "certificate signed by unknown authority"},
		{name: "CA", files: map[string][]byte{"ca.crt": nil}},
		{name: "client certificate missing", mTLS: true, files: map[string][]byte{"ca.crt": nil}, errHas: "certificate"},
		{name: "client certificate", mTLS: true, files: map[string][]byte{"ca.crt": nil, "client.cert": clientCert, "client.key": clientKey}},
		{name: "key without certificate", files: map[string][]byte{"ca.crt": nil, "client.key": clientKey}, errHas: "has no client.cert beside it"},
		{name: "not PEM", files: map[string][]byte{"ca.crt": []byte("nope")}, errHas: "no PEM certificate in it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.NotFoundHandler())
			if tc.mTLS {
				srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientPool}
			}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			host := strings.TrimPrefix(srv.URL, "https://")
			if tc.files != nil {
				hostDir := filepath.Join(certsDir, host)
				os.MkdirAll(hostDir, 0o755)
				for name, data := range tc.files {
					if data == nil {
						data = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
					}
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

// selfSigned returns a PEM client certificate and its PEM key.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "affix test client"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
