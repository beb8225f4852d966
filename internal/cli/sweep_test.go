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

// TestPushFaultAtEveryRequest hits each request of an affix push in turn,
// one per run, with each fault of the table, on a registry without the
// referrers API: a layout with a VEX document attached, SBOMs in two
// formats, a tag list. The first tag names the image only when every SBOM
// and the VEX document are listed, a push that exits 0 wrote every tag, a
// push that does not exits 1 with an error line, a fault the retries
// cover (a 503, a 429 with Retry-After, a dropped connection, an answer
// lost after the registry acted) does not fail the push, and a rerun
// completes. The exporter's and convert's sweeps cover the library's
// steps; this one the command's own (layout referrers, formats, the other
// tags) and its exit codes.
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
	faults := []struct {
		name  string
		fault registrytest.Fault
		// retried: the retries cover it; the push must succeed.
		retried bool
	}{
		{"403", registrytest.Fault{Action: registrytest.Status, Code: http.StatusForbidden}, false},
		{"503", registrytest.Fault{Action: registrytest.Unavailable}, true},
		{"429", registrytest.Fault{Action: registrytest.TooManyRequests, RetryAfter: "1"}, true},
		{"drop", registrytest.Fault{Action: registrytest.Drop}, true},
		{"lost-answer", registrytest.Fault{Action: registrytest.LoseAnswer}, true},
		{"corrupt", registrytest.Fault{Action: registrytest.Corrupt}, false},
	}
	for _, f := range faults {
		for k := range n {
			t.Run(fmt.Sprintf("%s/request-%d", f.name, k), func(t *testing.T) {
				t.Parallel()
				reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
				proxy := registrytest.StartProxy(t, reg.Host)
				fault := f.fault
				fault.Skip, fault.Times = k, 1
				proxy.Inject(fault)
				errs, code := push(proxy.Host)
				if proxy.Injected() == 0 {
					t.Skipf("this push made no request %d", k)
				}
				proxy.Clear()
				switch {
				case code != 0 && f.retried:
					t.Fatalf("exit %d after one %s, which the retries cover\n%s", code, f.name, errs)
				case code != 0 && (code != 1 || !strings.Contains(errs, "affix: error: ")):
					t.Fatalf("exit %d, want 1 with an error line\n%s", code, errs)
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
}
