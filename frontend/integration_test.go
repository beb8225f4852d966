package frontend

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/affix-oci/affix/internal/buildkittest"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/containerd/platforms"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/ssh/agent"
)

// The integration tests share one buildkitd (started by the first test
// that needs it, stopped by TestMain), so its cache is warm across tests;
// the two-node test starts a second one.
var shared struct {
	once sync.Once
	d    *buildkittest.Daemon
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.d != nil {
		shared.d.Stop()
	}
	os.Exit(code)
}

func sharedDaemon(t *testing.T) *buildkittest.Daemon {
	t.Helper()
	bin := buildkittest.Require(t)
	shared.once.Do(func() {
		shared.d, shared.err = buildkittest.StartDaemon(context.Background(), bin)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shared buildkitd output:\n%s", tail(shared.d.Log(), 4000))
		}
	})
	return shared.d
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// writeContext writes files into a new context directory; with busybox,
// a static busybox is copied in as "busybox".
func writeContext(t *testing.T, files map[string]string, busybox bool) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if busybox {
		b, err := os.ReadFile(buildkittest.Busybox(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "busybox"), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// openLayout opens the layout dir for a test.
func openLayout(t *testing.T, dir string) *oci.Layout {
	t.Helper()
	l, err := oci.OpenLayout(t.Context(), oci.SchemeLayout+":"+dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// checkLayout reads every manifest, config and layer that index.json
// reaches, verifying each against its digest, and checks that res
// describes the layout: one index entry, manifests as the index lists them.
func checkLayout(t *testing.T, res *Result) {
	t.Helper()
	l := openLayout(t, res.Layout)
	if roots := l.Roots(); len(roots) != 1 || roots[0].Digest != res.Index.Digest {
		t.Fatalf("index.json lists %v, want one entry %s", roots, res.Index.Digest)
	}
	imgs, err := oci.Walk(t.Context(), l, l.Roots()...)
	if err != nil {
		t.Fatal(err)
	}
	var plat []ocispec.Descriptor
	for _, img := range imgs {
		if img.Attestation {
			t.Errorf("attestation manifest %s in the index; attestations must be off", img.Descriptor.Digest)
			continue
		}
		plat = append(plat, img.Descriptor)
		var m ocispec.Manifest
		if _, err := oci.ReadJSON(t.Context(), l, img.Descriptor, &m); err != nil {
			t.Fatal(err)
		}
		for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			rc, err := l.Fetch(t.Context(), d)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil {
				t.Fatalf("blob %s: %v", d.Digest, err)
			}
		}
	}
	if len(plat) != len(res.Manifests) {
		t.Fatalf("layout has %d platform manifests, Result %d", len(plat), len(res.Manifests))
	}
	for i := range plat {
		if plat[i].Digest != res.Manifests[i].Digest || res.Manifests[i].Platform == nil {
			t.Errorf("manifest %d: layout %s, Result %s (platform %v)", i, plat[i].Digest, res.Manifests[i].Digest, res.Manifests[i].Platform)
		}
	}
	if _, err := os.Stat(filepath.Join(res.Layout, ".affix-parts")); err == nil {
		t.Error("merge left .affix-parts behind")
	}
}

// imageFile returns the content of file p in the image m of layout dir,
// reading layers from the top down.
func imageFile(t *testing.T, dir string, m ocispec.Descriptor, p string) ([]byte, bool) {
	t.Helper()
	l := openLayout(t, dir)
	var man ocispec.Manifest
	if _, err := oci.ReadJSON(t.Context(), l, m, &man); err != nil {
		t.Fatal(err)
	}
	p = strings.TrimPrefix(p, "/")
	for i := len(man.Layers) - 1; i >= 0; i-- {
		rc, err := l.Fetch(t.Context(), man.Layers[i])
		if err != nil {
			t.Fatal(err)
		}
		zr, err := decompress(man.Layers[i], rc)
		if err != nil {
			rc.Close()
			t.Fatalf("layer %s: %v", man.Layers[i].Digest, err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if path.Clean(strings.TrimPrefix(h.Name, "./")) == p {
				b, err := io.ReadAll(tr)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				return b, true
			}
		}
		rc.Close()
	}
	return nil, false
}

// decompress returns the tar stream of layer d, read from r, by its media
// type (estargz is gzip).
func decompress(d ocispec.Descriptor, r io.Reader) (io.Reader, error) {
	switch {
	case strings.HasSuffix(d.MediaType, "+zstd"):
		return zstd.NewReader(r)
	case strings.HasSuffix(d.MediaType, "+gzip"), strings.HasSuffix(d.MediaType, ".tar.gzip"):
		return gzip.NewReader(r)
	case strings.HasSuffix(d.MediaType, ".tar"):
		return r, nil
	}
	return nil, fmt.Errorf("layer media type %q", d.MediaType)
}

// imageConfig reads the config of image m.
func imageConfig(t *testing.T, dir string, m ocispec.Descriptor) ocispec.Image {
	t.Helper()
	l := openLayout(t, dir)
	var man ocispec.Manifest
	if _, err := oci.ReadJSON(t.Context(), l, m, &man); err != nil {
		t.Fatal(err)
	}
	var img ocispec.Image
	if _, err := oci.ReadJSON(t.Context(), l, man.Config, &img); err != nil {
		t.Fatal(err)
	}
	return img
}

func wantFile(t *testing.T, dir string, m ocispec.Descriptor, p, want string) {
	t.Helper()
	b, ok := imageFile(t, dir, m, p)
	if !ok {
		t.Errorf("%s (%s): no %s", m.Digest, platforms.FormatAll(*m.Platform), p)
		return
	}
	if string(b) != want {
		t.Errorf("%s (%s): %s = %q, want %q", m.Digest, platforms.FormatAll(*m.Platform), p, b, want)
	}
}

func TestIntegrationRunSteps(t *testing.T) {
	d := sharedDaemon(t)
	extra := writeContext(t, map[string]string{"extra.txt": "from a named context\n"}, false)
	dir := writeContext(t, map[string]string{
		"Dockerfile": `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ARG GREETING=hi
RUN --mount=type=secret,id=tok cp /run/secrets/tok /secret-copy && echo "$GREETING from $(uname -m)" > /greeting
COPY --from=extra extra.txt /extra.txt
RUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo forwarded > /ssh-ok
LABEL stage=final
`,
	}, true)
	agentSock := sshAgent(t)
	secret := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(secret, []byte("s3cr3t"), 0o600); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	prog, err := StartProgress(t.Context(), ProgressRawJSON, &progress)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Build(t.Context(), Options{
		ContextDir:    dir,
		Platforms:     []string{"linux/amd64"},
		BuildArgs:     []string{"GREETING=hello"},
		Secrets:       []string{"id=tok,src=" + secret},
		SSH:           []string{"default=" + agentSock},
		BuildContexts: []string{"extra=" + extra},
		Labels:        []string{"org.example.built-by=affix"},
		Tags:          []string{"example.com/hello:v1"},
		Builder:       d.Addr,
		Output:        filepath.Join(t.TempDir(), "layout"),
		Progress:      prog,
	})
	if err != nil {
		prog.Close()
		t.Fatal(err)
	}
	// affix's own phase, on the same display as the build.
	if err := prog.Task(t.Context(), "generating SBOM for linux/amd64", func(ctx context.Context) error {
		Logf(ctx, "%d packages", 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := prog.Close(); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, res)
	if len(res.Manifests) != 1 || platforms.FormatAll(*res.Manifests[0].Platform) != "linux/amd64" {
		t.Fatalf("manifests %+v", res.Manifests)
	}
	m := res.Manifests[0]
	wantFile(t, res.Layout, m, "/greeting", "hello from x86_64\n")
	wantFile(t, res.Layout, m, "/secret-copy", "s3cr3t")
	wantFile(t, res.Layout, m, "/extra.txt", "from a named context\n")
	wantFile(t, res.Layout, m, "/ssh-ok", "forwarded\n")
	cfg := imageConfig(t, res.Layout, m)
	if cfg.Config.Labels["org.example.built-by"] != "affix" || cfg.Config.Labels["stage"] != "final" {
		t.Errorf("labels %v", cfg.Config.Labels)
	}
	if got := res.Index.Annotations[ocispec.AnnotationRefName]; got != "v1" {
		t.Errorf("index ref name %q, want v1 (%v)", got, res.Index.Annotations)
	}
	if !res.SourceDateEpoch.IsZero() {
		t.Errorf("SourceDateEpoch %v without one set", res.SourceDateEpoch)
	}

	sss := decodeRawJSON(t, progress.Bytes())
	task := lastVertex(sss, "generating SBOM for linux/amd64")
	if task == nil || task.Started == nil || task.Completed == nil {
		t.Errorf("rawjson progress lacks the task vertex: %+v", task)
	}
	var sawRun bool
	for _, ss := range sss {
		for _, v := range ss.Vertexes {
			if strings.Contains(v.Name, "RUN --mount=type=secret") && v.Completed != nil {
				sawRun = true
			}
		}
	}
	if !sawRun {
		t.Error("rawjson progress lacks the RUN vertex")
	}
}

// sshAgent serves an empty in-process SSH agent on a unix socket for the
// test and returns the socket path.
func sshAgent(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	kr := agent.NewKeyring()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = agent.ServeAgent(kr, c)
			}()
		}
	}()
	return sock
}

// twoPlatformContext is a context whose image selects a file per
// TARGETARCH, with no RUN step, so it builds for any platform.
func twoPlatformContext(t *testing.T) string {
	return writeContext(t, map[string]string{
		"Dockerfile": `FROM scratch
ARG TARGETARCH
COPY common.txt /common.txt
COPY bin/hello-${TARGETARCH} /hello
`,
		"common.txt":      "shared by every platform\n",
		"bin/hello-amd64": "amd64 program\n",
		"bin/hello-arm64": "arm64 program\n",
	}, false)
}

func TestIntegrationTwoPlatforms(t *testing.T) {
	d := sharedDaemon(t)
	res, err := Build(t.Context(), Options{
		ContextDir: twoPlatformContext(t),
		Platforms:  []string{"linux/arm64", "linux/amd64"},
		Builder:    d.Addr,
		Output:     filepath.Join(t.TempDir(), "layout"),
	})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, res)
	if len(res.Manifests) != 2 {
		t.Fatalf("manifests %+v", res.Manifests)
	}
	for i, arch := range []string{"arm64", "amd64"} {
		m := res.Manifests[i]
		if got := platforms.FormatAll(*m.Platform); got != "linux/"+arch {
			t.Errorf("manifest %d is %s, want linux/%s (requested order)", i, got, arch)
		}
		wantFile(t, res.Layout, m, "/hello", arch+" program\n")
		wantFile(t, res.Layout, m, "/common.txt", "shared by every platform\n")
		if cfg := imageConfig(t, res.Layout, m); cfg.Architecture != arch {
			t.Errorf("config architecture %q, want %q", cfg.Architecture, arch)
		}
	}
}

func TestIntegrationTwoNodes(t *testing.T) {
	d1 := sharedDaemon(t)
	d2 := buildkittest.Start(t)
	dir := twoPlatformContext(t)
	var progress bytes.Buffer
	prog, err := StartProgress(t.Context(), ProgressRawJSON, &progress)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Build(t.Context(), Options{
		ContextDir:      dir,
		Nodes:           []string{"linux/amd64=" + d1.Addr, "linux/arm64=" + d2.Addr},
		SourceDateEpoch: "1700000000",
		Tags:            []string{"example.com/hello:multi"},
		Annotations:     []string{"index:org.opencontainers.image.description=two nodes", "manifest[linux/arm64]:org.example.node=two"},
		Output:          filepath.Join(t.TempDir(), "merged"),
		Progress:        prog,
	})
	if cerr := prog.Close(); cerr != nil {
		t.Error(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, res)
	if len(res.Manifests) != 2 {
		t.Fatalf("manifests %+v", res.Manifests)
	}
	for i, arch := range []string{"amd64", "arm64"} {
		m := res.Manifests[i]
		if got := platforms.FormatAll(*m.Platform); got != "linux/"+arch {
			t.Errorf("manifest %d is %s, want linux/%s", i, got, arch)
		}
		wantFile(t, res.Layout, m, "/hello", arch+" program\n")
	}
	l := openLayout(t, res.Layout)
	var idx ocispec.Index
	if _, err := oci.ReadJSON(t.Context(), l, res.Index, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.Annotations["org.opencontainers.image.description"] != "two nodes" {
		t.Errorf("merged index annotations %v", idx.Annotations)
	}
	var arm ocispec.Manifest
	if _, err := oci.ReadJSON(t.Context(), l, res.Manifests[1], &arm); err != nil {
		t.Fatal(err)
	}
	if arm.Annotations["org.example.node"] != "two" {
		t.Errorf("arm64 manifest annotations %v", arm.Annotations)
	}
	if res.Index.Annotations[ocispec.AnnotationRefName] != "multi" || res.Index.Annotations["io.containerd.image.name"] != "example.com/hello:multi" {
		t.Errorf("index.json entry annotations %v", res.Index.Annotations)
	}

	// Both nodes fed the one display, each with its platform prefix.
	sss := decodeRawJSON(t, progress.Bytes())
	var amdV, armV, mergeV bool
	for _, ss := range sss {
		for _, v := range ss.Vertexes {
			amdV = amdV || strings.HasPrefix(v.Name, "[linux/amd64")
			armV = armV || strings.HasPrefix(v.Name, "[linux/arm64")
			mergeV = mergeV || strings.HasPrefix(v.Name, "merging") && v.Completed != nil
		}
	}
	if !amdV || !armV || !mergeV {
		t.Errorf("progress vertices: amd64 %v arm64 %v merge %v", amdV, armV, mergeV)
	}

	// One node building both platforms makes the same index, byte for byte.
	one, err := Build(t.Context(), Options{
		ContextDir:      dir,
		Platforms:       []string{"linux/amd64", "linux/arm64"},
		SourceDateEpoch: "1700000000",
		Annotations:     []string{"index:org.opencontainers.image.description=two nodes", "manifest[linux/arm64]:org.example.node=two"},
		Builder:         d1.Addr,
		Output:          filepath.Join(t.TempDir(), "single"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if one.Index.Digest != res.Index.Digest {
		a, _ := os.ReadFile(filepath.Join(one.Layout, "blobs", "sha256", one.Index.Digest.Encoded()))
		b, _ := os.ReadFile(filepath.Join(res.Layout, "blobs", "sha256", res.Index.Digest.Encoded()))
		t.Errorf("single-node index %s != merged index %s\nsingle: %s\nmerged: %s", one.Index.Digest, res.Index.Digest, a, b)
	}
}

// TestIntegrationNodesAttestations builds linux/amd64 and linux/riscv64
// on one node and linux/arm64 on another, with provenance and without
// SOURCE_DATE_EPOCH, into an --output inside the build context: the
// merged index lists the attestations in platform order as one node
// would, its index.json entry carries created (the nodes' times differ),
// the layout holds only what the index reaches, and the node parts left
// nothing in the context or the layout.
func TestIntegrationNodesAttestations(t *testing.T) {
	d1 := sharedDaemon(t)
	d2 := buildkittest.Start(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile":        "FROM scratch\nARG TARGETARCH\nCOPY bin/hello-${TARGETARCH} /hello\n",
		"bin/hello-amd64":   "amd64 program\n",
		"bin/hello-arm64":   "arm64 program\n",
		"bin/hello-riscv64": "riscv64 program\n",
	}, false)
	res, err := Build(t.Context(), Options{
		ContextDir: dir,
		Platforms:  []string{"linux/amd64", "linux/arm64", "linux/riscv64"},
		Nodes:      []string{"linux/amd64=" + d1.Addr, "linux/riscv64=" + d1.Addr, "linux/arm64=" + d2.Addr},
		Provenance: "mode=max",
		Tags:       []string{"example.com/hello:att"},
		Output:     filepath.Join(dir, "out"),
		LookupEnv:  env(nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	l := openLayout(t, res.Layout)
	var idx ocispec.Index
	if _, err := oci.ReadJSON(t.Context(), l, res.Index, &idx); err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for i, arch := range []string{"amd64", "arm64", "riscv64"} {
		m := res.Manifests[i]
		if p := platforms.FormatAll(*m.Platform); p != "linux/"+arch {
			t.Errorf("manifest %d is %s, want linux/%s", i, p, arch)
		}
		wantFile(t, res.Layout, m, "/hello", arch+" program\n")
		want = append(want, m.Digest.String())
	}
	want = append(want, want...)
	for _, d := range idx.Manifests {
		if oci.IsAttestation(d) {
			got = append(got, d.Annotations[oci.AnnotationDockerReferenceDigest])
		} else {
			got = append(got, d.Digest.String())
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("index lists (attestations by subject)\n%v\nwant, as one node orders them,\n%v", got, want)
	}
	if res.Index.Annotations[ocispec.AnnotationCreated] == "" {
		t.Errorf("index.json entry annotations %v: no created", res.Index.Annotations)
	}
	if a := res.ExporterDescriptor(ExporterOCI).Annotations; a[ocispec.AnnotationCreated] == "" || a[oci.AnnotationImageName] != "" || a[ocispec.AnnotationRefName] != "" {
		t.Errorf("exporter descriptor annotations %v: want created, no names", a)
	}
	// Every blob is reached from the index, and every blob reached is there.
	reached := map[string]bool{res.Index.Digest.Encoded(): true}
	var walk func(d ocispec.Descriptor)
	walk = func(d ocispec.Descriptor) {
		reached[d.Digest.Encoded()] = true
		switch {
		case oci.IsIndex(d.MediaType):
			var i ocispec.Index
			if _, err := oci.ReadJSON(t.Context(), l, d, &i); err != nil {
				t.Fatal(err)
			}
			for _, c := range i.Manifests {
				walk(c)
			}
		case oci.IsManifest(d.MediaType):
			var m ocispec.Manifest
			if _, err := oci.ReadJSON(t.Context(), l, d, &m); err != nil {
				t.Fatal(err)
			}
			for _, c := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
				walk(c)
			}
		}
	}
	walk(res.Index)
	entries, err := os.ReadDir(filepath.Join(res.Layout, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !reached[e.Name()] {
			t.Errorf("blob sha256:%s in the layout, not reached from its index", e.Name())
		}
		delete(reached, e.Name())
	}
	if len(reached) != 0 {
		t.Errorf("blobs reached but missing: %v", reached)
	}
	top, err := os.ReadDir(res.Layout)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range top {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"blobs", "index.json", "oci-layout"}) {
		t.Errorf("layout holds %v", names)
	}
}

func TestIntegrationReproducible(t *testing.T) {
	d := sharedDaemon(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /data && echo reproducible > /data/file && touch /data/touched
`,
	}, true)
	build := func(o Options) *Result {
		t.Helper()
		// No platform: the builder's default one (linux/amd64 here).
		o.ContextDir, o.Builder, o.Output = dir, d.Addr, filepath.Join(t.TempDir(), "layout")
		res, err := Build(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// SOURCE_DATE_EPOCH from the environment, then as a build argument
	// with the cache off, so every step runs again at a later time.
	first := build(Options{LookupEnv: env(map[string]string{"SOURCE_DATE_EPOCH": "1700000000"})})
	second := build(Options{BuildArgs: []string{"SOURCE_DATE_EPOCH=1700000000"}, NoCache: true, LookupEnv: env(nil)})
	if first.Index.Digest != second.Index.Digest || first.Manifests[0].Digest != second.Manifests[0].Digest {
		t.Errorf("rebuild differs: index %s vs %s, manifest %s vs %s", first.Index.Digest, second.Index.Digest, first.Manifests[0].Digest, second.Manifests[0].Digest)
	}
	if len(first.Manifests) != 1 || first.Manifests[0].Platform == nil || first.Manifests[0].Platform.OS != "linux" {
		t.Errorf("default platform build: manifests %+v", first.Manifests)
	}
	if first.SourceDateEpoch.Unix() != 1700000000 {
		t.Errorf("SourceDateEpoch %v", first.SourceDateEpoch)
	}
	cfg := imageConfig(t, first.Layout, first.Manifests[0])
	if cfg.Created == nil || cfg.Created.Unix() != 1700000000 {
		t.Errorf("config created %v, want the epoch", cfg.Created)
	}
}

// TestIntegrationCompression builds with the exporter's compression
// attributes, as buildx's --output type=oci,compression=... passes them,
// and checks that every layer is compressed so and decompresses to its
// config's diff ID (what sbomgen verifies when it scans the image).
func TestIntegrationCompression(t *testing.T) {
	d := sharedDaemon(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "echo compressed > /file"]
`,
	}, true)
	for _, c := range []struct {
		name      string
		attrs     map[string]string
		mediaType string
		// annotation each layer descriptor carries, when set
		annotation string
	}{
		{name: "zstd", attrs: map[string]string{"compression": "zstd", "compression-level": "3", "force-compression": "true"},
			mediaType: ocispec.MediaTypeImageLayerZstd},
		{name: "estargz", attrs: map[string]string{"compression": "estargz", "force-compression": "true"},
			mediaType: ocispec.MediaTypeImageLayerGzip, annotation: "containerd.io/snapshot/stargz/toc.digest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := Build(t.Context(), Options{
				ContextDir:      dir,
				Platforms:       []string{"linux/amd64"},
				Builder:         d.Addr,
				SourceDateEpoch: "1700000000",
				ExportAttrs:     c.attrs,
				Output:          filepath.Join(t.TempDir(), "layout"),
			})
			if err != nil {
				t.Fatal(err)
			}
			checkLayout(t, res)
			m := res.Manifests[0]
			wantFile(t, res.Layout, m, "/file", "compressed\n")
			l := openLayout(t, res.Layout)
			var man ocispec.Manifest
			if _, err := oci.ReadJSON(t.Context(), l, m, &man); err != nil {
				t.Fatal(err)
			}
			cfg := imageConfig(t, res.Layout, m)
			if len(man.Layers) != 2 || len(cfg.RootFS.DiffIDs) != len(man.Layers) {
				t.Fatalf("%d layers, %d diff IDs", len(man.Layers), len(cfg.RootFS.DiffIDs))
			}
			for i, ld := range man.Layers {
				if ld.MediaType != c.mediaType {
					t.Errorf("layer %d: media type %s, want %s", i, ld.MediaType, c.mediaType)
				}
				if c.annotation != "" && ld.Annotations[c.annotation] == "" {
					t.Errorf("layer %d: no %s annotation: %v", i, c.annotation, ld.Annotations)
				}
				rc, err := l.Fetch(t.Context(), ld)
				if err != nil {
					t.Fatal(err)
				}
				zr, err := decompress(ld, rc)
				if err != nil {
					rc.Close()
					t.Fatal(err)
				}
				got, err := digest.FromReader(zr)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				if got != cfg.RootFS.DiffIDs[i] {
					t.Errorf("layer %d: uncompressed %s, diff ID %s", i, got, cfg.RootFS.DiffIDs[i])
				}
			}
		})
	}
}

func TestIntegrationBuildFails(t *testing.T) {
	d := sharedDaemon(t)
	tests := []struct {
		name, dockerfile, want string
	}{
		{"failing RUN", "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"exit 3\"]\n", "exit code: 3"},
		{"unknown instruction", "FROM scratch\nFROMM nothing\n", "unknown instruction"},
		{"missing file", "FROM scratch\nCOPY no-such-file /x\n", "no-such-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeContext(t, map[string]string{"Dockerfile": tt.dockerfile}, true)
			out := filepath.Join(t.TempDir(), "layout")
			_, err := Build(t.Context(), Options{ContextDir: dir, Builder: d.Addr, Platforms: []string{"linux/amd64"}, Output: out})
			if !errors.Is(err, ErrBuildFailed) {
				t.Fatalf("err = %v, want ErrBuildFailed", err)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Errorf("failed build left %s behind", out)
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), d.Addr) || !strings.Contains(err.Error(), "Dockerfile") {
				t.Errorf("error %q should name the Dockerfile, the builder and %q", err, tt.want)
			}
		})
	}
}

// TestIntegrationSymlinkDockerfile builds a context whose Dockerfile is a
// symlink to a file outside the context (ctx/Dockerfile ->
// ../other/Build.Dockerfile): BuildKit would be sent the link alone.
func TestIntegrationSymlinkDockerfile(t *testing.T) {
	d := sharedDaemon(t)
	root := t.TempDir()
	dir := filepath.Join(root, "ctx")
	if err := os.MkdirAll(filepath.Join(root, "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "other", "Build.Dockerfile"), []byte("FROM scratch\nCOPY hello.txt /hello.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("from the context\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "other", "Build.Dockerfile"), filepath.Join(dir, "Dockerfile")); err != nil {
		t.Fatal(err)
	}
	res, err := Build(t.Context(), Options{ContextDir: dir, Builder: d.Addr, Platforms: []string{"linux/amd64"}, Output: filepath.Join(t.TempDir(), "layout")})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, res)
	wantFile(t, res.Layout, res.Manifests[0], "/hello.txt", "from the context\n")
}

func TestIntegrationExampleHello(t *testing.T) {
	d := sharedDaemon(t)
	bb := buildkittest.Busybox(t)
	root, err := buildkittest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "sh", filepath.Join(root, "examples", "hello", "prepare.sh"), dir)
	cmd.Env = append(os.Environ(), "BUSYBOX="+bb)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("prepare.sh: %v\n%s", err, out)
	}
	res, err := Build(t.Context(), Options{
		ContextDir:      dir,
		Platforms:       []string{"linux/amd64", "linux/arm64"},
		SourceDateEpoch: "1700000000",
		Tags:            []string{"affix/hello:example"},
		Builder:         d.Addr,
		Output:          filepath.Join(t.TempDir(), "layout"),
	})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, res)
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for i, arch := range []string{"amd64", "arm64"} {
		m := res.Manifests[i]
		if got := platforms.FormatAll(*m.Platform); got != "linux/"+arch {
			t.Fatalf("manifest %d is %s", i, got)
		}
		bin, ok := imageFile(t, res.Layout, m, "/usr/local/bin/hello")
		if !ok {
			t.Fatalf("%s: no /usr/local/bin/hello", arch)
		}
		f, err := elf.NewFile(bytes.NewReader(bin))
		if err != nil {
			t.Fatalf("%s: hello is not ELF: %v", arch, err)
		}
		if f.Machine != machines[arch] {
			t.Errorf("%s: hello is built for %v", arch, f.Machine)
		}
		status, _ := imageFile(t, res.Layout, m, "/var/lib/dpkg/status")
		if !bytes.Contains(status, []byte("Package: base-files\nEssential: yes\nStatus: install ok installed\nPriority: required\nSection: admin\nInstalled-Size: 341\nMaintainer: Santiago Vila <sanvila@debian.org>\nArchitecture: "+arch+"\n")) {
			t.Errorf("%s: dpkg status not generated for the arch:\n%s", arch, status)
		}
		wantFile(t, res.Layout, m, "/etc/hello/build.txt", "hello built for linux/"+arch+" on linux/amd64\n")
		for _, p := range []string{"/etc/os-release", "/app/node_modules/ms/package.json", "/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA"} {
			if _, ok := imageFile(t, res.Layout, m, p); !ok {
				t.Errorf("%s: no %s", arch, p)
			}
		}
		cfg := imageConfig(t, res.Layout, m)
		if b, _ := json.Marshal(cfg.Config.Entrypoint); string(b) != `["/usr/local/bin/hello"]` {
			t.Errorf("%s: entrypoint %s", arch, b)
		}
	}
}

func TestIntegrationTLSBuilder(t *testing.T) {
	buildkittest.Require(t)
	server, cl, err := buildkittest.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := buildkittest.Start(t, buildkittest.WithTCP(&server))
	dir := twoPlatformContext(t)

	t.Run("builder with TLS options", func(t *testing.T) {
		res, err := Build(t.Context(), Options{
			ContextDir: dir,
			Platforms:  []string{"linux/arm64"},
			Builder:    d.TCPAddr,
			TLS:        TLSOptions{CACert: cl.CACert, Cert: cl.Cert, Key: cl.Key, ServerName: buildkittest.ServerName},
			Output:     filepath.Join(t.TempDir(), "layout"),
		})
		if err != nil {
			t.Fatal(err)
		}
		wantFile(t, res.Layout, res.Manifests[0], "/hello", "arm64 program\n")
	})
	t.Run("node with its own TLS files", func(t *testing.T) {
		// The server name defaults to the address's host, 127.0.0.1,
		// which the server certificate names too.
		res, err := Build(t.Context(), Options{
			ContextDir: dir,
			Nodes:      []string{"linux/amd64=" + d.TCPAddr + ",cacert=" + cl.CACert + ",cert=" + cl.Cert + ",key=" + cl.Key},
			Output:     filepath.Join(t.TempDir(), "layout"),
		})
		if err != nil {
			t.Fatal(err)
		}
		wantFile(t, res.Layout, res.Manifests[0], "/hello", "amd64 program\n")
	})
	t.Run("node with a server name and the global TLS files", func(t *testing.T) {
		// The review's case: one CA and client certificate for every
		// node, a server name per node.
		res, err := Build(t.Context(), Options{
			ContextDir: dir,
			Nodes:      []string{"linux/amd64=" + d.TCPAddr + ",servername=" + buildkittest.ServerName},
			TLS:        TLSOptions{CACert: cl.CACert, Cert: cl.Cert, Key: cl.Key},
			Output:     filepath.Join(t.TempDir(), "layout"),
		})
		if err != nil {
			t.Fatal(err)
		}
		wantFile(t, res.Layout, res.Manifests[0], "/hello", "amd64 program\n")
	})
	for name, tls := range map[string]TLSOptions{
		"no client certificate": {CACert: cl.CACert, ServerName: buildkittest.ServerName},
		"wrong server name":     {CACert: cl.CACert, Cert: cl.Cert, Key: cl.Key, ServerName: "other.example"},
		"no TLS":                {},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Build(t.Context(), Options{ContextDir: dir, Builder: d.TCPAddr, TLS: tls, Output: t.TempDir(), ConnectTimeout: 10 * time.Second})
			if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), d.TCPAddr) {
				t.Fatalf("err = %v, want ErrUnreachable naming %s", err, d.TCPAddr)
			}
			t.Logf("error: %v", err)
		})
	}
}
