package cli

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestPushFaultAtEveryRequest refuses (403) each request of an affix push
// in turn, one per run, on a registry without the referrers API: a layout
// with a VEX document attached, SBOMs in two formats, a tag list. The
// first tag names the image only when every SBOM and the VEX document are
// listed, a push that exits 0 wrote every tag, and a rerun completes. The
// exporter's and convert's sweeps cover the answers lost; this one the
// command's own steps (layout referrers, formats, the other tags).
func TestPushFaultAtEveryRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("a hundred pushes")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	src := oci.SchemeLayout + ":" + dir
	vex := writeFile(t, "vex.json", []byte(`{"vex":true}`))
	vexDigest := digest.Digest(strings.TrimSpace(mustAffix(t, "attach", "--artifact-type", "application/vnd.example.vex+json", "--platform", "linux/amd64", src, vex)))
	push := func(host string) (string, int) {
		_, errs, code := affix(t, "push", "--insecure-registry", host, "--sbom-format", "spdx-json", "--sbom-format", "cyclonedx-json", src, host+"/app:v1,latest")
		return errs, code
	}
	// want lists, per platform manifest, the referrers a complete push
	// leaves (SBOM types, and the VEX document on amd64).
	want := map[digest.Digest][]string{}
	for _, m := range res.Manifests {
		want[m.Digest] = []string{oci.MediaTypeCycloneDX, oci.MediaTypeSPDX}
	}
	amd := res.Manifests[0].Digest
	want[amd] = append(want[amd], "application/vnd.example.vex+json")
	for _, types := range want {
		slices.Sort(types)
	}
	// complete checks that every referrer is listed, read past the proxy.
	complete := func(t *testing.T, reg *registrytest.Registry) {
		t.Helper()
		r, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: "app"}, exporter.RemoteOptions{Client: exporter.NewClient(nil, nil), PlainHTTP: true})
		if err != nil {
			t.Fatal(err)
		}
		for m, types := range want {
			refs, _, err := exporter.NewFinder(r).Referrers(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range refs {
				got = append(got, d.ArtifactType)
				if d.ArtifactType == "application/vnd.example.vex+json" && d.Digest != vexDigest {
					t.Errorf("VEX referrer %s, want the layout's %s", d.Digest, vexDigest)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, types) {
				t.Fatalf("referrers of %s: %v, want %v", m, got, types)
			}
		}
	}
	tagged := func(t *testing.T, reg *registrytest.Registry, tag string) bool {
		t.Helper()
		return resolveTag(t, reg, "app", tag) == res.Index.Digest
	}

	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	proxy := registrytest.StartProxy(t, reg.Host)
	if errs, code := push(proxy.Host); code != 0 {
		t.Fatalf("clean push: exit %d\n%s", code, errs)
	}
	n := len(proxy.Log())
	for k := range n {
		t.Run(fmt.Sprintf("request-%d", k), func(t *testing.T) {
			t.Parallel()
			reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
			proxy := registrytest.StartProxy(t, reg.Host)
			proxy.Inject(registrytest.Fault{Action: registrytest.Status, Code: http.StatusForbidden, Skip: k, Times: 1})
			errs, code := push(proxy.Host)
			if proxy.Injected() == 0 {
				t.Skipf("this push made no request %d", k)
			}
			proxy.Clear()
			switch {
			case tagged(t, reg, "v1"):
				complete(t, reg)
				if code == 0 && !tagged(t, reg, "latest") {
					t.Errorf("push exited 0 without writing latest")
				}
			case code == 0:
				t.Fatalf("push exited 0 but v1 does not name the image\n%s", errs)
			case tagged(t, reg, "latest"):
				t.Fatalf("latest moved before v1\n%s", errs)
			}
			if errs, code := push(proxy.Host); code != 0 || !tagged(t, reg, "v1") || !tagged(t, reg, "latest") {
				t.Fatalf("rerun: exit %d\n%s", code, errs)
			}
			complete(t, reg)
		})
	}
}
