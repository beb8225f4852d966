package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/affix-oci/affix/internal/buildkittest"
)

// TestDemo runs hack/demo.sh, the README's first command (`make demo`),
// with the binaries under test: it must start its own buildkitd and
// registry, build and push examples/hello with an SBOM per platform, show
// the tree and the arm64 packages, and leave nothing behind.
func TestDemo(t *testing.T) {
	bk := buildkittest.Require(t)
	ctl := buildkittest.RequireBuildctl(t)
	// examples/hello/prepare.sh copies a static busybox for its RUN steps.
	busybox := buildkittest.Busybox(t)
	affix := affixBin(t)
	root, err := buildkittest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// demo.sh takes every binary from one directory (DEMO_BIN, else bin/).
	bin := t.TempDir()
	links := map[string]string{"buildkitd": bk, "buildctl": ctl, "affix": affix}
	if _, err := exec.LookPath("docker-registry"); err != nil {
		p := os.Getenv("AFFIX_REGISTRY_V3")
		if p == "" {
			p = filepath.Join(root, "bin", "registry")
		}
		if _, err := os.Stat(p); err != nil {
			requireIntegration(t, err)
		}
		links["registry"] = p
	}
	for name, p := range links {
		if err := os.Symlink(p, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", filepath.Join(root, "hack", "demo.sh"))
	// demo.sh keeps its SBOM cache (AFFIX_CACHE_DIR) in its own
	// temporary directory.
	cmd.Env = append(os.Environ(), "DEMO_BIN="+bin, "TMPDIR="+tmp, "KEEP=", "BUSYBOX="+busybox)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make demo: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{
		"pushed 127.0.0.1:",
		"├── linux/amd64",
		"└── linux/arm64",
		"application/spdx+json",
		"referrers read through: tag-schema",
		"verified: SBOM sha256:",
		"  base-files 12.4", // the dpkg database the RUN step wrote
		"  stdlib go",
		"  left-pad 1.3.0",
		"  requests 2.31.0",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("make demo output lacks %q:\n%s", want, s)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("make demo left %d entries in TMPDIR, e.g. %s", len(left), left[0].Name())
	}
}
