package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/internal/sbomtest"
)

// TestLsReferrersTagConflict: a referrers tag that holds no referrers
// index (the manifest itself, as some registries resolve it, or another
// manifest) is a warning naming the reference, the platform and the tag,
// and an "error" on that --json node; the rest of the tree is shown and
// ls exits 0.
func TestLsReferrersTagConflict(t *testing.T) {
	cliEnv(t)
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	dir, res := variantsPair(t)
	amd, arm := res.Manifests[0].Digest, res.Manifests[1].Digest
	insecure := []string{"--insecure-registry", reg.Host}
	for _, tt := range []struct {
		name string
		// tagged is the manifest whose referrers tag is overwritten, held
		// what it is made to hold ("index" stands for the image's index).
		tagged, held string
		node         string // the node that warns: a platform or "index"
		msg          string
	}{
		{"platform tag holds the platform manifest", "amd", "amd", "linux/amd64", "resolves to the subject " + amd.String() + " itself"},
		{"platform tag holds another manifest", "amd", "arm", "linux/amd64", "is " + ocispec.MediaTypeImageManifest + " (" + arm.String() + "), not an image index"},
		{"index tag holds the index", "index", "index", "index", "itself"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			repo := strings.ReplaceAll(tt.name, " ", "-")
			ref := reg.Ref(repo) + ":v1"
			mustAffix(t, slices.Concat([]string{"push", "--no-sbom"}, insecure, []string{"oci-layout:" + dir, ref})...)
			sig := strings.TrimSpace(mustAffix(t, slices.Concat([]string{"attach"}, insecure, []string{"--platform", "linux/arm64",
				"--artifact-type", "application/vnd.example.sig+json", ref, writeFile(t, "sig.json", []byte(`{"sig":1}`))})...))
			tgt, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: repo}, exporter.RemoteOptions{Client: exporter.NewClient(nil, nil), PlainHTTP: true})
			if err != nil {
				t.Fatal(err)
			}
			index, _, _, err := tgt.FetchManifest(ctx, "v1")
			if err != nil {
				t.Fatal(err)
			}
			named := map[string]digest.Digest{"amd": amd, "arm": arm, "index": index.Digest}
			d, b, _, err := tgt.FetchManifest(ctx, named[tt.held].String())
			if err != nil {
				t.Fatal(err)
			}
			tag := exporter.ReferrersTag(named[tt.tagged])
			if _, err := tgt.PushManifest(ctx, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}, b, tag, ""); err != nil {
				t.Fatal(err)
			}

			out, errs, code := affix(t, slices.Concat([]string{"ls"}, insecure, []string{ref})...)
			t.Logf("stdout:\n%s\nstderr:\n%s", out, errs)
			warning := "affix: warning: " + ref + " (" + tt.node + " " + named[tt.tagged].String() + "): referrers not shown: referrers tag does not hold a referrers index: " + tag + " "
			if code != 0 || !strings.Contains(errs, warning) || !strings.Contains(errs, tt.msg) || strings.Contains(errs, "overwrit") {
				t.Fatalf("exit %d, want 0; stderr %q, want %q ... %q", code, errs, warning, tt.msg)
			}
			if !strings.Contains(out, "application/vnd.example.sig+json  "+sig) || !strings.Contains(out, "(referrers not shown: see the warning)") {
				t.Errorf("tree lacks the arm64 signature or the mark:\n%s", out)
			}

			out, _, code = affix(t, slices.Concat([]string{"ls", "--json"}, insecure, []string{ref})...)
			var tree discover.Tree
			if err := json.Unmarshal([]byte(out), &tree); err != nil || code != 0 {
				t.Fatalf("exit %d: %v\n%s", code, err, out)
			}
			nodes := append([]*discover.Node{tree.Root}, tree.Root.Children...)
			var sigs int
			for _, n := range nodes {
				want := n.Digest == named[tt.tagged] && (n.Kind == "index" || n.Kind == "manifest")
				if (n.Error != "") != want || want && !strings.Contains(n.Error, tag) {
					t.Errorf("%s %s: error %q", n.Kind, n.Digest, n.Error)
				}
				for _, c := range n.Children {
					if c.Digest.String() == sig && n.Platform == oci.FormatPlatform(*res.Manifests[1].Platform) {
						sigs++
					}
				}
			}
			if sigs != 1 {
				t.Errorf("the arm64 signature is listed %d times:\n%s", sigs, out)
			}
		})
	}
}

// TestLsNestedReferrers: a referrer of a referrer (a signature of an SBOM)
// is shown under it, as oras discover shows it, with and without the
// referrers API.
func TestLsNestedReferrers(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			insecure := []string{"--insecure-registry", reg.Host}
			ref := reg.Ref("nested") + ":v1"
			mustAffix(t, slices.Concat([]string{"push"}, insecure, []string{"oci-layout:" + dir, ref})...)
			var tree discover.Tree
			if err := json.Unmarshal([]byte(mustAffix(t, slices.Concat([]string{"ls", "--json"}, insecure, []string{ref})...)), &tree); err != nil {
				t.Fatal(err)
			}
			sbom := tree.Root.Children[0].Children[0]
			sig := strings.TrimSpace(mustAffix(t, slices.Concat([]string{"attach"}, insecure, []string{
				"--artifact-type", "application/vnd.example.sig+json", reg.Ref("nested") + "@" + sbom.Digest.String(),
				writeFile(t, "sig.json", []byte(`{"sig":1}`))})...))
			tree = discover.Tree{}
			if err := json.Unmarshal([]byte(mustAffix(t, slices.Concat([]string{"ls", "--json"}, insecure, []string{ref})...)), &tree); err != nil {
				t.Fatal(err)
			}
			amd := tree.Root.Children[0]
			if amd.Digest != res.Manifests[0].Digest || len(amd.Children) != 1 || len(amd.Children[0].Children) != 1 ||
				amd.Children[0].Children[0].Digest.String() != sig || amd.Children[0].Children[0].ArtifactType != "application/vnd.example.sig+json" {
				b, _ := json.MarshalIndent(tree, "", "  ")
				t.Fatalf("the signature %s is not under the SBOM %s:\n%s", sig, sbom.Digest, b)
			}
			if out := mustAffix(t, slices.Concat([]string{"ls"}, insecure, []string{ref})...); !strings.Contains(out, "    └── application/vnd.example.sig+json  "+sig) {
				t.Errorf("tree:\n%s", out)
			}
			if kind == registrytest.OlaregNoAPI {
				// Without the API, the tag list spares the reads of the
				// referrers tags of referrers that have none (the
				// signature, arm64's SBOM), not those of the platform
				// manifests and the index, nor the SBOM's, which exists.
				proxy := registrytest.StartProxy(t, reg.Host)
				mustAffix(t, "ls", "--insecure-registry", proxy.Host, proxy.Host+"/nested:v1")
				read := map[string]bool{}
				for _, e := range proxy.Log() {
					read[e] = true
				}
				arm := tree.Root.Children[1]
				for _, tt := range []struct {
					d    string
					read bool
				}{{amd.Digest.String(), true}, {arm.Digest.String(), true}, {tree.Root.Digest.String(), true}, {sbom.Digest.String(), true},
					{sig, false}, {arm.Children[0].Digest.String(), false}} {
					e := "GET /v2/nested/manifests/" + exporter.ReferrersTag(digest.Digest(tt.d))
					if read[e] != tt.read {
						t.Errorf("%s read %v, want %v:\n%s", e, read[e], tt.read, strings.Join(proxy.Log(), "\n"))
					}
				}
			}

			// The signature's own referrers cannot be read: a warning on
			// that node, the rest of the tree, exit 0.
			proxy := registrytest.StartProxy(t, reg.Host)
			path := "/referrers/" + sig + "$"
			if kind == registrytest.OlaregNoAPI {
				path = "/manifests/" + exporter.ReferrersTag(digest.Digest(sig)) + "$"
				// A tag list would say the signature has no referrers
				// tag, and ls would not read it: refused, ls reads it.
				proxy.Inject(registrytest.Fault{Method: "GET", Path: "/tags/list", Action: registrytest.Status, Code: 403})
			}
			proxy.Inject(registrytest.Fault{Method: "GET", Path: path, Action: registrytest.Status, Code: 403})
			out, errs, code := affix(t, "ls", "--insecure-registry", proxy.Host, proxy.Host+"/nested:v1")
			if code != 0 || !strings.Contains(errs, "affix: warning: ") || !strings.Contains(errs, "(referrer "+sig+"): referrers not shown") ||
				!regexp.MustCompile(regexp.QuoteMeta(sig)+`  \S+  \(referrers not shown: see the warning\)`).MatchString(out) || !strings.Contains(out, "linux/arm64") {
				t.Errorf("a 403 on the signature's referrers: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
		})
	}
}

func TestCountedList(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"spdx", "spdx", "spdx", "slsa"}, "spdx ×3, slsa"},
		{[]string{"slsa", "spdx", "slsa"}, "slsa ×2, spdx"},
	} {
		if got := countedList(tt.in); got != tt.want {
			t.Errorf("countedList(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestErrorEscaped: an error carrying a registry's escape sequences
// reaches stderr escaped.
func TestErrorEscaped(t *testing.T) {
	cliEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte("\x1b]0;PWNED\a\x1b[2J"))
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	_, errs, code := affix(t, "ls", "--insecure-registry", host, host+"/app:v1")
	if code != 1 || strings.ContainsAny(errs, "\x1b\a") || !strings.Contains(errs, `\x1b]0;PWNED\a`) {
		t.Errorf("exit %d, stderr %q: want 1 and the body escaped", code, errs)
	}
}

// TestSourceUsageErrors: ls, get and attach report a layout path that is
// missing or of the wrong kind as a usage error (exit 2) naming it, as
// sbom does; a path of the right kind whose content is no layout is a
// runtime error (exit 1). A REF that names a local file or directory
// without a registry host, or has sbom's registry: prefix, is a usage
// error saying what to write, before any request (Docker Hub is not
// asked for library/t1.tar).
func TestSourceUsageErrors(t *testing.T) {
	cliEnv(t)
	tmp := t.TempDir()
	t.Chdir(tmp)
	if err := os.WriteFile("t1.tar", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir("out", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("out", ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(tmp, "missing")
	file := writeFile(t, "f.txt", []byte("f"))
	empty := t.TempDir()
	for _, tt := range []struct {
		name string
		src  string
		code int
		msg  string
	}{
		{"missing layout", "oci-layout:" + missing, 2, missing + ": no such file or directory"},
		{"missing archive", "oci-archive:" + missing, 2, missing + ": no such file or directory"},
		{"file as layout", "oci-layout:" + file, 2, "oci-layout:" + file + ": "},
		{"directory as archive", "oci-archive:" + empty, 2, "is a directory (use oci-layout: for a directory)"},
		{"empty layout directory", "oci-layout:" + empty, 1, "no oci-layout file in " + empty},
		{"bare local file", "t1.tar", 2, `reference "t1.tar" names no registry host and is a local path (for the local layout t1.tar, write oci-archive:t1.tar)`},
		{"bare local directory", "out", 2, `reference "out" names no registry host and is a local path (for the local layout out, write oci-layout:out)`},
		{"registry: prefix", "registry:127.0.0.1:1/app:v1", 2, `reference "registry:127.0.0.1:1/app:v1": the registry: prefix is for affix sbom's SOURCE; write 127.0.0.1:1/app:v1`},
	} {
		for _, cmd := range []string{"ls", "get", "attach"} {
			if cmd == "attach" && strings.HasPrefix(tt.src, "oci-archive:") {
				continue // attach refuses any archive: TestAttachUsageErrors
			}
			t.Run(cmd+" "+tt.name, func(t *testing.T) {
				out, errs, code := affix(t, cmd, tt.src)
				if code != tt.code || !strings.Contains(errs, tt.msg) || out != "" {
					t.Fatalf("exit %d, want %d; stderr %q does not contain %q (stdout %q)", code, tt.code, errs, tt.msg, out)
				}
			})
		}
	}
}

// TestCheckRegistryRef: only what can be no registry reference is refused
// before a request: a host named registry with a port is a host, and a
// directory that holds no layout (nginx/ beside Docker Hub's nginx) or a
// FIFO leaves REF to the registry.
func TestCheckRegistryRef(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, d := range []string{"nginx", "layout"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join("layout", ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("app.tar", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ref  string
		want string // "" for no error
	}{
		{"registry:5000/app:v1", ""},
		{"registry:5000", ""},
		{"registry:localhost:5000/app:v1", "the registry: prefix is for affix sbom's SOURCE; write localhost:5000/app:v1"},
		{"registry:app", ""},    // Docker Hub's registry image, tag app
		{"registry:latest", ""}, // and tag latest
		{"registry:2.8.3", ""},  // and a version tag
		{"registry:docker.io/library/registry:2", "the registry: prefix"},
		{"registry:bitnami/nginx", "the registry: prefix is for affix sbom's SOURCE; write bitnami/nginx"},
		{"registry:nginx:1.27", "write nginx:1.27"},
		{"nginx", ""},
		{"nginx:1.27", ""},
		{"layout", "names no registry host and is a local path"},
		{"app.tar", "names no registry host and is a local path"},
		{"localhost:5000/app.tar", ""},
		{"oci-layout:layout", ""},
	} {
		err := checkRegistryRef(tt.ref)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("checkRegistryRef(%q) = %v, want %q", tt.ref, err, tt.want)
		}
	}
}

// TestLsForeignReferrers: ls names the predicate type of attestation
// referrers (cosign attest's Sigstore bundles), and shows a BuildKit
// attestation manifest that is both in the index and a referrer of its
// platform manifest (BuildKit v0.32+ on a registry that lists it) once.
func TestLsForeignReferrers(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	amd, arm := res.Manifests[0], res.Manifests[1]
	bundleType := "application/vnd.dev.sigstore.bundle.v0.3+json"
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			mustAffix(t, "push", "--no-sbom", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref("app")+":v1")
			bundle := attachForeign(t, reg, "app", amd, foreignReferrer{artifactType: bundleType,
				layers:      []foreignLayer{{mediaType: bundleType, data: sigstoreBundle(t, sbomtest.Statement(t, oci.PredicateSPDX, amd.Digest, sbomtest.DirectorySPDX))}},
				annotations: map[string]string{discover.AnnotationBundlePredicateType: oci.PredicateSPDX}})
			att := attachForeign(t, reg, "app", amd, foreignReferrer{artifactType: oci.ArtifactTypeBuildKitAttestation, configType: ocispec.MediaTypeImageConfig,
				layers: []foreignLayer{{mediaType: oci.MediaTypeInToto, data: sbomtest.Statement(t, oci.PredicateSPDX, amd.Digest, sbomtest.DirectorySPDX),
					annotations: map[string]string{oci.AnnotationPredicateType: oci.PredicateSPDX}}}})
			att.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
			att.Annotations = map[string]string{oci.AnnotationDockerReferenceType: oci.DockerReferenceTypeAttestation, oci.AnnotationDockerReferenceDigest: amd.Digest.String()}
			pushIndex(t, reg, "app", "v2", ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
				Manifests: []ocispec.Descriptor{amd, arm, att}})

			out := mustAffix(t, "ls", "--insecure-registry", reg.Host, reg.Ref("app")+":v2")
			for _, want := range []string{
				bundleType + "  " + bundle.Digest.String() + "  " + oci.PredicateSPDX,
				"attestation (in index, also a referrer)  " + att.Digest.String() + "  " + oci.PredicateSPDX,
			} {
				if !strings.Contains(out, want) {
					t.Errorf("ls lacks %q:\n%s", want, out)
				}
			}
			if n := strings.Count(out, att.Digest.String()); n != 1 {
				t.Errorf("the attestation is shown %d times, want once:\n%s", n, out)
			}
			var tree discover.Tree
			if err := json.Unmarshal([]byte(mustAffix(t, "ls", "--json", "--insecure-registry", reg.Host, reg.Ref("app")+":v2")), &tree); err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, c := range tree.Root.Children[0].Children {
				kinds = append(kinds, fmt.Sprintf("%s %s %v %v", c.Kind, c.Digest, c.PredicateTypes, c.AlsoReferrer))
			}
			want := []string{
				fmt.Sprintf("referrer %s [%s] false", bundle.Digest, oci.PredicateSPDX),
				fmt.Sprintf("attestation %s [%s] true", att.Digest, oci.PredicateSPDX),
			}
			if !slices.Equal(kinds, want) {
				t.Errorf("linux/amd64's children:\n%s\nwant\n%s", strings.Join(kinds, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestLsCosignTags: ls shows cosign's tag-based attachments (.sbom, .att,
// .sig tags, which no referrers list shows) under the manifest they
// belong to, marked as tags, with and without the referrers API. Which
// exist is learnt from one tag listing; a registry that does not list
// tags costs three reads per manifest instead; a tag that cannot be read
// is a warning, the rest of the tree is shown.
func TestLsCosignTags(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	amd, arm := res.Manifests[0], res.Manifests[1]
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			mustAffix(t, "push", "--no-sbom", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref("app")+":v1")
			mustAffix(t, "push", "--no-sbom", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref("bare")+":v1")
			sbom := attachForeign(t, reg, "app", arm, foreignReferrer{tag: cosignTag(t, arm.Digest, "sbom"), configType: ocispec.MediaTypeImageConfig,
				layers: []foreignLayer{{mediaType: "text/spdx+json", data: []byte(`{"spdxVersion":"SPDX-2.3"}`)}}})
			pt := func(p string) map[string]string { return map[string]string{"predicateType": p} }
			att := attachForeign(t, reg, "app", amd, foreignReferrer{tag: cosignTag(t, amd.Digest, "att"), configType: ocispec.MediaTypeImageConfig,
				layers: []foreignLayer{
					{mediaType: discover.MediaTypeDSSE, data: []byte(`{"a":1}`), annotations: pt("https://cyclonedx.org/bom")},
					{mediaType: discover.MediaTypeDSSE, data: []byte(`{"a":2}`), annotations: pt(oci.PredicateSPDX)},
				}})
			sig := attachForeign(t, reg, "app", res.Index, foreignReferrer{tag: cosignTag(t, res.Index.Digest, "sig"), configType: ocispec.MediaTypeImageConfig,
				layers: []foreignLayer{{mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", data: []byte(`{"critical":{}}`)}}})
			tags := map[digest.Digest]string{sbom.Digest: cosignTag(t, arm.Digest, "sbom"), att.Digest: cosignTag(t, amd.Digest, "att"), sig.Digest: cosignTag(t, res.Index.Digest, "sig")}

			// cosignReads returns the requests of log to cosign's tags,
			// and how many lists of the tags.
			cosignReads := func(log []string) (reads []string, lists int) {
				for _, e := range log {
					switch {
					case strings.HasSuffix(e, "/tags/list") || strings.Contains(e, "/tags/list "):
						lists++
					case strings.Contains(e, "/manifests/sha256-") && regexp.MustCompile(`\.(sbom|att|sig)( |$)`).MatchString(e):
						reads = append(reads, e)
					}
				}
				return reads, lists
			}
			for _, tt := range []struct {
				name  string
				fault *registrytest.Fault
				// reads: requests for cosign's tags; lists: tag lists.
				reads, lists int
				warn         string // "" means none; then every tag is shown
			}{
				{"listed", nil, 3, 1, ""},
				{"tags list refused", &registrytest.Fault{Method: "GET", Path: "/tags/list$", Action: registrytest.Status, Code: http.StatusForbidden}, 9, 1, ""},
				{"tags list not served", &registrytest.Fault{Method: "GET", Path: "/tags/list$", Action: registrytest.Status, Code: http.StatusNotFound}, 9, 1, ""},
				{"a tag refused", &registrytest.Fault{Method: "GET", Path: "/manifests/" + cosignTag(t, amd.Digest, "att") + "$", Action: registrytest.Status, Code: http.StatusForbidden}, 3, 1,
					"(linux/amd64 " + amd.Digest.String() + "): cosign's tag " + cosignTag(t, amd.Digest, "att") + " not shown: "},
			} {
				t.Run(tt.name, func(t *testing.T) {
					proxy := registrytest.StartProxy(t, reg.Host)
					if tt.fault != nil {
						proxy.Inject(*tt.fault)
					}
					out, errs, code := affix(t, "ls", "--debug", "--insecure-registry", proxy.Host, proxy.Host+"/app:v1")
					if code != 0 {
						t.Fatalf("exit %d\n%s", code, errs)
					}
					reads, lists := cosignReads(proxy.Log())
					if len(reads) != tt.reads || lists != tt.lists {
						t.Errorf("%d reads of cosign's tags, %d tag lists; want %d and %d:\n%s", len(reads), lists, tt.reads, tt.lists, strings.Join(proxy.Log(), "\n"))
					}
					if tt.fault != nil && strings.Contains(tt.fault.Path, "tags/list") && !strings.Contains(errs, "reading cosign's tags (sbom, att, sig) of each manifest instead") {
						t.Errorf("no debug note on the tag list:\n%s", errs)
					}
					if tt.warn != "" && !strings.Contains(errs, "affix: warning: "+proxy.Host+"/app:v1 "+tt.warn) {
						t.Errorf("stderr lacks the warning %q:\n%s", tt.warn, errs)
					}
					want := []string{
						"text/spdx+json  " + sbom.Digest.String() + "  (cosign tag " + tags[sbom.Digest] + ")",
						"application/vnd.dev.cosign.simplesigning.v1+json  " + sig.Digest.String() + "  (cosign tag " + tags[sig.Digest] + ")",
					}
					if tt.warn == "" {
						want = append(want, discover.MediaTypeDSSE+" ×2  "+att.Digest.String()+"  https://cyclonedx.org/bom, "+oci.PredicateSPDX+"  (cosign tag "+tags[att.Digest]+")")
					} else if strings.Contains(out, att.Digest.String()) {
						t.Errorf("the refused tag is shown:\n%s", out)
					}
					for _, w := range want {
						if !strings.Contains(out, w) {
							t.Errorf("ls lacks %q:\n%s", w, out)
						}
					}
				})
			}

			// JSON: each under the manifest it belongs to.
			var tree discover.Tree
			if err := json.Unmarshal([]byte(mustAffix(t, "ls", "--json", "--insecure-registry", reg.Host, reg.Ref("app")+":v1")), &tree); err != nil {
				t.Fatal(err)
			}
			parents := map[digest.Digest]digest.Digest{}
			for _, n := range append([]*discover.Node{tree.Root}, tree.Root.Children...) {
				for _, c := range n.Children {
					if c.Kind == "cosign-tag" {
						parents[c.Digest] = n.Digest
						if c.Tag != tags[c.Digest] {
							t.Errorf("%s: tag %q, want %q", c.Digest, c.Tag, tags[c.Digest])
						}
					}
				}
			}
			if want := map[digest.Digest]digest.Digest{sbom.Digest: arm.Digest, att.Digest: amd.Digest, sig.Digest: res.Index.Digest}; !maps.Equal(parents, want) {
				t.Errorf("cosign tags under %v, want %v", parents, want)
			}

			// Without cosign's tags, ls costs the tag (whose bytes the
			// walk of the index reads again, with no request), the tag
			// list and the referrers of the two platform manifests and
			// of the index (without the API: the API's 404 once, then
			// the three referrers tags).
			proxy := registrytest.StartProxy(t, reg.Host)
			out := mustAffix(t, "ls", "--insecure-registry", proxy.Host, proxy.Host+"/bare:v1")
			reads, lists := cosignReads(proxy.Log())
			want := map[registrytest.Kind]int{registrytest.OlaregAPI: 5, registrytest.OlaregNoAPI: 6}[kind]
			if len(reads) != 0 || lists != 1 || len(proxy.Log()) != want || strings.Contains(out, "cosign") {
				t.Errorf("%d requests (%d reads of cosign's tags, %d tag lists), want %d (none, one):\n%s\n%s", len(proxy.Log()), len(reads), lists, want, strings.Join(proxy.Log(), "\n"), out)
			}
			t.Logf("ls with cosign's tags:\n%s", mustAffix(t, "ls", "--insecure-registry", reg.Host, reg.Ref("app")+":v1"))
		})
	}
}
