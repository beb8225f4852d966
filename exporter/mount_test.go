package exporter_test

import (
	"context"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

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

// TestMountFor pushes the fixture to one repository, then to others with
// MountFor naming, blob by blob, the repository to mount from: every blob
// it names a repository for is mounted from there, referrers' blobs
// included, and every other is uploaded without a mount attempt.
func TestMountFor(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	l, res := source(t, twoPlatforms(false))
	c, _ := client(nil)
	if _, err := pushAll(ctx, target(t, reg.Host, "base", c), l, res, exporter.Options{Tag: "v1"}); err != nil {
		t.Fatal(err)
	}
	imageBlob := func(d ocispec.Descriptor) bool { return strings.HasPrefix(d.MediaType, "application/vnd.oci.image.") }
	for _, tt := range []struct {
		repo    string
		from    func(ocispec.Descriptor) string
		want    exporter.BlobCounts
		mounts  int
		uploads int
	}{
		{"all", func(ocispec.Descriptor) string { return "base" }, exporter.BlobCounts{Mounted: 7}, 7, 0},
		{"images", func(d ocispec.Descriptor) string {
			if imageBlob(d) {
				return "base"
			}
			return ""
		}, exporter.BlobCounts{Mounted: 4, Uploaded: 3}, 4, 3},
		{"none", func(ocispec.Descriptor) string { return "" }, exporter.BlobCounts{Uploaded: 7}, 0, 7},
	} {
		t.Run(tt.repo, func(t *testing.T) {
			c, counter := client(nil)
			got, err := pushAll(ctx, target(t, reg.Host, tt.repo, c), l, res, exporter.Options{Tag: "v1", MountFrom: "ignored", MountFor: tt.from})
			if err != nil {
				t.Fatal(err)
			}
			if got.Blobs != tt.want {
				t.Errorf("blobs %+v, want %+v", got.Blobs, tt.want)
			}
			mounts, uploads := 0, 0
			for _, line := range counter.Log() {
				switch {
				case strings.HasPrefix(line, "POST /v2/"+tt.repo+"/blobs/uploads/?mount=") && strings.Contains(line, "&from=base -> 201"):
					mounts++
				case strings.HasPrefix(line, "POST /v2/"+tt.repo+"/blobs/uploads/ "):
					uploads++
				case strings.Contains(line, "mount="):
					t.Errorf("%s: a mount not asked for, or that did not mount", line)
				}
			}
			if mounts != tt.mounts || uploads != tt.uploads {
				t.Errorf("%d blobs mounted and %d uploads started, want %d and %d:\n%s", mounts, uploads, tt.mounts, tt.uploads, strings.Join(counter.Log(), "\n"))
			}
		})
	}
}
