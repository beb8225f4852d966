package version

import (
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
