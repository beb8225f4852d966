// Package version reports what affix was built from: its own version and
// commit (set by the linker, see the Makefile; else taken from the build
// info: the VCS revision of a `go build` in a checkout, or the module
// version `go install ...@version` built) and the versions of the syft and
// BuildKit modules compiled in (read from the build info).
package version

import (
	"bufio"
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/affix-oci/affix"
)

// Set with -ldflags "-X github.com/affix-oci/affix/internal/version.Version=...".
var (
	// Version is the affix release, "dev" for a development build (Get
	// completes it from the build info).
	Version = "dev"
	// Commit is the git commit affix was built from.
	Commit = ""
)

// Module paths whose versions Info reports.
const (
	SyftModule     = "github.com/anchore/syft"
	BuildKitModule = "github.com/moby/buildkit"
)

// Info is what `affix version` prints.
type Info struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Go       string `json:"go"`
	Syft     string `json:"syft"`
	BuildKit string `json:"buildkit"`
}

// Get returns the build's Info.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, Go: runtime.Version(), Syft: required(SyftModule), BuildKit: required(BuildKitModule)}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			v := d.Version
			if d.Replace != nil {
				v = d.Replace.Version
			}
			switch d.Path {
			case SyftModule:
				i.Syft = v
			case BuildKitModule:
				i.BuildKit = v
			}
		}
		i.Version, i.Commit = fromVCS(i.Version, i.Commit, bi.Settings)
		i.Version = fromModule(i.Version, bi.Main.Version)
	}
	return i
}

// fromModule completes a version neither the linker nor the VCS settings
// gave with the main module's version from the build info: what `go
// install github.com/affix-oci/affix/cmd/affix@v1.2.0` builds (from the
// module proxy, without VCS information) is "v1.2.0". Go reports
// "(devel)" when it knows no module version.
func fromModule(version, module string) string {
	if version == "dev" && module != "" && module != "(devel)" {
		return module
	}
	return version
}

// Exact reports whether the version names one build of affix's source:
// false for a development build whose version says "dev" (no version or
// commit known, or a `go build` of a checkout) or "dirty" (built from a
// modified checkout, as "dev-<commit>-dirty" or Go's "+dirty" pseudo
// versions say). Two different binaries can share such a version, so what
// one of them computed must not be taken for the other's (see sbomgen's
// cache).
func (i Info) Exact() bool {
	return i.Version != "dev" && !strings.HasPrefix(i.Version, "dev-") && !strings.Contains(i.Version, "dirty")
}

// fromVCS completes a version and commit the linker did not set from the
// build's VCS settings: a plain `go build` in a checkout (with
// -buildvcs, Go's default) is "dev-<12 hex of the commit>[-dirty]", so
// that builds of different commits do not share SBOM cache entries.
func fromVCS(version, commit string, settings []debug.BuildSetting) (string, string) {
	var rev string
	var dirty bool
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if commit == "" {
		commit = rev
	}
	if version == "dev" && len(rev) >= 12 {
		version = "dev-" + rev[:12]
		if dirty {
			version += "-dirty"
		}
	}
	return version, commit
}

// GeneratorPrefix starts every Generator value, of any affix version.
const GeneratorPrefix = "affix-"

// Generator is the tool identity affix writes into SBOMs and uses in cache
// keys: "affix-<version>" plus the syft version it scans with.
func Generator() string {
	i := Get()
	return GeneratorPrefix + i.Version + "+syft-" + i.Syft
}

// required returns the version go.mod requires of module path, or
// "unknown". The build info's dependency list, when there is one, is the
// more exact answer (it honours replace directives) and wins.
func required(path string) string {
	sc := bufio.NewScanner(bytes.NewReader(affix.GoMod))
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(f) >= 2 && f[0] == path {
			return f[1]
		}
	}
	return "unknown"
}
