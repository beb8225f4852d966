package exporter_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// created is the deterministic creation time of test SBOMs.
var created = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// twoPlatforms is a small two-platform fixture (linux/amd64, linux/arm64/v8)
// with BuildKit-style attestation manifests.
func twoPlatforms(attest bool) fixture.Spec {
	s := fixture.VariantsPair()
	s.Attestations = attest
	return s
}

// source writes spec as a layout and opens it.
func source(t testing.TB, spec fixture.Spec) (*oci.Layout, *fixture.Result) {
	t.Helper()
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	l, err := oci.OpenLayout(context.Background(), "oci-layout:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, res
}

// client returns a counting client (optionally with credentials) and its
// counter.
func client(cred auth.CredentialFunc) (*auth.Client, *exporter.Counter) {
	c := &exporter.Counter{}
	c.Record()
	cl := exporter.NewClient(cred, c)
	// The fault tests wait out real backoff: 5 attempts (about 3 s)
	// test the same paths as the default 8 (about 20 s).
	cl.Client.Transport.(*exporter.Retry).Attempts = 5
	return cl, c
}

// target returns a Remote for host/repo.
func target(t testing.TB, host, repo string, c remote.Client) *exporter.Remote {
	t.Helper()
	r, err := exporter.NewRemote(registry.Reference{Registry: host, Repository: repo}, exporter.RemoteOptions{Client: c, PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fakeSBOM is a deterministic SPDX-looking document for a platform manifest.
func fakeSBOM(subject ocispec.Descriptor, format string) []byte {
	return fmt.Appendf(nil, `{"spdxVersion":"SPDX-2.3","name":"fixture","documentNamespace":"https://affix.invalid/%s/%s","creationInfo":{"created":"%s"}}`,
		format, subject.Digest.Encoded(), created.Format(time.RFC3339))
}

func sbomArtifact(subject ocispec.Descriptor) exporter.Artifact {
	plat := oci.FormatPlatform(*subject.Platform)
	return exporter.SBOM(subject, oci.MediaTypeSPDX, fakeSBOM(subject, "spdx"), created, map[string]string{
		oci.AnnotationGenerator: "affix test", oci.AnnotationPlatform: plat, oci.AnnotationFormat: "spdx-json",
	})
}

// pushAll pushes the layout's image with one SBOM per platform manifest,
// the SBOMs attached while the images upload.
func pushAll(ctx context.Context, tgt exporter.Target, l *oci.Layout, res *fixture.Result, opts exporter.Options) (*exporter.Result, error) {
	p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, opts)
	errs := make(chan error, len(res.Manifests)+1)
	go func() { errs <- p.Images(ctx) }()
	for _, m := range res.Manifests {
		go func() {
			_, err := p.Attach(ctx, sbomArtifact(m))
			errs <- err
		}()
	}
	var first error
	for range len(res.Manifests) + 1 {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	return p.Commit(ctx)
}

// resolve returns the digest a tag names, "" when it names nothing.
func resolve(t *testing.T, host, repo, tag string) digest.Digest {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageIndex+","+ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return ""
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD %s: %s", tag, resp.Status)
	}
	return digest.Digest(resp.Header.Get("Docker-Content-Digest"))
}

// countsString formats request counts as "GET=1 HEAD=2 ...".
func countsString(m map[string]int) string {
	var s []string
	for k, v := range m {
		s = append(s, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// startAll starts one registry of every kind available.
func startAll(t *testing.T) []*registrytest.Registry {
	var out []*registrytest.Registry
	for _, k := range registrytest.Kinds {
		if k == registrytest.DistributionV3 {
			if r, err := registrytest.Launch(context.Background(), k, registrytest.Options{}); err == nil {
				t.Cleanup(func() { r.Close() })
				out = append(out, r)
			}
			continue
		}
		out = append(out, registrytest.Start(t, k, registrytest.Options{}))
	}
	return out
}

func readJSON(t *testing.T, l *oci.Layout, d ocispec.Descriptor, v any) {
	t.Helper()
	if _, err := oci.ReadJSON(context.Background(), l, d, v); err != nil {
		t.Fatal(err)
	}
}

// faultScene is a registry behind a fault-injecting proxy whose tag app:v1
// holds an earlier image (oldRes), and a new image (l, res) to push over
// it through the proxy.
type faultScene struct {
	reg    *registrytest.Registry
	proxy  *registrytest.Proxy
	oldRes *fixture.Result
	l      *oci.Layout
	res    *fixture.Result
}

func newFaultScene(t *testing.T, kind registrytest.Kind, attest bool) *faultScene {
	t.Helper()
	s := &faultScene{reg: registrytest.Start(t, kind, registrytest.Options{})}
	s.proxy = registrytest.StartProxy(t, s.reg.Host)
	old, oldRes := source(t, twoPlatforms(false))
	c, _ := client(nil)
	if _, err := pushAll(context.Background(), target(t, s.proxy.Host, "app", c), old, oldRes, exporter.Options{Tag: "v1"}); err != nil {
		t.Fatal(err)
	}
	s.oldRes = oldRes
	spec := twoPlatforms(attest)
	spec.Images[0].Labels = map[string]string{"new": "yes"}
	s.l, s.res = source(t, spec)
	return s
}

// push pushes the new image through the proxy with c and returns what
// pushAll did and where the tag is afterwards.
func (s *faultScene) push(t *testing.T, c remote.Client) (*exporter.Result, digest.Digest, error) {
	t.Helper()
	got, err := pushAll(context.Background(), target(t, s.proxy.Host, "app", c), s.l, s.res, exporter.Options{Tag: "v1", VerifyDelay: 20e6})
	return got, resolve(t, s.reg.Host, "app", "v1"), err
}

// rerun clears the faults and pushes the new image again with c: the push
// completes and the tag names the new index.
func (s *faultScene) rerun(t *testing.T, c remote.Client) {
	t.Helper()
	if s.proxy.Injected() == 0 {
		t.Errorf("no fault injected")
	}
	s.proxy.Clear()
	if _, err := pushAll(context.Background(), target(t, s.proxy.Host, "app", c), s.l, s.res, exporter.Options{Tag: "v1"}); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if tag := resolve(t, s.reg.Host, "app", "v1"); tag != s.res.Index.Digest {
		t.Fatalf("rerun: tag %s, want %s", tag, s.res.Index.Digest)
	}
}
