// Package ocidirtest reads what tests of layout writing check in a layout
// directory: index.json and the referrers tag indexes in it.
package ocidirtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
)

// ReadJSON decodes the JSON file p into v, failing the test on error.
func ReadJSON(t testing.TB, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TagIndex returns the digests the referrers tag index of subject in the
// layout at dir lists (regctl's form), nil when index.json tags none.
func TagIndex(t testing.TB, dir string, subject digest.Digest) []digest.Digest {
	t.Helper()
	var idx ocispec.Index
	ReadJSON(t, filepath.Join(dir, ocispec.ImageIndexFile), &idx)
	i := oci.FindTagEntry(idx.Manifests, exporter.ReferrersTag(subject))
	if i < 0 {
		return nil
	}
	var tagIdx ocispec.Index
	d := idx.Manifests[i].Digest
	ReadJSON(t, filepath.Join(dir, ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded()), &tagIdx)
	var out []digest.Digest
	for _, m := range tagIdx.Manifests {
		out = append(out, m.Digest)
	}
	return out
}
