package convert_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/plugin/convert"
)

// TestConvertFaultAtEveryRequest fails each request of a convert
// --strip-attestations in turn, one per run: refused (403, not retried)
// or carried out by the registry with its answer lost (retried). Whatever
// the outcome, the tag names either the index as buildctl pushed it or
// the stripped one, and the stripped one only when each of its platform
// manifests has its SBOM referrer; a convert that reports success moved
// it; a clean rerun completes.
func TestConvertFaultAtEveryRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("about a hundred converts")
	}
	spec := fixture.Variants()
	spec.Attestations = true
	src, fres := fixtureLayout(t, spec)
	// scene pushes the attested image to a new registry of kind, and
	// returns it and a new proxy in front of it.
	scene := func(t *testing.T, kind registrytest.Kind) (*registrytest.Registry, *registrytest.Proxy) {
		reg := registrytest.Start(t, kind, registrytest.Options{})
		r, _ := remote(t, reg.Host, "app")
		push(t, r, src, fres.Index, "v1")
		return reg, registrytest.StartProxy(t, reg.Host)
	}
	convertVia := func(t *testing.T, proxy *registrytest.Proxy) (*convert.Result, error) {
		r, _ := remote(t, proxy.Host, "app")
		return convert.Convert(context.Background(), r, "v1", convert.Options{StripAttestations: true})
	}
	for _, kind := range []registrytest.Kind{registrytest.OlaregNoAPI, registrytest.OlaregAPI} {
		_, proxy := scene(t, kind)
		clean, err := convertVia(t, proxy)
		if err != nil {
			t.Fatal(err)
		}
		n := len(proxy.Log())
		for _, f := range []registrytest.Fault{
			{Action: registrytest.Status, Code: http.StatusForbidden},
			{Action: registrytest.LoseAnswer},
		} {
			for k := range n {
				t.Run(fmt.Sprintf("%s/%v/request-%d", kind, f.Action, k), func(t *testing.T) {
					t.Parallel()
					reg, proxy := scene(t, kind)
					fault := f // each subtest its own: they run in parallel
					fault.Skip, fault.Times = k, 1
					proxy.Inject(fault)
					_, err := convertVia(t, proxy)
					if proxy.Injected() == 0 {
						// Re-reads vary with timing, and so does the
						// number of requests.
						t.Skipf("this convert made no request %d", k)
					}
					proxy.Clear()
					// Read back from the registry itself.
					r, _ := remote(t, reg.Host, "app")
					tagged, _, _, terr := r.FetchManifest(context.Background(), "v1")
					if terr != nil {
						t.Fatal(terr)
					}
					switch tagged.Digest {
					case clean.NewIndex.Digest:
						imgs, werr := oci.Walk(context.Background(), r, tagged)
						if werr != nil {
							t.Fatal(werr)
						}
						for _, img := range imgs {
							referrer(t, r, img.Descriptor, oci.MediaTypeSPDX)
						}
					case fres.Index.Digest:
						if err == nil {
							t.Fatalf("convert reported success but the tag still names %s", tagged.Digest)
						}
					default:
						t.Fatalf("convert (%v) left the tag at %s, neither old nor new", err, tagged.Digest)
					}
					again, err := convertVia(t, proxy)
					if err != nil {
						t.Fatalf("rerun: %v", err)
					}
					if again.NewIndex.Digest != clean.NewIndex.Digest {
						t.Errorf("rerun: tag %s, want %s", again.NewIndex.Digest, clean.NewIndex.Digest)
					}
					for _, m := range fres.Manifests {
						referrer(t, r, m, oci.MediaTypeSPDX)
					}
				})
			}
		}
	}
}
