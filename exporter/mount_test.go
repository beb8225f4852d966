package exporter_test

import (
	"context"
	"strings"
	"testing"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestMountFrom pushes the fixture to one repository, then to another with
// MountFrom the first: every image blob is mounted (a POST with mount= and
// from=, answered 201), none is uploaded again, and the referrers' own
// blobs are uploaded without a mount attempt; Result.Blobs says so, and
// says not mounted when the registry could not mount.
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
			got, err := pushAll(ctx, target(t, reg.Host, "app", c), l, res, exporter.Options{Tag: "v1", MountFrom: "base"})
			if err != nil {
				t.Fatal(err)
			}
			// The image's two layers and two configs are mounted; the
			// referrers' blobs (two SBOMs, the empty config) are their
			// own and uploaded.
			if want := (exporter.BlobCounts{Mounted: 4, Uploaded: 3}); got.Blobs != want {
				t.Errorf("blobs %+v, want %+v", got.Blobs, want)
			}
			mounts, uploads := 0, 0
			for _, line := range counter.Log() {
				switch {
				case strings.HasPrefix(line, "POST /v2/app/blobs/uploads/?mount=") && strings.Contains(line, "&from=base -> 201"):
					mounts++
				case strings.HasPrefix(line, "POST /v2/app/blobs/uploads/ "):
					uploads++
				case strings.Contains(line, "mount="):
					t.Errorf("%s: a mount that did not mount", line)
				}
			}
			if mounts != 4 || uploads != 3 {
				t.Errorf("%d blobs mounted and %d uploads started, want 4 and 3:\n%s", mounts, uploads, strings.Join(counter.Log(), "\n"))
			}
			// From a repository that does not exist, the registry answers
			// with an upload session: each blob is uploaded, and counted so.
			c, _ = client(nil)
			got, err = pushAll(ctx, target(t, reg.Host, "other", c), l, res, exporter.Options{Tag: "v1", MountFrom: "nope"})
			if err != nil {
				t.Fatal(err)
			}
			if want := (exporter.BlobCounts{Uploaded: 7, NotMounted: 4}); got.Blobs != want {
				t.Errorf("mount from a missing repository: blobs %+v, want %+v", got.Blobs, want)
			}
			// A rerun finds them all.
			got, err = pushAll(ctx, target(t, reg.Host, "other", c), l, res, exporter.Options{Tag: "v1", MountFrom: "nope"})
			if err != nil {
				t.Fatal(err)
			}
			if want := (exporter.BlobCounts{Existing: 7}); got.Blobs != want {
				t.Errorf("rerun: blobs %+v, want %+v", got.Blobs, want)
			}
		})
	}
}
