package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestGetNamesModuleVersions(t *testing.T) {
	// Test binaries carry no dependency list, so this exercises the
	// go.mod fallback.
	i := Get()
	for name, v := range map[string]string{"syft": i.Syft, "buildkit": i.BuildKit} {
		if !strings.HasPrefix(v, "v") {
			t.Errorf("%s version = %q, want a module version", name, v)
		}
	}
	if g := Generator(); !strings.Contains(g, "+syft-"+i.Syft) {
		t.Errorf("Generator() = %q, does not name syft %s", g, i.Syft)
	}
}

func TestRequiredUnknown(t *testing.T) {
	if v := required("example.invalid/none"); v != "unknown" {
		t.Errorf("required(unknown module) = %q", v)
	}
}

func TestFromVCS(t *testing.T) {
	rev := "f20180fefe60294c4e1bdc1ae5b2fedbdb6e12f5"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for _, c := range []struct {
		name, version, commit string
		settings              []debug.BuildSetting
		wantVersion, wantCmt  string
	}{
		{"make build: linker values kept", "v1.2.0", "abc", vcs("true"), "v1.2.0", "abc"},
		{"go build, clean", "dev", "", vcs("false"), "dev-f20180fefe60", rev},
		{"go build, dirty", "dev", "", vcs("true"), "dev-f20180fefe60-dirty", rev},
		{"no VCS info (go test, -buildvcs=false)", "dev", "", nil, "dev", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, cm := fromVCS(c.version, c.commit, c.settings)
			if v != c.wantVersion || cm != c.wantCmt {
				t.Errorf("fromVCS = %q, %q; want %q, %q", v, cm, c.wantVersion, c.wantCmt)
			}
		})
	}
}

func TestFromModule(t *testing.T) {
	for _, c := range []struct {
		name, version, module, want string
	}{
		{"go install module@version", "dev", "v1.2.0", "v1.2.0"},
		{"go install module@pseudo-version", "dev", "v0.0.0-20250101000000-f20180fefe60", "v0.0.0-20250101000000-f20180fefe60"},
		{"no module version", "dev", "(devel)", "dev"},
		{"no build info version", "dev", "", "dev"},
		{"linker value kept", "v1.3.0", "v1.2.0", "v1.3.0"},
		{"VCS value kept", "dev-f20180fefe60-dirty", "v0.0.0-20250101000000-f20180fefe60+dirty", "dev-f20180fefe60-dirty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := fromModule(c.version, c.module); got != c.want {
				t.Errorf("fromModule(%q, %q) = %q, want %q", c.version, c.module, got, c.want)
			}
		})
	}
}

func TestExact(t *testing.T) {
	for v, want := range map[string]bool{
		"v1.2.0":                                   true,
		"v0.0.0-20250101000000-f20180fefe60":       true,
		"v0.0.0-20250101000000-f20180fefe60+dirty": false,
		"dev":                    false,
		"dev-f20180fefe60":       false,
		"dev-f20180fefe60-dirty": false,
	} {
		if got := (Info{Version: v}).Exact(); got != want {
			t.Errorf("Info{Version: %q}.Exact() = %v, want %v", v, got, want)
		}
	}
}
