package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/frontend"
	"github.com/affix-oci/affix/internal/buildkittest"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocidir"
	"github.com/affix-oci/affix/internal/ocidir/ocidirtest"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/sbomgen"
)

func TestParseOutput(t *testing.T) {
	attrs := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, c := range []struct {
		in   string
		want outputSpec
		err  string
	}{
		{in: "type=oci,dest=out.tar", want: outputSpec{oci: &ociOutput{dest: "out.tar", tar: true}}},
		{in: "type=oci,dest=dir,tar=false", want: outputSpec{oci: &ociOutput{dest: "dir"}}},
		{in: "type=oci,dest=-", want: outputSpec{oci: &ociOutput{dest: "-", tar: true}}},
		{in: `type=oci,"dest=a,b"`, want: outputSpec{oci: &ociOutput{dest: "a,b", tar: true}}},
		{in: "type=oci,dest=x,compression=zstd,compression-level=3,force-compression=true,oci-mediatypes=true,rewrite-timestamp=true",
			want: outputSpec{oci: &ociOutput{dest: "x", tar: true}, attrs: attrs("compression", "zstd", "compression-level", "3", "force-compression", "true", "oci-mediatypes", "true", "rewrite-timestamp", "true")}},
		{in: "type=registry", want: outputSpec{push: true}},
		{in: "type=registry,push=true", want: outputSpec{push: true}},
		{in: `type=registry,"name=r.example/a:1,r.example/b:2",compression=gzip`, want: outputSpec{push: true, names: []string{"r.example/a:1", "r.example/b:2"}, attrs: attrs("compression", "gzip")}},
		{in: "type=image,name=r.example/a:1,push=true", want: outputSpec{push: true, names: []string{"r.example/a:1"}}},
		{in: "type=image,name=r.example/a:1", err: "image store"},
		{in: "type=registry,push=false", err: "image store"},
		{in: "type=registry,push=maybe", err: "want true or false"},
		{in: "type=registry,push-by-digest=true", want: outputSpec{push: true, byDigest: true}},
		{in: "type=image,name=r.example/a,push-by-digest=true,name-canonical=true,push=true", want: outputSpec{push: true, byDigest: true, names: []string{"r.example/a"}}},
		{in: "type=registry,push-by-digest=false", want: outputSpec{push: true}},
		{in: "type=registry,push-by-digest=maybe", err: `push-by-digest="maybe": want true or false`},
		{in: "type=oci,dest=x,push-by-digest=true", err: `unknown key "push-by-digest"`},
		{in: "type=registry,registry.insecure=true", err: "registry.insecure: use --insecure-registry HOST"},
		{in: "type=image,name=r.example/a:1,push=true,registry.insecure=yes", err: `registry.insecure="yes": want true or false`},
		{in: "type=registry,registry.insecure=false", want: outputSpec{push: true}},
		{in: "type=registry,annotation-index.org.example=1", err: "annotation-index.org.example: give annotations with --annotation (annotation.KEY=V is --annotation KEY=V, annotation-index.KEY=V is --annotation index:KEY=V"},
		{in: "type=oci,dest=x,annotation-manifest[linux/amd64].k=v", err: "give annotations with --annotation"},
		{in: "type=oci,dest=x,name=a", err: "first -t"},
		{in: "type=oci", want: outputSpec{oci: &ociOutput{dest: "-", tar: true}}}, // as buildx: stdout
		{in: "type=oci,tar=false", err: "no dest: a directory output needs one"},
		{in: "type=oci,dest=-,tar=false", err: "cannot go to stdout"},
		{in: "type=oci,dest=x,tar=maybe", err: "want true or false"},
		{in: "type=oci,dest=x,annotation.a=b", err: `annotation.a: give annotations with --annotation`},
		{in: "type=oci,dest=x,annotations=b", err: `annotations: give annotations with --annotation`},
		{in: "type=oci,dest=x,unpack=true", err: `unknown key "unpack"`},
		{in: "type=oci,dest=x,dest=y", err: "given twice"},
		{in: "dest=x", err: "no type"},
		{in: "out.tar", err: `--output "out.tar": buildx's shorthand for type=local,dest=out.tar (the image's files in a directory): type "local" is not supported`},
		{in: "./outdir", err: `buildx's shorthand for type=local,dest=./outdir`},
		{in: "-", err: `--output "-": buildx's shorthand for type=tar,dest=- (a tar of the image's files to stdout): type "tar" is not supported`},
		{in: `"./a,b"`, err: `field "./a,b": want key=value`}, // buildx too takes no quoted path for a shorthand
		{in: "a,b", err: `field "a": want key=value`},
		{in: "type=docker", err: `type "docker" is not supported`},
		{in: "type=local,dest=x", err: `type "local" is not supported: affix exports OCI layouts and pushes, it has no local, tar or docker exporter; use type=oci,dest=PATH`},
		{in: "type=tar,dest=-", err: `type "tar" is not supported`},
	} {
		out, err := parseOutput(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if c.want.attrs == nil {
			c.want.attrs = map[string]string{}
		}
		if out.push != c.want.push || (out.oci == nil) != (c.want.oci == nil) || out.oci != nil && *out.oci != *c.want.oci ||
			!slices.Equal(out.names, c.want.names) || !maps.Equal(out.attrs, c.want.attrs) {
			t.Errorf("%q: %+v (oci %+v), want %+v (oci %+v)", c.in, out, out.oci, c.want, c.want.oci)
		}
	}
}

func TestParseTag(t *testing.T) {
	for _, c := range []struct{ in, norm, registry, repo, tag, err string }{
		{in: "app", norm: "docker.io/library/app:latest", registry: "docker.io", repo: "library/app", tag: "latest"},
		{in: "me/app:1.0", norm: "docker.io/me/app:1.0", registry: "docker.io", repo: "me/app", tag: "1.0"},
		{in: "127.0.0.1:5000/hello:demo", norm: "127.0.0.1:5000/hello:demo", registry: "127.0.0.1:5000", repo: "hello", tag: "demo"},
		{in: "localhost:5000/a/b", norm: "localhost:5000/a/b:latest", registry: "localhost:5000", repo: "a/b", tag: "latest"},
		{in: "Bad/Name:v1", err: "must be lowercase"},
		{in: "app:v1@sha256:" + strings.Repeat("a", 64), err: "names no digest"},
		{in: "app:bad tag", err: "invalid reference format"},
	} {
		norm, ref, err := parseTag(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || norm != c.norm || ref.Registry != c.registry || ref.Repository != c.repo || ref.Reference != c.tag {
			t.Errorf("%q: %q %+v %v", c.in, norm, ref, err)
		}
	}
}

func TestSplitBuilders(t *testing.T) {
	for _, c := range []struct {
		in      []string
		builder string
		nodes   []string
		err     string
	}{
		{in: nil},
		{in: []string{"unix:///run/bk.sock"}, builder: "unix:///run/bk.sock"},
		{in: []string{"tcp://h:1234", "linux/arm64=tcp://arm:1234,cacert=ca.pem"}, builder: "tcp://h:1234", nodes: []string{"linux/arm64=tcp://arm:1234,cacert=ca.pem"}},
		{in: []string{"linux/amd64=unix:///a.sock", "linux/arm64=unix:///b.sock"}, nodes: []string{"linux/amd64=unix:///a.sock", "linux/arm64=unix:///b.sock"}},
		{in: []string{"kube-pod://bk?namespace=ci&context=prod"}, builder: "kube-pod://bk?namespace=ci&context=prod"},
		// A node whose platform is no os/arch: a node, for the frontend
		// to refuse its platform.
		{in: []string{"local=unix:///x.sock"}, nodes: []string{"local=unix:///x.sock"}},
		{in: []string{"ssh://u@h?x=y"}, builder: "ssh://u@h?x=y"},
		{in: []string{"unix:///a.sock", "unix:///b.sock"}, err: "given already"},
		{in: []string{""}, err: "empty"},
		{in: []string{"tcp://127.0.0.1:12341,cacert=ca.pem"}, err: `--builder "tcp://127.0.0.1:12341,cacert=ca.pem": per-builder TLS fields (cacert=, cert=, key=, servername=) need the PLATFORM=ADDR,... form (--builder linux/amd64=tcp://127.0.0.1:12341,cacert=ca.pem); for a single builder use the --builder-tls-cacert`},
		{in: []string{"tcp://h:1,ServerName=bk"}, err: "need the PLATFORM=ADDR,... form"},
	} {
		b, n, err := splitBuilders(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || b != c.builder || !slices.Equal(n, c.nodes) {
			t.Errorf("%q: %q %q %v", c.in, b, n, err)
		}
	}
}

// TestBuildPlan: tags are grouped by repository in order, --output
// type=registry is --push, and what the command line gets wrong is a
// usage error before anything is built.
func TestBuildPlan(t *testing.T) {
	o := buildOptions{
		tags:           []string{"r.example/a:1", "r.example/b:1", "r.example/a:2", "r.example/a:1"},
		outputs:        []string{"type=registry", "type=oci,dest=x.tar"},
		progress:       "plain",
		maxConcurrency: 4,
	}
	p, err := o.plan()
	if err != nil {
		t.Fatal(err)
	}
	if !p.push || p.output == nil || p.output.dest != "x.tar" || !slices.Equal(p.tags, []string{"r.example/a:1", "r.example/b:1", "r.example/a:2"}) {
		t.Fatalf("plan %+v", p)
	}
	if len(p.repos) != 2 || p.repos[0].name() != "r.example/a" || !slices.Equal(p.repos[0].tags, []string{"1", "2"}) || p.repos[1].name() != "r.example/b" {
		t.Errorf("repos %+v", p.repos)
	}
	if !slices.Equal(p.formats, []referrerFormat{{doc: sbomgen.SPDXJSON}}) {
		t.Errorf("formats %v", p.formats)
	}
	// --no-sbom is --sbom=false.
	o.noSBOM = true
	if p, err := o.plan(); err != nil || p.formats != nil {
		t.Errorf("--no-sbom: plan formats %v, err %v; want none", p.formats, err)
	}
	// name= of a push output adds tags; exporter keys reach the build.
	o = buildOptions{
		tags:           []string{"r.example/a:1"},
		outputs:        []string{`type=image,"name=r.example/a:2,r.example/c:1",push=true,compression=zstd`, "type=oci,dest=-,compression=zstd"},
		progress:       "plain",
		maxConcurrency: 4,
	}
	if p, err = o.plan(); err != nil {
		t.Fatal(err)
	}
	if !p.push || !slices.Equal(p.tags, []string{"r.example/a:1", "r.example/a:2", "r.example/c:1"}) || len(p.repos) != 2 || !maps.Equal(p.exportAttrs, map[string]string{"compression": "zstd"}) {
		t.Errorf("plan %+v", p)
	}
	for _, c := range []struct {
		name string
		mod  func(*buildOptions)
		err  string
	}{
		{"push without tag", func(o *buildOptions) { o.push, o.tags = true, nil }, "--push needs at least one -t"},
		{"registry output without tag", func(o *buildOptions) { o.outputs, o.tags = []string{"type=registry"}, nil }, "--output pushing to a registry needs a name= or at least one -t"},
		{"two oci outputs", func(o *buildOptions) { o.outputs = []string{"type=oci,dest=a", "type=oci,dest=b"} }, "only one type=oci"},
		{"bad progress", func(o *buildOptions) { o.progress = "fancy" }, "progress"},
		{"quiet with plain", func(o *buildOptions) { o.quiet, o.progress, o.progressFlag = true, "plain", true }, "--progress plain and -q/--quiet cannot be used together"},
		{"quiet with rawjson", func(o *buildOptions) { o.quiet, o.progress, o.progressFlag = true, "rawjson", true }, "--progress rawjson and -q/--quiet"},
		{"bad format", func(o *buildOptions) { o.sbomFormats = []string{"syft-json"} }, `want spdx-json, cyclonedx-json or spdx-intoto`},
		{"format without sbom", func(o *buildOptions) { o.sbom, o.sbomFormats = "false", []string{"spdx-json"} }, "--sbom=false"},
		{"format with --no-sbom", func(o *buildOptions) { o.noSBOM, o.sbomFormats = true, []string{"spdx-json"} }, "--no-sbom"},
		{"concurrency", func(o *buildOptions) { o.maxConcurrency = 0 }, "--max-concurrency"},
		{"bad tag", func(o *buildOptions) { o.tags = []string{"app/UPPER:v1"} }, "app/UPPER:v1"},
		{"two builders", func(o *buildOptions) { o.builders = []string{"unix:///a", "unix:///b"} }, "given already"},
		{"tar below a file", func(o *buildOptions) {
			f := filepath.Join(t.TempDir(), "file")
			os.WriteFile(f, nil, 0o644)
			o.outputs = []string{"type=oci,dest=" + filepath.Join(f, "sub", "x.tar")}
		}, "file is not a directory"},
		{"tar onto a directory", func(o *buildOptions) { o.outputs = []string{"type=oci,dest=" + t.TempDir()} }, "is a directory"},
		{"conflicting compression", func(o *buildOptions) {
			o.outputs = []string{"type=registry,compression=zstd", "type=oci,dest=-,compression=gzip"}
		}, "another output has compression=zstd"},
	} {
		o := buildOptions{tags: []string{"r.example/a:1"}, maxConcurrency: 4}
		c.mod(&o)
		_, err := o.plan()
		var ee *exitError
		if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%s: %v, want a usage error with %q", c.name, err, c.err)
		}
	}
}

// TestBuildUsageErrors runs the command: bad flags fail with exit code 2
// before any builder is contacted (the builder address does not exist).
func TestBuildUsageErrors(t *testing.T) {
	cliEnv(t)
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	nowhere := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "--builder", nowhere, "--push", ctxDir}, "--push needs at least one -t"},
		{[]string{"build", "--builder", nowhere, "--push", "-t", "Bad:Ref:x", ctxDir}, `-t "Bad:Ref:x"`},
		{[]string{"build", "--builder", nowhere, "--push", "-t", "r.example/app:sha256-" + strings.Repeat("0", 64), ctxDir}, `tag "sha256-` + strings.Repeat("0", 64) + `" is the referrers tag of sha256:000000000000`},
		{[]string{"build", "--builder", nowhere, "--load", ctxDir}, "--load: affix loads into no Docker engine"},
		{[]string{"build", "--builder", nowhere, "--iidfile", filepath.Join(ctxDir, "out.json"), "--metadata-file", filepath.Join(ctxDir, "out.json"), ctxDir}, "--metadata-file " + filepath.Join(ctxDir, "out.json") + ": is the --iidfile"},
		{[]string{"build", "--builder", nowhere, "--output", "type=oci,dest=-", "--iidfile", "/dev/stdout", ctxDir}, "--iidfile /dev/stdout: is stdout, where --output dest=- writes the layout tar"},
		{[]string{"build", "--builder", nowhere, "--push", "-t", "localhost:5000", ctxDir}, `-t "localhost:5000" names no repository`},
		// Of two unknown keys, always the first in key order.
		{[]string{"build", "--builder", nowhere, "--output", "type=oci,dest=x,zz=1,aa=2", ctxDir}, `unknown key "aa"`},
		{[]string{"build", "--builder", nowhere, "--output", "type=tar,dest=x", ctxDir}, `type "tar" is not supported`},
		{[]string{"build", "--builder", nowhere, "-o", "-", ctxDir}, `--output "-": buildx's shorthand for type=tar,dest=-`},
		{[]string{"build", "--builder", nowhere, "-o", "./outdir", ctxDir}, `--output "./outdir": buildx's shorthand for type=local,dest=./outdir`},
		{[]string{"build", "--builder", nowhere, "--platform", "bogus", ctxDir}, `platform "bogus"`},
		{[]string{"build", "--builder", nowhere, "--platform", "linux/notanarch!", ctxDir}, "invalid platform"},
		{[]string{"build", "--builder", nowhere, "-f", filepath.Join(ctxDir, "missing"), ctxDir}, "missing"},
		{[]string{"build", "--builder", nowhere, "--output", "type=oci,dest=" + ctxDir + ",tar=false", ctxDir}, "not empty"},
		{[]string{"build", "--builder", nowhere}, "want one CONTEXT"},
		{[]string{"build", "--builder", "ftp://x", ctxDir}, "unknown scheme"},
		{[]string{"build", "--builder", "mybuilder", ctxDir}, "not a buildx builder name (a docker-container builder mybuilder is docker-container://buildx_buildkit_mybuilder0)"},
		{[]string{"build", "--builder", nowhere, "--progress", "fancy", ctxDir}, "progress"},
		{[]string{"build", "--builder", nowhere, "--cache-to", "type=nfs,dest=/c", ctxDir}, `cache-to "type=nfs,dest=/c": unknown cache type "nfs"`},
		{[]string{"build", "--builder", nowhere, "--cache-from", "type=local", ctxDir}, `cache-from "type=local": a local cache needs src=DIR`},
		{[]string{"build", "--builder", nowhere, "--cache-to", "type=local,dest=" + filepath.Join(ctxDir, "Dockerfile"), ctxDir}, "is not a directory"},
		{[]string{"build", "--builder", nowhere, "--cache-from", "type=local,src=" + filepath.Join(ctxDir, "Dockerfile"), ctxDir}, `cache-from "type=local,src=`},
		{[]string{"build", "--builder", nowhere, "--add-host", "db", ctxDir}, `add-host "db": want HOST:IP`},
		{[]string{"build", "--builder", nowhere, "--add-host", "a:10.0.0.1,gw:host-gateway", ctxDir}, `add-host "gw:host-gateway": host-gateway is not supported`},
		{[]string{"build", "--builder", nowhere, "--network", "bridge", ctxDir}, `network "bridge"`},
		{[]string{"build", "--builder", nowhere, "https://github.com/foo/bar.git"}, "remote build context (git repository or URL) is not supported"},
		{[]string{"build", "--builder", nowhere, "--target", "nostage", ctxDir}, `target "nostage": ` + filepath.Join(ctxDir, "Dockerfile") + " names no stage"},
	} {
		_, errs, code := affix(t, c.args...)
		if code != 2 || !strings.Contains(errs, c.want) || strings.Contains(errs, "unreachable") {
			t.Errorf("%v: exit %d, want 2 with %q:\n%s", c.args, code, c.want, errs)
		}
	}
	// The layout tar is not written to a terminal (a pseudo-terminal's
	// master side is one).
	for _, out := range []string{"type=oci,dest=-", "type=oci"} {
		tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
		if err != nil {
			break
		}
		var errb bytes.Buffer
		code := Run(context.Background(), "affix", []string{"build", "--builder", nowhere, "-o", out, ctxDir}, tty, &errb)
		tty.Close()
		if code != 2 || !strings.Contains(errb.String(), "--output type=oci with dest=- or no dest writes the layout tar to stdout, which is a terminal") {
			t.Errorf("-o %s to a terminal: exit %d:\n%s", out, code, errb.String())
		}
	}
	// BUILDKIT_PROGRESS is the default display, checked like the flag.
	t.Setenv("BUILDKIT_PROGRESS", "fancy")
	if _, errs, code := affix(t, "build", "--builder", nowhere, ctxDir); code != 2 || !strings.Contains(errs, `BUILDKIT_PROGRESS: progress "fancy"`) {
		t.Errorf("BUILDKIT_PROGRESS=fancy: exit %d:\n%s", code, errs)
	}
	if _, errs, code := affix(t, "build", "--builder", nowhere, "--progress", "quiet", ctxDir); code != 1 || strings.Contains(errs, "BUILDKIT_PROGRESS") {
		t.Errorf("--progress overrides BUILDKIT_PROGRESS: exit %d:\n%s", code, errs)
	}
	t.Setenv("BUILDKIT_PROGRESS", "")
	// An unreachable builder is exit 1, naming it.
	_, errs, code := affix(t, "build", "--builder", nowhere, "--progress", "quiet", ctxDir)
	if code != 1 || !strings.Contains(errs, "buildkitd unreachable") || !strings.Contains(errs, "none.sock") {
		t.Errorf("unreachable builder: exit %d:\n%s", code, errs)
	}
}

// TestLayoutTar: the tar of a layout is deterministic, starts with
// oci-layout and index.json, and reads back as an oci-archive.
func TestLayoutTar(t *testing.T) {
	dir, res := pushFixture(t)
	os.MkdirAll(filepath.Join(dir, "ingest"), 0o755) // scratch space is left out
	var a, b bytes.Buffer
	if err := writeLayoutTar(t.Context(), &a, dir); err != nil {
		t.Fatal(err)
	}
	if err := writeLayoutTar(t.Context(), &b, dir); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two tars of one layout differ")
	}
	dest := filepath.Join(t.TempDir(), "image.tar")
	// Cancelled (^C while a large tar is written): it stops, and leaves no
	// file.
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := writeLayoutTarFile(cancelled, dest, dir); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("a cancelled tar left %s: %v", dest, err)
	}
	if err := writeLayoutTarFile(t.Context(), dest, dir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(got, a.Bytes()) {
		t.Fatalf("tar file differs from the stream (%v)", err)
	}
	l, err := oci.OpenLayout(context.Background(), oci.SchemeArchive+":"+dest)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	imgs, err := oci.Walk(context.Background(), l, l.Roots()...)
	if err != nil || len(l.Roots()) != 1 || l.Roots()[0].Digest != res.Index.Digest || len(imgs) == 0 {
		t.Fatalf("archive: roots %v, %d images, %v", l.Roots(), len(imgs), err)
	}
	if strings.Contains(a.String(), "ingest/") {
		t.Error("the tar holds the ingest directory")
	}
	if i, j := bytes.Index(a.Bytes(), []byte("oci-layout")), bytes.Index(a.Bytes(), []byte("index.json")); i < 0 || j < 0 || i > j || i > 512 {
		t.Errorf("oci-layout at %d, index.json at %d: want them first", i, j)
	}
}

// layoutWithSBOMs writes the Standard fixture into a layout and adds one
// SPDX referrer per platform through the exporter's layout target, as
// affix build --output does; index.json then lists the index and the
// referrers. It returns the layout and the referrer digests by subject.
func layoutWithSBOMs(t *testing.T, name string) (string, map[digest.Digest]digest.Digest) {
	t.Helper()
	return layoutWithSBOMsIn(t, name, referrerFormat{doc: sbomgen.SPDXJSON})
}

// layoutWithSBOMsIn is layoutWithSBOMs with one referrer per format per
// platform; the digests returned are those of the first format's.
func layoutWithSBOMsIn(t *testing.T, name string, formats ...referrerFormat) (string, map[digest.Digest]digest.Digest) {
	t.Helper()
	ctx := context.Background()
	dir, res := pushFixture(t)
	l, err := oci.OpenLayout(ctx, oci.SchemeLayout+":"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	images, err := oci.Walk(ctx, l, res.Index)
	if err != nil {
		t.Fatal(err)
	}
	plats, err := oci.Select(images, oci.Selector{All: true})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := sbomgen.New(sbomgen.Options{Name: name, Formats: docFormats(formats)})
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := exporter.NewLayout(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{})
	if err := p.Images(ctx); err != nil {
		t.Fatal(err)
	}
	refs := map[digest.Digest]digest.Digest{}
	var descs []ocispec.Descriptor
	for _, img := range plats {
		r, err := gen.Image(ctx, l, img.Descriptor)
		if err != nil {
			t.Fatal(err)
		}
		sr, err := sbomReferrers(img, r, formats, "app")
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range sr {
			d, err := p.Attach(ctx, a.artifact)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				refs[img.Descriptor.Digest] = d.Digest
			}
			descs = append(descs, d)
		}
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ocidir.RewriteIndex(dir, l.Index(), l.Roots(), descs); err != nil {
		t.Fatal(err)
	}
	return dir, refs
}

// TestPushLayoutWithReferrers: a layout whose index.json lists the image
// index and its SBOM manifests (affix build --output) pushes with the
// index as the root, and its SBOMs are pushed as they are, not scanned
// again (the push names the image otherwise, so a scan would give other
// digests), unless --name or --no-cache asks for a scan.
func TestPushLayoutWithReferrers(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs a registry")
	}
	cliEnv(t)
	dir, refs := layoutWithSBOMs(t, "example.com/built:v1")
	var idx ocispec.Index
	b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	json.Unmarshal(b, &idx)
	if len(idx.Manifests) != 3 || idx.Manifests[1].ArtifactType != oci.MediaTypeSPDX {
		t.Fatalf("index.json %s", b)
	}
	// A fresh cache: a scan would show.
	t.Setenv("AFFIX_CACHE_DIR", t.TempDir())
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	tag := idx.Manifests[0].Annotations[ocispec.AnnotationRefName]
	if tag == "" {
		t.Fatalf("index.json names no image: %s", b)
	}
	for _, c := range []struct {
		name   string
		extra  []string
		reused bool
		suffix string // after the layout path
	}{
		{"reused", nil, true, ""},
		// Naming the image does not hide the SBOMs beside it.
		{"reused, image named by tag", nil, true, ":" + tag},
		{"reused, image named by digest", nil, true, "@" + idx.Manifests[0].Digest.String()},
		{"--no-cache scans", []string{"--no-cache"}, false, ""},
		{"--no-sbom-cache (build's spelling) scans", []string{"--no-sbom-cache"}, false, ""},
		{"--name scans", []string{"--name", "other"}, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			meta := filepath.Join(t.TempDir(), "meta.json")
			args := append([]string{"push", "--insecure-registry", reg.Host, "--metadata-file", meta}, c.extra...)
			args = append(args, "oci-layout:"+dir+c.suffix, reg.Host+"/pushed:v1")
			out, errs, code := affix(t, args...)
			if code != 0 {
				t.Fatalf("push: %d\n%s%s", code, out, errs)
			}
			m := readMeta(t, meta)
			if m.Index == nil || m.Index.Digest != idx.Manifests[0].Digest || len(m.Platforms) != 2 {
				t.Fatalf("metadata %+v", m)
			}
			for _, p := range m.Platforms {
				if len(p.Referrers) != 1 {
					t.Fatalf("%s: referrers %+v", p.Platform, p.Referrers)
				}
				if same := p.Referrers[0].Digest == refs[p.Digest]; same != c.reused {
					t.Errorf("%s: pushed SBOM %s, layout SBOM %s, want reused=%v", p.Platform, p.Referrers[0].Digest, refs[p.Digest], c.reused)
				}
			}
		})
	}
	// SBOMs that name no image (a build without -t) are scanned again,
	// naming REF, and replace the layout's: one SBOM per platform.
	// Its CycloneDX SBOMs, a format the push does not publish, go as they
	// are, and a note says how to scan them again.
	unnamedDir, unnamed := layoutWithSBOMsIn(t, "", referrerFormat{doc: sbomgen.SPDXJSON}, referrerFormat{doc: sbomgen.CycloneDXJSON})
	meta := filepath.Join(t.TempDir(), "meta.json")
	_, errs, code := affix(t, "push", "--insecure-registry", reg.Host, "--metadata-file", meta, "oci-layout:"+unnamedDir, reg.Host+"/named:v1")
	if code != 0 || !strings.Contains(errs, `name no image ("image": it was built without -t): scanned again, naming `+reg.Host+"/named") ||
		!strings.Contains(errs, "the layout's cyclonedx-json SBOMs, a format this push does not publish, go as they are, naming no image: --sbom-format spdx-json --sbom-format cyclonedx-json scans them again too") {
		t.Fatalf("push of unnamed SBOMs: exit %d\n%s", code, errs)
	}
	t.Logf("push of unnamed SBOMs:\n%s", errs)
	for _, p := range readMeta(t, meta).Platforms {
		if len(p.Referrers) != 1 || p.Referrers[0].Digest == unnamed[p.Digest] {
			t.Errorf("%s: referrers %+v, want one new SBOM, not the layout's %s", p.Platform, p.Referrers, unnamed[p.Digest])
		}
		if have := referrerDigests(t, reg, "named", p.Digest); len(have) != 2 {
			t.Errorf("%s: the registry lists %v, want the new SPDX SBOM and the layout's CycloneDX one", p.Platform, have)
		}
	}

	// Two images in one layout are still ambiguous; referrers do not count.
	dir2, _ := layoutWithSBOMs(t, "x")
	l, _ := oci.OpenLayout(context.Background(), oci.SchemeLayout+":"+dir2)
	roots := l.Roots()
	l.Close()
	var first ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir2, "blobs", "sha256", roots[0].Digest.Encoded()), &first)
	other := first.Manifests[0] // a platform image, listed as a second image
	raw, _ := json.Marshal(ocispec.Index{Versioned: idx.Versioned, MediaType: ocispec.MediaTypeImageIndex, Manifests: append(roots, other)})
	os.WriteFile(filepath.Join(dir2, "index.json"), raw, 0o644)
	_, errs, code = affix(t, "push", "--insecure-registry", reg.Host, "oci-layout:"+dir2, reg.Host+"/pushed:v2")
	if code == 0 || !strings.Contains(errs, "lists 2 images") || !strings.Contains(errs, "name the one to push: oci-layout:"+dir2+":TAG or @DIGEST") {
		t.Errorf("two images: exit %d\n%s", code, errs)
	}
	// Named by digest, as oras and regctl name an image in a layout.
	if _, errs, code := affix(t, "push", "--insecure-registry", reg.Host, "oci-layout:"+dir2+"@"+roots[0].Digest.String(), reg.Host+"/pushed:v2"); code != 0 {
		t.Errorf("push PATH@DIGEST: exit %d\n%s", code, errs)
	}
}

// TestBuildFlagsReachFrontend parses a command line with every build flag
// that configures BuildKit and checks what the frontend is given, so that
// a flag cannot be accepted and then dropped.
func TestBuildFlagsReachFrontend(t *testing.T) {
	var o buildOptions
	fs := pflag.NewFlagSet("build", pflag.ContinueOnError)
	o.addFlags(fs)
	err := fs.Parse([]string{
		"-f", "build/Dockerfile", "-t", "r.example/app:1", "-t", "r.example/app:latest",
		"--platform", "linux/amd64,linux/arm64", "--platform", "linux/arm/v7",
		"--build-arg", "A=1", "--build-arg", "B", "--target", "final",
		"--secret", "id=tok,src=/run/tok", "--ssh", "default", "--build-context", "extra=/ctx/extra",
		"--label", "k=v", "--annotation", "index:a=b", "--no-cache", "--no-cache-filter", "base,deps", "--pull", "--cgroup-parent", "ci.slice",
		"--output", "type=registry,compression=zstd,compression-level=3",
		"--cache-from", "r.example/app:cache", "--cache-to", "type=local,dest=/cache", "--insecure-registry", "r.example",
		"--add-host", "db:10.0.0.2", "--network", "host", "--shm-size", "64m", "--ulimit", "nofile=1024:2048",
		"--allow", "network.host,security.insecure", "--provenance=mode=max",
		"--builder", "tcp://builder:1234", "--builder-tls-cacert", "ca.pem", "--builder-tls-cert", "cert.pem",
		"--builder-tls-key", "key.pem", "--builder-tls-servername", "builder.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.plan()
	if err != nil {
		t.Fatal(err)
	}
	got := o.frontendOptions("/ctx", p)
	// The registries named for pushes are the ones buildkitd reaches
	// over plain HTTP for caches.
	if got.InsecureRegistry == nil || !got.InsecureRegistry("r.example") || got.InsecureRegistry("other.example") {
		t.Errorf("InsecureRegistry does not follow --insecure-registry r.example")
	}
	got.InsecureRegistry = nil
	want := frontend.Options{
		ContextDir:    "/ctx",
		Dockerfile:    "build/Dockerfile",
		Tags:          []string{"r.example/app:1", "r.example/app:latest"},
		Platforms:     []string{"linux/amd64,linux/arm64", "linux/arm/v7"},
		BuildArgs:     []string{"A=1", "B"},
		Target:        "final",
		Secrets:       []string{"id=tok,src=/run/tok"},
		SSH:           []string{"default"},
		BuildContexts: []string{"extra=/ctx/extra"},
		Labels:        []string{"k=v"},
		Annotations:   []string{"index:a=b"},
		NoCache:       true,
		NoCacheFilter: []string{"base,deps"},
		Pull:          true,
		CgroupParent:  "ci.slice",
		ExportAttrs:   map[string]string{"compression": "zstd", "compression-level": "3"},
		CacheFrom:     []string{"r.example/app:cache"},
		CacheTo:       []string{"type=local,dest=/cache"},
		AddHosts:      []string{"db:10.0.0.2"},
		Network:       "host",
		ShmSize:       "64m",
		Ulimits:       []string{"nofile=1024:2048"},
		Allow:         []string{"network.host", "security.insecure"},
		Provenance:    "mode=max",
		Builder:       "tcp://builder:1234",
		TLS:           frontend.TLSOptions{CACert: "ca.pem", Cert: "cert.pem", Key: "key.pem", ServerName: "builder.example"},
		// A push builds into a temporary layout.
		Output: "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("frontend options\n got %+v\nwant %+v", got, want)
	}

	// Nodes: one builder per platform.
	o = buildOptions{}
	fs = pflag.NewFlagSet("build", pflag.ContinueOnError)
	o.addFlags(fs)
	if err := fs.Parse([]string{"--builder", "linux/amd64=tcp://a:1234", "--builder", "linux/arm64=unix:///run/b.sock"}); err != nil {
		t.Fatal(err)
	}
	if p, err = o.plan(); err != nil {
		t.Fatal(err)
	}
	if got := o.frontendOptions("/ctx", p); got.Builder != "" || !slices.Equal(got.Nodes, []string{"linux/amd64=tcp://a:1234", "linux/arm64=unix:///run/b.sock"}) {
		t.Errorf("builder %q, nodes %q", got.Builder, got.Nodes)
	}
}

func TestParseAttests(t *testing.T) {
	for _, c := range []struct {
		in         []string
		sbom       attestState
		provenance string
		err        string
	}{
		{nil, attestUnset, "", ""},
		{[]string{"type=sbom"}, attestOn, "", ""},
		{[]string{"type=sbom,disabled=true"}, attestOff, "", ""},
		{[]string{"type=sbom", "type=sbom"}, attestOn, "", ""},
		{[]string{"type=sbom", "type=sbom,disabled=true"}, attestUnset, "", "says the opposite"},
		{[]string{"type=provenance"}, attestUnset, "mode=min", ""},
		{[]string{"type=provenance,mode=max,builder-id=https://ci.example/1", "type=sbom"}, attestOn, "mode=max,builder-id=https://ci.example/1", ""},
		{[]string{"type=provenance,disabled=true"}, attestUnset, "", ""},
		{[]string{"type=sbom,disabled=maybe"}, attestUnset, "", `disabled="maybe": want true or false`},
		{[]string{"type=provenance,disabled=yes please"}, attestUnset, "", "want true or false"},
		{[]string{"type=sbom,generator=docker/buildkit-syft-scanner"}, attestUnset, "", "affix generates the SBOMs itself"},
		{[]string{"type=sbom,scan-stage=true"}, attestUnset, "", `unknown sbom attribute "scan-stage"`},
		{[]string{"type=provenance", "type=provenance,mode=max"}, attestUnset, "", "provenance given twice"},
		{[]string{"type=vex"}, attestUnset, "", "want type=sbom or type=provenance"},
		{[]string{"mode=max"}, attestUnset, "", "want type=sbom or type=provenance"},
	} {
		off, prov, err := parseAttests(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parseAttests(%q) = %v, %q, %v; want an error containing %q", c.in, off, prov, err, c.err)
			}
			continue
		}
		if err != nil || off != c.sbom || prov != c.provenance {
			t.Errorf("parseAttests(%q) = %v, %q, %v; want %v, %q", c.in, off, prov, err, c.sbom, c.provenance)
		}
	}

	// In the plan: disabled SBOMs mean no formats; --provenance and
	// --attest type=provenance together are refused.
	o := buildOptions{progress: "plain", maxConcurrency: 1, attests: []string{"type=sbom,disabled=true", "type=provenance,mode=max"}}
	p, err := o.plan()
	if err != nil || len(p.formats) != 0 || p.provenance != "mode=max" {
		t.Errorf("plan: %+v, %v", p, err)
	}
	o.provenance = "true"
	if _, err := o.plan(); err == nil || !strings.Contains(err.Error(), "give one") {
		t.Errorf("--provenance with --attest type=provenance: %v", err)
	}
	// --attest type=sbom asks for SBOMs: with --sbom=false or --no-sbom
	// it is a usage error naming both.
	// So does an explicit --sbom=true with a way of saying none.
	for _, c := range []struct {
		name string
		mod  func(*buildOptions)
		err  string
	}{
		{"--sbom=false", func(o *buildOptions) { o.sbom = "false" }, "--attest type=sbom asks for SBOMs and --sbom=false for none"},
		{"--no-sbom", func(o *buildOptions) { o.noSBOM = true }, "--attest type=sbom asks for SBOMs and --no-sbom for none"},
		{"--sbom=true --no-sbom", func(o *buildOptions) { o.attests, o.sbom, o.noSBOM = nil, "true", true }, "--sbom=true asks for SBOMs and --no-sbom for none"},
		{"--sbom=true disabled=true", func(o *buildOptions) { o.attests, o.sbom = []string{"type=sbom,disabled=true"}, "true" },
			"--sbom=true asks for SBOMs and --attest type=sbom,disabled=true for none"},
	} {
		o := buildOptions{maxConcurrency: 1, attests: []string{"type=sbom"}}
		c.mod(&o)
		_, err := o.plan()
		var ee *exitError
		if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%s: %v, want a usage error with %q", c.name, err, c.err)
		}
	}
	// Disabled by both is no contradiction.
	o = buildOptions{sbom: "false", maxConcurrency: 1, attests: []string{"type=sbom,disabled=true"}}
	if p, err := o.plan(); err != nil || len(p.formats) != 0 {
		t.Errorf("--sbom=false with type=sbom,disabled=true: %+v, %v", p, err)
	}
}

// TestPrintBuildPlural: the summary counts in words that agree with the
// number ("1 platform", "2 platforms").
func TestPrintBuildPlural(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{0, "(0 platforms)"}, {1, "(1 platform)"}, {2, "(2 platforms)"}} {
		m := &buildMetadata{ContainerImageDigest: digest.FromString("index")}
		r := &buildRun{plan: &buildPlan{}}
		for i := range c.n {
			m.Platforms = append(m.Platforms, platformMeta{Platform: "linux/amd64", Digest: digest.FromString(string(rune('a' + i)))})
			r.sboms = append(r.sboms, nil)
		}
		var b bytes.Buffer
		printBuild(&b, m, r)
		if first, _, _ := strings.Cut(b.String(), "\n"); !strings.HasSuffix(first, c.want) {
			t.Errorf("%d platforms: %q, want it to end in %q", c.n, first, c.want)
		}
	}
	for _, c := range []struct {
		n    int
		want string
	}{{0, "0 packages"}, {1, "1 package"}, {13, "13 packages"}} {
		if got := plural(c.n, "package"); got != c.want {
			t.Errorf("plural(%d): %q, want %q", c.n, got, c.want)
		}
	}
}

// TestSinkModeLine: a layout's referrers line names the --output dest as
// given, never the temporary directory the tar is made from.
func TestSinkModeLine(t *testing.T) {
	for _, c := range []struct {
		sink  sink
		where string
		mode  exporter.Mode
		want  string
	}{
		{sink{verb: "push", name: "r.example/a"}, "r.example/a", exporter.ModeTagSchema, "referrers: tag-schema (r.example/a)"},
		{sink{verb: "export", name: "out/app.tar"}, "oci-layout:/tmp/affix-build-123", exporter.ModeLayout, "referrers: oci-layout (out/app.tar)"},
		{sink{verb: "export", name: "stdout"}, "oci-layout:/tmp/affix-build-123", exporter.ModeLayout, "referrers: oci-layout (stdout)"},
	} {
		if got := c.sink.modeLine(c.where, c.mode); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.sink.verb, c.sink.name, got, c.want)
		}
	}
}

// TestBuildRemovesOldOutputs: --iidfile and --metadata-file of an earlier
// build are removed before the build starts, so a failed build leaves no
// stale digest behind (as buildx does for --iidfile); a usage error
// leaves them.
func TestBuildRemovesOldOutputs(t *testing.T) {
	cliEnv(t)
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	nowhere := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	dir := t.TempDir()
	iid, meta := filepath.Join(dir, "iid"), filepath.Join(dir, "meta.json")
	for _, c := range []struct {
		name string
		args []string
		code int
		gone bool
	}{
		// Failing at the builder: the old files are gone.
		{"unreachable builder", []string{"build", "--builder", nowhere, "--progress", "quiet", "--iidfile", iid, "--metadata-file", meta, ctxDir}, 1, true},
		// A usage error found after they were set aside (a missing
		// context): put back, as a usage error changes nothing.
		{"bad context", []string{"build", "--builder", nowhere, "--iidfile", iid, "--metadata-file", meta, filepath.Join(dir, "nocontext")}, 2, false},
		// A command line that does not parse touches nothing.
		{"bad flags", []string{"build", "--builder", nowhere, "--push", "--iidfile", iid, "--metadata-file", meta, ctxDir}, 2, false},
	} {
		for _, p := range []string{iid, meta} {
			if err := os.WriteFile(p, []byte("stale"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, errs, code := affix(t, c.args...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d:\n%s", c.name, code, c.code, errs)
		}
		for _, p := range []string{iid, meta} {
			if _, err := os.Stat(p); c.gone != errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: %s: %v, want removed %v", c.name, p, err, c.gone)
			}
		}
	}
	if err := removeOldOutputs(context.Background(), []outputFile{{"--iidfile", filepath.Join(dir, "absent")}, {"--metadata-file", ""}}); err != nil {
		t.Errorf("absent files: %v", err)
	}
}

// TestBuildOutputClash: an --iidfile or --metadata-file that is the
// Dockerfile or the --output tar is a usage error, and the file is left
// as it was.
func TestBuildOutputClash(t *testing.T) {
	cliEnv(t)
	ctxDir := t.TempDir()
	df := filepath.Join(ctxDir, "Dockerfile")
	os.WriteFile(df, []byte("FROM scratch\n"), 0o644)
	other := filepath.Join(t.TempDir(), "build.Dockerfile")
	os.WriteFile(other, []byte("FROM scratch\n"), 0o644)
	link := filepath.Join(t.TempDir(), "iid")
	os.Symlink(df, link)
	out := filepath.Join(t.TempDir(), "out.tar")
	os.WriteFile(out, []byte("old tar"), 0o644)
	nowhere := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	for _, c := range []struct {
		name string
		args []string
		want string
		keep string // a file that must be unchanged
	}{
		{"default Dockerfile", []string{"--iidfile", df}, "--iidfile " + df + ": is the -f " + df, df},
		{"-f Dockerfile", []string{"-f", other, "--metadata-file", other}, "--metadata-file " + other + ": is the -f " + other, other},
		{"symlink to the Dockerfile", []string{"--iidfile", link}, "is the -f " + df, df},
		{"output tar", []string{"--output", "type=oci,dest=" + out, "--metadata-file", out}, "is the --output dest " + out, out},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := os.ReadFile(c.keep)
			args := append([]string{"build", "--progress", "quiet", "--builder", nowhere}, c.args...)
			_, errs, code := affix(t, append(args, ctxDir)...)
			if code != 2 || !strings.Contains(errs, c.want) {
				t.Errorf("exit %d, want 2 with %q:\n%s", code, c.want, errs)
			}
			if after, err := os.ReadFile(c.keep); err != nil || !bytes.Equal(after, before) {
				t.Errorf("%s changed: %q, %v", c.keep, after, err)
			}
		})
	}
}

// TestOutputTarParents: a tar output whose directories do not exist yet
// passes the checks, and writing it creates them, as docker buildx does;
// a path below a file or in a directory that takes no files does not.
func TestOutputTarParents(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "newparent", "sub", "x.tar")
	if err := checkOutputTar("--output dest="+dest, dest); err != nil {
		t.Fatalf("missing parents: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "newparent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the check created %s: %v", filepath.Join(dir, "newparent"), err)
	}
	layout := t.TempDir()
	for _, f := range []string{ocispec.ImageLayoutFile, ocispec.ImageIndexFile} {
		os.WriteFile(filepath.Join(layout, f), []byte("{}"), 0o644)
	}
	if err := writeLayoutTarFile(t.Context(), dest, layout); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dest); err != nil || fi.Size() == 0 {
		t.Errorf("tar %s: %v", dest, err)
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		if err := checkOutputTar("x", filepath.Join(ro, "a", "x.tar")); err == nil || !strings.Contains(err.Error(), "the directory "+ro+" is not writable") {
			t.Errorf("read-only ancestor: %v", err)
		}
	}
}

// TestBuildQuietProgress: -q is --progress quiet (as in buildx, both print
// only the index digest); it takes --progress auto or quiet, and wins over
// a display from $BUILDKIT_PROGRESS, which is no choice on the command line.
func TestBuildQuietProgress(t *testing.T) {
	for _, c := range []struct {
		name     string
		progress string
		flag     bool
		quiet    bool
		want     frontend.ProgressMode
	}{
		{"default", "", false, false, frontend.ProgressAuto},
		{"-q", "", false, true, frontend.ProgressQuiet},
		{"--progress quiet", "quiet", true, false, frontend.ProgressQuiet},
		{"-q --progress auto", "auto", true, true, frontend.ProgressQuiet},
		{"-q --progress quiet", "quiet", true, true, frontend.ProgressQuiet},
		{"-q, BUILDKIT_PROGRESS=plain", "plain", false, true, frontend.ProgressQuiet},
		{"--progress plain", "plain", true, false, frontend.ProgressPlain},
	} {
		o := buildOptions{progress: c.progress, progressFlag: c.flag, quiet: c.quiet, maxConcurrency: 4}
		p, err := o.plan()
		if err != nil || p.progress != c.want {
			t.Errorf("%s: %v, %v; want %s", c.name, p, err, c.want)
		}
	}
	// Through the command: the contradiction is a usage error before any
	// builder is contacted; from the environment it is none.
	cliEnv(t)
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	nowhere := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	if _, errs, code := affix(t, "build", "--builder", nowhere, "-q", "--progress", "plain", ctxDir); code != 2 || !strings.Contains(errs, "--progress plain and -q/--quiet cannot be used together") {
		t.Errorf("-q --progress plain: exit %d:\n%s", code, errs)
	}
	t.Setenv("BUILDKIT_PROGRESS", "plain")
	if _, errs, code := affix(t, "build", "--builder", nowhere, "-q", ctxDir); code != 1 || !strings.Contains(errs, "unreachable") {
		t.Errorf("-q with BUILDKIT_PROGRESS=plain: exit %d:\n%s", code, errs)
	}
}

// TestBuildMetadataEmptyLists: without SBOMs or tags the metadata's lists
// are [] (as a platform's referrers are), never null or absent.
func TestBuildMetadataEmptyLists(t *testing.T) {
	idx := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("index"), Size: 5}
	pl := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	img := oci.Image{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 1, Platform: &pl}}
	for _, c := range []struct {
		name  string
		sboms []*sbomgen.Result
		want  map[string]string
	}{
		{"--sbom=false", nil, map[string]string{"sboms": "[]", "tags": "[]"}},
		{"an image without packages", []*sbomgen.Result{{}}, map[string]string{"tags": "[]"}},
	} {
		r := &buildRun{
			plan:      &buildPlan{},
			res:       &frontend.Result{Index: idx},
			counter:   &exporter.Counter{},
			attached:  &referrerLog{},
			platforms: []oci.Image{img},
			sboms:     c.sboms,
		}
		b, err := json.Marshal(r.metadata())
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range c.want {
			if string(m[k]) != v {
				t.Errorf("%s: %s = %s, want %s", c.name, k, m[k], v)
			}
		}
		var plats []struct{ Referrers json.RawMessage }
		json.Unmarshal(m["platforms"], &plats)
		if len(plats) != 1 || string(plats[0].Referrers) != "[]" {
			t.Errorf("%s: platforms %s", c.name, m["platforms"])
		}
		if c.sboms != nil {
			var sb []struct{ Packages json.RawMessage }
			json.Unmarshal(m["sboms"], &sb)
			if len(sb) != 1 || string(sb[0].Packages) != "{}" {
				t.Errorf("%s: sboms %s", c.name, m["sboms"])
			}
		}
	}
}

// TestBuildTLSUsageErrors: TLS files the builder connection could not
// use are usage errors naming the file and the node, before any builder
// is contacted (nothing listens on the addresses).
func TestBuildTLSUsageErrors(t *testing.T) {
	cliEnv(t)
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	_, cl, err := buildkittest.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := buildkittest.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("junk\n"), 0o644)
	global := []string{"--builder-tls-cacert", cl.CACert, "--builder-tls-cert", cl.Cert, "--builder-tls-key", cl.Key}
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"mismatched key", []string{"--builder", "tcp://127.0.0.1:1", "--builder-tls-cert", cl.Cert, "--builder-tls-key", other.Key},
			[]string{"builder tcp://127.0.0.1:1", other.Key, "private key does not match public key"}},
		{"node's mismatched key", append([]string{"--builder", "linux/arm64=tcp://127.0.0.1:2,servername=b,cert=" + cl.Cert + ",key=" + other.Key}, global...),
			[]string{`node "linux/arm64=tcp://127.0.0.1:2`, other.Key, "private key does not match public key"}},
		{"node's key without its cert", append([]string{"--builder", "linux/arm64=tcp://127.0.0.1:2,key=" + other.Key}, global...),
			[]string{`node "linux/arm64=tcp://127.0.0.1:2,key=` + other.Key + `": cert and key go together`}},
		{"CA not PEM", []string{"--builder", "linux/amd64=tcp://127.0.0.1:1,servername=a", "--builder-tls-cacert", notPEM},
			[]string{`node "linux/amd64=tcp://127.0.0.1:1,servername=a"`, notPEM, "no PEM certificate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"build", "--progress", "quiet"}, c.args...)
			_, errs, code := affix(t, append(args, ctxDir)...)
			if code != 2 || strings.Contains(errs, "unreachable") {
				t.Fatalf("exit %d, want 2:\n%s", code, errs)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}
}

// TestBuildBuildkitHostBesideNodes: BUILDKIT_HOST is --builder's default
// beside PLATFORM=ADDR nodes too: the platforms without a node go to it
// (here unreachable, exit 1), not to a "no builder node" usage error.
func TestBuildBuildkitHostBesideNodes(t *testing.T) {
	cliEnv(t)
	t.Setenv("BUILDKIT_HOST", "")
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	sock := func(name string) string { return "unix://" + filepath.Join(t.TempDir(), name) }
	node := "linux/arm64=" + sock("b.sock")
	args := []string{"build", "--progress", "quiet", "--platform", "linux/amd64,linux/arm64", "--builder", node, ctxDir}
	if _, errs, code := affix(t, args...); code != 2 || !strings.Contains(errs, "set --builder ADDR or BUILDKIT_HOST for the others") {
		t.Errorf("neither --builder nor BUILDKIT_HOST: exit %d:\n%s", code, errs)
	}
	t.Setenv("BUILDKIT_HOST", sock("env.sock"))
	if _, errs, code := affix(t, args...); code != 1 || !strings.Contains(errs, "buildkitd unreachable") || strings.Contains(errs, "no builder node") {
		t.Errorf("BUILDKIT_HOST beside a node: exit %d, want 1 (unreachable):\n%s", code, errs)
	}
	t.Setenv("BUILDKIT_HOST", "not-an-address")
	if _, errs, code := affix(t, args...); code != 2 || !strings.Contains(errs, "BUILDKIT_HOST: builder") {
		t.Errorf("bad BUILDKIT_HOST beside a node: exit %d:\n%s", code, errs)
	}
}

// TestBuildPrintsWarnings: the frontend plan's warnings (TLS settings no
// builder uses; the table is frontend's TestTLSWarnings) reach stderr
// before the build starts, which here fails at the unreachable builder;
// options the frontend refuses are a usage error without them.
func TestBuildPrintsWarnings(t *testing.T) {
	cliEnv(t)
	t.Setenv("BUILDKIT_HOST", "")
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	nowhere := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	node := "linux/arm64=" + nowhere + ",servername=bk"
	for _, c := range []struct {
		name string
		args []string
		code int
		want []string // warnings, in order
	}{
		{"global TLS", []string{"--builder", nowhere, "--builder-tls-servername", "bk"}, 1,
			[]string{"affix: warning: --builder-tls-servername ignored: no builder is a tcp:// address (" + nowhere + ")"}},
		{"node TLS fields", []string{"--builder", node}, 1,
			[]string{"affix: warning: --builder " + node + ": TLS fields are ignored"}},
		{"bad platform", []string{"--builder", nowhere, "--builder-tls-servername", "bk", "--platform", "bogus"}, 2, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"build", "--progress", "plain"}, c.args...)
			_, errs, code := affix(t, append(args, ctxDir)...)
			if code != c.code || strings.Count(errs, "affix: warning: ") != len(c.want) {
				t.Fatalf("exit %d, want %d with %d warnings:\n%s", code, c.code, len(c.want), errs)
			}
			for _, w := range c.want {
				if i := strings.Index(errs, w); i < 0 || (code == 1 && i > strings.Index(errs, "unreachable")) {
					t.Errorf("stderr lacks %q before the build's error:\n%s", w, errs)
				}
			}
		})
	}
}

// TestTagsError: a failed tag write names each tag's fate: moved, may
// have moved (its answer was lost), not moved.
func TestTagsError(t *testing.T) {
	failed := errors.New("tag write failed")
	for _, tt := range []struct {
		name  string
		sinks []*sink
		want  string
	}{
		{"none moved", []*sink{{name: "r/a", tags: []string{"v1", "latest"}}}, "no tag moved: tag write failed"},
		{"one moved", []*sink{{name: "r/a", tags: []string{"v1", "latest"}, moved: []string{"v1"}}},
			"tags moved: r/a:v1; not moved: r/a:latest: tag write failed"},
		{"answer lost", []*sink{{name: "r/a", tags: []string{"v1"}, unknown: []string{"v1"}}, {name: "s/b", tags: []string{"v1"}}},
			"may have moved (rerun to settle): r/a:v1; not moved: s/b:v1: tag write failed"},
		{"all three", []*sink{{name: "r/a", tags: []string{"v1", "v2"}, moved: []string{"v1"}, unknown: []string{"v2"}}, {name: "s/b", tags: []string{"v1"}}},
			"tags moved: r/a:v1; may have moved (rerun to settle): r/a:v2; not moved: s/b:v1: tag write failed"},
	} {
		err := tagsError(tt.sinks, failed)
		if err.Error() != tt.want || !errors.Is(err, failed) {
			t.Errorf("%s: %q, want %q", tt.name, err, tt.want)
		}
	}
}

// TestBuildMetadataByDigestName: the index descriptor of a push names
// no tag that was not written (a repository pushed by digest gets none).
func TestBuildMetadataByDigestName(t *testing.T) {
	named := map[string]string{oci.AnnotationImageName: "r.example/app:latest", ocispec.AnnotationRefName: "latest", "org.example": "kept"}
	for _, c := range []struct {
		name    string
		written []string
		want    map[string]string
	}{
		{"written", []string{"r.example/app:latest"}, named},
		{"by digest", []string{}, map[string]string{"org.example": "kept"}},
		{"another repository's tag written", []string{"r.example/other:v1"}, map[string]string{"org.example": "kept"}},
	} {
		got := dropUnwrittenName(named, c.written)
		if !maps.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if got := dropUnwrittenName(map[string]string{oci.AnnotationImageName: "r.example/app:latest", ocispec.AnnotationRefName: "latest"}, nil); got != nil {
		t.Errorf("nothing left: %v, want nil", got)
	}
	if named[oci.AnnotationImageName] == "" {
		t.Error("the annotations given were changed")
	}
}

// TestBuildMetadataBlobs: the blob counts are summed over the
// repositories pushed to, as push's metadata counts them for one.
func TestBuildMetadataBlobs(t *testing.T) {
	idx := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("index"), Size: 5}
	r := &buildRun{
		plan:     &buildPlan{push: true},
		res:      &frontend.Result{Index: idx},
		counter:  &exporter.Counter{},
		attached: &referrerLog{},
		sinks: []*sink{
			{verb: "push", result: &exporter.Result{Blobs: exporter.BlobCounts{Existing: 1, Uploaded: 4}}},
			{verb: "push", result: &exporter.Result{Blobs: exporter.BlobCounts{Mounted: 3, Uploaded: 2, NotMounted: 1}}},
			{verb: "export", result: &exporter.Result{Blobs: exporter.BlobCounts{Uploaded: 100}}},
		},
	}
	m := r.metadata()
	want := exporter.BlobCounts{Existing: 1, Mounted: 3, Uploaded: 6, NotMounted: 1}
	if m.Blobs == nil || *m.Blobs != want {
		t.Errorf("blobs %+v, want %+v (the layout export's not counted)", m.Blobs, want)
	}
}

// TestBuildMetadataDescriptor: containerimage.descriptor is what buildx
// writes for the same build, its exporter's response: the
// index-descriptor annotations, never the image names index.json adds;
// BuildKit's created stamp only from the oci exporter (--output), not
// from the image exporter (--push).
func TestBuildMetadataDescriptor(t *testing.T) {
	entry := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("index"), Size: 5, Annotations: map[string]string{
		oci.AnnotationImageName: "r.example/app:v1", ocispec.AnnotationRefName: "v1",
		ocispec.AnnotationCreated: "2026-01-02T03:04:05Z", "org.example.given": "yes",
	}}
	for _, tt := range []struct {
		name  string
		plan  *buildPlan
		want  map[string]string
		index map[string]string // the push metadata's index
	}{
		{"output", &buildPlan{tags: []string{"r.example/app:v1"}, output: &ociOutput{dest: "out"}},
			map[string]string{ocispec.AnnotationCreated: "2026-01-02T03:04:05Z", "org.example.given": "yes"}, entry.Annotations},
		{"push", &buildPlan{tags: []string{"r.example/app:v1"}, push: true},
			map[string]string{"org.example.given": "yes"}, entry.Annotations},
		{"push and output", &buildPlan{tags: []string{"r.example/app:v1"}, push: true, output: &ociOutput{dest: "out"}},
			map[string]string{ocispec.AnnotationCreated: "2026-01-02T03:04:05Z", "org.example.given": "yes"}, entry.Annotations},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &buildRun{plan: tt.plan, res: &frontend.Result{Index: entry}, counter: &exporter.Counter{}, attached: &referrerLog{}}
			m := r.metadata()
			d := m.ContainerImageDescriptor
			if d.Digest != entry.Digest || d.Size != entry.Size || d.MediaType != entry.MediaType || !maps.Equal(d.Annotations, tt.want) {
				t.Errorf("containerimage.descriptor %+v, want annotations %v", d, tt.want)
			}
			if m.Index == nil || !maps.Equal(m.Index.Annotations, tt.index) {
				t.Errorf("index %+v, want annotations %v", m.Index, tt.index)
			}
		})
	}
}
