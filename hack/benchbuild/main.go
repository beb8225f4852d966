//go:build linux

// Command benchbuild measures `affix build --push` of a two-platform image
// (examples/hello, prepared by its prepare.sh) on one buildkitd and one
// registry, in one run, beside the same build pushed by buildctl without
// SBOMs, and the identical rebuild. For each case it reports the wall time,
// the registry requests (counted by a proxy in front of the registry) and
// the peak RSS of the client process (affix, or buildctl: with buildctl the
// daemon does the push, so its RSS says little).
//
// Cases, each pushing to its own repository:
//
//	cold: --no-cache builds (every RUN step runs), affix with an empty SBOM cache;
//	warm: BuildKit's cache warm, affix with an empty SBOM cache (scans);
//	rebuild: the identical affix build again (both caches warm, the
//	  registry has everything: what a CI rerun costs);
//	buildkit-sbom: buildctl with BuildKit's SBOM path and affix's engine as
//	  the generator (--opt attest:sbom=generator=IMAGE), built with the
//	  plugin's hack/scanner-image.sh and run by hack/buildkit-sbom.sh; its
//	  failure fails the bench (-scanner=false skips it; -generator IMAGE
//	  uses an image the daemon can pull instead of building one).
//
// Usage: go run ./hack/benchbuild [-affix bin/affix] [-buildctl bin/buildctl]
// [-registry distribution|distribution-v3|olareg-api|olareg-noapi] [-scanner=false]
//
// Needs root, runc and bin/buildkitd (buildkittest finds it), a static
// busybox, and docker-registry for the default registry.
package main

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
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/affix-oci/affix/internal/buildkittest"
	"github.com/affix-oci/affix/internal/registrytest"
)

func main() {
	affix := flag.String("affix", "bin/affix", "affix binary (make build)")
	buildctl := flag.String("buildctl", "bin/buildctl", "buildctl binary (make tools)")
	kind := flag.String("registry", string(registrytest.Distribution), "registry kind: "+kinds())
	scanner := flag.Bool("scanner", true, "also measure buildctl with affix-scanner as BuildKit's SBOM generator (needs hack/scanner-image.sh and hack/buildkit-sbom.sh)")
	generator := flag.String("generator", "", "affix-scanner image the daemon can pull (default: built and pushed to the bench registry by hack/scanner-image.sh)")
	flag.Parse()
	b := &bench{affix: abs(*affix), buildctl: abs(*buildctl), kind: registrytest.Kind(*kind), scanner: *scanner, generator: *generator}
	if err := b.run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "benchbuild:", err)
		os.Exit(1)
	}
}

func kinds() string {
	var s []string
	for _, k := range registrytest.Kinds {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

type bench struct {
	affix, buildctl string
	kind            registrytest.Kind
	scanner         bool
	generator       string

	tmp    string
	daemon *buildkittest.Daemon
	reg    *registrytest.Registry
	proxy  *registrytest.Proxy
	ctxDir string
	env    []string
}

// measure is one case's figures.
type measure struct {
	name     string
	wall     time.Duration
	requests int
	rssKB    int64
	note     string
}

func (b *bench) run(ctx context.Context) error {
	for _, p := range []string{b.affix, b.buildctl} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s: %w (make build tools)", p, err)
		}
	}
	bkd, err := buildkittest.Check()
	if err != nil {
		return err
	}
	busybox, err := buildkittest.FindBusybox()
	if err != nil {
		return err
	}
	root, err := buildkittest.RepoRoot()
	if err != nil {
		return err
	}
	if b.tmp, err = os.MkdirTemp("", "affix-benchbuild-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)

	if b.reg, err = registrytest.Launch(ctx, b.kind, registrytest.Options{}); err != nil {
		return fmt.Errorf("registry %s: %w", b.kind, err)
	}
	defer b.reg.Close()
	b.proxy = registrytest.NewProxy(b.reg.Host)
	defer b.proxy.Close()
	// buildkitd pushes (buildctl) through the proxy and pulls the
	// generator image from the registry, both over plain HTTP.
	if b.daemon, err = buildkittest.StartDaemon(ctx, bkd, buildkittest.WithInsecureRegistries(b.reg.Host, b.proxy.Host)); err != nil {
		return err
	}
	defer b.daemon.Stop()

	b.ctxDir = filepath.Join(b.tmp, "hello")
	prep := exec.CommandContext(ctx, filepath.Join(root, "examples", "hello", "prepare.sh"), b.ctxDir)
	prep.Env = append(os.Environ(), "BUSYBOX="+busybox)
	if out, err := prep.CombinedOutput(); err != nil {
		return fmt.Errorf("examples/hello/prepare.sh: %v: %s", err, out)
	}
	b.env = append(os.Environ(),
		"DOCKER_CONFIG="+filepath.Join(b.tmp, "docker"),
		"SOURCE_DATE_EPOCH=1700000000",
	)
	h := b.proxy.Host
	affixBuild := func(repo, cache string, extra ...string) []string {
		args := []string{"build", "--builder", b.daemon.Addr, "--platform", "linux/amd64,linux/arm64",
			"--push", "-t", h + "/" + repo + ":v1", "--insecure-registry", h, "--progress", "quiet"}
		return append(append(args, extra...), b.ctxDir)
	}
	buildctlPush := func(repo string, extra ...string) []string {
		args := []string{"--addr", b.daemon.Addr, "build", "--frontend", "dockerfile.v0",
			"--local", "context=" + b.ctxDir, "--local", "dockerfile=" + b.ctxDir,
			"--opt", "platform=linux/amd64,linux/arm64", "--opt", "build-arg:SOURCE_DATE_EPOCH=1700000000",
			"--output", "type=image,name=" + h + "/" + repo + ":v1,push=true,registry.insecure=true,oci-mediatypes=true,rewrite-timestamp=true",
			"--progress", "quiet"}
		return append(args, extra...)
	}
	cache := func(name string) string { return "AFFIX_CACHE_DIR=" + filepath.Join(b.tmp, "cache-"+name) }

	var ms []measure
	steps := []struct {
		name string
		bin  string
		args []string
		env  []string
		note string
	}{
		{"affix build --push, cold (--no-cache, empty SBOM cache)", b.affix, affixBuild("cold-affix", "", "--no-cache"), []string{cache("cold")}, "2 SBOMs scanned"},
		{"buildctl push=true, no SBOMs, cold (--no-cache)", b.buildctl, buildctlPush("cold-buildctl", "--no-cache"), nil, "RSS: client only, the daemon pushes"},
		{"affix build --push, BuildKit cache warm, empty SBOM cache", b.affix, affixBuild("warm-affix", ""), []string{cache("warm")}, "2 SBOMs scanned"},
		{"buildctl push=true, no SBOMs, BuildKit cache warm", b.buildctl, buildctlPush("warm-buildctl"), nil, "RSS: client only"},
		{"affix build --push, identical rebuild (caches warm)", b.affix, affixBuild("warm-affix", ""), []string{cache("warm")}, "SBOMs from the cache; registry has all"},
	}
	for _, s := range steps {
		m, err := b.measure(ctx, s.name, s.bin, s.args, s.env)
		if err != nil {
			return err
		}
		m.note = s.note
		ms = append(ms, m)
	}
	if b.scanner {
		// A failing generator case fails the bench (it is one of the
		// cases make bench reports); -scanner=false leaves it out.
		m, err := b.buildkitSBOM(ctx, root)
		if err != nil {
			return fmt.Errorf("buildctl with affix-scanner as the SBOM generator (-scanner=false leaves this case out): %w", err)
		}
		ms = append(ms, m)
	}

	fmt.Printf("examples/hello, linux/amd64+linux/arm64, one buildkitd (%s), registry %s behind a counting proxy\n\n", b.daemon.Addr, b.kind)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "case\twall\trequests\tpeak RSS\tnote")
	for _, m := range ms {
		fmt.Fprintf(w, "%s\t%v\t%d\t%d MiB\t%s\n", m.name, m.wall.Round(time.Millisecond), m.requests, m.rssKB/1024, m.note)
	}
	w.Flush()
	ratio := func(a, b measure) string {
		return fmt.Sprintf("wall ×%.2f, requests %d vs %d", a.wall.Seconds()/b.wall.Seconds(), a.requests, b.requests)
	}
	fmt.Printf("\naffix SBOMs + referrers vs buildctl without SBOMs: cold %s; warm %s\n", ratio(ms[0], ms[1]), ratio(ms[2], ms[3]))
	return nil
}

// measure runs one command and counts what it cost.
func (b *bench) measure(ctx context.Context, name, bin string, args, env []string) (measure, error) {
	before := len(b.proxy.Log())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append([]string(nil), b.env...), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	m := measure{name: name, wall: time.Since(start), requests: len(b.proxy.Log()) - before}
	if err != nil {
		return m, fmt.Errorf("%s: %s %s: %v\n%s", name, filepath.Base(bin), strings.Join(args, " "), err, out.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rssKB = ru.Maxrss
	}
	return m, nil
}

// buildkitSBOM measures BuildKit's own SBOM path with affix's engine as
// the generator: the plugin's hack/buildkit-sbom.sh pushing the image with
// its in-index SBOM attestations. The generator image is built and pushed
// to the registry (not through the proxy) first, unless -generator names
// one.
func (b *bench) buildkitSBOM(ctx context.Context, root string) (measure, error) {
	script := filepath.Join(root, "hack", "buildkit-sbom.sh")
	if _, err := os.Stat(script); err != nil {
		return measure{}, fmt.Errorf("%s: %w", script, err)
	}
	gen := b.generator
	if gen == "" {
		img := filepath.Join(root, "hack", "scanner-image.sh")
		cmd := exec.CommandContext(ctx, img)
		cmd.Env = append(os.Environ(), "REGISTRY="+b.reg.Host+"/bench", "INSECURE=1", "BUILDKIT_HOST="+b.daemon.Addr,
			"PLATFORMS=linux/amd64,linux/arm64", "BUILDCTL="+b.buildctl)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return measure{}, fmt.Errorf("%s: %v\n%s", img, err, stderr.String())
		}
		lines := strings.Fields(strings.TrimSpace(string(out)))
		if len(lines) == 0 {
			return measure{}, errors.New("scanner-image.sh printed no image reference")
		}
		gen = lines[len(lines)-1]
	}
	env := []string{"BUILDKIT_HOST=" + b.daemon.Addr, "BUILDCTL=" + b.buildctl, "PLATFORMS=linux/amd64,linux/arm64",
		"OUTPUT=type=image,name=" + b.proxy.Host + "/bk-sbom:v1,push=true,registry.insecure=true,oci-mediatypes=true,rewrite-timestamp=true"}
	m, err := b.measure(ctx, "buildctl push=true, attest:sbom=generator=affix-scanner, BuildKit cache warm", script,
		[]string{gen, b.ctxDir, "--opt", "build-arg:SOURCE_DATE_EPOCH=1700000000"}, env)
	m.note = "SBOMs as in-index attestations, no referrers; RSS: buildctl"
	return m, err
}
