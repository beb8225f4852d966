package exporter_test

import (
	"context"
	"strings"
	"testing"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestMountFrom pushes the fixture to one repository, then to another with
// MountFrom the first: every blob is mounted (a POST with mount= and
// from=, answered 201), none is uploaded again.
func TestMountFrom(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			l, res := source(t, twoPlatforms(false))
			c, _ := client(nil)
			if _, err := pushAll(ctx, target(t, reg.Host, "base", c), l, res, exporter.Options{Tag: "v1"}); err != nil {
				t.Fatal(err)
			}
			c, counter := client(nil)
			if _, err := pushAll(ctx, target(t, reg.Host, "app", c), l, res, exporter.Options{Tag: "v1", MountFrom: "base"}); err != nil {
				t.Fatal(err)
			}
			mounts := 0
			for _, line := range counter.Log() {
				switch {
				case strings.HasPrefix(line, "POST /v2/app/blobs/uploads/?mount=") && strings.Contains(line, "&from=base -> 201"):
					mounts++
				case strings.Contains(line, "/blobs/uploads/"):
					t.Errorf("%s: a blob upload, want only mounts", line)
				}
			}
			// Two layers and two configs, two SBOMs and the empty config.
			if mounts != 7 {
				t.Errorf("%d blobs mounted, want 7:\n%s", mounts, strings.Join(counter.Log(), "\n"))
			}
		})
	}
}
