// Package buildkittest starts throwaway buildkitd daemons for integration
// tests: the OCI worker with runc and the native snapshotter, a temporary
// root and a unix socket, stopped and removed when the test ends.
//
// Tests that need a daemon call Start (or Require, then StartDaemon for a
// daemon shared by a package's tests). A missing prerequisite (root, runc,
// buildkitd) skips the test, unless AFFIX_INTEGRATION=1, which makes it a
// failure.
package buildkittest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
)

// EnvBuildkitd names the buildkitd binary to use, before $PATH and the
// repository's bin/.
const EnvBuildkitd = "AFFIX_BUILDKITD"

// EnvIntegration set to 1 turns skips for missing prerequisites into
// failures (make test sets it).
const EnvIntegration = "AFFIX_INTEGRATION"

// ReadyTimeout bounds how long StartDaemon waits for buildkitd to answer.
const ReadyTimeout = 60 * time.Second

// Daemon is a running buildkitd.
type Daemon struct {
	// Addr is its address, unix://ROOT/buildkitd.sock.
	Addr string
	// TCPAddr is its tcp://127.0.0.1:PORT address when started WithTCP.
	TCPAddr string
	// Root is its state directory, removed by Stop.
	Root string

	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	once sync.Once
	err  error
}

// Find returns the buildkitd binary: $AFFIX_BUILDKITD, else buildkitd on
// $PATH, else bin/buildkitd of the repository that holds the working
// directory.
func Find() (string, error) {
	if p := os.Getenv(EnvBuildkitd); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBuildkitd, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("buildkitd"); err == nil {
		return p, nil
	}
	if root, err := RepoRoot(); err == nil {
		p := filepath.Join(root, "bin", "buildkitd")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("buildkitd not found (set " + EnvBuildkitd + ", put it on PATH, or run `make tools`)")
}

// RepoRoot returns the directory of the go.mod of github.com/affix-oci/affix
// that holds the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/affix-oci/affix\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the affix repository")
		}
		dir = parent
	}
}

// Check reports why no daemon can be started here: not root, no runc, no
// buildkitd. It returns the buildkitd path when all are present.
func Check() (string, error) {
	if os.Geteuid() != 0 {
		return "", errors.New("buildkitd with runc needs root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return "", errors.New("runc not found on PATH (hack/install-deps.sh installs it)")
	}
	return Find()
}

// Require skips t when testing.Short or when Check fails, or fails it when
// AFFIX_INTEGRATION=1. It returns the buildkitd path.
func Require(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	p, err := Check()
	if err != nil {
		if os.Getenv(EnvIntegration) == "1" {
			t.Fatalf("integration prerequisite missing (%s=1): %v", EnvIntegration, err)
		}
		t.Skipf("integration test skipped: %v (set %s=1 to fail instead)", err, EnvIntegration)
	}
	return p
}

// Option configures a daemon.
type Option func(*config)

type config struct {
	tcp        bool
	tls        *TLSFiles
	registries []string
	toml       string
}

// WithInsecureRegistries lets the daemon pull from and push to each
// host[:port] over plain HTTP (buildkitd.toml `[registry."HOST"]` with
// http and insecure set), as test registries on 127.0.0.1 need: an image
// the build pulls (an SBOM generator, a base image) comes from there.
func WithInsecureRegistries(hosts ...string) Option {
	return func(c *config) { c.registries = append(c.registries, hosts...) }
}

// WithConfig adds toml to the daemon's buildkitd.toml (before the tables
// WithInsecureRegistries adds).
func WithConfig(toml string) Option {
	return func(c *config) { c.toml += toml + "\n" }
}

// configTOML returns the buildkitd.toml for c, "" when it needs none.
func (c *config) configTOML() string {
	// The free-form part first: top-level keys after a table header
	// would belong to that table.
	var b strings.Builder
	b.WriteString(c.toml)
	for _, h := range c.registries {
		fmt.Fprintf(&b, "\n[registry.%q]\n  http = true\n  insecure = true\n", h)
	}
	return b.String()
}

// WithTCP makes the daemon listen on tcp://127.0.0.1:PORT too (a free
// port; Daemon.TCPAddr). With tls, that listener serves TLS with
// tls.Cert and tls.Key and requires client certificates signed by
// tls.CACert (see GenerateTLS).
func WithTCP(tls *TLSFiles) Option {
	return func(c *config) { c.tcp, c.tls = true, tls }
}

// Start starts a daemon for t (see Require) and stops it when t ends,
// logging the daemon's output if t failed.
func Start(t testing.TB, opts ...Option) *Daemon {
	t.Helper()
	bin := Require(t)
	d, err := StartDaemon(t.Context(), bin, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("buildkitd %s output:\n%s", d.Addr, d.Log())
		}
		if err := d.Stop(); err != nil {
			t.Errorf("stopping buildkitd: %v", err)
		}
	})
	return d
}

// StartDaemon starts bin (buildkitd) with a new temporary root and socket
// and waits until it answers. The daemon outlives ctx; Stop ends it.
func StartDaemon(ctx context.Context, bin string, opts ...Option) (*Daemon, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	// A short root keeps the socket path under the 108-byte limit.
	root, err := os.MkdirTemp(daemonParent(os.TempDir()), "affix-bk-")
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		Addr: "unix://" + filepath.Join(root, "buildkitd.sock"),
		Root: root,
		log:  &syncBuffer{},
		done: make(chan struct{}),
	}
	args := []string{
		"--root", filepath.Join(root, "state"),
		"--addr", d.Addr,
		"--oci-worker-snapshotter=native",
		"--containerd-worker=false",
		"--oci-worker-gc=false",
	}
	if toml := cfg.configTOML(); toml != "" {
		p := filepath.Join(root, "buildkitd.toml")
		if err := os.WriteFile(p, []byte(toml), 0o644); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
		args = append(args, "--config", p)
	}
	// The TCP port was free a moment ago; a daemon that finds it taken
	// since (tests run in parallel) exits, and gets another.
	for attempt := 1; ; attempt++ {
		args := args
		if cfg.tcp {
			port, err := freePort()
			if err != nil {
				os.RemoveAll(root)
				return nil, err
			}
			d.TCPAddr = fmt.Sprintf("tcp://127.0.0.1:%d", port)
			args = append(args, "--addr", d.TCPAddr)
			if cfg.tls != nil {
				args = append(args, "--tlscert", cfg.tls.Cert, "--tlskey", cfg.tls.Key, "--tlscacert", cfg.tls.CACert)
			}
		}
		err := d.start(ctx, bin, args)
		if err == nil {
			return d, nil
		}
		if !cfg.tcp || attempt == 3 || !strings.Contains(d.Log(), "address already in use") {
			_ = removeAll(root)
			return nil, err
		}
		d.log, d.done, d.err = &syncBuffer{}, make(chan struct{}), nil
	}
}

// start starts bin with args and waits until the daemon answers; a
// daemon that does not is killed, its root left for the caller.
func (d *Daemon) start(ctx context.Context, bin string, args []string) error {
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.SysProcAttr = ownGroup()
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	done := d.done
	go func() {
		d.err = d.cmd.Wait()
		close(done)
	}()
	if err := d.wait(ctx); err != nil {
		_ = d.cmd.Process.Kill()
		<-done
		return fmt.Errorf("buildkitd %s: %w\n%s", d.Addr, err, d.Log())
	}
	return nil
}

// EnvDaemonDir names the directory StartDaemon makes each daemon's root
// in, instead of the temporary directory.
const EnvDaemonDir = "AFFIX_BUILDKIT_TMPDIR"

// daemonParent returns the directory to make a daemon's root in:
// $AFFIX_BUILDKIT_TMPDIR, else tmp, unless tmp is on a tmpfs (Fedora's and
// Arch's /tmp), then /var/tmp. Snapshots on a tmpfs are mounted on a
// tmpfs in SBOM generator containers, where syft's directory scan skips
// them (affix-scanner refuses them: docs/plugin.md), and they hold whole
// images in memory.
func daemonParent(tmp string) string {
	if d := os.Getenv(EnvDaemonDir); d != "" {
		return d
	}
	if onTmpfs(tmp) {
		return "/var/tmp"
	}
	return tmp
}

// wait polls the daemon until it answers, exits, or ReadyTimeout passes.
func (d *Daemon) wait(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	for {
		select {
		case <-d.done:
			return fmt.Errorf("exited before it was ready: %v", d.err)
		default:
		}
		if _, err := os.Stat(strings.TrimPrefix(d.Addr, "unix://")); err == nil {
			c, err := client.New(ctx, d.Addr)
			if err == nil {
				ictx, icancel := context.WithTimeout(ctx, 2*time.Second)
				_, err = c.ListWorkers(ictx)
				icancel()
				c.Close()
				if err == nil {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", ReadyTimeout, ctx.Err())
		case <-d.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePort returns a TCP port that was free a moment ago (a variable
// for a test to hand out a taken one).
var freePort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Log returns what the daemon printed so far.
func (d *Daemon) Log() string { return d.log.String() }

// Stop ends the daemon (SIGTERM, then SIGKILL after 10s) and removes its
// root. Calling it again does nothing.
func (d *Daemon) Stop() error {
	var err error
	d.once.Do(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		err = removeAll(d.Root)
	})
	return err
}

// removeAll removes dir, unmounting anything a crashed container left
// mounted below it first.
func removeAll(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil {
		return nil
	}
	unmountBelow(dir)
	return os.RemoveAll(dir)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
