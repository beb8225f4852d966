package exporter_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/affix-oci/affix/exporter"
)

func TestPlainLoopback(t *testing.T) {
	var requests atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) })
	plain := httptest.NewServer(h)
	defer plain.Close()
	secure := httptest.NewTLSServer(h)
	defer secure.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	// An HTTP/0.9-style answer: an HTML page without a status line, as
	// Python's http.server sends to a request line it cannot parse.
	html, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer html.Close()
	go func() {
		for {
			c, err := html.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 512))
			c.Write([]byte("<!DOCTYPE HTML>\n<html><body>400 Bad request</body></html>\n"))
			c.Close()
		}
	}()
	host := func(s *httptest.Server) string { return s.Listener.Addr().String() }
	_, plainPort, _ := net.SplitHostPort(host(plain))

	for _, tt := range []struct {
		name, host string
		want       bool
	}{
		{"plain HTTP on 127.0.0.1", host(plain), true},
		{"plain HTTP on localhost", "localhost:" + plainPort, true},
		{"plain HTTP on LOCALHOST", "LOCALHOST:" + plainPort, true},
		{"plain HTTP answering without a status line", html.Addr().String(), true},
		{"TLS", host(secure), false},
		{"nothing listening", closedAddr, false},
		{"not a loopback host", "registry.invalid:" + plainPort, false},
		{"a name that only starts like localhost", "localhost.invalid:" + plainPort, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := exporter.PlainLoopback(context.Background(), tt.host); got != tt.want {
				t.Errorf("PlainLoopback(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
	// A host with TLS files set up for it stays on HTTPS: a plain server
	// on its port is not the registry its owner configured.
	t.Run("TLS files for the host", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, host(plain)), 0o755); err != nil {
			t.Fatal(err)
		}
		saved := exporter.CertsDirs
		exporter.CertsDirs = []string{dir}
		defer func() { exporter.CertsDirs = saved }()
		if exporter.PlainLoopback(context.Background(), host(plain)) {
			t.Errorf("PlainLoopback(%q) with %s/%s: true, want false", host(plain), dir, host(plain))
		}
	})
	if n := requests.Load(); n != 0 {
		t.Errorf("the probes made %d HTTP requests, want none", n)
	}
}
