package cli

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/internal/registrytest"
)

// TestMountRepository: --mount-from takes a repository of REF's registry,
// with or without REF's host; another host is a usage error.
func TestMountRepository(t *testing.T) {
	ref := registry.Reference{Registry: "registry.example.com:5000", Repository: "team/app", Reference: "v1"}
	local := registry.Reference{Registry: "127.0.0.1:5000", Repository: "app", Reference: "v1"}
	for _, tt := range []struct {
		from, want, err string
		ref             *registry.Reference // nil: ref
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
		// Two names of this machine's registry on one port are one registry.
		{from: "localhost:5000/base", want: "base", ref: &local},
		{from: "localhost:5001/base", err: "mounts only its own blobs", ref: &local},
	} {
		r := ref
		if tt.ref != nil {
			r = *tt.ref
		}
		got, err := mountRepository(tt.from, r)
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

// TestBuildMountFrom: affix build --push --mount-from takes what affix
// push takes, for the -t repositories of its registry (with -t in several
// registries, HOST/REPO says which); without the flag, the repositories
// on the FROM image's registry mount from its repository. A repository
// never mounts from itself.
func TestBuildMountFrom(t *testing.T) {
	type repoMount struct{ repo, from string }
	for _, tt := range []struct {
		name string
		args []string
		base string // frontend.Plan.BaseImage
		want []repoMount
		auto bool
		err  string
	}{
		{name: "none", args: []string{"--push", "-t", "reg.example/app:1"}, want: []repoMount{{"reg.example/app", ""}}},
		{name: "REPO", args: []string{"--push", "-t", "reg.example/app:1", "--mount-from", "base"}, want: []repoMount{{"reg.example/app", "base"}}},
		{name: "HOST/REPO", args: []string{"--push", "-t", "reg.example/app:1", "--mount-from", "reg.example/team/base"}, want: []repoMount{{"reg.example/app", "team/base"}}},
		{name: "flag wins over FROM", args: []string{"--push", "-t", "reg.example/app:1", "--mount-from", "base"}, base: "reg.example/hello:1", want: []repoMount{{"reg.example/app", "base"}}},
		{name: "several repositories of one registry", args: []string{"--push", "-t", "reg.example/a:1", "-t", "reg.example/b:1", "--mount-from", "base"},
			want: []repoMount{{"reg.example/a", "base"}, {"reg.example/b", "base"}}},
		{name: "not from itself", args: []string{"--push", "-t", "reg.example/a:1", "-t", "reg.example/b:1", "--mount-from", "a"},
			want: []repoMount{{"reg.example/a", ""}, {"reg.example/b", "a"}}},
		{name: "several registries, HOST/REPO", args: []string{"--push", "-t", "reg.example/a:1", "-t", "other.example/b:1", "--mount-from", "other.example/base"},
			want: []repoMount{{"reg.example/a", ""}, {"other.example/b", "base"}}},
		{name: "several registries, REPO", args: []string{"--push", "-t", "reg.example/a:1", "-t", "other.example/b:1", "--mount-from", "base"},
			err: `--mount-from "base": -t names several registries (reg.example, other.example); name the repository with its registry, HOST/REPO`},
		{name: "another registry", args: []string{"--push", "-t", "reg.example/a:1", "--mount-from", "other.example/base"},
			err: `--mount-from "other.example/base": a registry mounts only its own blobs; name a repository of reg.example`},
		{name: "bad repository", args: []string{"--push", "-t", "reg.example/a:1", "--mount-from", "Base"}, err: "want a repository of reg.example"},
		{name: "without a push", args: []string{"-t", "reg.example/a:1", "--mount-from", "base"}, err: `--mount-from "base": nothing is pushed; it mounts blobs for --push`},
		{name: "push output", args: []string{"--output", "type=registry", "-t", "reg.example/a:1", "--mount-from", "base"}, want: []repoMount{{"reg.example/a", "base"}}},

		{name: "FROM on the registry", args: []string{"--push", "-t", "localhost:5881/derived:1"}, base: "localhost:5881/hello:1", auto: true,
			want: []repoMount{{"localhost:5881/derived", "hello"}}},
		{name: "FROM on the registry, host case", args: []string{"--push", "-t", "LOCALHOST:5881/derived:1"}, base: "localhost:5881/hello:1", auto: true,
			want: []repoMount{{"LOCALHOST:5881/derived", "hello"}}},
		{name: "FROM on the registry, another loopback name", args: []string{"--push", "-t", "127.0.0.1:5881/derived:1"}, base: "localhost:5881/hello:1", auto: true,
			want: []repoMount{{"127.0.0.1:5881/derived", "hello"}}},
		{name: "FROM on another loopback port", args: []string{"--push", "-t", "127.0.0.1:5882/derived:1"}, base: "localhost:5881/hello:1",
			want: []repoMount{{"127.0.0.1:5882/derived", ""}}},
		{name: "FROM on Docker Hub", args: []string{"--push", "-t", "user/app:1"}, base: "docker.io/library/alpine:latest", auto: true,
			want: []repoMount{{"docker.io/user/app", "library/alpine"}}},
		{name: "FROM elsewhere", args: []string{"--push", "-t", "reg.example/app:1", "-t", "localhost:5881/app:1"}, base: "localhost:5881/hello:1", auto: true,
			want: []repoMount{{"reg.example/app", ""}, {"localhost:5881/app", "hello"}}},
		{name: "FROM the repository pushed to", args: []string{"--push", "-t", "reg.example/app:2"}, base: "reg.example/app:1", want: []repoMount{{"reg.example/app", ""}}},
		{name: "FROM unknown", args: []string{"--push", "-t", "reg.example/app:2"}, want: []repoMount{{"reg.example/app", ""}}},
		{name: "FROM, no push", args: []string{"-t", "reg.example/app:2"}, base: "reg.example/base:1", want: []repoMount{{"reg.example/app", ""}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, _, err := parseBuildFlags(t, append(tt.args, "ctx")...)
			if err != nil {
				t.Fatal(err)
			}
			o.maxConcurrency = 1
			p, err := o.plan()
			if tt.err != "" {
				var ee *exitError
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &ee) || ee.code != 2 {
					t.Fatalf("plan: %v, want a usage error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p.autoMount(tt.base)
			var got []repoMount
			for _, rt := range p.repos {
				got = append(got, repoMount{rt.name(), rt.mountFrom})
				if rt.mountAuto != (tt.auto && rt.mountFrom != "") {
					t.Errorf("%s: mountAuto %v", rt.name(), rt.mountAuto)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("mounts %+v, want %+v", got, tt.want)
			}
		})
	}
}
