package buildkittest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
)

func TestStartStop(t *testing.T) {
	bin := Require(t)
	d, err := StartDaemon(t.Context(), bin)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(t.Context(), d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := c.ListWorkers(t.Context())
	c.Close()
	if err != nil || len(ws) == 0 {
		t.Fatalf("workers %v, err %v", ws, err)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(d.Root); !os.IsNotExist(err) {
		t.Errorf("root %s left behind (%v)", d.Root, err)
	}
}

func TestGenerateTLS(t *testing.T) {
	server, cl, err := GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(server.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("bad CA PEM")
	}
	for _, f := range []TLSFiles{server, cl} {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		usage := x509.ExtKeyUsageClientAuth
		if f == server {
			usage = x509.ExtKeyUsageServerAuth
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: time.Now(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("%s: %v", f.Cert, err)
		}
	}
	pair, _ := tls.LoadX509KeyPair(server.Cert, server.Key)
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if err := leaf.VerifyHostname(ServerName); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
}

func TestFindBusyboxMissing(t *testing.T) {
	t.Setenv(EnvBusybox, "/nonexistent/busybox")
	if _, err := FindBusybox(); err == nil {
		t.Error("FindBusybox accepted a missing file")
	}
}
