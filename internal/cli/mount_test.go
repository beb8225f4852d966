package cli

import (
	"errors"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/internal/registrytest"
)

// TestMountRepository: --mount-from takes a repository of REF's registry,
// with or without REF's host; another host is a usage error.
func TestMountRepository(t *testing.T) {
	ref := registry.Reference{Registry: "registry.example.com:5000", Repository: "team/app", Reference: "v1"}
	for _, tt := range []struct {
		from, want, err string
	}{
		{from: "", want: ""},
		{from: "team/base", want: "team/base"},
		{from: "base", want: "base"},
		{from: "registry.example.com:5000/team/base", want: "team/base"},
		{from: "Registry.Example.com:5000/team/base", want: "team/base"}, // host names ignore case
		{from: "other.example.com/team/base", err: "a registry mounts only its own blobs; name a repository of registry.example.com:5000"},
		{from: "localhost/base", err: "mounts only its own blobs"},
		{from: "Team/Base", err: "want a repository of registry.example.com:5000"},
		{from: "team/base:v1", err: "want a repository"},
	} {
		got, err := mountRepository(tt.from, ref)
		if tt.err != "" {
			var ee *exitError
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &ee) || ee.code != 2 {
				t.Errorf("mountRepository(%q) = %q, %v; want usage error %q", tt.from, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("mountRepository(%q) = %q, %v; want %q", tt.from, got, err, tt.want)
		}
	}
}

// TestPushMountFrom: --mount-from written as a full reference mounts; one
// the registry cannot mount from is warned about, with the blobs uploaded;
// --metadata-file counts both; new SBOMs alone are no reason to warn.
func TestPushMountFrom(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs registries")
	}
	cliEnv(t)
	dir, _ := variantsPair(t)
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	in := []string{"--insecure-registry", reg.Host}
	mustAffix(t, append(in, "push", "oci-layout:"+dir, reg.Ref("base")+":v1")...)
	for _, tt := range []struct {
		repo, from string
		mounted    bool
	}{
		{"app", reg.Host + "/base", true},
		{"other", "nope", false},
	} {
		meta := t.TempDir() + "/meta.json"
		_, errs, code := affix(t, append(in, "push", "--mount-from", tt.from, "--metadata-file", meta, "oci-layout:"+dir, reg.Ref(tt.repo)+":v1")...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", tt.from, code, errs)
		}
		m := readMeta(t, meta)
		if m.Blobs == nil || (m.Blobs.Mounted > 0) != tt.mounted || m.Blobs.Uploaded == 0 {
			// The SBOMs name their repository: they are uploaded either way.
			t.Errorf("%s: blobs %+v, want mounted %v and SBOM uploads", tt.from, m.Blobs, tt.mounted)
		}
		warned := strings.Contains(errs, "--mount-from "+tt.from+": no blob could be mounted")
		if warned == tt.mounted {
			t.Errorf("%s: warning %v, want %v:\n%s", tt.from, warned, !tt.mounted, errs)
		}
	}
	// Pushed again with new SBOMs (another --name): the image's blobs are
	// there already, nothing needed mounting, and nothing is warned about.
	_, errs, code := affix(t, append(in, "push", "--mount-from", "base", "--name", "example.com/renamed", "oci-layout:"+dir, reg.Ref("app")+":v1")...)
	if code != 0 || strings.Contains(errs, "no blob could be mounted") {
		t.Errorf("re-push with new SBOMs: exit %d, stderr:\n%s", code, errs)
	}
}
