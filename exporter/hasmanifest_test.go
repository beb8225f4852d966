package exporter_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestHasManifestFallback: HasManifest falls back to a GET only when the
// registry refuses the HEAD with a 4xx other than 429 (no HEAD on
// manifests, a push-only credential); a HEAD that failed with a 5xx or
// 429 after its retries is the answer, not a second retry cycle on GET.
func TestHasManifestFallback(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	l, res := source(t, twoPlatforms(false))
	pc, _ := client(nil)
	if _, err := pushAll(ctx, target(t, reg.Host, "app", pc), l, res, exporter.Options{Tag: "v1"}); err != nil {
		t.Fatal(err)
	}
	m := res.Manifests[0]
	for _, tt := range []struct {
		code   int
		gets   int // GETs of the manifest
		exists bool
	}{
		{http.StatusBadRequest, 1, true},
		{http.StatusForbidden, 1, true},
		{http.StatusMethodNotAllowed, 1, true},
		{http.StatusTooManyRequests, 0, false},
		{http.StatusInternalServerError, 0, false},
		{http.StatusServiceUnavailable, 0, false},
	} {
		t.Run(http.StatusText(tt.code), func(t *testing.T) {
			proxy := registrytest.StartProxy(t, reg.Host)
			proxy.Inject(registrytest.Fault{Method: "HEAD", Path: "/manifests/", Action: registrytest.Status, Code: tt.code})
			c, counter := client(nil)
			c.Client.Transport.(*exporter.Retry).Attempts = 2
			ok, err := exporter.HasManifest(ctx, target(t, proxy.Host, "app", c), m)
			gets := 0
			for _, l := range counter.Log() {
				if strings.HasPrefix(l, "GET /v2/app/manifests/"+m.Digest.String()) {
					gets++
				}
			}
			if gets != tt.gets {
				t.Errorf("GETs of the manifest %d, want %d:\n%s", gets, tt.gets, strings.Join(counter.Log(), "\n"))
			}
			if ok != tt.exists || (err == nil) != tt.exists {
				t.Errorf("HasManifest = %v, %v; want %v and an error %v", ok, err, tt.exists, !tt.exists)
			}
		})
	}
}
