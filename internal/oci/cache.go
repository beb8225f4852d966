package oci

import (
	"context"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ManifestCache is a Fetcher of f that keeps the manifests and indexes it
// reads (verified, at most MaxManifestSize each) and serves them again
// from memory, so that a command whose steps each walk or read the same
// image (merge, convert) sends one GET per manifest. Blobs are streamed
// from f, never kept. It is safe for concurrent use.
type ManifestCache struct {
	f  Fetcher
	mu sync.Mutex
	m  map[digest.Digest][]byte
}

// NewManifestCache returns a ManifestCache of f.
func NewManifestCache(f Fetcher) *ManifestCache {
	return &ManifestCache{f: f, m: map[digest.Digest][]byte{}}
}

// FetchVerifies marks ManifestCache as a VerifyingFetcher: what it serves
// is verified.
func (c *ManifestCache) FetchVerifies() {}

// Fetch serves d: a manifest or index from memory once read (a descriptor
// of another size is read again, and fails as a read of f would), a blob
// from f.
func (c *ManifestCache) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if !IsManifest(d.MediaType) && !IsIndex(d.MediaType) {
		return c.f.Fetch(ctx, d)
	}
	c.mu.Lock()
	data, ok := c.m[d.Digest]
	c.mu.Unlock()
	if !ok || int64(len(data)) != d.Size {
		var err error
		if data, err = ReadBlob(ctx, c.f, d, MaxManifestSize); err != nil {
			return nil, err
		}
		c.Put(d.Digest, data)
	}
	return NewVerifiedBytes(d.Digest, data), nil
}

// Put keeps data, the verified bytes of the manifest or index d (one the
// caller read otherwise, by tag), so that Fetch does not read it again.
func (c *ManifestCache) Put(d digest.Digest, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[d] = data
}
