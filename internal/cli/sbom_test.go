package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/sbomgen"
)

// runAffix runs the command line and returns its exit code, stdout and
// stderr. A panic fails the test.
func runAffix(t *testing.T, args ...string) (int, []byte, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var code int
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("affix %s panicked: %v", strings.Join(args, " "), r)
			}
		}()
		code = Run(context.Background(), "affix", args, &stdout, &stderr)
	}()
	return code, stdout.Bytes(), stderr.String()
}

// sbomEnv keeps the tests' cache out of the user's cache directory.
func sbomEnv(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(sbomgen.EnvCacheDir, dir)
	t.Setenv(sbomgen.EnvSourceDateEpoch, "")
	return dir
}

func writeFixture(t *testing.T, spec fixture.Spec) (string, *fixture.Result) {
	t.Helper()
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	return dir, res
}

var (
	standardOnce sync.Once
	standardSpec fixture.Spec
	standardErr  error
)

func standardFixture(t *testing.T) (string, *fixture.Result) {
	t.Helper()
	standardOnce.Do(func() { standardSpec, standardErr = fixture.Standard(context.Background()) })
	if standardErr != nil {
		t.Fatal(standardErr)
	}
	return writeFixture(t, standardSpec)
}

func described(t *testing.T, f sbomgen.Format, doc []byte) digest.Digest {
	t.Helper()
	d, err := sbomgen.DescribedDigest(f, doc)
	if err != nil {
		t.Fatalf("DescribedDigest: %v\n%s", err, doc)
	}
	return d
}

func TestSbomSelection(t *testing.T) {
	sbomEnv(t)
	spec := fixture.Variants()
	spec.Attestations = true
	// Two Windows images that differ only by os.version.
	for _, v := range []string{"10.0.17763.5820", "10.0.20348.2461"} {
		spec.Images = append(spec.Images, fixture.Image{
			Platform: ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: v},
			Layers:   []fixture.Layer{{{Path: "Files/version.txt", Data: []byte(v)}}},
		})
	}
	dir, res := writeFixture(t, spec)
	src := "oci-layout:" + dir
	m := res.Manifests // amd64, arm/v6, arm/v7, arm64/v8, windows 17763, windows 20348
	tests := []struct {
		name string
		args []string
		want digest.Digest // when the scan succeeds
		code int
		msg  []string // in stderr when it fails
	}{
		{"arm v6", []string{"--platform", "linux/arm/v6"}, m[1].Digest, 0, nil},
		{"arm v7", []string{"--platform", "linux/arm/v7"}, m[2].Digest, 0, nil},
		{"arm is v7", []string{"--platform", "linux/arm"}, m[2].Digest, 0, nil},
		{"arm64 is v8", []string{"--platform", "linux/arm64"}, m[3].Digest, 0, nil},
		{"amd64", []string{"--platform", "linux/amd64"}, m[0].Digest, 0, nil},
		{"os.version", []string{"--platform", "windows(10.0.20348.2461)/amd64"}, m[5].Digest, 0, nil},
		{"digest", []string{"--digest", m[1].Digest.String()}, m[1].Digest, 0, nil},
		{"windows without os.version is ambiguous", []string{"--platform", "windows/amd64"}, "", 1, []string{"ambiguous", "10.0.17763.5820", "10.0.20348.2461"}},
		{"no selection among several", nil, "", 1, []string{"ambiguous", "linux/arm/v6", "linux/arm/v7", "linux/amd64", "linux/arm64/v8", dir, "--all-platforms"}},
		{"unknown platform", []string{"--platform", "linux/s390x"}, "", 1, []string{"linux/s390x not found", "linux/arm/v6", dir}},
		{"unknown digest", []string{"--digest", digest.FromString("nope").String()}, "", 1, []string{"no manifest", digest.FromString("nope").String()}},
		{"attestation digest", []string{"--digest", res.Attestations[0].Digest.String()}, "", 1, []string{"attestation"}},
		{"bad digest", []string{"--digest", "sha256:xyz"}, "", 2, []string{"--digest"}},
		{"bad platform", []string{"--platform", "bogus"}, "", 2, []string{`--platform: platform "bogus": no known OS or architecture`}},
		{"bad platform part", []string{"--platform", "linux/arm 64"}, "", 2, []string{`platform "linux/arm 64"`, "each part letters"}},
		{"two selections", []string{"--platform", "linux/amd64", "--all-platforms"}, "", 2, []string{"one of"}},
		{"all platforms to stdout", []string{"--all-platforms"}, "", 2, []string{"-o DIR"}},
		{"bad format", []string{"--platform", "linux/amd64", "--format", "spdx-tag-value"}, "", 2, []string{"spdx-tag-value"}},
		{"in-toto format", []string{"--platform", "linux/amd64", "--format", "spdx-intoto"}, "", 2, []string{`format "spdx-intoto"`, "spdx-intoto is a referrer's form, which push, attach and build write (--sbom-format)"}},
	}
	if runtime.GOOS == "linux" {
		// An architecture alone is linux/ARCH here, as buildx takes it.
		tests = append(tests, []struct {
			name string
			args []string
			want digest.Digest
			code int
			msg  []string
		}{
			{"architecture alone", []string{"--platform", "amd64"}, m[0].Digest, 0, nil},
			{"alias aarch64 alone", []string{"--platform", "aarch64"}, m[3].Digest, 0, nil},
			{"alias armhf alone is arm/v7", []string{"--platform", "armhf"}, m[2].Digest, 0, nil},
			{"architecture alone not found", []string{"--platform", "s390x"}, "", 1, []string{"platform s390x (linux/s390x) not found"}},
		}...)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runAffix(t, append(append([]string{"sbom"}, tt.args...), src)...)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.code, errOut)
			}
			for _, s := range tt.msg {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr does not mention %q:\n%s", s, errOut)
				}
			}
			if tt.code != 0 {
				if len(out) != 0 {
					t.Errorf("failed run wrote %d bytes to stdout", len(out))
				}
				return
			}
			if got := described(t, sbomgen.SPDXJSON, out); got != tt.want {
				t.Errorf("document describes %s, want %s", got, tt.want)
			}
			if !strings.Contains(errOut, tt.want.String()[:19]) || !strings.Contains(errOut, " package") {
				t.Errorf("summary line: %q", errOut)
			}
		})
	}
}

func TestSbomAllPlatforms(t *testing.T) {
	sbomEnv(t)
	spec := fixture.Variants()
	spec.Attestations = true
	dir, res := writeFixture(t, spec)
	out := filepath.Join(t.TempDir(), "sboms")
	code, stdout, stderr := runAffix(t, "sbom", "--all-platforms", "--format", "spdx-json", "--format", "cyclonedx-json", "-o", out, "oci-layout:"+dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if len(stdout) != 0 {
		t.Errorf("wrote to stdout with -o DIR")
	}
	stems := []string{"linux-amd64", "linux-arm-v6", "linux-arm-v7", "linux-arm64-v8"}
	var want []string
	for i, s := range stems {
		for _, f := range []sbomgen.Format{sbomgen.SPDXJSON, sbomgen.CycloneDXJSON} {
			want = append(want, s+f.Ext())
			b, err := os.ReadFile(filepath.Join(out, s+f.Ext()))
			if err != nil {
				t.Fatal(err)
			}
			if got := described(t, f, b); got != res.Manifests[i].Digest {
				t.Errorf("%s%s describes %s, want %s", s, f.Ext(), got, res.Manifests[i].Digest)
			}
		}
	}
	ents, _ := os.ReadDir(out)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("files %v, want %v (attestation manifests are not scanned)", got, want)
	}
	if n := strings.Count(stderr, "\n"); n != 4 {
		t.Errorf("%d summary lines, want 4:\n%s", n, stderr)
	}
}

func TestSbomOutputAndCache(t *testing.T) {
	cache := sbomEnv(t)
	spec := fixture.Variants()
	spec.Images = spec.Images[2:3] // linux/arm/v7 alone: no selection needed
	dir, res := writeFixture(t, spec)
	archive := filepath.Join(t.TempDir(), "image.tar")
	if err := fixture.WriteArchive(dir, archive); err != nil {
		t.Fatal(err)
	}

	code, first, stderr := runAffix(t, "sbom", "--format", "syft-json", "oci-archive:"+archive)
	if code != 0 || !strings.Contains(stderr, "scanned") || !strings.Contains(stderr, "apk 1") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if got := described(t, sbomgen.SyftJSON, first); got != res.Manifests[0].Digest {
		t.Errorf("describes %s", got)
	}
	code, second, stderr := runAffix(t, "sbom", "--format", "syft-json", "oci-layout:"+dir)
	if code != 0 || !strings.Contains(stderr, "cached") {
		t.Fatalf("second run: exit %d, stderr %q", code, stderr)
	}
	if !bytes.Equal(first, second) {
		t.Error("cached document differs")
	}
	if ents, _ := os.ReadDir(filepath.Join(cache, "sbom")); len(ents) == 0 {
		t.Error("nothing cached under AFFIX_CACHE_DIR/sbom")
	}
	code, third, stderr := runAffix(t, "sbom", "--no-cache", "--format", "syft-json", dir)
	if code != 0 || !strings.Contains(stderr, "scanned") || !bytes.Equal(first, third) {
		t.Fatalf("--no-cache: exit %d, stderr %q, same bytes %v", code, stderr, bytes.Equal(first, third))
	}
	// affix build's spelling works too.
	if code, _, stderr := runAffix(t, "sbom", "--no-sbom-cache", "--format", "syft-json", dir); code != 0 || !strings.Contains(stderr, "scanned") {
		t.Fatalf("--no-sbom-cache: exit %d, stderr %q", code, stderr)
	}

	file := filepath.Join(t.TempDir(), "sbom.json")
	if code, out, stderr := runAffix(t, "sbom", "-o", file, "oci-layout:"+dir); code != 0 || len(out) != 0 {
		t.Fatalf("-o FILE: exit %d, %d bytes on stdout, stderr %q", code, len(out), stderr)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	described(t, sbomgen.SPDXJSON, b)

	outDir := t.TempDir()
	if code, _, stderr := runAffix(t, "sbom", "-o", outDir, "--name", "example.com/app:1.0", "oci-layout:"+dir); code != 0 {
		t.Fatalf("-o DIR: exit %d, stderr %q", code, stderr)
	}
	b, err = os.ReadFile(filepath.Join(outDir, "linux-arm-v7.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Name string }
	json.Unmarshal(b, &doc)
	if doc.Name != "example.com/app@"+res.Manifests[0].Digest.String() { // the repository: every tag gets one document
		t.Errorf("document name %q", doc.Name)
	}
}

func TestSbomDeterministicAcrossRuns(t *testing.T) {
	sbomEnv(t)
	spec := fixture.Variants()
	spec.Images = spec.Images[:1]
	dir, _ := writeFixture(t, spec)
	_, a, _ := runAffix(t, "sbom", "--no-cache", "--format", "cyclonedx-json", dir)
	_, b, _ := runAffix(t, "sbom", "--no-cache", "--format", "cyclonedx-json", dir)
	if !bytes.Equal(a, b) {
		t.Error("two runs differ")
	}
	t.Setenv(sbomgen.EnvSourceDateEpoch, "86400")
	_, c, _ := runAffix(t, "sbom", "--format", "cyclonedx-json", dir)
	if !bytes.Contains(c, []byte(`"timestamp":"1970-01-02T00:00:00Z"`)) {
		t.Errorf("SOURCE_DATE_EPOCH not honoured: %.300s", c)
	}
}

func TestSbomBadInput(t *testing.T) {
	sbomEnv(t)
	spec := fixture.Variants()
	spec.Images = spec.Images[:1]
	layerOf := func(t *testing.T, dir string, res *fixture.Result) string {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", res.Manifests[0].Digest.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		var m ocispec.Manifest
		json.Unmarshal(b, &m)
		return filepath.Join(dir, "blobs", "sha256", m.Layers[0].Digest.Encoded())
	}
	tests := []struct {
		name string
		// setup returns the SOURCE argument and what the error must say.
		setup func(t *testing.T) (src string, msg []string)
		args  []string
		// code is 2 for a path that is missing or of the wrong kind,
		// or a SOURCE of no known form (usage errors), else 1.
		code int
	}{
		{"not a layout", func(t *testing.T) (string, []string) {
			d := t.TempDir()
			return "oci-layout:" + d, []string{d, "not an OCI image layout: no oci-layout file in " + d}
		}, nil, 1},
		{"no such path", func(t *testing.T) (string, []string) {
			p := filepath.Join(t.TempDir(), "missing")
			return p, []string{p}
		}, nil, 2},
		{"a registry reference without registry:", func(t *testing.T) (string, []string) {
			return "localhost:5000/app:1", []string{"localhost:5000/app:1", "registry:localhost:5000/app:1"}
		}, nil, 2},
		{"a missing tar is not taken for a reference", func(t *testing.T) (string, []string) {
			return "build/out.tar", []string{"build/out.tar: no such file"}
		}, nil, 2},
		{"a tag the layout lacks", func(t *testing.T) (string, []string) {
			dir, _ := writeFixture(t, spec)
			return "oci-layout:" + dir + ":nope", []string{dir + ":nope", "lists no nope"}
		}, nil, 1},
		{"not a tar", func(t *testing.T) (string, []string) {
			p := filepath.Join(t.TempDir(), "x.tar")
			os.WriteFile(p, bytes.Repeat([]byte("not a tar "), 100), 0o644)
			return "oci-archive:" + p, []string{p}
		}, nil, 1},
		{"gzip-compressed archive", func(t *testing.T) (string, []string) {
			return compressedArchive(t, spec, "gzip"), []string{"a gzip-compressed archive: decompress it first (gunzip)"}
		}, nil, 1},
		{"zstd-compressed archive", func(t *testing.T) (string, []string) {
			return compressedArchive(t, spec, "zstd"), []string{"a zstd-compressed archive: decompress it first (zstd -d)"}
		}, nil, 1},
		{"truncated tar", func(t *testing.T) (string, []string) {
			dir, _ := writeFixture(t, spec)
			p := filepath.Join(t.TempDir(), "x.tar")
			if err := fixture.WriteArchive(dir, p); err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(p)
			os.Truncate(p, fi.Size()/2)
			return "oci-archive:" + p, []string{p, "truncated"}
		}, nil, 1},
		{"missing blob", func(t *testing.T) (string, []string) {
			dir, res := writeFixture(t, spec)
			os.Remove(layerOf(t, dir, res))
			return "oci-layout:" + dir, []string{dir, "blob not found"}
		}, nil, 1},
		{"digest mismatch", func(t *testing.T) (string, []string) {
			dir, res := writeFixture(t, spec)
			p := layerOf(t, dir, res)
			b, _ := os.ReadFile(p)
			b[len(b)-12] ^= 0x55
			os.WriteFile(p, b, 0o644)
			return "oci-layout:" + dir, []string{dir, "does not match its digest"}
		}, nil, 1},
		{"digest mismatch in an archive", func(t *testing.T) (string, []string) {
			dir, res := writeFixture(t, spec)
			p := layerOf(t, dir, res)
			b, _ := os.ReadFile(p)
			b[20] ^= 0x55
			os.WriteFile(p, b, 0o644)
			tarPath := filepath.Join(t.TempDir(), "x.tar")
			if err := fixture.WriteArchive(dir, tarPath); err != nil {
				t.Fatal(err)
			}
			return "oci-archive:" + tarPath, []string{tarPath, "does not match its digest"}
		}, nil, 1},
		{"a file as oci-layout:", func(t *testing.T) (string, []string) {
			p := filepath.Join(t.TempDir(), "x.tar")
			os.WriteFile(p, nil, 0o644)
			return "oci-layout:" + p, []string{p, "not a directory (use oci-archive: for a tar)"}
		}, nil, 2},
		{"a directory as oci-archive:", func(t *testing.T) (string, []string) {
			d := t.TempDir()
			return "oci-archive:" + d, []string{d, "is a directory (use oci-layout: for a directory)"}
		}, nil, 2},
		{"an empty SOURCE", func(t *testing.T) (string, []string) {
			return "", []string{"empty source"}
		}, nil, 2},
		{"unknown platform", func(t *testing.T) (string, []string) {
			dir, _ := writeFixture(t, spec)
			return "oci-layout:" + dir, []string{dir, "linux/riscv64 not found", "linux/amd64"}
		}, []string{"--platform", "linux/riscv64"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, msg := tt.setup(t)
			code, out, stderr := runAffix(t, append(append([]string{"sbom"}, tt.args...), src)...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if len(out) != 0 {
				t.Errorf("wrote %d bytes to stdout", len(out))
			}
			if !strings.HasPrefix(stderr, "affix: error: ") {
				t.Errorf("stderr %q", stderr)
			}
			for _, m := range msg {
				if !strings.Contains(stderr, m) {
					t.Errorf("stderr does not mention %q:\n%s", m, stderr)
				}
			}
		})
	}
}

// compressedArchive writes spec as an oci-archive compressed with
// format (gzip or zstd) and returns its SOURCE.
func compressedArchive(t *testing.T, spec fixture.Spec, format string) string {
	t.Helper()
	dir, _ := writeFixture(t, spec)
	tarPath := filepath.Join(t.TempDir(), "x.tar")
	if err := fixture.WriteArchive(dir, tarPath); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var w io.WriteCloser
	switch format {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "zstd":
		if w, err = zstd.NewWriter(&buf); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := tarPath + "." + format
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return "oci-archive:" + p
}

// Environment of the re-executed test binary in TestSbomOffline.
const (
	offlineChildEnv = "AFFIX_TEST_SBOM_OFFLINE_CHILD"
	offlineSrcEnv   = "AFFIX_TEST_SBOM_OFFLINE_SRC"
	offlineOutEnv   = "AFFIX_TEST_SBOM_OFFLINE_OUT"
)

// TestSbomOffline scans the standard fixture (Go binary, npm, Python, deb
// and apk packages) in a network namespace without network: the test
// binary re-executes itself under `unshare -n`.
func TestSbomOffline(t *testing.T) {
	if os.Getenv(offlineChildEnv) == "1" {
		offlineChild(t)
		return
	}
	integration := os.Getenv("AFFIX_INTEGRATION") == "1"
	skip := func(format string, args ...any) {
		t.Helper()
		if integration {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		skip("unshare not found: %v", err)
	}
	// -n needs CAP_SYS_ADMIN; without it, a user namespace (-r) may do.
	var flags []string
	for _, f := range [][]string{{"-n"}, {"-r", "-n"}} {
		if err := exec.Command(unshare, append(f, "true")...).Run(); err == nil {
			flags = f
			break
		}
	}
	if flags == nil {
		out, err := exec.Command(unshare, "-n", "true").CombinedOutput()
		skip("unshare -n is not permitted here: %v: %s", err, out)
	}
	sbomEnv(t)
	dir, res := standardFixture(t)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, append(flags, os.Args[0], "-test.run=^TestSbomOffline$", "-test.v")...)
	cmd.Env = append(os.Environ(), offlineChildEnv+"=1", offlineSrcEnv+"=oci-layout:"+dir, offlineOutEnv+"="+out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("offline scan failed: %v\n%s", err, b)
	}
	if !bytes.Contains(b, []byte("--- PASS: TestSbomOffline")) {
		t.Fatalf("child did not run the scan:\n%s", b)
	}
	for i, stem := range []string{"linux-amd64", "linux-arm64"} {
		doc, err := os.ReadFile(filepath.Join(out, stem+".spdx.json"))
		if err != nil {
			t.Fatal(err)
		}
		if got := described(t, sbomgen.SPDXJSON, doc); got != res.Manifests[i].Digest {
			t.Errorf("%s describes %s", stem, got)
		}
		for _, p := range fixture.Expected("linux/" + strings.TrimPrefix(stem, "linux-")) {
			if !bytes.Contains(doc, []byte(fmt.Sprintf(`"name":%q`, p.Name))) {
				t.Errorf("%s: %s missing", stem, p.Name)
			}
		}
	}
}

// offlineChild runs in the network namespace.
func offlineChild(t *testing.T) {
	if c, err := net.DialTimeout("tcp", "1.1.1.1:443", 2*time.Second); err == nil {
		c.Close()
		t.Fatal("the network is reachable inside `unshare -n`")
	}
	code, _, stderr := runAffix(t, "sbom", "--no-cache", "--all-platforms", "--format", "spdx-json", "-o", os.Getenv(offlineOutEnv), os.Getenv(offlineSrcEnv))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	t.Log(stderr)
}

func TestSbomNameFromLayout(t *testing.T) {
	sbomEnv(t)
	tests := []struct {
		refName, want string
	}{
		{"", "image"}, // fixture default "latest": only a tag
		{"v1.2", "image"},
		{"example.com/app:2", "example.com/app"},
	}
	for _, tt := range tests {
		t.Run(tt.refName, func(t *testing.T) {
			spec := fixture.Variants()
			spec.Images = spec.Images[:1]
			spec.RefName = tt.refName
			dir, res := writeFixture(t, spec)
			code, out, stderr := runAffix(t, "sbom", dir)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var doc struct{ Name string }
			json.Unmarshal(out, &doc)
			if want := tt.want + "@" + res.Manifests[0].Digest.String(); doc.Name != want {
				t.Errorf("document name %q, want %q", doc.Name, want)
			}
			// The platform manifest named by digest in the source: the name
			// still comes from the index.json entry that holds it.
			_, same, stderr := runAffix(t, "sbom", "oci-layout:"+dir+"@"+res.Manifests[0].Digest.String())
			if !bytes.Equal(out, same) {
				t.Errorf("sbom PATH@<platform digest> differs from sbom PATH: %s", stderr)
			}
		})
	}
}

// TestSbomFromRegistry: affix sbom registry:REF streams the image from the
// registry and writes the same document as a scan of the layout it was
// pushed from (and, named after REF by default, the SBOM affix push
// attached); bad references and unreachable or plain-HTTP registries fail
// naming them.
func TestSbomFromRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs a registry")
	}
	cliEnv(t)
	dir, reg, ref := pushedVariants(t, registrytest.OlaregNoAPI, "app")

	fromLayout := mustAffix(t, "sbom", "--no-cache", "--platform", "linux/arm64", "--name", "example.com/app:1", "oci-layout:"+dir)
	fromRegistry := mustAffix(t, "sbom", "--no-cache", "--insecure-registry", reg.Host, "--platform", "linux/arm64", "--name", "example.com/app:1", "registry:"+ref)
	if fromLayout != fromRegistry {
		t.Errorf("registry:%s and the layout it was pushed from give different documents", ref)
	}
	attached := mustAffix(t, "get", "--insecure-registry", reg.Host, "--platform", "linux/arm64", ref)
	if got := mustAffix(t, "sbom", "--insecure-registry", reg.Host, "--platform", "linux/arm64", "registry:"+ref); got != attached {
		t.Errorf("affix sbom registry:%s (named after REF) differs from the SBOM affix push attached", ref)
	}
	// Every platform, to a directory.
	// A plain-HTTP registry on this machine needs no flag.
	out := t.TempDir()
	mustAffix(t, "sbom", "--all-platforms", "-o", out, "registry:"+ref)
	if entries, _ := os.ReadDir(out); len(entries) != 2 {
		t.Errorf("--all-platforms wrote %d files, want 2", len(entries))
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"sbom", "registry:Bad Ref"}, 2, "Bad Ref"},
		{[]string{"sbom", "--insecure-registry", reg.Host, "--platform", "linux/arm64", "registry:" + reg.Ref("app") + ":missing"}, 1, "missing"},
		{[]string{"sbom", "--insecure-registry", reg.Host, "registry:" + ref}, 1, "--platform"},
	} {
		_, errs, code := affix(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("affix %s: exit %d, want %d with %q:\n%s", strings.Join(c.args, " "), code, c.code, c.want, errs)
		}
	}
}

// TestLooksLikeReference: the registry: hint is for HOST/REPOSITORY
// sources, not for paths.
func TestLooksLikeReference(t *testing.T) {
	for in, want := range map[string]bool{
		"localhost:5000/app:1": true,
		"localhost/app":        true,
		"registry.example/a/b@sha256:" + strings.Repeat("a", 64): true,
		"build/out.tar":               false,
		"./missing.tar":               false,
		"../layouts/app":              false,
		"out.tar":                     false,
		"alpine:3":                    false,
		"Registry.example/App:1":      false,
		"oci-layout:/missing":         false,
		"oci-archive:/x/y.tar":        false,
		"oci-layout:host.example/app": false,
	} {
		if got := looksLikeReference(in); got != want {
			t.Errorf("looksLikeReference(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestSbomPrintSummary(t *testing.T) {
	d := digest.FromString("m")
	tests := []struct {
		name string
		r    sbomgen.Result
		want string
	}{
		{"no packages", sbomgen.Result{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}},
			"linux/amd64      " + d.String()[:19] + "  0 packages (none)  scanned\n"},
		{"cached", sbomgen.Result{Platform: ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, Packages: map[string]int{"npm": 1, "apk": 3}, Cached: true},
			"linux/arm/v7     " + d.String()[:19] + "  4 packages (apk 3, npm 1)  cached\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.Manifest = ocispec.Descriptor{Digest: d}
			var b strings.Builder
			printSummary(&b, &tt.r)
			if b.String() != tt.want {
				t.Errorf("got  %q\nwant %q", b.String(), tt.want)
			}
		})
	}
}

// TestSbomRegistryLayerCorrupt: blobs a registry serves with the wrong
// bytes fail the scan with a digest mismatch, nothing written: the
// registry repository verifies what it serves (an oci.VerifyingFetcher),
// which is why the scan does not hash its layers a second time.
func TestSbomRegistryLayerCorrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	dir, reg, _ := pushedVariants(t, registrytest.OlaregAPI, "app", "--no-sbom")
	// A layer of the first platform image: the config and manifests are
	// served intact, so that the scan reaches the layer.
	ctx := t.Context()
	l, err := oci.OpenLayout(ctx, "oci-layout:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	images, err := oci.Walk(ctx, l, l.Roots()...)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if _, err := oci.ReadJSON(ctx, l, images[0].Descriptor, &m); err != nil {
		t.Fatal(err)
	}
	layer := m.Layers[0].Digest
	proxy := registrytest.StartProxy(t, reg.Host)
	proxy.Inject(registrytest.Fault{Method: "GET", Path: "/blobs/" + layer.String(), Action: registrytest.Corrupt})
	out := t.TempDir()
	stdout, errs, code := affix(t, "sbom", "--no-sbom-cache", "--insecure-registry", proxy.Host, "--all-platforms", "-o", out, "registry:"+proxy.Host+"/app:v1")
	if code != 1 || !strings.Contains(errs, "does not match its digest") || !strings.Contains(errs, layer.Encoded()) {
		t.Fatalf("exit %d, want 1 with a digest mismatch; stderr:\n%s\nstdout:\n%s", code, errs, stdout)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("%d files written after a failed scan", len(ents))
	}
}

// TestSbomAllPlatformsOneImage: --all-platforms -o names a directory
// whatever the image holds, one platform included, as affix get's does;
// without -o it is a usage error.
func TestSbomAllPlatformsOneImage(t *testing.T) {
	sbomEnv(t)
	pair := fixture.VariantsPair()
	dir, _ := writeFixture(t, fixture.Spec{Images: pair.Images[:1]})
	out := filepath.Join(t.TempDir(), "sboms")
	if code, _, stderr := runAffix(t, "sbom", "--all-platforms", "-o", out, "oci-layout:"+dir); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "linux-amd64.spdx.json")); err != nil {
		t.Errorf("--all-platforms -o %s on a single-platform image: %v", out, err)
	}
	if code, _, stderr := runAffix(t, "sbom", "--all-platforms", "oci-layout:"+dir); code != 2 || !strings.Contains(stderr, "-o DIR") {
		t.Errorf("--all-platforms without -o: exit %d: %s", code, stderr)
	}
}

// TestSbomNameFromLayoutOfSeveral: in a layout holding two images under
// their own names (skopeo's, oras's), the image --platform picks is named
// as the entry it was found under; scanning both takes no name.
func TestSbomNameFromLayoutOfSeveral(t *testing.T) {
	sbomEnv(t)
	pair := fixture.VariantsPair()
	var dirs [2]string
	var digests [2]digest.Digest
	for i, name := range []string{"example.com/a/app:1", "example.com/b/other:2"} {
		dirs[i], _ = writeFixture(t, fixture.Spec{Images: pair.Images[i : i+1], RefName: name})
		res, err := oci.OpenLayout(t.Context(), "oci-layout:"+dirs[i])
		if err != nil {
			t.Fatal(err)
		}
		images, err := oci.Walk(t.Context(), res, res.Roots()...)
		res.Close()
		if err != nil || len(images) != 1 {
			t.Fatalf("fixture %d: %v %v", i, images, err)
		}
		digests[i] = images[0].Descriptor.Digest
	}
	// dirs[0] gets dirs[1]'s blobs and index.json entries.
	blobs := filepath.Join(dirs[1], "blobs", "sha256")
	ents, err := os.ReadDir(blobs)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(blobs, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dirs[0], "blobs", "sha256", e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var idx0, idx1 ocispec.Index
	for i, idx := range []*ocispec.Index{&idx0, &idx1} {
		b, err := os.ReadFile(filepath.Join(dirs[i], "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, idx); err != nil {
			t.Fatal(err)
		}
	}
	idx0.Manifests = append(idx0.Manifests, idx1.Manifests...)
	b, _ := json.Marshal(idx0)
	if err := os.WriteFile(filepath.Join(dirs[0], "index.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct{ platform, want string }{
		{"linux/amd64", "example.com/a/app"},
		{"linux/arm64", "example.com/b/other"},
	} {
		code, out, stderr := runAffix(t, "sbom", "--platform", tt.platform, "oci-layout:"+dirs[0])
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tt.platform, code, stderr)
		}
		var doc struct{ Name string }
		json.Unmarshal(out, &doc)
		if want := tt.want + "@" + digests[i].String(); doc.Name != want {
			t.Errorf("%s: document name %q, want %q", tt.platform, doc.Name, want)
		}
	}
	out := t.TempDir()
	if code, _, stderr := runAffix(t, "sbom", "--all-platforms", "-o", out, "oci-layout:"+dirs[0]); code != 0 {
		t.Fatalf("--all-platforms: exit %d: %s", code, stderr)
	}
	b, err = os.ReadFile(filepath.Join(out, "linux-amd64.spdx.json"))
	var doc struct{ Name string }
	if err != nil || json.Unmarshal(b, &doc) != nil || !strings.HasPrefix(doc.Name, "image@") {
		t.Errorf("--all-platforms over two names: document name %q (%v), want image@...", doc.Name, err)
	}
}

func TestEntriesName(t *testing.T) {
	d, other := digest.FromString("a"), digest.FromString("b")
	entry := func(dg digest.Digest, name string) ocispec.Descriptor {
		e := ocispec.Descriptor{Digest: dg, Annotations: map[string]string{}}
		if name != "" {
			e.Annotations[oci.AnnotationImageName] = name
		}
		return e
	}
	for _, tt := range []struct {
		name    string
		entries []ocispec.Descriptor
		want    string
	}{
		{"one name", []ocispec.Descriptor{entry(d, "a.io/x:1")}, "a.io/x:1"},
		{"two tags of one repository", []ocispec.Descriptor{entry(d, "a.io/x:1"), entry(d, "a.io/x:latest")}, "a.io/x:1"},
		{"two repositories", []ocispec.Descriptor{entry(d, "a.io/x:1"), entry(d, "b.io/y:1")}, ""},
		{"an unnamed entry beside a named one", []ocispec.Descriptor{entry(d, ""), entry(d, "a.io/x:1")}, "a.io/x:1"},
		{"another digest's name", []ocispec.Descriptor{entry(other, "b.io/y:1"), entry(d, "a.io/x:1")}, "a.io/x:1"},
		{"none", []ocispec.Descriptor{entry(d, "")}, ""},
	} {
		if got := entriesName(tt.entries, d); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestSplitBare: a bare source read as PATH:TAG or PATH@DIGEST (the whole
// does not exist) gets the registry: hint when it fails to open.
func TestSplitBare(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("alpine", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir("a:b", 0o755); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]bool{
		"alpine:3.20":       true,
		"missing:1":         true,
		"alpine":            false,
		"a:b":               false, // exists as a whole
		"oci-layout:alpine": false,
		"oci-layout:x:1":    false,
	} {
		if got := splitBare(in); got != want {
			t.Errorf("splitBare(%q) = %v, want %v", in, got, want)
		}
	}
	_, errs, code := affix(t, "sbom", "alpine:3.20")
	if code != 1 || !strings.Contains(errs, "(an image in a registry is registry:alpine:3.20)") {
		t.Errorf("sbom alpine:3.20 beside a directory alpine: exit %d\n%s", code, errs)
	}
}
