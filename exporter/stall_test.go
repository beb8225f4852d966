package exporter_test

import (
	"context"
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
			ctx := context.Background()
			reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
			proxy := registrytest.StartProxy(t, reg.Host)
			old, oldRes := source(t, twoPlatforms(false))
			cl, _ := client(nil)
			if _, err := pushAll(ctx, target(t, proxy.Host, "app", cl), old, oldRes, exporter.Options{Tag: "v1"}); err != nil {
				t.Fatal(err)
			}
			spec := twoPlatforms(false)
			spec.Images[0].Labels = map[string]string{"new": "yes"}
			l, res := source(t, spec)

			counter := &exporter.Counter{Base: exporter.NewTransport(stall)}
			stalling := exporter.NewClient(nil, counter)
			proxy.Inject(c.fault)
			got, err := pushAll(ctx, target(t, proxy.Host, "app", stalling), l, res, exporter.Options{Tag: "v1", VerifyDelay: 20e6})
			tag := resolve(t, reg.Host, "app", "v1")
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
				if tag != oldRes.Index.Digest {
					t.Fatalf("failed push moved the tag to %s", tag)
				}
			}
			if proxy.Injected() == 0 {
				t.Fatal("no fault injected")
			}
			proxy.Clear()
			if _, err := pushAll(ctx, target(t, proxy.Host, "app", stalling), l, res, exporter.Options{Tag: "v1"}); err != nil {
				t.Fatalf("rerun: %v", err)
			}
			if tag := resolve(t, reg.Host, "app", "v1"); tag != res.Index.Digest {
				t.Fatalf("rerun: tag %s, want %s", tag, res.Index.Digest)
			}
		})
	}
}
