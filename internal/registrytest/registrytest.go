// Package registrytest runs registries for tests and benchmarks: olareg
// in-process with the referrers API on and off, Debian's docker-registry
// (distribution 2.8, no referrers API, optionally with htpasswd basic auth)
// and distribution v3 as real servers on free loopback ports with their
// own temporary storage, and a fault-injecting reverse proxy. LaunchSecure
// and StartSecure run the distribution kinds over TLS (a test CA, NewCA),
// with client certificates, htpasswd users or a test token server
// (NewTokenServer).
//
// Servers are started by Launch (which returns a Registry to Close) or, in
// tests, by Start, which stops them when the test ends and skips when a
// server binary is missing, unless AFFIX_INTEGRATION=1 (then it fails;
// distribution v3 is optional and always skips when not built).
package registrytest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/olareg/olareg"
	"github.com/olareg/olareg/config"
)

// Kind is a kind of registry.
type Kind string

// Registry kinds.
const (
	// OlaregAPI is olareg in-process with the referrers API.
	OlaregAPI Kind = "olareg-api"
	// OlaregNoAPI is olareg in-process with the referrers API off.
	OlaregNoAPI Kind = "olareg-noapi"
	// Distribution is Debian's docker-registry (distribution 2.8).
	Distribution Kind = "distribution"
	// DistributionV3 is distribution v3 (cmd/registry built into bin/registry,
	// or the binary AFFIX_REGISTRY_V3 names).
	DistributionV3 Kind = "distribution-v3"
)

// Kinds lists every kind, in the order tables use.
var Kinds = []Kind{OlaregAPI, OlaregNoAPI, Distribution, DistributionV3}

// ErrUnavailable means a registry server binary is not installed.
var ErrUnavailable = errors.New("registry server not available")

// Options configure a registry.
type Options struct {
	// Auth requires HTTP basic auth (htpasswd) with Username and Password;
	// only the distribution kinds support it.
	Auth bool
	// Username and Password default to "affix" and a fixed test password.
	Username, Password string
	// Delete lets clients delete manifests (DELETE by digest) from an
	// olareg registry, which refuses by default. The distribution kinds
	// always allow it (storage.delete.enabled).
	Delete bool
}

// Registry is a running registry.
type Registry struct {
	Kind Kind
	// Host is host:port, on 127.0.0.1.
	Host string
	// Referrers reports whether it serves the referrers API.
	Referrers bool
	// Username and Password are set when it requires auth.
	Username, Password string
	// Dir is its storage directory ("" for in-memory olareg).
	Dir   string
	close func() error
}

// Close stops the registry and removes its storage.
func (r *Registry) Close() error {
	if r.close == nil {
		return nil
	}
	err := r.close()
	r.close = nil
	return err
}

// Ref returns HOST/repo.
func (r *Registry) Ref(repo string) string { return r.Host + "/" + repo }

// DockerConfig writes a Docker config.json in dir with the registry's
// credentials (when it has some) and returns dir, for DOCKER_CONFIG.
func (r *Registry) DockerConfig(dir, username, password string) (string, error) {
	cfg := map[string]any{"auths": map[string]any{
		r.Host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(username + ":" + password))},
	}}
	b, _ := json.Marshal(cfg)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
}

// Launch starts a registry of kind k. Close stops it.
func Launch(ctx context.Context, k Kind, opts Options) (*Registry, error) {
	if opts.Auth {
		if opts.Username == "" {
			opts.Username = "affix"
		}
		if opts.Password == "" {
			opts.Password = "correct-horse-battery"
		}
	}
	switch k {
	case OlaregAPI, OlaregNoAPI:
		if opts.Auth {
			return nil, fmt.Errorf("%s: auth is not supported", k)
		}
		return launchOlareg(k == OlaregAPI, opts.Delete), nil
	case Distribution, DistributionV3:
		return launchDistribution(ctx, k, opts)
	}
	return nil, fmt.Errorf("unknown registry kind %q", k)
}

// Start starts a registry of kind k for the test and stops it when the
// test ends. A missing server binary skips the test, or fails it when
// AFFIX_INTEGRATION=1 (distribution v3 always skips: it is optional).
func Start(t testing.TB, k Kind, opts Options) *Registry {
	t.Helper()
	return startForTest(t, k, func() (*Registry, error) { return Launch(context.Background(), k, opts) })
}

// startForTest launches a registry of kind k for t and stops it when t
// ends; a missing server binary skips t, or fails it when
// AFFIX_INTEGRATION=1 (distribution v3 always skips: it is optional).
func startForTest[R interface{ Close() error }](t testing.TB, k Kind, launch func() (R, error)) R {
	t.Helper()
	r, err := launch()
	if errors.Is(err, ErrUnavailable) {
		if os.Getenv("AFFIX_INTEGRATION") == "1" && k != DistributionV3 {
			t.Fatalf("%s: %v (AFFIX_INTEGRATION=1: prerequisites are required)", k, err)
		}
		t.Skipf("%s: %v", k, err)
	}
	if err != nil {
		t.Fatalf("starting %s: %v", k, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func launchOlareg(referrers, del bool) *Registry {
	on := referrers
	srv := olareg.New(config.Config{
		Storage: config.ConfigStorage{StoreType: config.StoreMem},
		API:     config.ConfigAPI{Referrer: config.ConfigAPIReferrer{Enabled: &on}, DeleteEnabled: &del},
	})
	hs := httptest.NewServer(srv)
	kind := OlaregNoAPI
	if referrers {
		kind = OlaregAPI
	}
	return &Registry{
		Kind:      kind,
		Host:      strings.TrimPrefix(hs.URL, "http://"),
		Referrers: referrers,
		close: func() error {
			hs.Close()
			return srv.Close()
		},
	}
}

func dockerRegistryBinary() (string, error) {
	if p := os.Getenv("AFFIX_DOCKER_REGISTRY"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("docker-registry"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("docker-registry not found in PATH (apt-get install docker-registry): %w", ErrUnavailable)
}

func distributionV3Binary() (string, error) {
	if p := os.Getenv("AFFIX_REGISTRY_V3"); p != "" {
		return p, nil
	}
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(root, "bin", "registry")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("distribution v3 not built (GOBIN=$PWD/bin go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2): %w", ErrUnavailable)
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found")
		}
		dir = parent
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launchDistribution starts the plain HTTP registry of Launch: a secure
// one without TLS, with htpasswd auth when opts asks for it.
func launchDistribution(ctx context.Context, k Kind, opts Options) (*Registry, error) {
	var so SecureOptions
	if opts.Auth {
		so.Users = map[string]string{opts.Username: opts.Password}
	}
	s, err := LaunchSecure(ctx, k, so)
	if err != nil {
		return nil, err
	}
	r := s.Registry
	if opts.Auth {
		r.Username, r.Password = opts.Username, opts.Password
	}
	return r, nil
}
