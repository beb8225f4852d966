package buildkittest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// EnvBuildctl names the buildctl binary to use, before $PATH and the
// repository's bin/.
const EnvBuildctl = "AFFIX_BUILDCTL"

// RequireBuildctl returns the buildctl binary (FindBuildctl), skipping t
// when there is none, or failing it when AFFIX_INTEGRATION=1.
func RequireBuildctl(t testing.TB) string {
	t.Helper()
	p, err := FindBuildctl()
	if err != nil {
		if os.Getenv(EnvIntegration) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return p
}

// FindBuildctl returns the buildctl binary: $AFFIX_BUILDCTL, else buildctl
// on $PATH, else bin/buildctl of the repository.
func FindBuildctl() (string, error) {
	if p := os.Getenv(EnvBuildctl); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBuildctl, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("buildctl"); err == nil {
		return p, nil
	}
	if root, err := RepoRoot(); err == nil {
		p := filepath.Join(root, "bin", "buildctl")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("buildctl not found (set " + EnvBuildctl + ", put it on PATH, or run `make tools`)")
}

// Buildctl runs `buildctl --addr d.Addr ARGS...` and returns its combined
// output; a failure's error holds the output.
func (d *Daemon) Buildctl(ctx context.Context, args ...string) ([]byte, error) {
	bin, err := FindBuildctl()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--addr", d.Addr}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("buildctl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// ScannerImage builds the affix-scanner image (the BuildKit SBOM generator)
// with hack/scanner-image.sh on d for platforms (none: the host's
// linux platform) and pushes it over plain HTTP to host (a registry the
// daemon was started for WithInsecureRegistries) as
// host/affix-scanner:test. It returns the reference with its digest.
func (d *Daemon) ScannerImage(ctx context.Context, host string, platforms ...string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin, err := FindBuildctl()
	if err != nil {
		return "", err
	}
	if len(platforms) == 0 {
		platforms = []string{"linux/" + runtime.GOARCH}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "scanner-image.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"REGISTRY="+host, "IMAGE=affix-scanner", "TAG=test", "INSECURE=1",
		"PLATFORMS="+strings.Join(platforms, ","),
		"BUILDKIT_HOST="+d.Addr, "BUILDCTL="+bin,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/scanner-image.sh: %w\n%s", err, stderr.String())
	}
	ref := strings.TrimSpace(stdout.String())
	if !strings.Contains(ref, "@sha256:") {
		return "", fmt.Errorf("hack/scanner-image.sh printed %q, not a reference with a digest\n%s", ref, stderr.String())
	}
	return ref, nil
}

// GeneratorBuild is one `buildctl build` of a Dockerfile with BuildKit's
// own SBOM path: --opt attest:sbom=generator=Generator.
type GeneratorBuild struct {
	// Context is the build context directory; the Dockerfile is
	// Context/Dockerfile unless Dockerfile names its directory.
	Context, Dockerfile string
	// Platforms to build; empty means the daemon's.
	Platforms []string
	// Generator is the SBOM generator image (for example the reference
	// ScannerImage returns).
	Generator string
	// Params are further attest:sbom parameters (KEY=VALUE reaches the
	// generator as BUILDKIT_SCAN_KEY).
	Params []string
	// BuildArgs are build-arg:KEY=VALUE options (BUILDKIT_SBOM_SCAN_STAGE=true
	// scans every stage).
	BuildArgs []string
	// Outputs are buildctl --output values (type=image,name=...,push=true,
	// type=oci,dest=DIR,tar=false, ...); at least one.
	Outputs []string
	// Extra are further buildctl build arguments (--no-cache, ...).
	Extra []string
}

// Args returns the buildctl build arguments of b.
func (b GeneratorBuild) Args() []string {
	df := b.Dockerfile
	if df == "" {
		df = b.Context
	}
	sbom := "generator=" + b.Generator
	for _, p := range b.Params {
		sbom += "," + p
	}
	args := []string{"build", "--frontend", "dockerfile.v0", "--local", "context=" + b.Context, "--local", "dockerfile=" + df,
		"--opt", "attest:sbom=" + sbom, "--progress", "plain"}
	if len(b.Platforms) > 0 {
		args = append(args, "--opt", "platform="+strings.Join(b.Platforms, ","))
	}
	for _, a := range b.BuildArgs {
		args = append(args, "--opt", "build-arg:"+a)
	}
	for _, o := range b.Outputs {
		args = append(args, "--output", o)
	}
	return append(args, b.Extra...)
}

// Build runs b on d and returns buildctl's output (the progress, with the
// generator's log lines).
func (d *Daemon) Build(ctx context.Context, b GeneratorBuild) ([]byte, error) {
	if b.Generator == "" || b.Context == "" || len(b.Outputs) == 0 {
		return nil, errors.New("generator build needs a generator, a context and an output")
	}
	return d.Buildctl(ctx, b.Args()...)
}
