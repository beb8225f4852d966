package integration

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/affix-oci/affix/internal/buildkittest"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/registrytest"
)

// hostPlatform is the platform a builder without --platform builds, and
// the only one RUN steps run for (no emulation here).
var hostPlatform = "linux/" + runtime.GOARCH

// singleDockerfile builds one platform with RUN steps that write the
// packages the SBOM must find: two dpkg packages (one version from a build
// argument) and an npm package.
const singleDockerfile = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ARG PKG_VERSION=0.0.0
COPY dpkg-status.in /tmp/dpkg-status.in
RUN mkdir -p /var/lib/dpkg /etc /app/node_modules/left-pad \
 && sed "s/@VERSION@/${PKG_VERSION}/g" /tmp/dpkg-status.in > /var/lib/dpkg/status \
 && rm /tmp/dpkg-status.in \
 && echo 'ID=debian' > /etc/os-release \
 && echo 'VERSION_ID="12"' >> /etc/os-release
RUN echo '{"name":"left-pad","version":"1.3.0","license":"WTFPL"}' > /app/node_modules/left-pad/package.json
`

const singleStatus = `Package: affix-run
Status: install ok installed
Priority: optional
Section: misc
Installed-Size: 10
Maintainer: affix <affix@example.com>
Architecture: all
Version: @VERSION@
Description: a package a RUN step wrote

Package: affix-run-doc
Status: install ok installed
Priority: optional
Section: doc
Installed-Size: 20
Maintainer: affix <affix@example.com>
Architecture: all
Version: 4.5.6
Description: another package a RUN step wrote
`

// singlePackages are what the SBOM of singleDockerfile built with
// PKG_VERSION=1.2.3 lists.
var singlePackages = []pkg{{"affix-run", "1.2.3"}, {"affix-run-doc", "4.5.6"}, {"left-pad", "1.3.0"}}

// singleContext writes the single-platform build context.
func singleContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": singleDockerfile, "dpkg-status.in": singleStatus})
	copyBusybox(t, dir)
	return dir
}

func copyBusybox(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(buildkittest.Busybox(t))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "busybox"), b, 0o755)
}

// twoDockerfile builds two platforms from COPY steps only (no RUN, so any
// builder builds both): a per-architecture dpkg database and Go binary
// selected by TARGETARCH, and a common npm package.
const twoDockerfile = `FROM scratch
ARG TARGETARCH
COPY rootfs-${TARGETARCH}/ /
COPY common/ /
COPY bin/app-${TARGETARCH} /usr/local/bin/app
`

func dpkgStatus(name, version, arch string) string {
	return `Package: ` + name + `
Status: install ok installed
Priority: optional
Section: misc
Installed-Size: 10
Maintainer: affix <affix@example.com>
Architecture: ` + arch + `
Version: ` + version + `
Description: a per-architecture package
`
}

var twoPlatforms = []string{"linux/amd64", "linux/arm64"}

// twoPackages are what the SBOMs of twoDockerfile list, per platform;
// twoForeign what they must not (the other architecture's package).
var (
	twoPackages = map[string][]pkg{
		"linux/amd64": {{"affix-amd64", "1.0-1"}, {"ms", "2.1.3"}, {"golang.org/x/sync", ""}, {"github.com/affix-oci/affix", ""}},
		"linux/arm64": {{"affix-arm64", "2.0-1"}, {"ms", "2.1.3"}, {"golang.org/x/sync", ""}, {"github.com/affix-oci/affix", ""}},
	}
	twoForeign = map[string][]pkg{
		"linux/amd64": {{"affix-arm64", ""}},
		"linux/arm64": {{"affix-amd64", ""}},
	}
)

// twoContext writes the two-platform build context.
func twoContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile":                              twoDockerfile,
		"rootfs-amd64/var/lib/dpkg/status":        dpkgStatus("affix-amd64", "1.0-1", "amd64"),
		"rootfs-arm64/var/lib/dpkg/status":        dpkgStatus("affix-arm64", "2.0-1", "arm64"),
		"common/etc/os-release":                   fixture.DebianOSRelease,
		"common/app/node_modules/ms/package.json": `{"name":"ms","version":"2.1.3","license":"MIT"}`,
	})
	for _, arch := range []string{"amd64", "arm64"} {
		b, err := fixture.GoBinary(t.Context(), arch, "")
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "bin", "app-"+arch), b, 0o755)
	}
	return dir
}

// TestBuildFromLayoutContext: the layout affix build --output writes (the
// image, and its SBOM manifests beside it in index.json) is a named
// context of the next build as oci-layout://DIR, without naming the tag,
// in a directory whose name has an at sign (a Jenkins workspace "app@2"):
// BuildKit reads it through the session's OCI store, and the derived
// image's SBOM lists the packages of the base.
func TestBuildFromLayoutContext(t *testing.T) {
	d := daemon(t, 0)
	e := newEnv(t)
	layout := filepath.Join(t.TempDir(), "base@2")
	e.ok(t, "build", "--builder", d.Addr, "--build-arg", "PKG_VERSION=1.2.3", "-t", "example.com/affix/base:v1",
		"--output", "type=oci,dest="+layout+",tar=false", singleContext(t))
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM base\nCOPY note.txt /note.txt\n", "note.txt": "derived\n"})
	reg := registry(t, registrytest.OlaregAPI)
	e.ok(t, "build", "--builder", d.Addr, "--build-context", "base=oci-layout://"+layout,
		"--push", "-t", reg.Ref("derived:v1"), "--insecure-registry", reg.Host, dir)
	got := readBack(t, newRepo(t, reg, "derived"), "v1")
	got.check(t, []string{hostPlatform}, map[string][]pkg{hostPlatform: singlePackages}, nil)
}
