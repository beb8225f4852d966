package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/epoch"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// buildAffix builds the affix binary into a temporary directory.
func buildAffix(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "affix")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/affix")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestConcurrentAttachProcesses runs 8 `affix attach` processes attaching
// 8 different artifacts to one subject at the same time, on registries
// without the referrers API (distribution ignores If-Match): every entry
// must be in the referrers index at the end. Two rounds, 16 entries.
func TestConcurrentAttachProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the affix binary and runs registries")
	}
	cliEnv(t)
	bin := buildAffix(t)
	spec := fixture.Variants()
	spec.Images = spec.Images[:2]
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []registrytest.Kind{registrytest.Distribution, registrytest.OlaregNoAPI, registrytest.DistributionV3} {
		t.Run(string(kind), func(t *testing.T) {
			var reg *registrytest.Registry
			if kind == registrytest.DistributionV3 {
				r, err := registrytest.Launch(context.Background(), kind, registrytest.Options{})
				if err != nil {
					t.Skip(err)
				}
				t.Cleanup(func() { r.Close() })
				reg = r
			} else {
				reg = registrytest.Start(t, kind, registrytest.Options{})
			}
			ref := reg.Host + "/app:v1"
			if _, errs, code := affix(t, "push", "--no-sbom", "--insecure-registry", reg.Host, "oci-layout:"+dir, ref); code != 0 {
				t.Fatalf("push: %s", errs)
			}
			files := t.TempDir()
			const procs = 8
			digests := map[string]bool{}
			for round := range 2 {
				var wg sync.WaitGroup
				outs := make([]string, procs)
				errs := make([]error, procs)
				for i := range procs {
					f := filepath.Join(files, fmt.Sprintf("artifact-%d-%d.txt", round, i))
					os.WriteFile(f, fmt.Appendf(nil, "artifact %d of round %d", i, round), 0o644)
					wg.Add(1)
					go func() {
						defer wg.Done()
						cmd := exec.Command(bin, "attach", "--insecure-registry", reg.Host, "--platform", "linux/amd64",
							"--artifact-type", "application/vnd.affix.test+txt", ref, f)
						var stdout, stderr bytes.Buffer
						cmd.Stdout, cmd.Stderr = &stdout, &stderr
						if err := cmd.Run(); err != nil {
							errs[i] = fmt.Errorf("%v: %s", err, stderr.String())
						}
						outs[i] = strings.TrimSpace(stdout.String())
					}()
				}
				wg.Wait()
				for i := range procs {
					if errs[i] != nil {
						t.Fatalf("round %d process %d: %v", round, i, errs[i])
					}
					digests[outs[i]] = true
				}
			}
			c := exporter.NewClient(nil, nil)
			tgt, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: "app"}, exporter.RemoteOptions{Client: c, PlainHTTP: true})
			if err != nil {
				t.Fatal(err)
			}
			idx, err := exporter.ReadReferrersIndex(context.Background(), tgt, res.Manifests[0].Digest)
			if err != nil {
				t.Fatal(err)
			}
			listed := map[string]bool{}
			for _, m := range idx.Manifests {
				listed[m.Digest.String()] = true
			}
			for d := range digests {
				if !listed[d] {
					t.Errorf("referrer %s lost", d)
				}
			}
			if len(idx.Manifests) != 2*procs || len(digests) != 2*procs {
				t.Errorf("referrers index lists %d entries, processes printed %d digests; want %d", len(idx.Manifests), len(digests), 2*procs)
			}
		})
	}
}

// TestBadInput: clear errors, non-zero exits, nothing tagged.
func TestBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	spec := fixture.Variants()
	spec.Images = spec.Images[:2]
	dir := t.TempDir()
	if _, err := fixture.WriteLayout(dir, spec); err != nil {
		t.Fatal(err)
	}
	unreachable := registrytest.ClosedHost(t)
	authReg := registrytest.Start(t, registrytest.Distribution, registrytest.Options{Auth: true})
	plain := registrytest.Start(t, registrytest.Distribution, registrytest.Options{})
	proxy := registrytest.StartProxy(t, plain.Host)
	proxy.Inject(registrytest.Fault{Action: registrytest.RejectSubject})

	wrongCreds := t.TempDir()
	if _, err := authReg.DockerConfig(wrongCreds, authReg.Username, "wrong"); err != nil {
		t.Fatal(err)
	}
	rightCreds := t.TempDir()
	if _, err := authReg.DockerConfig(rightCreds, authReg.Username, authReg.Password); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      string // DOCKER_CONFIG
		args     []string
		code     int
		contains string
		tagHost  string // registry whose app:v1 must not exist afterwards
	}{
		{"invalid reference", "", []string{"push", "oci-layout:" + dir, "not a ref"}, 2, "want [HOST/]REPOSITORY", ""},
		{"digest as push target", "", []string{"push", "oci-layout:" + dir, plain.Host + "/app@sha256:" + strings.Repeat("0", 64)}, 2, "push writes a tag", ""},
		{"layout as convert reference", "", []string{"convert", "oci-layout:" + dir}, 2, "not a local layout", ""},
		{"missing source", "", []string{"push", "--insecure-registry", plain.Host, "oci-layout:" + filepath.Join(dir, "nope"), plain.Host + "/app:v1"}, 2, "no such file", plain.Host},
		{"unreachable registry", "", []string{"push", "--insecure-registry", unreachable, "--no-sbom", "oci-layout:" + dir, unreachable + "/app:v1"}, 1, unreachable, ""},
		{"no credentials", "", []string{"push", "--no-sbom", "--insecure-registry", authReg.Host, "oci-layout:" + dir, authReg.Host + "/app:v1"}, 1, "no credentials for " + authReg.Host, ""},
		{"wrong credentials", wrongCreds, []string{"push", "--no-sbom", "--insecure-registry", authReg.Host, "oci-layout:" + dir, authReg.Host + "/app:v1"}, 1, "the registry refused the request: check the credentials for " + authReg.Host, ""},
		{"registry rejects subject", "", []string{"push", "--insecure-registry", proxy.Host, "oci-layout:" + dir, proxy.Host + "/app:v1"}, 1, "rejected a manifest with a subject", plain.Host},
		{"attach without type", "", []string{"attach", plain.Host + "/app:v1", "file"}, 2, "--artifact-type", ""},
		{"get unknown format", "", []string{"get", "--format", "xml", plain.Host + "/app:v1"}, 2, "xml", ""},
		{"push metadata file nowhere", "", []string{"push", "--insecure-registry", plain.Host, "--metadata-file", filepath.Join(dir, "no", "m.json"), "oci-layout:" + dir, plain.Host + "/app:v1"}, 2, "--metadata-file " + filepath.Join(dir, "no", "m.json") + ": the directory " + filepath.Join(dir, "no") + " does not exist", plain.Host},
		{"attach metadata file is a directory", "", []string{"attach", "--insecure-registry", plain.Host, "--metadata-file", dir, plain.Host + "/app:v1"}, 2, "is a directory", ""},
		{"convert metadata file nowhere", "", []string{"convert", "--insecure-registry", plain.Host, "--metadata-file", filepath.Join(dir, "no", "m.json"), plain.Host + "/app:v1"}, 2, "the directory " + filepath.Join(dir, "no") + " does not exist", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("DOCKER_CONFIG", tt.env)
			}
			out, errs, code := affix(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.contains) {
				t.Fatalf("exit %d, want %d; stderr %q does not contain %q (stdout %q)", code, tt.code, errs, tt.contains, out)
			}
			if tt.tagHost != "" {
				c := exporter.NewClient(nil, nil)
				tgt, _ := exporter.NewRemote(registry.Reference{Registry: tt.tagHost, Repository: "app"}, exporter.RemoteOptions{Client: c, PlainHTTP: true})
				if _, _, _, err := tgt.FetchManifest(context.Background(), "v1"); err == nil {
					t.Errorf("%s/app:v1 exists after a failed push", tt.tagHost)
				}
			}
		})
	}
	// The refused pushes tagged nothing (read with the right
	// credentials), and the right credentials work.
	t.Setenv("DOCKER_CONFIG", rightCreds)
	if _, errs, code := affix(t, "ls", "--insecure-registry", authReg.Host, authReg.Host+"/app:v1"); code != 1 || !strings.Contains(errs, "not found") {
		t.Fatalf("ls of %s/app:v1 after refused pushes: exit %d, want 1 and not found\n%s", authReg.Host, code, errs)
	}
	if _, errs, code := affix(t, "push", "--no-sbom", "--insecure-registry", authReg.Host, "oci-layout:"+dir, authReg.Host+"/app:v1"); code != 0 {
		t.Fatalf("push with credentials: %s", errs)
	}
}

// TestAttachSBOMToIndex: an SBOM attached to an index is refused (a
// consumer reading the tag's SBOM would take it for the image's; SBOMs
// belong to platform manifests), before anything is uploaded; the same
// document is taken on a platform manifest, and other artifacts on the
// index.
func TestAttachSBOMToIndex(t *testing.T) {
	cliEnv(t)
	_, reg, ref := pushedVariants(t, registrytest.OlaregAPI, "app", "--no-sbom")
	insecure := []string{"--insecure-registry", reg.Host}
	doc := writeFile(t, "app.spdx.json", []byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[{"SPDXID":"SPDXRef-a","name":"a"}]}`))
	for _, tt := range []struct {
		name, artifactType, platform string
		code                         int
		msg                          string
	}{
		{"SPDX on the index", oci.MediaTypeSPDX, "", 2, "attach SBOMs to platform manifests"},
		{"CycloneDX on the index", oci.MediaTypeCycloneDX, "", 2, "attach SBOMs to platform manifests"},
		{"SPDX on a platform", oci.MediaTypeSPDX, "linux/amd64", 0, ""},
		{"another artifact on the index", "application/vnd.example+json", "", 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := slices.Concat([]string{"attach"}, insecure, []string{"--artifact-type", tt.artifactType})
			if tt.platform != "" {
				args = append(args, "--platform", tt.platform)
			}
			out, errs, code := affix(t, append(args, ref, doc)...)
			if code != tt.code || !strings.Contains(errs, tt.msg) {
				t.Fatalf("exit %d, want %d; stderr %q does not contain %q", code, tt.code, errs, tt.msg)
			}
			if code != 0 && out != "" {
				t.Errorf("a refused attach printed %q", out)
			}
		})
	}
	// Only the other artifact is a referrer of the index.
	tgt, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: "app"}, exporter.RemoteOptions{Client: exporter.NewClient(nil, nil), PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	root, _, _, err := tgt.FetchManifest(context.Background(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	refs, _, err := exporter.NewFinder(tgt).Referrers(context.Background(), root.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].ArtifactType != "application/vnd.example+json" {
		t.Errorf("the index's referrers: %v, want only the application/vnd.example+json artifact", refs)
	}
}

// TestAttachUsageErrors: wrong input to attach (and get's and version's
// arguments) is a usage error, exit 2, found before any request: the
// registry named does not exist, so a request would fail with exit 1.
func TestAttachUsageErrors(t *testing.T) {
	cliEnv(t)
	ref := registrytest.ClosedHost(t) + "/app:v1"
	insecure := []string{"--insecure-registry", strings.Split(ref, "/")[0]}
	doc := writeFile(t, "a.spdx.json", []byte(`{"spdxVersion":"SPDX-2.3"}`))
	other := writeFile(t, "b.txt", []byte("b"))
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink("loop", loop); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string // after the command's registry flags
		msg  string
	}{
		{"SPDX with two files", []string{"attach", "--artifact-type", oci.MediaTypeSPDX, ref, doc, other},
			"an SBOM referrer (application/spdx+json) has exactly one layer, of media type application/spdx+json; got 2 layers"},
		{"CycloneDX with two files", []string{"attach", "--artifact-type", oci.MediaTypeCycloneDX, ref, doc, other},
			"an SBOM referrer (application/vnd.cyclonedx+json) has exactly one layer"},
		{"SPDX with another layer type", []string{"attach", "--artifact-type", oci.MediaTypeSPDX, ref, doc + ":application/json"},
			"has exactly one layer, of media type application/spdx+json; got application/json"},
		{"artifact type with a space", []string{"attach", "--artifact-type", "bad type/with space", ref, doc}, `"bad type/with space" is not a media type`},
		{"artifact type without a slash", []string{"attach", "--artifact-type", "notatype", ref, doc}, `"notatype" is not a media type`},
		{"layer type not a media type", []string{"attach", "--artifact-type", "application/vnd.example", ref, doc + ":text/a b"}, `"text/a b" is not a media type`},
		{"created not RFC 3339", []string{"attach", "--artifact-type", "application/vnd.example", "--annotation", ocispec.AnnotationCreated + "=yesterday", ref, doc},
			`org.opencontainers.image.created="yesterday" is not an RFC 3339 date-time`},
		{"FILE is a directory", []string{"attach", "--artifact-type", "application/vnd.example", ref, dir}, dir + " is a directory: attach takes files"},
		{"FILE is missing", []string{"attach", "--artifact-type", "application/vnd.example", ref, missing}, fmt.Sprintf("FILE %q: no such file or directory", missing)},
		{"FILE is a symbolic link loop", []string{"attach", "--artifact-type", "application/vnd.example", ref, loop}, fmt.Sprintf("FILE %q: too many levels of symbolic links", loop)},
		{"FILE is empty", []string{"attach", "--artifact-type", "application/vnd.example", ref, ""}, `FILE "": no such file or directory`},
		{"two FILEs of one name", []string{"attach", "--artifact-type", "application/vnd.example", ref, doc, filepath.Join(dir, filepath.Base(doc))},
			fmt.Sprintf("FILE %q and FILE %q have the same name %q", doc, filepath.Join(dir, filepath.Base(doc)), filepath.Base(doc))},
		{"two FILEs of names differing in case", []string{"attach", "--artifact-type", "application/vnd.example", ref, doc, filepath.Join(dir, "A.spdx.json")},
			`have names that differ only in case, "a.spdx.json" and "A.spdx.json"`},
		{"REF and FILE swapped", []string{"attach", "--artifact-type", "application/vnd.example", doc, ref},
			fmt.Sprintf("reference %q is a file and FILE %q a reference: REF comes first", doc, ref)},
		{"attach files, bad platform", []string{"attach", "--platform", "bogus///", "--artifact-type", "application/vnd.example", ref, doc}, `--platform: platform "bogus///"`},
		{"attach scan, bad platform", []string{"attach", "--platform", "bogus///", ref}, `--platform: platform "bogus///"`},
		{"attach files, --sbom-format", []string{"attach", "--sbom-format", "cyclonedx-json", "--artifact-type", "application/vnd.example", ref, doc}, "--sbom-format applies when attach scans REF"},
		{"attach files, --no-cache", []string{"attach", "--no-cache", "--artifact-type", "application/vnd.example", ref, doc}, "--no-cache applies when attach scans REF"},
		{"attach scan, --annotation", []string{"attach", "--annotation", "k=v", ref}, "--annotation applies to FILEs"},
		{"get, bad platform", []string{"get", "--platform", "bogus///", ref}, `--platform: platform "bogus///"`},
		{"version with an argument", []string{"version", "extra"}, "version takes no arguments, got 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if args[0] != "version" {
				args = slices.Concat(args[:1], insecure, args[1:])
			}
			out, errs, code := affix(t, args...)
			if code != 2 || !strings.Contains(errs, tt.msg) || out != "" {
				t.Fatalf("exit %d, want 2; stderr %q does not contain %q (stdout %q)", code, errs, tt.msg, out)
			}
		})
	}
}

// TestAttachPlatformSingleManifest: --platform on an image that is a
// single manifest attaches to it when its config's platform matches, and
// says why not when it does not.
func TestAttachPlatformSingleManifest(t *testing.T) {
	cliEnv(t)
	_, reg, ref := pushedVariants(t, registrytest.OlaregNoAPI, "app", "--no-sbom")
	insecure := []string{"--insecure-registry", reg.Host}
	tgt, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: "app"}, exporter.RemoteOptions{Client: exporter.NewClient(nil, nil), PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	root, _, _, err := tgt.FetchManifest(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	images, err := oci.Walk(ctx, tgt, root)
	if err != nil {
		t.Fatal(err)
	}
	amd, err := oci.Select(images, oci.Selector{Platform: "linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	single := reg.Ref("app") + "@" + amd[0].Descriptor.Digest.String()
	file := writeFile(t, "vex.json", []byte(`{"vex":1}`))
	for _, tt := range []struct {
		name, ref, platform string
		code                int
		msg                 string
	}{
		{"matching platform", single, "linux/amd64", 0, ""},
		{"other platform", single, "linux/arm64", 1, "--platform linux/arm64: " + amd[0].Descriptor.Digest.String() + " is a single-platform image of linux/amd64"},
		{"index, unknown platform", ref, "linux/s390x", 1, "platform linux/s390x not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := affix(t, slices.Concat([]string{"attach"}, insecure,
				[]string{"--platform", tt.platform, "--artifact-type", "application/vnd.example.vex+json", tt.ref, file})...)
			if code != tt.code || !strings.Contains(errs, tt.msg) {
				t.Fatalf("exit %d, want %d; stderr %q does not contain %q", code, tt.code, errs, tt.msg)
			}
			if code != 0 {
				return
			}
			refs, _, err := exporter.NewFinder(tgt).Referrers(ctx, amd[0].Descriptor.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if len(refs) != 1 || refs[0].Digest.String() != strings.TrimSpace(out) {
				t.Errorf("referrers of %s: %v; attach printed %q", amd[0].Descriptor.Digest, refs, out)
			}
		})
	}
}

// TestCreationTime: the created annotation of an attached artifact comes
// from SOURCE_DATE_EPOCH when set, parsed by epoch.Parse as affix sbom,
// push, build and the scanner parse it (nothing trimmed, no sign), else
// from the clock.
func TestCreationTime(t *testing.T) {
	for _, tt := range []struct {
		env, want string
		err       error
		msg       string
	}{
		{env: "1700000000", want: "2023-11-14T22:13:20Z"},
		{env: "0", want: "1970-01-01T00:00:00Z"},
		{env: "253402300799", want: "9999-12-31T23:59:59Z"},
		{env: "253402300800", err: epoch.ErrTooLate, msg: `SOURCE_DATE_EPOCH="253402300800": want at most 253402300799`},
		{env: "-1", err: epoch.ErrNegative},
		{env: "yesterday", err: epoch.ErrInvalid, msg: `SOURCE_DATE_EPOCH="yesterday": `},
		{env: " 0 ", err: epoch.ErrInvalid, msg: `SOURCE_DATE_EPOCH=" 0 ": `},
		{env: " ", err: epoch.ErrInvalid},
		{env: "+1700000000", err: epoch.ErrInvalid},
	} {
		t.Setenv("SOURCE_DATE_EPOCH", tt.env)
		got, err := creationTime()
		if tt.err != nil {
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("%q: %v, want %v saying %q", tt.env, err, tt.err, tt.msg)
			}
			continue
		}
		if err != nil || got.Format(time.RFC3339) != tt.want {
			t.Errorf("%q: %v, %v; want %s", tt.env, got, err, tt.want)
		}
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")
	before := time.Now().UTC().Truncate(time.Second)
	if got, err := creationTime(); err != nil || got.Before(before) || got.Location() != time.UTC || got.Nanosecond() != 0 {
		t.Errorf("unset: %v, %v; want now, UTC, in seconds", got, err)
	}
}

// TestAttachAfterReferrerDeleted: on a registry without the referrers
// API that refuses an index listing a manifest it lacks (distribution),
// an SBOM manifest deleted by digest (curl -X DELETE) left its referrers
// tag unwritable. An attach to that platform now drops the deleted
// entry, says so on stderr, naming it, and succeeds.
func TestAttachAfterReferrerDeleted(t *testing.T) {
	cliEnv(t)
	ctx := context.Background()
	_, reg, ref := pushedVariants(t, registrytest.Distribution, "app")
	tgt, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: "app"}, exporter.RemoteOptions{Client: exporter.NewClient(nil, nil), PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	_, b, _, err := tgt.FetchManifest(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	m := idx.Manifests[0]
	refs, err := exporter.ReadReferrersIndex(ctx, tgt, m.Digest)
	if err != nil || len(refs.Manifests) != 1 {
		t.Fatalf("referrers of %s: %v, %v", m.Digest, refs.Manifests, err)
	}
	sbom := refs.Manifests[0].Digest
	req, _ := http.NewRequest(http.MethodDelete, "http://"+reg.Host+"/v2/app/manifests/"+sbom.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE %s: %s", sbom, resp.Status)
	}
	doc := writeFile(t, "notes.txt", []byte("notes"))
	_, errs, code := affix(t, "attach", "--insecure-registry", reg.Host, "--platform", oci.FormatPlatform(*m.Platform),
		"--artifact-type", "application/vnd.example.notes", ref, doc)
	if code != 0 {
		t.Fatalf("attach after deleting %s: exit %d\n%s", sbom, code, errs)
	}
	want := "affix: warning: " + reg.Host + "/app: referrer " + sbom.String() + " of " + m.Digest.String() + " is gone from the registry (deleted): dropped it from the referrers tag " + exporter.ReferrersTag(m.Digest)
	if !strings.Contains(errs, want) {
		t.Errorf("stderr %q\ndoes not say %q", errs, want)
	}
	refs, err = exporter.ReadReferrersIndex(ctx, tgt, m.Digest)
	if err != nil || len(refs.Manifests) != 1 || refs.Manifests[0].ArtifactType != "application/vnd.example.notes" {
		t.Errorf("referrers of %s: %v, %v; want only the notes", m.Digest, refs.Manifests, err)
	}
}
