package scanner

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/affix-oci/affix/internal/fixture"
)

// writeTree writes l into dir as a directory tree, symbolic links
// included (writeDir writes regular files only).
func writeTree(t *testing.T, dir string, l fixture.Layer) {
	t.Helper()
	for _, f := range l {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if f.Link != "" {
			if err := os.Symlink(f.Link, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		writeDir(t, dir, fixture.Layer{f})
	}
}

// scanTree runs the protocol on l as the final stage's root filesystem
// and returns the packages of its document.
func scanTree(t *testing.T, l fixture.Layer) []string {
	t.Helper()
	env, out := protocolDirs(t, nil, nil)
	var src string
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == EnvSource {
			src = v
		}
	}
	writeTree(t, src, l)
	cfg, err := ConfigFromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "sbom"+Ext))
	if err != nil {
		t.Fatal(err)
	}
	pred, err := json.Marshal(decodeLikeBuildKit(t, b).Predicate)
	if err != nil {
		t.Fatal(err)
	}
	return spdxPackages(t, pred)
}

// TestRunSymlinks checks that symbolic links in a root filesystem are
// followed as in the image: absolute ones from the root filesystem's
// root, relative ones that climb above it stopped at it, dangling ones,
// loops and a link to the root itself. The packages are those affix's
// image scan of the same files finds.
func TestRunSymlinks(t *testing.T) {
	if testing.Short() {
		t.Skip("scans with syft")
	}
	l := fixture.Layer{
		{Path: "usr/lib/os-release", Data: []byte(fixture.DebianOSRelease)},
		{Path: "etc/os-release", Link: "../usr/lib/os-release"},
		{Path: "var/lib/dpkg/status", Data: []byte("Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\nDescription: libc\n\n")},
		{Path: "lib", Link: "/usr/lib"},
		{Path: "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", Data: []byte("Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n")},
		{Path: "opt/app/node_modules", Link: "../../../../../../srv/nm"},
		{Path: "srv/nm/left-pad/package.json", Data: []byte(`{"name":"left-pad","version":"1.3.0"}`)},
		{Path: "abs/node_modules", Link: "/srv/nm"},
		{Path: "dangling", Link: "/nowhere/at/all"},
		{Path: "loop1", Link: "loop2"},
		{Path: "loop2", Link: "loop1"},
		{Path: "self", Link: "."},
		{Path: "up", Link: ".."},
		{Path: "rootlink", Link: "/"},
	}
	got, want := scanTree(t, l), spdxPackages(t, imageSBOM(t, l))
	if !slices.Equal(got, want) {
		t.Errorf("directory scan packages:\n%v\nimage scan packages:\n%v", got, want)
	}
	for _, p := range []string{"deb libc6 2.36-9", "npm left-pad 1.3.0", "pypi requests 2.31.0"} {
		if !slices.Contains(got, p) {
			t.Errorf("package %v missing from %v", p, got)
		}
	}
}

// TestRunSymlinkChainOutOfRoot checks that a chain of symbolic links
// whose first target is inside the root filesystem but that the host
// resolves outside it (/x -> /y/pkg, /y -> /: read with the scanner's
// root, /y is the scanner's /) adds nothing of the scanner's files: in
// the image, /y/pkg is /pkg, which does not exist. Under BuildKit the
// scanner's files are its own binary and the other targets' root
// filesystems.
//
// syft's directory indexer adds a link's target as a new root when
// os.Stat (the host's resolution) finds it, and then indexes its host
// path; sbomgen indexes the root itself, following no link, and confines
// its resolver to the root.
func TestRunSymlinkChainOutOfRoot(t *testing.T) {
	bin, err := fixture.GoBinary(context.Background(), "amd64", "")
	if err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	writeTree(t, outside, fixture.Layer{
		{Path: "gobin", Data: bin, Mode: 0o755},
		{Path: "app/node_modules/outside/package.json", Data: []byte(`{"name":"outside","version":"6.6.6"}`)},
	})
	l := fixture.Layer{
		{Path: "etc/os-release", Data: []byte(fixture.AlpineOSRelease)},
		{Path: "app/node_modules/inside/package.json", Data: []byte(`{"name":"inside","version":"1.0.0"}`)},
		{Path: "y", Link: "/"},
		{Path: "x", Link: "/y" + outside + "/gobin"},
		{Path: "z", Link: "/y" + outside + "/app"},
		{Path: "w", Link: "y" + outside + "/app"},
	}
	got, want := scanTree(t, l), spdxPackages(t, imageSBOM(t, l))
	if !slices.Equal(got, want) {
		t.Errorf("directory scan packages:\n%v\nimage scan packages:\n%v", got, want)
	}
}
