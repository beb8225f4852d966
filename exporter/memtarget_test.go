package exporter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
)

// memTarget is an in-memory Target with the referrers API (it answers a
// referrer's PUT with OCI-Subject), for tests that run in a synctest
// bubble, where no network I/O may happen.
type memTarget struct {
	mu        sync.Mutex
	blobs     map[digest.Digest][]byte
	manifests map[string][]byte
	uploads   map[digest.Digest]int
	// block, when set, makes the first upload of that blob wait until its
	// ctx ends, then fail with the context's error.
	block   digest.Digest
	blocked bool
}

var _ exporter.Target = (*memTarget)(nil)

func newMemTarget() *memTarget {
	return &memTarget{blobs: map[digest.Digest][]byte{}, manifests: map[string][]byte{}, uploads: map[digest.Digest]int{}}
}

func (m *memTarget) Name() string { return "mem" }

func (m *memTarget) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.blobs[d.Digest]
	return ok, nil
}

func (m *memTarget) PushBlob(ctx context.Context, d ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	m.mu.Lock()
	m.uploads[d.Digest]++
	block := d.Digest == m.block && !m.blocked
	if block {
		m.blocked = true
	}
	m.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	if got := digest.FromBytes(b); got != d.Digest {
		return fmt.Errorf("blob %s hashes to %s", d.Digest, got)
	}
	m.mu.Lock()
	m.blobs[d.Digest] = b
	m.mu.Unlock()
	return nil
}

func (m *memTarget) PushManifest(ctx context.Context, d ocispec.Descriptor, data []byte, reference, ifMatch string) (digest.Digest, error) {
	var man struct{ Subject *ocispec.Descriptor }
	if err := json.Unmarshal(data, &man); err != nil {
		return "", err
	}
	m.mu.Lock()
	m.manifests[reference] = data
	m.mu.Unlock()
	if man.Subject != nil {
		return man.Subject.Digest, nil
	}
	return "", nil
}

func (m *memTarget) FetchManifest(ctx context.Context, reference string) (ocispec.Descriptor, []byte, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.manifests[reference]
	if !ok {
		return ocispec.Descriptor{}, nil, "", fmt.Errorf("%s: %w", reference, exporter.ErrNotFound)
	}
	var probe struct{ MediaType string }
	json.Unmarshal(b, &probe)
	return ocispec.Descriptor{MediaType: probe.MediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}, b, "", nil
}
