package exporter_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/registrytest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestMaxConcurrency pushes an image of 8 blobs through a proxy that holds
// every blob upload for a while, so that uploads overlap as much as the
// pusher lets them: the most requests in flight at once never exceeds
// MaxConcurrency, and reaches it.
func TestMaxConcurrency(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	spec := fixture.Spec{Images: []fixture.Image{{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}}}}
	for i := range 7 {
		spec.Images[0].Layers = append(spec.Images[0].Layers, fixture.Layer{{Path: fmt.Sprintf("layer%d", i), Data: []byte(fmt.Sprint(i))}})
	}
	l, res := source(t, spec)
	for _, limit := range []int{1, 2, 4} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			proxy := registrytest.StartProxy(t, reg.Host)
			proxy.Inject(registrytest.Fault{Method: http.MethodPut, Path: "/blobs/uploads/", Action: registrytest.Slow, Delay: 150 * time.Millisecond})
			c, _ := client(nil)
			p := exporter.New(target(t, proxy.Host, fmt.Sprintf("app%d", limit), c), &exporter.Image{Source: l, Root: res.Manifests[0]},
				exporter.Options{Tag: "v1", MaxConcurrency: limit})
			if err := p.Images(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if got := proxy.PeakInFlight(); got != limit {
				t.Errorf("%d requests in flight at most, want %d (MaxConcurrency)", got, limit)
			}
		})
	}
}
