package exporter_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/affix-oci/affix/internal/registrytest"
)

// TestFaultAtEveryRequest fails each request of a push in turn, one per
// run: refused (403, not retried) or acted on by the registry with its
// answer lost (retried). Whatever the outcome, the tag names the new
// index only when every SBOM landed, a push that reports success moved
// it, and a clean rerun completes. TestFailureLeavesTag picks the steps;
// this leaves none out, in whatever order the concurrent requests come.
func TestFaultAtEveryRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("hundreds of pushes")
	}
	for _, kind := range []registrytest.Kind{registrytest.OlaregNoAPI, registrytest.OlaregAPI} {
		// How many requests a clean push makes.
		sc := newFaultScene(t, kind, false)
		before := len(sc.proxy.Log())
		c, _ := client(nil)
		if _, _, err := sc.push(t, c); err != nil {
			t.Fatal(err)
		}
		n := len(sc.proxy.Log()) - before
		for _, f := range []registrytest.Fault{
			{Action: registrytest.Status, Code: http.StatusForbidden},
			{Action: registrytest.LoseAnswer},
		} {
			for k := range n {
				name := fmt.Sprintf("%s/%v/request-%d", kind, f.Action, k)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					sc := newFaultScene(t, kind, false)
					c, _ := client(nil)
					fault := f // each subtest its own: they run in parallel
					fault.Skip, fault.Times = k, 1
					sc.proxy.Inject(fault)
					got, tag, err := sc.push(t, c)
					if sc.proxy.Injected() == 0 {
						// Verification rounds vary with timing, and so
						// does the number of requests.
						t.Skipf("this push made no request %d", k)
					}
					switch {
					case tag == sc.res.Index.Digest:
						// Moved: every SBOM is there.
						checkInterop(t, sc.reg, "app", sc.res.Manifests)
					case err == nil:
						t.Fatalf("push reported success (%s) but the tag names %s", got.Root.Digest, tag)
					case tag != sc.oldRes.Index.Digest:
						t.Fatalf("failed push (%v) left the tag at %s, neither old nor new", err, tag)
					}
					sc.rerun(t, c)
					checkInterop(t, sc.reg, "app", sc.res.Manifests)
				})
			}
		}
	}
}
