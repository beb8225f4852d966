package exporter_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestStalledRegistry: a registry that stops answering (no response to a
// request, or a response body that stops arriving) fails the request once
// the connection has been silent for the stall timeout, which the retries
// treat like a dropped connection: a push either completes or fails with
// a timeout, the tag unmoved, and a rerun completes. Without the timeout
// these pushes would never end.
func TestStalledRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out stall timeouts")
	}
	const stall = 300 * time.Millisecond
	for _, c := range []struct {
		name     string
		fault    registrytest.Fault
		complete bool // the push completes (the fault passes), else fails
	}{
		{"tag PUT never answered", registrytest.Fault{Method: "PUT", Path: "/manifests/v1$", Action: registrytest.Hang}, false},
		{"blob upload answered late once", registrytest.Fault{Method: "PUT", Path: "/blobs/uploads/", Action: registrytest.Hang, Times: 1}, true},
		{"referrers tag body stalls once", registrytest.Fault{Method: "GET", Path: "/manifests/sha256-", Action: registrytest.Stall, Times: 1}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sc := newFaultScene(t, registrytest.OlaregNoAPI, false)
			stalling := exporter.NewClient(nil, &exporter.Counter{Base: exporter.NewTransport(stall)})
			sc.proxy.Inject(c.fault)
			got, tag, err := sc.push(t, stalling)
			switch {
			case c.complete && err != nil:
				t.Fatalf("push failed: %v", err)
			case c.complete && tag != got.Root.Digest:
				t.Fatalf("tag %s, want %s", tag, got.Root.Digest)
			case !c.complete:
				var ne net.Error
				if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
					t.Fatalf("push: err = %v, want a timeout", err)
				}
				if tag != sc.oldRes.Index.Digest {
					t.Fatalf("failed push moved the tag to %s", tag)
				}
			}
			sc.rerun(t, stalling)
		})
	}
}
