package registrytest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// SecureOptions configure a distribution registry (Distribution or
// DistributionV3) as a release pipeline meets one: over TLS, with basic
// or token authentication.
type SecureOptions struct {
	// CA, when set, makes the registry serve HTTPS with a certificate it
	// issues for 127.0.0.1 and localhost.
	CA *CA
	// ClientCerts makes the registry require a client certificate that CA
	// signed (mutual TLS); ClientCert and ClientKey are then one.
	ClientCerts bool
	// Users are htpasswd basic auth users (name to password).
	Users map[string]string
	// Token makes the registry require bearer tokens of this server
	// (distribution's `auth: token`); Users are then ignored.
	Token *TokenServer
	// AdvertisedURL is distribution's http.host: the base URL the
	// registry puts in its Location headers instead of the one it was
	// reached by, as one behind a proxy under another name does.
	AdvertisedURL string
}

// SecureRegistry is a running registry started by LaunchSecure.
type SecureRegistry struct {
	*Registry
	// Scheme is "https" or "http".
	Scheme string
	// ClientCert and ClientKey are a client certificate the registry
	// accepts, with ClientCerts.
	ClientCert, ClientKey string
}

// URL returns the registry's base URL.
func (r *SecureRegistry) URL() string { return r.Scheme + "://" + r.Host }

// StartSecure starts a registry as LaunchSecure does, for the test, and
// stops it when the test ends; a missing server binary skips the test as
// Start does.
func StartSecure(t testing.TB, k Kind, opts SecureOptions) *SecureRegistry {
	t.Helper()
	return startForTest(t, k, func() (*SecureRegistry, error) { return LaunchSecure(context.Background(), k, opts) })
}

// LaunchSecure starts a distribution registry (k is Distribution or
// DistributionV3) with opts on a free port of 127.0.0.1. Close stops it.
func LaunchSecure(ctx context.Context, k Kind, opts SecureOptions) (*SecureRegistry, error) {
	var bin string
	var err error
	switch k {
	case Distribution:
		bin, err = dockerRegistryBinary()
	case DistributionV3:
		bin, err = distributionV3Binary()
	default:
		return nil, fmt.Errorf("%s: secure registries are distribution only", k)
	}
	if err != nil {
		return nil, err
	}
	if opts.ClientCerts && opts.CA == nil {
		return nil, errors.New("client certificates need a CA")
	}
	dir, err := os.MkdirTemp("", "affix-registry-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for try := 0; try < 3; try++ {
		r, err := startSecure(ctx, k, bin, dir, opts)
		if err == nil {
			return r, nil
		}
		lastErr = err
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func startSecure(ctx context.Context, k Kind, bin, dir string, opts SecureOptions) (*SecureRegistry, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	// Every answer of this server carries nonce: the port was free a
	// moment ago, and a server another test started since (tests run in
	// parallel) may hold it, while this one fails to bind and exits.
	nonce := fmt.Sprintf("%d-%d", port, time.Now().UnixNano())
	r := &SecureRegistry{Registry: &Registry{Kind: k, Host: host, Dir: dir}, Scheme: "http"}
	var b strings.Builder
	fmt.Fprintf(&b, `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: affix-test-secret
  headers:
    X-Affix-Registry: [%q]
`, filepath.Join(dir, "data"), host, nonce)
	if opts.AdvertisedURL != "" {
		fmt.Fprintf(&b, "  host: %q\n", opts.AdvertisedURL)
	}
	probe := &http.Transport{}
	if opts.CA != nil {
		r.Scheme = "https"
		certFile, keyFile, err := opts.CA.Server(fmt.Sprintf("registry-%d", port), "127.0.0.1", "localhost")
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "  tls:\n    certificate: %s\n    key: %s\n", certFile, keyFile)
		probe.TLSClientConfig = &tls.Config{RootCAs: opts.CA.Pool(), MinVersion: tls.VersionTLS12}
		if opts.ClientCerts {
			fmt.Fprintf(&b, "    clientcas:\n      - %s\n", opts.CA.CertFile)
			r.ClientCert, r.ClientKey, err = opts.CA.Client(fmt.Sprintf("client-%d", port))
			if err != nil {
				return nil, err
			}
			cert, err := tls.LoadX509KeyPair(r.ClientCert, r.ClientKey)
			if err != nil {
				return nil, err
			}
			probe.TLSClientConfig.Certificates = []tls.Certificate{cert}
		}
	}
	switch {
	case opts.Token != nil:
		fmt.Fprintf(&b, "auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			opts.Token.Realm, opts.Token.Service, opts.Token.Issuer, opts.Token.RootCertFile)
	case len(opts.Users) > 0:
		names := make([]string, 0, len(opts.Users))
		for u := range opts.Users {
			names = append(names, u)
		}
		sort.Strings(names)
		var lines strings.Builder
		for _, u := range names {
			hash, err := bcrypt.GenerateFromPassword([]byte(opts.Users[u]), bcrypt.MinCost)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&lines, "%s:%s\n", u, hash)
		}
		pw := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(pw, []byte(lines.String()), 0o600); err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "auth:\n  htpasswd:\n    realm: affix-test\n    path: %s\n", pw)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		return nil
	}
	hc := &http.Client{Transport: probe, Timeout: 2 * time.Second}
	defer probe.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			logf.Close()
			out, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			return nil, fmt.Errorf("%s exited: %v: %s", bin, err, out)
		case <-ctx.Done():
			stop()
			return nil, ctx.Err()
		default:
		}
		resp, err := hc.Get(r.URL() + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("X-Affix-Registry") != nonce {
				stop()
				return nil, fmt.Errorf("%s: another server answers on %s", bin, host)
			}
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("%s did not answer on %s", bin, r.URL())
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.close = func() error {
		err := stop()
		os.RemoveAll(dir)
		return err
	}
	return r, nil
}

// Log returns what the registry wrote to its log so far.
func (r *SecureRegistry) Log() string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, "registry.log"))
	return string(b)
}
