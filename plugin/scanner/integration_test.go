//go:build linux

package scanner_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/buildkit/client/llb"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/buildkittest"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/internal/sbomtest"
	"github.com/affix-oci/affix/plugin/scanner"
	"github.com/affix-oci/affix/sbomgen"
)

// scannerEnv is a buildkitd with the affix-scanner image and a busybox
// base image (for RUN steps) in a registry it pulls from.
type scannerEnv struct {
	d       *buildkittest.Daemon
	reg     *registrytest.Registry
	scanner string // the generator image reference, with its digest
	busybox string // FROM this for a shell (linux/amd64 only)
}

// startScannerEnv starts the registry, the daemon (with opts), and pushes
// the scanner and busybox images.
func startScannerEnv(t *testing.T, opts ...buildkittest.Option) *scannerEnv {
	t.Helper()
	buildkittest.Require(t)
	buildkittest.RequireBuildctl(t)
	bb := buildkittest.Busybox(t)
	ctx := t.Context()
	reg := registrytest.Start(t, registrytest.Distribution, registrytest.Options{})
	d := buildkittest.Start(t, append(opts, buildkittest.WithInsecureRegistries(reg.Host))...)
	ref, err := d.ScannerImage(ctx, reg.Host)
	if err != nil {
		t.Fatal(err)
	}
	e := &scannerEnv{d: d, reg: reg, scanner: ref, busybox: reg.Ref("busybox") + ":1"}
	dir := t.TempDir()
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	writeContext(t, dir, map[string]string{"busybox": string(b), "Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\n"})
	if _, err := d.Buildctl(ctx, "build", "--frontend", "dockerfile.v0", "--local", "context="+dir, "--local", "dockerfile="+dir,
		"--output", "type=image,name="+e.busybox+",push=true,registry.insecure=true"); err != nil {
		t.Fatal(err)
	}
	return e
}

// writeContext writes files into dir; a value starting with "-> " makes
// a symbolic link to the rest.
func writeContext(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(data, "-> "); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// build is one build of a Dockerfile with the scanner as the SBOM
// generator, to an OCI layout (image name NAME).
type build struct {
	files     map[string]string // the context, with its Dockerfile
	platforms []string
	buildArgs []string
	params    []string
	dir       string // the context once written
}

// platformSBOM is what BuildKit stored for one platform image.
type platformSBOM struct {
	image      oci.Image
	statements []statement
}

type statement struct {
	layer ocispec.Descriptor
	raw   []byte
	stmt  *oci.Statement
	doc   spdxDoc
}

type spdxDoc struct {
	SPDXVersion string   `json:"spdxVersion"`
	Name        string   `json:"name"`
	Namespace   string   `json:"documentNamespace"`
	Describes   []string `json:"documentDescribes"`
	Rels        []struct {
		Element string `json:"spdxElementId"`
		Type    string `json:"relationshipType"`
		Related string `json:"relatedSpdxElement"`
	} `json:"relationships"`
	CreationInfo struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
}

// described counts the elements d describes, by documentDescribes or a
// DESCRIBES relationship (BuildKit's re-encoding of the final stage's
// document keeps only the relationships).
func (d spdxDoc) described() int {
	ids := map[string]bool{}
	for _, id := range d.Describes {
		ids[id] = true
	}
	for _, r := range d.Rels {
		if r.Element == "SPDXRef-DOCUMENT" && r.Type == "DESCRIBES" {
			ids[r.Related] = true
		}
	}
	return len(ids)
}

// run builds b (with --no-cache, so that the generator runs every time)
// and returns buildctl's output and each platform's SBOM statements, in
// BuildKit's order. The context is written once per build value: BuildKit
// names the layer of each file in the final stage's document, and the
// layers of a context written again differ (file times).
func (e *scannerEnv) run(t *testing.T, name string, b *build) (string, []platformSBOM, *oci.Layout, error) {
	t.Helper()
	ctx := t.Context()
	if b.dir == "" {
		b.dir = t.TempDir()
		writeContext(t, b.dir, b.files)
	}
	dir := b.dir
	layout := filepath.Join(t.TempDir(), "layout")
	out, err := e.d.Build(ctx, buildkittest.GeneratorBuild{
		Context: dir, Platforms: b.platforms, Generator: e.scanner, Params: b.params, BuildArgs: b.buildArgs,
		Outputs: []string{"type=oci,dest=" + layout + ",tar=false,name=" + e.reg.Ref(name) + ":1"},
		Extra:   []string{"--no-cache"},
	})
	if err != nil {
		return string(out), nil, nil, err
	}
	l, err := oci.OpenLayout(ctx, layout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return string(out), readSBOMs(t, l), l, nil
}

// readSBOMs returns each platform image of the layout l with its SBOM
// statements, in BuildKit's order.
func readSBOMs(t *testing.T, l *oci.Layout) []platformSBOM {
	t.Helper()
	ctx := t.Context()
	imgs, err := oci.Walk(ctx, l, l.Roots()[0])
	if err != nil {
		t.Fatal(err)
	}
	byDigest := map[string]*platformSBOM{}
	var res []platformSBOM
	for _, img := range imgs {
		if !img.Attestation {
			res = append(res, platformSBOM{image: img})
		}
	}
	for i := range res {
		byDigest[res[i].image.Descriptor.Digest.String()] = &res[i]
	}
	for _, img := range imgs {
		if !img.Attestation {
			continue
		}
		p := byDigest[img.Descriptor.Annotations[oci.AnnotationDockerReferenceDigest]]
		if p == nil {
			t.Fatalf("attestation manifest %s for no platform image", img.Descriptor.Digest)
		}
		var m ocispec.Manifest
		if _, err := oci.ReadJSON(ctx, l, img.Descriptor, &m); err != nil {
			t.Fatal(err)
		}
		for _, ly := range m.Layers {
			raw, err := oci.ReadBlob(ctx, l, ly, scanner.MaxStatementSize)
			if err != nil {
				t.Fatal(err)
			}
			st, err := oci.ParseStatement(raw)
			if err != nil {
				t.Fatal(err)
			}
			s := statement{layer: ly, raw: raw, stmt: st}
			if err := json.Unmarshal(st.Predicate, &s.doc); err != nil {
				t.Fatal(err)
			}
			p.statements = append(p.statements, s)
		}
	}
	return res
}

// checkShape checks what BuildKit stored for each platform against what
// it stores for its default generator's statements: one layer per
// target, application/vnd.in-toto+json annotated with the SPDX predicate
// type, in-toto v1 statements whose subject is the platform manifest
// under the image name, SPDX 2.3 documents named after the targets (the
// final stage's first, named NAME), created by affix-scanner (and, for a
// final stage with layers, BuildKit).
func checkShape(t *testing.T, name string, ps []platformSBOM, wantNames []string, coreLayers bool) {
	t.Helper()
	for _, p := range ps {
		var names []string
		for i, s := range p.statements {
			names = append(names, s.doc.Name)
			if s.layer.MediaType != "application/vnd.in-toto+json" || s.layer.Annotations[oci.AnnotationPredicateType] != oci.PredicateSPDX {
				t.Errorf("%s: layer %d: %s %v", p.image, i, s.layer.MediaType, s.layer.Annotations)
			}
			if s.stmt.Type != "https://in-toto.io/Statement/v1" || s.stmt.PredicateType != oci.PredicateSPDX {
				t.Errorf("%s: statement %d: _type %s, predicateType %s", p.image, i, s.stmt.Type, s.stmt.PredicateType)
			}
			wantSubject := "pkg:docker/" + name + "@1?platform=" + url.QueryEscape(platformString(p.image.Platform()))
			if len(s.stmt.Subject) != 1 || s.stmt.Subject[0].Name != wantSubject || !s.stmt.Names(p.image.Descriptor.Digest) {
				t.Errorf("%s: statement %d: subject %v, want %s with the manifest digest", p.image, i, s.stmt.Subject, wantSubject)
			}
			if s.doc.SPDXVersion != "SPDX-2.3" || s.doc.described() != 1 || !strings.HasPrefix(s.doc.Namespace, "https://affix-oci.github.io/affix/spdx/") {
				t.Errorf("%s: statement %d: document %+v", p.image, i, s.doc)
			}
			creators := s.doc.CreationInfo.Creators
			wantBuildKit := i == 0 && coreLayers
			if len(creators) == 0 || !strings.HasPrefix(creators[0], "Tool: affix-") ||
				slices.ContainsFunc(creators, func(c string) bool { return strings.HasPrefix(c, "Tool: buildkit-") }) != wantBuildKit {
				t.Errorf("%s: statement %d (%s): creators %v (BuildKit's: %v)", p.image, i, s.doc.Name, creators, wantBuildKit)
			}
		}
		if !slices.Equal(names, wantNames) {
			t.Errorf("%s: documents %v, want %v", p.image, names, wantNames)
		}
	}
}

func platformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// packages returns the packages of an SPDX document (sbomtest.SPDXPackages).
func packages(t *testing.T, doc []byte) []string {
	t.Helper()
	out, err := sbomtest.SPDXPackages(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkSameAsImageScan checks that each platform's final-stage SBOM lists
// what affix's scan of the platform image (`affix sbom`) lists.
func checkSameAsImageScan(t *testing.T, l *oci.Layout, ps []platformSBOM) {
	t.Helper()
	gen, err := sbomgen.New(sbomgen.Options{NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		res, err := gen.Image(t.Context(), l, p.image.Descriptor)
		if err != nil {
			t.Fatal(err)
		}
		got, want := packages(t, p.statements[0].stmt.Predicate), packages(t, res.Documents[0].Data)
		if !slices.Equal(got, want) {
			t.Errorf("%s: generator packages\n%s\naffix sbom packages\n%s", p.image, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// checkDeterministic checks that two builds stored the same documents.
func checkDeterministic(t *testing.T, a, b []platformSBOM) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d and %d platforms", len(a), len(b))
	}
	for i := range a {
		if len(a[i].statements) != len(b[i].statements) {
			t.Fatalf("%s: %d and %d statements", a[i].image, len(a[i].statements), len(b[i].statements))
		}
		for j := range a[i].statements {
			if !bytes.Equal(a[i].statements[j].stmt.Predicate, b[i].statements[j].stmt.Predicate) {
				t.Errorf("%s: statement %d (%s) differs between two builds", a[i].image, j, a[i].statements[j].doc.Name)
			}
		}
	}
}

// TestIntegrationScannerCases runs affix-scanner as BuildKit's SBOM
// generator (buildctl, Dockerfile frontend) on the shapes of input
// BuildKit produces: two platforms, extra targets of every kind (named,
// unnamed and empty stages, a list of stages, the build context), an
// empty final stage, symbolic links of every kind with a FIFO and an
// unreadable file, a large sparse executable, and parameters. For each it
// checks that the build succeeds, that the attestation has the shape
// BuildKit gives its default generator's, that the final stage's SBOM
// lists what `affix sbom` of the platform image lists, and (where built
// twice) that the documents do not change.
func TestIntegrationScannerCases(t *testing.T) {
	e := startScannerEnv(t)
	ctx := t.Context()
	amd, err := fixture.GoBinary(ctx, "amd64", "")
	if err != nil {
		t.Fatal(err)
	}
	arm, err := fixture.GoBinary(ctx, "arm64", "")
	if err != nil {
		t.Fatal(err)
	}
	ms := `{"name":"ms","version":"2.1.3"}`
	sh := func(script string) string {
		b, _ := json.Marshal([]string{"/bin/busybox", "sh", "-c", "set -e; B=/bin/busybox; " + script})
		return "RUN " + string(b) + "\n"
	}

	t.Run("two-platforms", func(t *testing.T) {
		b := build{
			files: map[string]string{
				"Dockerfile":                           "FROM scratch\nARG TARGETARCH\nCOPY rootfs-${TARGETARCH}/ /\n",
				"rootfs-amd64/etc/os-release":          fixture.DebianOSRelease,
				"rootfs-amd64/var/lib/dpkg/status":     "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\nDescription: libc\n\n",
				"rootfs-amd64/" + fixture.GoBinaryPath: string(amd),
				"rootfs-amd64/usr/lib/python3/dist-packages/r.dist-info/METADATA": "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n",
				"rootfs-arm64/etc/os-release":                                     fixture.AlpineOSRelease,
				"rootfs-arm64/lib/apk/db/installed":                               "C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:musl\nV:1.2.5-r0\nA:aarch64\nL:MIT\no:musl\n\n",
				"rootfs-arm64/" + fixture.GoBinaryPath:                            string(arm),
				"rootfs-arm64/app/node_modules/ms/package.json":                   ms,
			},
			platforms: []string{"linux/amd64", "linux/arm64"},
		}
		out, first, l, err := e.run(t, "two", &b)
		if err != nil {
			t.Fatal(err)
		}
		if len(first) != 2 {
			t.Fatalf("%d platform images", len(first))
		}
		for _, p := range []string{"linux/amd64", "linux/arm64"} {
			if !strings.Contains(out, "["+p+"] generating sbom using "+e.scanner) {
				t.Errorf("no SBOM step for %s:\n%s", p, out)
			}
		}
		checkShape(t, e.reg.Ref("two"), first, []string{"sbom"}, true)
		checkSameAsImageScan(t, l, first)
		_, second, _, err := e.run(t, "two", &b)
		if err != nil {
			t.Fatal(err)
		}
		checkDeterministic(t, first, second)
	})

	t.Run("extra-targets", func(t *testing.T) {
		// Every stage and the context scanned: a named stage with a dot
		// in its name, an unnamed one (stage-N), an empty one. The
		// context (BuildKit sends the paths COPY names) is a source
		// tree: what its go.mod declares is listed too, unlike in the
		// final image, a root filesystem, which holds the same go.mod.
		df := "ARG BUILDKIT_SBOM_SCAN_STAGE=true\nARG BUILDKIT_SBOM_SCAN_CONTEXT=true\n" +
			"FROM scratch AS build.v2\nCOPY b/ /\n\n" +
			"FROM scratch\nCOPY b/x /x\n\n" +
			"FROM scratch AS nothing\n\n" +
			"FROM scratch\nCOPY --from=build.v2 /x /x\nCOPY --from=1 /x /y\nCOPY --from=nothing / /\nCOPY a/ /\n"
		b := build{files: map[string]string{
			"Dockerfile":                         df,
			"b/x":                                "x",
			"b/app/node_modules/ms/package.json": ms,
			"a/app/node_modules/left-pad/package.json": `{"name":"left-pad","version":"1.3.0"}`,
			"a/go.mod": "module example.com/app\n\ngo 1.22\n\nrequire github.com/pkg/errors v0.9.1\n",
		}}
		out, first, l, err := e.run(t, "extras", &b)
		if err != nil {
			t.Fatal(err)
		}
		checkShape(t, e.reg.Ref("extras"), first, []string{"sbom", "sbom-build.v2", "sbom-context", "sbom-nothing", "sbom-stage-1"}, true)
		checkSameAsImageScan(t, l, first)
		want := map[string][]string{
			"sbom":          {"npm left-pad 1.3.0"},
			"sbom-build.v2": {"npm ms 2.1.3"},
			"sbom-context":  {"golang github.com/pkg/errors v0.9.1", "npm left-pad 1.3.0", "npm ms 2.1.3"},
			"sbom-nothing":  {},
			"sbom-stage-1":  {},
		}
		for _, s := range first[0].statements {
			if got := packages(t, s.stmt.Predicate); !slices.Equal(got, want[s.doc.Name]) {
				t.Errorf("%s: packages %v, want %v", s.doc.Name, got, want[s.doc.Name])
			}
			if !strings.Contains(out, "affix-scanner: "+s.doc.Name+": ") {
				t.Errorf("no log line for %s:\n%s", s.doc.Name, out)
			}
		}
		_, second, _, err := e.run(t, "extras", &b)
		if err != nil {
			t.Fatal(err)
		}
		checkDeterministic(t, first, second)
	})

	t.Run("stage-list", func(t *testing.T) {
		// BUILDKIT_SBOM_SCAN_STAGE=a,c as a build argument (it overrides
		// declared ARGs only): stages a and c, not b.
		df := "ARG BUILDKIT_SBOM_SCAN_STAGE\nFROM scratch AS a\nCOPY a /a\nFROM scratch AS b\nCOPY a /b\nFROM scratch AS c\nCOPY a /c\n" +
			"FROM scratch\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCOPY --from=c /c /c\n"
		_, ps, _, err := e.run(t, "stagelist", &build{files: map[string]string{"Dockerfile": df, "a": "a"}, buildArgs: []string{"BUILDKIT_SBOM_SCAN_STAGE=a,c"}})
		if err != nil {
			t.Fatal(err)
		}
		checkShape(t, e.reg.Ref("stagelist"), ps, []string{"sbom", "sbom-a", "sbom-c"}, true)
	})

	t.Run("empty-final-stage", func(t *testing.T) {
		// FROM scratch and nothing else: an empty root filesystem, and
		// an image without layers, whose statement BuildKit stores
		// unchanged (no creator of its own).
		_, ps, l, err := e.run(t, "empty", &build{files: map[string]string{"Dockerfile": "FROM scratch\n"}})
		if err != nil {
			t.Fatal(err)
		}
		checkShape(t, e.reg.Ref("empty"), ps, []string{"sbom"}, false)
		checkSameAsImageScan(t, l, ps)
	})

	t.Run("symlinks-fifo-unreadable", func(t *testing.T) {
		// Links inside the root filesystem of every kind, a FIFO (and a
		// link to it under a name a cataloger reads), an unreadable file
		// and directory: the same packages as the image scan, and no
		// hang.
		df := "FROM " + e.busybox + "\n" + sh(
			"$B mkdir -p /usr/lib/python3/dist-packages/r.dist-info /srv/nm/left-pad /opt/app /abs /etc /var/lib/dpkg /secret.d; "+
				"echo 'Metadata-Version: 2.1' > /usr/lib/python3/dist-packages/r.dist-info/METADATA; "+
				"echo 'Name: requests' >> /usr/lib/python3/dist-packages/r.dist-info/METADATA; "+
				"echo 'Version: 2.31.0' >> /usr/lib/python3/dist-packages/r.dist-info/METADATA; "+
				`echo '{"name":"left-pad","version":"1.3.0"}' > /srv/nm/left-pad/package.json; `+
				"$B ln -s /usr/lib /lib; "+
				"$B ln -s ../../../../../../srv/nm /opt/app/node_modules; "+
				"$B ln -s /srv/nm /abs/node_modules; "+
				"$B ln -s /nowhere/at/all /dangling; "+
				"$B ln -s loop2 /loop1; $B ln -s loop1 /loop2; $B ln -s / /rootlink; $B ln -s .. /up; "+
				"$B mkfifo /fifo; $B mkdir -p /srv/nm/fifo; $B ln -s /fifo /srv/nm/fifo/package.json; "+
				"$B touch /secret; $B chmod 000 /secret /secret.d")
		_, ps, l, err := e.run(t, "symlinks", &build{files: map[string]string{"Dockerfile": df}})
		if err != nil {
			t.Fatal(err)
		}
		checkShape(t, e.reg.Ref("symlinks"), ps, []string{"sbom"}, true)
		checkSameAsImageScan(t, l, ps)
		got := packages(t, ps[0].statements[0].stmt.Predicate)
		for _, p := range []string{"npm left-pad 1.3.0", "pypi requests 2.31.0"} {
			if !slices.Contains(got, p) {
				t.Errorf("%s missing from %v", p, got)
			}
		}
	})

	t.Run("symlink-chain-out-of-root", func(t *testing.T) {
		// /y -> / and /x -> /y/affix-scanner: in the image /x leads
		// nowhere; read with the scanner's root it is the scanner's own
		// binary, and its Go modules would be the image's.
		df := "FROM " + e.busybox + "\n" + sh("$B ln -s / /y; $B ln -s /y/affix-scanner /x; $B ln -s /y/run/src /srcs")
		_, ps, l, err := e.run(t, "chain", &build{files: map[string]string{"Dockerfile": df}})
		if err != nil {
			t.Fatal(err)
		}
		checkSameAsImageScan(t, l, ps)
	})

	t.Run("large-sparse-files", func(t *testing.T) {
		// A 128 MiB executable named as a binary classifier looks for
		// (it reads all of it) and a 32 MiB archive that is no zip (the
		// Java cataloger copies it to /tmp, BuildKit's tmpfs).
		df := "FROM " + e.busybox + "\n" + sh("$B mkdir -p /usr/bin; $B truncate -s 128M /usr/bin/node; $B chmod 755 /usr/bin/node; $B truncate -s 32M /app.jar")
		out, ps, l, err := e.run(t, "large", &build{files: map[string]string{"Dockerfile": df}})
		if err != nil {
			t.Fatal(err)
		}
		checkShape(t, e.reg.Ref("large"), ps, []string{"sbom"}, true)
		checkSameAsImageScan(t, l, ps)
		if !strings.Contains(out, `1 unreadable, first "/app.jar: java-archive-cataloger:`) {
			t.Errorf("the unreadable archive is not reported:\n%s", out)
		}
	})

	t.Run("llb-without-frontend", func(t *testing.T) {
		// An LLB definition built without a frontend: BuildKit's solver
		// runs the generator itself (control.go, SBOMProcessor), for the
		// final result only, without extras.
		def, err := llb.Scratch().File(llb.Mkdir("/app/node_modules/ms", 0o755, llb.WithParents(true)).Mkfile("/app/node_modules/ms/package.json", 0o644, []byte(ms))).Marshal(ctx, llb.LinuxAmd64)
		if err != nil {
			t.Fatal(err)
		}
		var stdin bytes.Buffer
		if err := llb.WriteTo(def, &stdin); err != nil {
			t.Fatal(err)
		}
		bin, err := buildkittest.FindBuildctl()
		if err != nil {
			t.Fatal(err)
		}
		layout := filepath.Join(t.TempDir(), "layout")
		cmd := exec.CommandContext(ctx, bin, "--addr", e.d.Addr, "build", "--progress", "plain",
			"--opt", "attest:sbom=generator="+e.scanner,
			"--output", "type=oci,dest="+layout+",tar=false,name="+e.reg.Ref("llb")+":1")
		cmd.Stdin = &stdin
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(string(out), "affix-scanner: sbom: 1 package (npm 1)") {
			t.Errorf("the generator's log is missing:\n%s", out)
		}
		l, err := oci.OpenLayout(ctx, layout)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ps := readSBOMs(t, l)
		checkShape(t, e.reg.Ref("llb"), ps, []string{"sbom"}, true)
		checkSameAsImageScan(t, l, ps)
	})

	t.Run("parameters", func(t *testing.T) {
		// NAME and SOURCE_DATE_EPOCH, and the type attribute buildx
		// passes along; keys in any case.
		b := build{files: map[string]string{"Dockerfile": "FROM scratch\nCOPY a/ /\n", "a/app/node_modules/ms/package.json": ms},
			params: []string{"name=my-app", "SOURCE_DATE_EPOCH=1700000000", "type=sbom"}}
		out, ps, _, err := e.run(t, "params", &b)
		if err != nil {
			t.Fatal(err)
		}
		checkShape(t, e.reg.Ref("params"), ps, []string{"my-app"}, true)
		if c := ps[0].statements[0].doc.CreationInfo.Created; c != "2023-11-14T22:13:20Z" {
			t.Errorf("created %s", c)
		}
		if !strings.Contains(out, "affix-scanner: ignoring BUILDKIT_SCAN_type") {
			t.Errorf("type not reported as ignored:\n%s", out)
		}
		// An unknown parameter fails the build, naming it.
		b.params = []string{"SELECT_CATALOGERS=+sbom-cataloger"}
		out, _, _, err = e.run(t, "params", &b)
		if err == nil || !strings.Contains(out, "BUILDKIT_SCAN_SELECT_CATALOGERS: affix-scanner scans with a fixed, offline set of catalogers") {
			t.Errorf("unsupported parameter: err %v\n%s", err, out)
		}
	})
}

// TestIntegrationScannerTmpfsState runs the scanner under a buildkitd
// that keeps its state on a tmpfs: BuildKit mounts each root filesystem
// under /run/src in the generator's container, a tmpfs under /run, which
// syft's directory scan skips. The scanner must fail the build, saying
// why, rather than store an SBOM that lists nothing.
func TestIntegrationScannerTmpfsState(t *testing.T) {
	buildkittest.Require(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2g", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	// buildkittest keeps state off a tmpfs unless told where to put it.
	t.Setenv(buildkittest.EnvDaemonDir, dir)
	e := startScannerEnv(t)
	out, _, _, err := e.run(t, "tmpfs", &build{files: map[string]string{
		"Dockerfile":                         "FROM scratch\nCOPY a/ /\n",
		"a/app/node_modules/ms/package.json": `{"name":"ms","version":"2.1.3"}`,
	}})
	if err == nil {
		t.Fatalf("the build succeeded:\n%s", out)
	}
	if !strings.Contains(out, "target sbom: /run/src/core/sbom is on a tmpfs file system under /run") {
		t.Errorf("the scanner's reason is missing:\n%s", out)
	}
}
