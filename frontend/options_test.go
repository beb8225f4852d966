package frontend

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"

	"github.com/affix-oci/affix/internal/buildkittest"
)

// testContext writes a context directory with a Dockerfile and returns it.
func testContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// optErrCase checks a table case's err: with want set, err must be an
// ErrInvalidOption containing want, and the case is done (true); without,
// err must be nil.
func optErrCase(t *testing.T, err error, want string) bool {
	t.Helper()
	if want != "" {
		if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want ErrInvalidOption containing %q", err, want)
		}
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}

func TestNewPlan(t *testing.T) {
	ctxDir := testContext(t)
	secretFile := filepath.Join(ctxDir, "secret.txt")
	if err := os.WriteFile(secretFile, []byte("s3cr3t"), 0o600); err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	ociDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ociDir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ociDir, "index.json"), []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	finalFile := filepath.Join(t.TempDir(), "Dockerfile") // FROM ... AS final
	if err := os.WriteFile(finalFile, []byte("FROM scratch AS final\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stagesFile := filepath.Join(ctxDir, "Stages.Dockerfile")
	if err := os.WriteFile(stagesFile, []byte("FROM scratch AS Build\nFROM scratch AS srcdate\nADD https://example.com/src.tar.gz /\nFROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lowerDir := t.TempDir() // holds only a "dockerfile", as docker build takes it
	if err := os.WriteFile(filepath.Join(lowerDir, "dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// linkCtx/Dockerfile -> ../other/Build.Dockerfile, outside the
	// directory BuildKit is sent for the Dockerfile.
	linkRoot := t.TempDir()
	linkCtx, linkTarget := filepath.Join(linkRoot, "ctx"), filepath.Join(linkRoot, "other", "Build.Dockerfile")
	for _, d := range []string{linkCtx, filepath.Dir(linkTarget)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(linkTarget, []byte("FROM scratch AS linked\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "other", "Build.Dockerfile"), filepath.Join(linkCtx, "Dockerfile")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("gone", filepath.Join(linkCtx, "Dangling.Dockerfile")); err != nil {
		t.Fatal(err)
	}
	_, tlsFiles, err := buildkittest.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	base := func() Options {
		return Options{ContextDir: ctxDir, LookupEnv: env(nil)}
	}
	tests := []struct {
		name    string
		mod     func(*Options)
		wantErr error
		wantMsg string // in the error, when set
		check   func(*testing.T, *plan)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, p *plan) {
				want := map[string]string{"multi-platform": "true", "filename": "Dockerfile"}
				for k, v := range want {
					if p.attrs[k] != v {
						t.Errorf("attr %s = %q, want %q", k, p.attrs[k], v)
					}
				}
				if _, ok := p.attrs["platform"]; ok {
					t.Error("platform attr set without platforms")
				}
				if p.exportAttrs["tar"] != "false" || p.exportAttrs["oci-mediatypes"] != "true" {
					t.Errorf("export attrs %v", p.exportAttrs)
				}
				if _, ok := p.exportAttrs["rewrite-timestamp"]; ok {
					t.Error("rewrite-timestamp without SOURCE_DATE_EPOCH")
				}
				if len(p.groups) != 1 || p.groups[0].node.addr != DefaultAddress {
					t.Errorf("groups %+v", p.groups)
				}
				if p.locals["context"] != ctxDir || p.locals["dockerfile"] != ctxDir {
					t.Errorf("locals %v", p.locals)
				}
				for k := range p.attrs {
					if strings.HasPrefix(k, "attest:") {
						t.Errorf("attestation requested by default: %s", k)
					}
				}
				if caps, ok := p.frontendAttrsFor(p.groups[0])["frontend.caps"]; ok {
					t.Errorf("frontend.caps %q without named contexts", caps)
				}
			},
		},
		{
			name: "lowercase dockerfile",
			mod:  func(o *Options) { o.ContextDir = lowerDir },
			check: func(t *testing.T, p *plan) {
				if p.attrs["filename"] != "dockerfile" || p.dockerfile != filepath.Join(lowerDir, "dockerfile") {
					t.Errorf("filename %q, dockerfile %s", p.attrs["filename"], p.dockerfile)
				}
			},
		},
		{
			name: "lowercase dockerfile by -f",
			mod:  func(o *Options) { o.Dockerfile = filepath.Join(lowerDir, "Dockerfile") },
			check: func(t *testing.T, p *plan) {
				if p.attrs["filename"] != "dockerfile" || p.dockerfileDir != lowerDir {
					t.Errorf("filename %q, dockerfile %s", p.attrs["filename"], p.dockerfile)
				}
			},
		},
		{
			name: "symlinked dockerfile",
			mod:  func(o *Options) { o.ContextDir = linkCtx; o.Target = "linked" },
			check: func(t *testing.T, p *plan) {
				if p.attrs["filename"] != "Build.Dockerfile" || p.locals["dockerfile"] != filepath.Dir(linkTarget) || p.locals["context"] != linkCtx {
					t.Errorf("filename %q, locals %v; want the link's target sent", p.attrs["filename"], p.locals)
				}
				if p.dockerfileName != filepath.Join(linkCtx, "Dockerfile") {
					t.Errorf("messages name %s, want the path given", p.dockerfileName)
				}
			},
		},
		{
			name:    "dangling symlink for a dockerfile",
			mod:     func(o *Options) { o.Dockerfile = filepath.Join(linkCtx, "Dangling.Dockerfile") },
			wantErr: ErrInvalidOption,
			wantMsg: "no such file",
		},
		{
			name: "BUILDKIT_HOST",
			mod:  func(o *Options) { o.LookupEnv = env(map[string]string{"BUILDKIT_HOST": "tcp://10.0.0.1:1234"}) },
			check: func(t *testing.T, p *plan) {
				if p.groups[0].node.addr != "tcp://10.0.0.1:1234" {
					t.Errorf("addr %s", p.groups[0].node.addr)
				}
			},
		},
		{
			name: "everything",
			mod: func(o *Options) {
				o.Dockerfile = finalFile
				o.Target = "final"
				o.NoCache = true
				o.BuildArgs = []string{"A=1", "B=", "FROMENV", "UNSET"}
				o.LookupEnv = env(map[string]string{"FROMENV": "e", "TOKEN": "t"})
				o.Labels = []string{"org.example.a=x=y"}
				o.Tags = []string{"app", "example.com/team/app:v2"}
				o.Platforms = []string{"linux/arm64,linux/amd64", "linux/arm/v7"}
				o.Secrets = []string{"id=file," + "src=" + secretFile, "id=TOKEN", "id=tok2,env=TOKEN", "type=env,id=tok3,src=TOKEN"}
				o.BuildContexts = []string{"base=docker-image://alpine:3", "other=" + otherDir, "context=" + otherDir, "git=https://example.com/repo.git#main", "layout=oci-layout://" + ociDir + ":v1"}
				o.Annotations = []string{"org.example.m=1", "index:org.example.i=2", "manifest[linux/arm64]:org.example.arm=3", "manifest-descriptor:org.example.md=4", "index-descriptor:org.example.id=5"}
			},
			check: func(t *testing.T, p *plan) {
				want := map[string]string{
					"target":              "final",
					"no-cache":            "",
					"build-arg:A":         "1",
					"build-arg:B":         "",
					"build-arg:FROMENV":   "e",
					"label:org.example.a": "x=y",
					"context:base":        "docker-image://alpine:3",
					"context:other":       "local:other",
					"context:context":     "local:_context",
					"context:git":         "https://example.com/repo.git#main",
					"filename":            "Dockerfile",
					"multi-platform":      "true",
				}
				for k, v := range want {
					if got, ok := p.attrs[k]; !ok || got != v {
						t.Errorf("attr %s = %q (%v), want %q", k, got, ok, v)
					}
				}
				if _, ok := p.attrs["build-arg:UNSET"]; ok {
					t.Error("unset bare build arg passed")
				}
				if !strings.HasPrefix(p.attrs["context:layout"], "oci-layout://affix-") || !strings.HasSuffix(p.attrs["context:layout"], ":v1@sha256:"+strings.Repeat("a", 64)) {
					t.Errorf("oci-layout context %q", p.attrs["context:layout"])
				}
				if len(p.ociStores) != 1 {
					t.Errorf("oci stores %v", p.ociStores)
				}
				if p.locals["other"] != otherDir || p.locals["_context"] != otherDir {
					t.Errorf("locals %v", p.locals)
				}
				if got := p.exportAttrs["name"]; got != "docker.io/library/app:latest,example.com/team/app:v2" {
					t.Errorf("name %q", got)
				}
				if got := formatPlatforms(p.platforms); got != "linux/arm64,linux/amd64,linux/arm/v7" {
					t.Errorf("platforms %q", got)
				}
				if got := p.frontendAttrsFor(p.groups[0])["platform"]; got != "linux/arm64,linux/amd64,linux/arm/v7" {
					t.Errorf("platform attr %q", got)
				}
				// Named contexts need a frontend that knows them.
				if got := p.frontendAttrsFor(p.groups[0])["frontend.caps"]; got != "moby.buildkit.frontend.contexts+forward" {
					t.Errorf("frontend.caps %q", got)
				}
				ea := p.exportAttrsFor(p.groups[0])
				for k, v := range map[string]string{
					"annotation.org.example.m":                         "1",
					"annotation-index.org.example.i":                   "2",
					"annotation-manifest[linux/arm64].org.example.arm": "3",
					"annotation-manifest-descriptor.org.example.md":    "4",
					"annotation-index-descriptor.org.example.id":       "5",
				} {
					if ea[k] != v {
						t.Errorf("export attr %s = %q, want %q (%v)", k, ea[k], v, ea)
					}
				}
				if len(p.secrets) != 4 || p.secrets[0].FilePath != secretFile || p.secrets[1].Env != "TOKEN" || p.secrets[2].Env != "TOKEN" || p.secrets[3].Env != "TOKEN" {
					t.Errorf("secrets %+v", p.secrets)
				}
			},
		},
		{
			name: "epoch from build arg",
			mod:  func(o *Options) { o.BuildArgs = []string{"SOURCE_DATE_EPOCH=1700000000"} },
			check: func(t *testing.T, p *plan) {
				if p.epoch == nil || p.epoch.Unix() != 1700000000 || p.exportAttrs["rewrite-timestamp"] != "true" || p.attrs["build-arg:SOURCE_DATE_EPOCH"] != "1700000000" {
					t.Errorf("epoch %v attrs %v %v", p.epoch, p.attrs, p.exportAttrs)
				}
			},
		},
		{
			name: "epoch from environment",
			mod:  func(o *Options) { o.LookupEnv = env(map[string]string{"SOURCE_DATE_EPOCH": "0"}) },
			check: func(t *testing.T, p *plan) {
				if p.epoch == nil || p.epoch.Unix() != 0 || p.attrs["build-arg:SOURCE_DATE_EPOCH"] != "0" {
					t.Errorf("epoch %v", p.epoch)
				}
			},
		},
		{
			name: "explicit epoch wins over build arg",
			mod: func(o *Options) {
				o.SourceDateEpoch = "5"
				o.BuildArgs = []string{"SOURCE_DATE_EPOCH=7"}
			},
			check: func(t *testing.T, p *plan) {
				if p.attrs["build-arg:SOURCE_DATE_EPOCH"] != "5" {
					t.Errorf("epoch attr %q", p.attrs["build-arg:SOURCE_DATE_EPOCH"])
				}
			},
		},
		{
			name: "nodes",
			mod: func(o *Options) {
				o.Nodes = []string{"linux/amd64=unix:///a.sock", "linux/arm64=tcp://b:1234,servername=bk", "linux/arm/v7=unix:///a.sock"}
				o.Platforms = []string{"linux/arm64", "linux/amd64", "linux/arm/v7"}
			},
			check: func(t *testing.T, p *plan) {
				if len(p.groups) != 2 {
					t.Fatalf("groups %+v", p.groups)
				}
				if p.groups[0].node.addr != "tcp://b:1234" || p.groups[0].node.tls.ServerName != "bk" || formatPlatforms(p.groups[0].platforms) != "linux/arm64" {
					t.Errorf("group 0 %+v", p.groups[0])
				}
				if p.groups[1].node.addr != "unix:///a.sock" || formatPlatforms(p.groups[1].platforms) != "linux/amd64,linux/arm/v7" {
					t.Errorf("group 1 %+v", p.groups[1])
				}
			},
		},
		{
			name: "nodes give the platforms",
			mod:  func(o *Options) { o.Nodes = []string{"linux/arm64=unix:///b.sock", "linux/amd64=unix:///a.sock"} },
			check: func(t *testing.T, p *plan) {
				if formatPlatforms(p.platforms) != "linux/arm64,linux/amd64" || len(p.groups) != 2 {
					t.Errorf("platforms %s groups %+v", formatPlatforms(p.platforms), p.groups)
				}
			},
		},
		{
			name: "nodes need no default builder",
			mod: func(o *Options) {
				o.LookupEnv = env(map[string]string{"BUILDKIT_HOST": "not-an-address"})
				o.Nodes = []string{"linux/arm64=unix:///b.sock"}
			},
			check: func(t *testing.T, p *plan) {
				if len(p.groups) != 1 || p.groups[0].node.addr != "unix:///b.sock" {
					t.Errorf("groups %+v", p.groups)
				}
			},
		},
		{
			name: "BUILDKIT_HOST takes unmapped platforms",
			mod: func(o *Options) {
				o.LookupEnv = env(map[string]string{"BUILDKIT_HOST": "tcp://env:1234"})
				o.TLS = TLSOptions{ServerName: "bk"}
				o.Nodes = []string{"linux/arm64=unix:///b.sock"}
				o.Platforms = []string{"linux/amd64", "linux/arm64"}
			},
			check: func(t *testing.T, p *plan) {
				if len(p.groups) != 2 || p.groups[0].node.addr != "tcp://env:1234" || p.groups[0].node.tls.ServerName != "bk" ||
					formatPlatforms(p.groups[0].platforms) != "linux/amd64" || p.groups[1].node.addr != "unix:///b.sock" {
					t.Errorf("groups %+v", p.groups)
				}
			},
		},
		{
			name: "--builder wins over BUILDKIT_HOST for unmapped platforms",
			mod: func(o *Options) {
				o.LookupEnv = env(map[string]string{"BUILDKIT_HOST": "unix:///env.sock"})
				o.Builder = "unix:///flag.sock"
				o.Nodes = []string{"linux/arm64=unix:///b.sock"}
				o.Platforms = []string{"linux/amd64", "linux/arm64"}
			},
			check: func(t *testing.T, p *plan) {
				if len(p.groups) != 2 || p.groups[0].node.addr != "unix:///flag.sock" {
					t.Errorf("groups %+v", p.groups)
				}
			},
		},
		{name: "bad BUILDKIT_HOST used for an unmapped platform", mod: func(o *Options) {
			o.LookupEnv = env(map[string]string{"BUILDKIT_HOST": "not-an-address"})
			o.Nodes = []string{"linux/arm64=unix:///b.sock"}
			o.Platforms = []string{"linux/amd64", "linux/arm64"}
		}, wantErr: ErrInvalidOption, wantMsg: `BUILDKIT_HOST: builder "not-an-address"`},
		{name: "platform without node, builder or BUILDKIT_HOST", mod: func(o *Options) {
			o.Nodes = []string{"linux/arm64=unix:///b.sock"}
			o.Platforms = []string{"linux/amd64", "linux/arm64"}
		}, wantErr: ErrNoNode, wantMsg: "platform linux/amd64 (nodes are given for linux/arm64; set --builder ADDR or BUILDKIT_HOST for the others)"},
		{name: "bad BUILDKIT_HOST", mod: func(o *Options) { o.LookupEnv = env(map[string]string{"BUILDKIT_HOST": "not-an-address"}) }, wantErr: ErrInvalidOption},
		{
			name: "explicit builder takes unmapped platforms",
			mod: func(o *Options) {
				o.Builder = "unix:///default.sock"
				o.Nodes = []string{"linux/arm64=unix:///b.sock"}
				o.Platforms = []string{"linux/amd64", "linux/arm64"}
			},
			check: func(t *testing.T, p *plan) {
				if len(p.groups) != 2 || p.groups[0].node.addr != "unix:///default.sock" {
					t.Errorf("groups %+v", p.groups)
				}
			},
		},
		{
			name: "per-platform annotation goes to its node only",
			mod: func(o *Options) {
				o.Nodes = []string{"linux/amd64=unix:///a.sock", "linux/arm64=unix:///b.sock"}
				o.Annotations = []string{"manifest[linux/arm64]:k=v", "index:i=1"}
			},
			check: func(t *testing.T, p *plan) {
				a, b := p.exportAttrsFor(p.groups[0]), p.exportAttrsFor(p.groups[1])
				if _, ok := a["annotation-manifest[linux/arm64].k"]; ok {
					t.Error("arm64 annotation sent to the amd64 node")
				}
				if b["annotation-manifest[linux/arm64].k"] != "v" || a["annotation-index.i"] != "1" || b["annotation-index.i"] != "1" {
					t.Errorf("attrs %v %v", a, b)
				}
			},
		},
		{
			name: "tls for tcp",
			mod: func(o *Options) {
				o.Builder = "tcp://buildkit.example:1234"
				o.TLS = TLSOptions{CACert: tlsFiles.CACert, Cert: tlsFiles.Cert, Key: tlsFiles.Key}
			},
			check: func(t *testing.T, p *plan) {
				if p.groups[0].node.tls.CACert != tlsFiles.CACert {
					t.Errorf("tls %+v", p.groups[0].node.tls)
				}
			},
		},
		{name: "bad platform", mod: func(o *Options) { o.Platforms = []string{"bogus"} }, wantErr: ErrInvalidPlatform},
		{name: "unknown platform", mod: func(o *Options) { o.Platforms = []string{"linux/notanarch!"} }, wantErr: ErrInvalidPlatform},
		{
			name: "duplicate platforms dropped, local is the client's",
			mod: func(o *Options) {
				o.Platforms = []string{"linux/arm64,linux/amd64", "linux/arm64/v8", "local", "LOCAL", platforms.DefaultString()}
			},
			check: func(t *testing.T, p *plan) {
				want := []string{"linux/arm64", "linux/amd64"}
				if local := platforms.FormatAll(platforms.Normalize(platforms.DefaultSpec())); !slices.Contains(want, local) {
					want = append(want, local)
				}
				if got := formatPlatforms(p.platforms); got != strings.Join(want, ",") {
					t.Errorf("platforms %s, want %s", got, strings.Join(want, ","))
				}
			},
		},
		{
			name: "pull, no-cache-filter, cgroup-parent",
			mod: func(o *Options) {
				o.Dockerfile = stagesFile
				o.Pull = true
				o.NoCacheFilter = []string{"build,srcdate", "BUILD"}
				o.CgroupParent = "/affix/builds"
			},
			check: func(t *testing.T, p *plan) {
				for k, v := range map[string]string{"image-resolve-mode": "pull", "no-cache": "build,srcdate,BUILD", "cgroup-parent": "/affix/builds"} {
					if got, ok := p.attrs[k]; !ok || got != v {
						t.Errorf("attr %s = %q (%v), want %q", k, got, ok, v)
					}
				}
			},
		},
		{
			name: "no-cache wins over no-cache-filter",
			mod: func(o *Options) {
				o.Dockerfile = stagesFile
				o.NoCache = true
				o.NoCacheFilter = []string{"build"}
			},
			check: func(t *testing.T, p *plan) {
				if got, ok := p.attrs["no-cache"]; !ok || got != "" {
					t.Errorf("no-cache = %q (%v), want empty", got, ok)
				}
				if _, ok := p.attrs["image-resolve-mode"]; ok {
					t.Error("image-resolve-mode without Pull")
				}
			},
		},
		{name: "no-cache-filter unknown stage", mod: func(o *Options) {
			o.Dockerfile = stagesFile
			o.NoCacheFilter = []string{"bulid"}
		}, wantErr: ErrInvalidOption, wantMsg: `no-cache-filter "bulid": ` + stagesFile + ` has no stage "bulid" (stages: build, srcdate)`},
		{
			name: "target a stage, any case",
			mod: func(o *Options) {
				o.Dockerfile = stagesFile
				o.Target = "BUILD"
			},
			check: func(t *testing.T, p *plan) {
				if p.attrs["target"] != "BUILD" {
					t.Errorf("attrs %v", p.attrs)
				}
			},
		},
		{name: "target unknown stage", mod: func(o *Options) {
			o.Dockerfile = stagesFile
			o.Target = "nostage"
		}, wantErr: ErrInvalidOption, wantMsg: `target "nostage": ` + stagesFile + ` has no stage "nostage" (stages: build, srcdate)`},
		{name: "target in a Dockerfile without named stages", mod: func(o *Options) { o.Target = "final" },
			wantErr: ErrInvalidOption, wantMsg: `target "final": ` + filepath.Join(ctxDir, "Dockerfile") + ` names no stage`},
		{name: "no-cache-filter not a name", mod: func(o *Options) {
			o.Dockerfile = stagesFile
			o.NoCacheFilter = []string{"build,,srcdate"}
		}, wantErr: ErrInvalidOption, wantMsg: `"" is not a stage name`},
		{
			name: "label without value",
			mod:  func(o *Options) { o.Labels = []string{"org.example.flag", "b=1"} },
			check: func(t *testing.T, p *plan) {
				if v, ok := p.attrs["label:org.example.flag"]; !ok || v != "" || p.attrs["label:b"] != "1" {
					t.Errorf("attrs %v", p.attrs)
				}
			},
		},
		{
			name: "SOURCE_DATE_EPOCH=context passed through",
			mod:  func(o *Options) { o.BuildArgs = []string{"SOURCE_DATE_EPOCH=context"} },
			check: func(t *testing.T, p *plan) {
				if p.epoch != nil || !p.hasEpoch || p.attrs["build-arg:SOURCE_DATE_EPOCH"] != "context" || p.exportAttrs["rewrite-timestamp"] != "true" {
					t.Errorf("epoch %v attrs %v %v", p.epoch, p.attrs, p.exportAttrs)
				}
			},
		},
		{
			name: "SOURCE_DATE_EPOCH names a build context",
			mod: func(o *Options) {
				o.BuildContexts = []string{"docker.io/library/src:latest=https://example.com/src.tar.gz"}
				o.LookupEnv = env(map[string]string{"SOURCE_DATE_EPOCH": "src"})
			},
			check: func(t *testing.T, p *plan) {
				if p.epoch != nil || p.attrs["build-arg:SOURCE_DATE_EPOCH"] != "src" || p.exportAttrs["rewrite-timestamp"] != "true" {
					t.Errorf("epoch %v attrs %v %v", p.epoch, p.attrs, p.exportAttrs)
				}
			},
		},
		{
			name: "SOURCE_DATE_EPOCH names a stage",
			mod: func(o *Options) {
				o.Dockerfile = stagesFile
				o.SourceDateEpoch = "srcdate"
			},
			check: func(t *testing.T, p *plan) {
				if p.epoch != nil || p.attrs["build-arg:SOURCE_DATE_EPOCH"] != "srcdate" {
					t.Errorf("epoch %v attrs %v", p.epoch, p.attrs)
				}
			},
		},
		{name: "SOURCE_DATE_EPOCH names no stage", mod: func(o *Options) {
			o.Dockerfile = stagesFile
			o.BuildArgs = []string{"SOURCE_DATE_EPOCH=srcdat"}
		}, wantErr: ErrInvalidOption, wantMsg: `build-arg SOURCE_DATE_EPOCH "srcdat": want seconds since 1970-01-01 UTC, "context", a build context name or a stage name; ` + stagesFile + ` has no stage "srcdat" (stages: build, srcdate)`},
		{name: "SOURCE_DATE_EPOCH a word, no such stage", mod: func(o *Options) {
			o.LookupEnv = env(map[string]string{"SOURCE_DATE_EPOCH": "abc"})
		}, wantErr: ErrInvalidOption, wantMsg: `environment SOURCE_DATE_EPOCH "abc": want seconds since 1970-01-01 UTC, "context", a build context name or a stage name; ` + filepath.Join(ctxDir, "Dockerfile") + ` names no stage`},
		{name: "SOURCE_DATE_EPOCH with a space", mod: func(o *Options) { o.LookupEnv = env(map[string]string{"SOURCE_DATE_EPOCH": " 1700000000"}) },
			wantErr: ErrInvalidOption, wantMsg: `environment SOURCE_DATE_EPOCH " 1700000000": want seconds since 1970-01-01 UTC, "context", a build context name or a stage name: `},
		{name: "SOURCE_DATE_EPOCH past 9999", mod: func(o *Options) { o.SourceDateEpoch = "253402300800" },
			wantErr: ErrInvalidOption, wantMsg: `SourceDateEpoch "253402300800": want at most 253402300799 (9999-12-31T23:59:59Z)`},
		{name: "SOURCE_DATE_EPOCH past int64", mod: func(o *Options) { o.BuildArgs = []string{"SOURCE_DATE_EPOCH=99999999999999999999"} },
			wantErr: ErrInvalidOption, wantMsg: `build-arg SOURCE_DATE_EPOCH "99999999999999999999": want at most 253402300799`},
		{name: "SOURCE_DATE_EPOCH below int64", mod: func(o *Options) { o.BuildArgs = []string{"SOURCE_DATE_EPOCH=-99999999999999999999"} },
			wantErr: ErrInvalidOption, wantMsg: "want a non-negative integer"},
		{
			name: "SOURCE_DATE_EPOCH at 9999-12-31T23:59:59Z",
			mod:  func(o *Options) { o.SourceDateEpoch = "253402300799" },
			check: func(t *testing.T, p *plan) {
				if p.epoch == nil || p.epoch.Format(time.RFC3339) != "9999-12-31T23:59:59Z" {
					t.Errorf("epoch %v", p.epoch)
				}
			},
		},
		{name: "SOURCE_DATE_EPOCH not a number or name", mod: func(o *Options) { o.BuildArgs = []string{"SOURCE_DATE_EPOCH=1.5"} },
			wantErr: ErrInvalidOption, wantMsg: `want seconds since 1970-01-01 UTC, "context", a build context name or a stage name`},
		{
			name: "export attributes",
			mod: func(o *Options) {
				o.ExportAttrs = map[string]string{"compression": "zstd", "compression-level": "19", "force-compression": "1", "oci-mediatypes": "true", "rewrite-timestamp": "false"}
			},
			check: func(t *testing.T, p *plan) {
				want := map[string]string{"tar": "false", "oci-mediatypes": "true", "compression": "zstd", "compression-level": "19", "force-compression": "true"}
				if !maps.Equal(p.exportAttrs, want) {
					t.Errorf("export attrs %v, want %v", p.exportAttrs, want)
				}
			},
		},
		{
			name: "rewrite-timestamp=true with an epoch",
			mod: func(o *Options) {
				o.SourceDateEpoch = "1"
				o.ExportAttrs = map[string]string{"rewrite-timestamp": "true"}
			},
			check: func(t *testing.T, p *plan) {
				if p.exportAttrs["rewrite-timestamp"] != "true" {
					t.Errorf("export attrs %v", p.exportAttrs)
				}
			},
		},
		{name: "rewrite-timestamp=false with an epoch", mod: func(o *Options) {
			o.LookupEnv = env(map[string]string{"SOURCE_DATE_EPOCH": "context"})
			o.ExportAttrs = map[string]string{"rewrite-timestamp": "false"}
		}, wantErr: ErrInvalidOption, wantMsg: "affix always rewrites layer timestamps"},
		{name: "BUILDKIT_MULTI_PLATFORM=0", mod: func(o *Options) { o.BuildArgs = []string{"BUILDKIT_MULTI_PLATFORM=0"} },
			wantErr: ErrInvalidOption, wantMsg: "--build-arg BUILDKIT_MULTI_PLATFORM=0: affix always builds an image index"},
		{name: "BUILDKIT_MULTI_PLATFORM empty", mod: func(o *Options) { o.BuildArgs = []string{"BUILDKIT_MULTI_PLATFORM="} }},
		{name: "BUILDKIT_MULTI_PLATFORM=1", mod: func(o *Options) { o.BuildArgs = []string{"BUILDKIT_MULTI_PLATFORM=1"} }},
		{name: "BUILDKIT_MULTI_PLATFORM not a bool", mod: func(o *Options) { o.BuildArgs = []string{"BUILDKIT_MULTI_PLATFORM=maybe"} },
			wantErr: ErrInvalidOption, wantMsg: "BUILDKIT_MULTI_PLATFORM=maybe"},
		{name: "unknown export attribute", mod: func(o *Options) { o.ExportAttrs = map[string]string{"push": "true"} },
			wantErr: ErrInvalidOption, wantMsg: `output "push": not an oci exporter attribute`},
		{name: "platform without node", mod: func(o *Options) {
			o.Nodes = []string{"linux/amd64=unix:///a.sock"}
			o.Platforms = []string{"linux/arm64"}
		}, wantErr: ErrNoNode},
		{name: "node twice", mod: func(o *Options) { o.Nodes = []string{"linux/amd64=unix:///a.sock", "linux/amd64=unix:///b.sock"} }, wantErr: ErrInvalidPlatform},
		{name: "node without address", mod: func(o *Options) { o.Nodes = []string{"linux/amd64"} }, wantErr: ErrInvalidOption},
		{name: "node bad key", mod: func(o *Options) { o.Nodes = []string{"linux/amd64=tcp://a:1,foo=bar"} }, wantErr: ErrInvalidOption},
		{name: "unknown scheme", mod: func(o *Options) { o.Builder = "http://a:1" }, wantErr: ErrInvalidOption},
		{name: "tcp without host", mod: func(o *Options) { o.Builder = "tcp://" }, wantErr: ErrInvalidOption},
		{name: "tls cert without key", mod: func(o *Options) {
			o.Builder = "tcp://a:1"
			o.TLS = TLSOptions{Cert: secretFile}
		}, wantErr: ErrInvalidOption},
		{name: "tls missing file", mod: func(o *Options) {
			o.Builder = "tcp://a:1"
			o.TLS = TLSOptions{CACert: "/nonexistent/ca.pem"}
		}, wantErr: ErrInvalidOption},
		{name: "missing context", mod: func(o *Options) { o.ContextDir = "/nonexistent/ctx" }, wantErr: ErrInvalidOption},
		{name: "git URL context", mod: func(o *Options) { o.ContextDir = "https://github.com/foo/bar.git" },
			wantErr: ErrInvalidOption, wantMsg: `context "https://github.com/foo/bar.git": a remote build context (git repository or URL) is not supported`},
		{name: "git ssh context", mod: func(o *Options) { o.ContextDir = "git@github.com:foo/bar.git" },
			wantErr: ErrInvalidOption, wantMsg: "remote build context"},
		{name: "git reference context", mod: func(o *Options) { o.ContextDir = "github.com/foo/bar#main" },
			wantErr: ErrInvalidOption, wantMsg: "remote build context"},
		{name: "http tarball context", mod: func(o *Options) { o.ContextDir = "http://example.com/ctx.tar.gz" },
			wantErr: ErrInvalidOption, wantMsg: "remote build context"},
		{name: "missing dockerfile", mod: func(o *Options) { o.Dockerfile = filepath.Join(ctxDir, "Nope") }, wantErr: ErrInvalidOption},
		{name: "stdin dockerfile", mod: func(o *Options) { o.Dockerfile = "-" }, wantErr: ErrInvalidOption},
		{name: "bad build arg", mod: func(o *Options) { o.BuildArgs = []string{"=x"} }, wantErr: ErrInvalidOption},
		{name: "bad label", mod: func(o *Options) { o.Labels = []string{"=x"} }, wantErr: ErrInvalidOption},
		{name: "bad epoch", mod: func(o *Options) { o.BuildArgs = []string{"SOURCE_DATE_EPOCH=yesterday"} }, wantErr: ErrInvalidOption},
		{name: "negative epoch", mod: func(o *Options) { o.SourceDateEpoch = "-1" }, wantErr: ErrInvalidOption},
		{name: "secret without id", mod: func(o *Options) { o.Secrets = []string{"src=" + secretFile} }, wantErr: ErrInvalidOption},
		{name: "secret missing file", mod: func(o *Options) { o.Secrets = []string{"id=x,src=/nonexistent/s"} }, wantErr: ErrInvalidOption},
		{name: "secret bad key", mod: func(o *Options) { o.Secrets = []string{"id=x,color=red"} }, wantErr: ErrInvalidOption},
		{name: "secret bad type", mod: func(o *Options) { o.Secrets = []string{"id=x,type=vault"} }, wantErr: ErrInvalidOption},
		{name: "ssh missing path", mod: func(o *Options) { o.SSH = []string{"default=/nonexistent/agent.sock"} }, wantErr: ErrInvalidOption},
		{name: "ssh empty id", mod: func(o *Options) { o.SSH = []string{"=/x"} }, wantErr: ErrInvalidOption},
		{name: "context missing dir", mod: func(o *Options) { o.BuildContexts = []string{"x=/nonexistent/dir"} }, wantErr: ErrInvalidOption},
		{name: "context no value", mod: func(o *Options) { o.BuildContexts = []string{"x"} }, wantErr: ErrInvalidOption},
		{name: "context twice", mod: func(o *Options) { o.BuildContexts = []string{"x=" + otherDir, "x=" + otherDir} }, wantErr: ErrInvalidOption},
		{name: "context bad image", mod: func(o *Options) { o.BuildContexts = []string{"x=docker-image://UPPER/Case"} }, wantErr: ErrInvalidOption},
		{name: "context oci-layout unknown tag", mod: func(o *Options) { o.BuildContexts = []string{"x=oci-layout://" + ociDir + ":v9"} }, wantErr: ErrInvalidOption},
		{name: "bad tag", mod: func(o *Options) { o.Tags = []string{"Bad Tag"} }, wantErr: ErrInvalidOption},
		{name: "annotation without value", mod: func(o *Options) { o.Annotations = []string{"index:k"} }, wantErr: ErrInvalidOption},
		{name: "index annotation with platform", mod: func(o *Options) { o.Annotations = []string{"index[linux/amd64]:k=v"} }, wantErr: ErrInvalidOption},
		{name: "annotation for unbuilt platform", mod: func(o *Options) {
			o.Platforms = []string{"linux/amd64"}
			o.Annotations = []string{"manifest[linux/s390x]:k=v"}
		}, wantErr: ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			if tt.mod != nil {
				tt.mod(&o)
			}
			p, err := newPlan(o)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

// TestParsePlatformsNormalizes: --platform values are parsed and
// normalized as buildx parses them (containerd's platforms.Parse): an
// architecture alone is this machine's OS with it, aliases are the
// architecture's own name, and a duplicate after normalization is
// dropped; what names no platform is ErrInvalidPlatform naming it.
func TestParsePlatformsNormalizes(t *testing.T) {
	goos := runtime.GOOS
	host := platforms.Normalize(platforms.DefaultSpec())
	host.OS = "linux"
	for _, c := range []struct {
		in   []string
		want string // formatted, space-separated
		err  string
	}{
		{in: []string{"linux/arm64/v8", "linux/arm", "Linux/AMD64"}, want: "linux/arm64 linux/arm/v7 linux/amd64"},
		{in: []string{"arm64"}, want: goos + "/arm64"},
		{in: []string{"aarch64,x86_64"}, want: goos + "/arm64 " + goos + "/amd64"},
		{in: []string{"armhf", "armel", "i386"}, want: goos + "/arm/v7 " + goos + "/arm/v6 " + goos + "/386"},
		{in: []string{"arm64", goos + "/arm64/v8"}, want: goos + "/arm64"},
		{in: []string{"linux"}, want: platforms.FormatAll(host)},
		{in: []string{"bogus"}, err: `platform "bogus": no known OS or architecture`},
		{in: []string{"linux/amd64,arm 64"}, err: `platform "arm 64"`},
	} {
		ps, err := parsePlatforms(c.in)
		if c.err != "" {
			if !errors.Is(err, ErrInvalidPlatform) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parsePlatforms(%q) = %v, %v; want ErrInvalidPlatform %q", c.in, ps, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parsePlatforms(%q): %v", c.in, err)
			continue
		}
		var got []string
		for _, p := range ps {
			got = append(got, platforms.FormatAll(p))
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("parsePlatforms(%q) = %s, want %s", c.in, g, c.want)
		}
	}
}

func TestPrepareOutput(t *testing.T) {
	dir := t.TempDir()
	newDir := filepath.Join(dir, "new", "layout")
	_, cleanup, err := prepareOutput(newDir)
	if err != nil {
		t.Fatalf("new dir: %v", err)
	}
	cleanup()
	if _, err := os.Stat(filepath.Dir(newDir)); err == nil {
		t.Error("cleanup left the directories it created")
	}
	os.WriteFile(filepath.Join(dir, "other"), nil, 0o644)
	if _, _, err := prepareOutput(dir); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("non-empty dir: err = %v, want ErrInvalidOption", err)
	}
	empty := t.TempDir()
	_, cleanup, err = prepareOutput(empty)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(empty, "index.json"), nil, 0o644)
	cleanup()
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("cleanup left %v", entries)
	}
	if _, err := os.Stat(empty); err != nil {
		t.Errorf("cleanup removed the caller's directory: %v", err)
	}
}

func TestParseProgressMode(t *testing.T) {
	for in, want := range map[string]ProgressMode{"": ProgressAuto, "auto": ProgressAuto, "plain": ProgressPlain, "tty": ProgressTTY, "rawjson": ProgressRawJSON, "quiet": ProgressQuiet} {
		if got, err := ParseProgressMode(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseProgressMode("json"); !errors.Is(err, ErrInvalidProgress) {
		t.Errorf("json: err = %v", err)
	}
}

// TestNewPlanDockerConfig: the registry credentials buildkitd asks for come
// from DOCKER_CONFIG's config.json; a broken one is an error naming it, not
// a build that pulls without them.
func TestNewPlanDockerConfig(t *testing.T) {
	ctxDir := testContext(t)
	for _, c := range []struct {
		name, config, wantErr string
	}{
		{name: "none"},
		{name: "auths", config: `{"auths":{"r.example":{"auth":"dTpw"}}}`},
		{name: "broken", config: `{"auths":`, wantErr: "reading Docker credentials in "},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.config != "" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(c.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			p, err := newPlan(Options{ContextDir: ctxDir, LookupEnv: env(map[string]string{"DOCKER_CONFIG": dir})})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr+dir) {
					t.Fatalf("error %v, want %q", err, c.wantErr+dir)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.config != "" && p.dockerConfig.AuthConfigs["r.example"].Username != "u" {
				t.Errorf("credentials of r.example not read: %+v", p.dockerConfig.AuthConfigs)
			}
		})
	}
}

// TestNewPlanProxyArgs: the default proxies of the Docker config are
// build arguments, as buildx passes them; one given as --build-arg wins.
func TestNewPlanProxyArgs(t *testing.T) {
	ctxDir := testContext(t)
	dir := t.TempDir()
	cfg := `{"proxies":{"default":{"httpProxy":"http://proxy:3128","httpsProxy":"http://proxy:3129","noProxy":"localhost,.corp"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := newPlan(Options{ContextDir: ctxDir, BuildArgs: []string{"HTTPS_PROXY=http://mine:1"}, LookupEnv: env(map[string]string{"DOCKER_CONFIG": dir})})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"build-arg:HTTP_PROXY":  "http://proxy:3128",
		"build-arg:HTTPS_PROXY": "http://mine:1",
		"build-arg:NO_PROXY":    "localhost,.corp",
	} {
		if got := p.attrs[k]; got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"build-arg:FTP_PROXY", "build-arg:ALL_PROXY"} {
		if v, ok := p.attrs[k]; ok {
			t.Errorf("%s = %q, not configured", k, v)
		}
	}
}

// TestParseAddress: every form the BuildKit client dials passes; what it
// cannot dial is ErrInvalidOption naming the address.
func TestParseAddress(t *testing.T) {
	npipe := []struct{ addr, err string }{
		{addr: "npipe:////./pipe/buildkitd"},
		{addr: "npipe://", err: "no pipe path"},
	}
	if runtime.GOOS != "windows" {
		npipe = []struct{ addr, err string }{
			{addr: "npipe:////./pipe/buildkitd", err: "npipe:// is a Windows named pipe, which this " + runtime.GOOS + " client cannot dial"},
		}
	}
	for _, c := range append(npipe, []struct {
		addr, err string
	}{
		{addr: "unix:///run/buildkit/buildkitd.sock"},
		{addr: "unix:buildkitd.sock"},
		{addr: "tcp://buildkit.example:1234"},
		{addr: "docker-container://buildx_buildkit_x0"},
		{addr: "kube-pod://buildkitd-0?namespace=ci"},
		{addr: "ssh://me@host:22"},
		{addr: "unix://", err: "no socket path"},
		{addr: "tcp://", err: "no host"},
		{addr: "http://a:1", err: `unknown scheme "http"`},
		{addr: "h2c://a:1", err: "ssh or, on Windows, npipe)"},
		{addr: "mybuilder", err: "not a buildx builder name"},
	}...) {
		err := parseAddress(c.addr)
		if c.err == "" {
			if err != nil {
				t.Errorf("%s: %v", c.addr, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), c.addr) {
			t.Errorf("%s: error %v, want %q", c.addr, err, c.err)
		}
	}
}

// TestSharedCacheWarnings: with several builder nodes, every node
// exports to each --cache-to, so all but inline get a warning before the
// build; one node (or several platforms on one) gets none.
func TestSharedCacheWarnings(t *testing.T) {
	dest := t.TempDir()
	cacheTo := []string{"type=local,dest=" + dest, "type=registry,ref=registry.example.com/app:cache", "type=inline"}
	for _, c := range []struct {
		name  string
		nodes []string
		want  []string
	}{
		{"two nodes", []string{"linux/amd64=unix:///a.sock", "linux/arm64=unix:///b.sock"}, []string{
			"--cache-to type=local,dest=" + dest + ": each of the 2 builder nodes exports its cache there",
			"--cache-to type=registry,ref=registry.example.com/app:cache: each of the 2 builder nodes",
		}},
		{"one node, two platforms", []string{"linux/amd64=unix:///a.sock", "linux/arm64=unix:///a.sock"}, nil},
		{"no nodes", nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewPlan(Options{ContextDir: testContext(t), LookupEnv: env(nil), Platforms: []string{"linux/amd64", "linux/arm64"}, Nodes: c.nodes, Builder: "unix:///a.sock", CacheTo: cacheTo})
			if err != nil {
				t.Fatal(err)
			}
			checkWarnings(t, p.Warnings(), c.want)
		})
	}
}
