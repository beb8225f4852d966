package exporter

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// CertsDirs are the directories searched for a registry host's TLS files,
// laid out as the Docker daemon and podman read them:
// DIR/HOST[:PORT]/*.crt are CA certificates trusted for that host beside
// the system's roots, and DIR/HOST[:PORT]/NAME.cert with NAME.key a client
// certificate it is offered. A host without a directory uses the system's
// roots alone. A host's files are read at its first request and kept for
// the process: set CertsDirs before any. (Setting it to other directories
// makes the next request of each host read them anew, which tests that
// start servers on ports used before rely on.)
var CertsDirs = []string{"/etc/docker/certs.d", "/etc/containers/certs.d"}

// hostTransport sends each HTTPS request through a transport for its
// host: base's settings with the TLS files CertsDirs holds for the host,
// or base itself when there are none. The files are read once per host.
type hostTransport struct {
	base *http.Transport

	mu     sync.Mutex
	byHost map[string]hostTLS // by CertsDirs and host
}

type hostTLS struct {
	rt  http.RoundTripper
	err error
}

func (t *hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return t.base.RoundTrip(req)
	}
	rt, err := t.forHost(req.URL.Host)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return rt.RoundTrip(req)
}

func (t *hostTransport) forHost(host string) (http.RoundTripper, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := strings.Join(CertsDirs, "\x00") + "\x00" + host
	if h, ok := t.byHost[key]; ok {
		return h.rt, h.err
	}
	var h hostTLS
	cfg, err := hostTLSConfig(CertsDirs, host)
	switch {
	case err != nil:
		h.err = &certsError{err}
	case cfg == nil:
		h.rt = t.base
	default:
		tr := t.base.Clone()
		tr.TLSClientConfig = cfg
		if len(cfg.Certificates) > 0 {
			// A registry refuses a client certificate after Go's side
			// of the TLS 1.3 handshake has ended. Over HTTP/2 its alert
			// races the connection preface and is often lost ("http2:
			// client conn could not be established", a broken pipe);
			// HTTP/1.1 reads it as the answer to the request, so the
			// error names the certificate. The Docker daemon talks
			// HTTP/1.1 to registries too.
			var p http.Protocols
			p.SetHTTP1(true)
			tr.Protocols = &p
		}
		h.rt = tr
	}
	if t.byHost == nil {
		t.byHost = map[string]hostTLS{}
	}
	t.byHost[key] = h
	return h.rt, h.err
}

// hostTLSConfig returns the TLS configuration for registry host from the
// first of dirs that has a directory for it, nil when none has.
func hostTLSConfig(dirs []string, host string) (*tls.Config, error) {
	for _, dir := range dirs {
		hostDir := filepath.Join(dir, host)
		ents, err := os.ReadDir(hostDir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("registry %s: reading certificates: %w", host, err)
		}
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		for _, e := range ents {
			name := e.Name()
			p := filepath.Join(hostDir, name)
			switch filepath.Ext(name) {
			case ".crt":
				if cfg.RootCAs == nil {
					if cfg.RootCAs, err = x509.SystemCertPool(); err != nil {
						cfg.RootCAs = x509.NewCertPool()
					}
				}
				pem, err := os.ReadFile(p)
				if err != nil {
					return nil, fmt.Errorf("registry %s: %w", host, err)
				}
				if !cfg.RootCAs.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("registry %s: %s: no PEM certificate in it", host, p)
				}
			case ".cert":
				key := strings.TrimSuffix(p, ".cert") + ".key"
				pair, err := tls.LoadX509KeyPair(p, key)
				if err != nil {
					return nil, fmt.Errorf("registry %s: client certificate %s with key %s: %w", host, p, key, err)
				}
				cfg.Certificates = append(cfg.Certificates, pair)
			case ".key":
				if _, err := os.Stat(strings.TrimSuffix(p, ".key") + ".cert"); err != nil {
					return nil, fmt.Errorf("registry %s: client key %s has no %s beside it", host, p, strings.TrimSuffix(name, ".key")+".cert")
				}
			}
		}
		return cfg, nil
	}
	return nil, nil
}

// certsError is an error reading a host's TLS files: the request was never
// sent. Its text is the error's own.
type certsError struct{ error }

func (e *certsError) Unwrap() error { return e.error }
