package cli

import (
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
)

// The tests of what writes referrers into a layout (both forms, the
// lock) are internal/ocidir's; the affix attach tests use this helper.

// layoutTagIndex returns the digests the referrers tag index of subject
// in the layout at dir lists (regctl's form), nil when index.json tags
// none.
func layoutTagIndex(t *testing.T, dir string, subject digest.Digest) []digest.Digest {
	t.Helper()
	var idx ocispec.Index
	readJSONFile(t, filepath.Join(dir, "index.json"), &idx)
	i := oci.FindTagEntry(idx.Manifests, exporter.ReferrersTag(subject))
	if i < 0 {
		return nil
	}
	var tagIdx ocispec.Index
	readJSONFile(t, filepath.Join(dir, "blobs", "sha256", idx.Manifests[i].Digest.Encoded()), &tagIdx)
	var out []digest.Digest
	for _, m := range tagIdx.Manifests {
		out = append(out, m.Digest)
	}
	return out
}
