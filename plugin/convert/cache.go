package convert

import (
	"context"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// manifestCache is a Fetcher of repo that reads each manifest once and
// serves it again from memory: an attestation manifest listed without
// hints is read by the walk (to tell what it is), by pair (its subject)
// and by artifact (its layers), one GET instead of three. Only image
// manifests are kept (at most oci.MaxManifestSize each, one per entry of
// the index); blobs and indexes go to repo.
type manifestCache struct {
	repo oci.Fetcher

	mu   sync.Mutex
	read map[digest.Digest][]byte
}

func newManifestCache(repo oci.Fetcher) *manifestCache {
	return &manifestCache{repo: repo, read: map[digest.Digest][]byte{}}
}

// Fetch serves desc from memory when it is a manifest read before, else
// from repo, keeping a manifest's bytes once read whole and verified.
func (m *manifestCache) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if !oci.IsManifest(desc.MediaType) {
		return m.repo.Fetch(ctx, desc)
	}
	m.mu.Lock()
	b, ok := m.read[desc.Digest]
	m.mu.Unlock()
	if ok && int64(len(b)) == desc.Size {
		return oci.NewVerifiedBytes(desc.Digest, b), nil
	}
	b, err := oci.ReadBlob(ctx, m.repo, desc, oci.MaxManifestSize)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.read[desc.Digest] = b
	m.mu.Unlock()
	return oci.NewVerifiedBytes(desc.Digest, b), nil
}
