package integration

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/affix-oci/affix/internal/buildkittest"
	"github.com/affix-oci/affix/internal/registrytest"
)

// EnvBin names an affix binary to test instead of building one.
const EnvBin = "AFFIX_BIN"

// runTimeout bounds one affix command.
const runTimeout = 5 * time.Minute

// The services are shared by every test of the package (started by the
// first test that needs them, stopped by TestMain), so that buildkitd's
// cache and the registries stay warm; each test uses its own repositories.
var shared struct {
	mu         sync.Mutex
	bin        string
	binErr     error
	binOnce    sync.Once
	tmp        string
	daemons    []*buildkittest.Daemon
	daemonErr  error
	registries map[registrytest.Kind]*registrytest.Registry
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(func() int {
		defer stopAll()
		return m.Run()
	}())
}

func stopAll() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for _, d := range shared.daemons {
		if d != nil {
			d.Stop()
		}
	}
	for _, r := range shared.registries {
		r.Close()
	}
	if shared.tmp != "" {
		os.RemoveAll(shared.tmp)
	}
}

// requireIntegration skips t under -short, or when what is missing;
// AFFIX_INTEGRATION=1 makes that a failure.
func requireIntegration(t *testing.T, what error) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if what == nil {
		return
	}
	if os.Getenv(buildkittest.EnvIntegration) == "1" {
		t.Fatalf("integration prerequisite missing (%s=1): %v", buildkittest.EnvIntegration, what)
	}
	t.Skipf("integration test skipped: %v (set %s=1 to fail instead)", what, buildkittest.EnvIntegration)
}

// affixBin returns the affix binary: $AFFIX_BIN, else one built once from
// this checkout into a temporary directory.
func affixBin(t *testing.T) string {
	t.Helper()
	requireIntegration(t, nil)
	shared.binOnce.Do(func() {
		if p := os.Getenv(EnvBin); p != "" {
			shared.bin, shared.binErr = filepath.Abs(p)
			return
		}
		root, err := buildkittest.RepoRoot()
		if err != nil {
			shared.binErr = err
			return
		}
		dir, err := tempRoot()
		if err != nil {
			shared.binErr = err
			return
		}
		out := filepath.Join(dir, "affix")
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/affix")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			shared.binErr = fmt.Errorf("go build ./cmd/affix: %v: %s", err, b)
			return
		}
		shared.bin = out
	})
	if shared.binErr != nil {
		t.Fatal(shared.binErr)
	}
	return shared.bin
}

// toolBin returns the path of the client tool name (oras, regctl, trivy:
// `make clients` installs them into bin/), from PATH or bin/; it skips t
// without it unless AFFIX_INTEGRATION=1.
func toolBin(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	root, err := buildkittest.RepoRoot()
	if err == nil {
		p := filepath.Join(root, "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	requireIntegration(t, fmt.Errorf("%s not found on PATH or in bin/ (make clients)", name))
	return ""
}

func tempRoot() (string, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.tmp == "" {
		d, err := os.MkdirTemp("", "affix-integration-")
		if err != nil {
			return "", err
		}
		shared.tmp = d
	}
	return shared.tmp, nil
}

// daemon returns the i-th shared buildkitd (0 for most tests; 1 is the
// second node of the two-node tests), starting it when needed.
func daemon(t *testing.T, i int) *buildkittest.Daemon {
	t.Helper()
	bin := buildkittest.Require(t)
	buildkittest.Busybox(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for len(shared.daemons) <= i {
		shared.daemons = append(shared.daemons, nil)
	}
	if shared.daemons[i] == nil {
		d, err := buildkittest.StartDaemon(context.Background(), bin)
		if err != nil {
			t.Fatalf("starting buildkitd: %v", err)
		}
		shared.daemons[i] = d
	}
	d := shared.daemons[i]
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("buildkitd %s output (end):\n%s", d.Addr, tail(d.Log(), 3000))
		}
	})
	return d
}

// registry returns the shared registry of kind k, starting it when
// needed. A missing server skips t (fails it with AFFIX_INTEGRATION=1,
// except distribution v3, which is optional).
func registry(t *testing.T, k registrytest.Kind) *registrytest.Registry {
	t.Helper()
	requireIntegration(t, nil)
	r, err := startRegistry(k)
	if errors.Is(err, registrytest.ErrUnavailable) {
		if k == registrytest.DistributionV3 {
			t.Skipf("%s: %v", k, err)
		}
		requireIntegration(t, err)
	}
	if err != nil {
		t.Fatalf("starting %s: %v", k, err)
	}
	return r
}

func startRegistry(k registrytest.Kind) (*registrytest.Registry, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if r := shared.registries[k]; r != nil {
		return r, nil
	}
	r, err := registrytest.Launch(context.Background(), k, registrytest.Options{})
	if err != nil {
		return nil, err
	}
	if shared.registries == nil {
		shared.registries = map[registrytest.Kind]*registrytest.Registry{}
	}
	shared.registries[k] = r
	return r, nil
}

// result is what one affix command did.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("affix %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, tail(r.stdout, 4000), tail(r.stderr, 6000))
}

// env is the environment of affix commands in a test: its own Docker
// config and SBOM cache, no BUILDKIT_HOST or SOURCE_DATE_EPOCH from the
// caller.
type env struct {
	vars []string
}

func newEnv(t *testing.T, extra ...string) *env {
	t.Helper()
	var vars []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "BUILDKIT_HOST", "SOURCE_DATE_EPOCH", "DOCKER_CONFIG", "AFFIX_CACHE_DIR":
			continue
		}
		vars = append(vars, kv)
	}
	vars = append(vars, "DOCKER_CONFIG="+t.TempDir(), "AFFIX_CACHE_DIR="+t.TempDir())
	return &env{vars: append(vars, extra...)}
}

// with returns a copy of e with kv set.
func (e *env) with(kv ...string) *env {
	return &env{vars: append(append([]string(nil), e.vars...), kv...)}
}

// run runs affix with args and returns what it did.
func (e *env) run(t *testing.T, args ...string) result {
	t.Helper()
	return e.runInput(t, "", args...)
}

// runInput is run with input on affix's stdin.
func (e *env) runInput(t *testing.T, input string, args ...string) result {
	t.Helper()
	bin := affixBin(t)
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.vars
	cmd.Stdin = strings.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running affix %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// ok runs affix and fails t unless it succeeds.
func (e *env) ok(t *testing.T, args ...string) result {
	t.Helper()
	r := e.run(t, args...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
