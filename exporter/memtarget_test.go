package exporter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
)

// memTarget is an in-memory Target with the referrers API (it answers a
// referrer's PUT with OCI-Subject, unless noAPI), for tests that run in a
// synctest bubble, where no network I/O may happen.
type memTarget struct {
	mu        sync.Mutex
	blobs     map[digest.Digest][]byte
	manifests map[string][]byte
	uploads   map[digest.Digest]int
	// block, when set, makes the first upload of that blob wait until its
	// ctx ends, then fail with the context's error.
	block   digest.Digest
	blocked bool
	// noAPI answers without OCI-Subject: the push keeps referrers tags.
	noAPI bool
	// reads and writes count FetchManifest and PushManifest calls by
	// reference.
	reads, writes map[string]int
	// drops is how many times another writer empties a referrers tag
	// right after a write of it (as on a registry that ignores If-Match).
	drops int
	// etags answers reads with an ETag and fails a write whose If-Match
	// does not match with ErrPreconditionFailed.
	etags bool
	// sneaks is how many times another writer adds an entry to a
	// referrers tag between a read of it and the write that follows
	// (with etags, that write then fails with 412).
	sneaks int
	// lost is how many writes of a referrers tag land but answer 412, as
	// when the answer to a PUT that landed is lost and the transport's
	// resend no longer matches its If-Match.
	lost int
	// validate refuses, as distribution does, a referrers index listing
	// a manifest it does not hold: 400 MANIFEST_BLOB_UNKNOWN naming the
	// first refuse of them (all when 0).
	validate bool
	refuse   int
	// hook, when set, is called first by every call, outside m.mu, with
	// the call's context, its operation ("exists", "blob", "get" or
	// "put") and reference (a blob's digest, a manifest's tag or
	// digest); an error it returns is the call's. Tests block, fail or
	// watch calls with it.
	hook func(ctx context.Context, op, reference string) error
	// log lists the calls made, as "op reference", in order.
	log []string
}

// call records a call and runs the hook. A call whose ctx has ended
// fails, as an HTTP client sends no request then.
func (m *memTarget) call(ctx context.Context, op, reference string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	m.log = append(m.log, op+" "+reference)
	hook := m.hook
	m.mu.Unlock()
	if hook != nil {
		return hook(ctx, op, reference)
	}
	return nil
}

var _ exporter.Target = (*memTarget)(nil)

func newMemTarget() *memTarget {
	return &memTarget{blobs: map[digest.Digest][]byte{}, manifests: map[string][]byte{}, uploads: map[digest.Digest]int{},
		reads: map[string]int{}, writes: map[string]int{}}
}

func (m *memTarget) Name() string { return "mem" }

func (m *memTarget) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	if err := m.call(ctx, "exists", d.Digest.String()); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.blobs[d.Digest]
	return ok, nil
}

func (m *memTarget) PushBlob(ctx context.Context, d ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	if err := m.call(ctx, "blob", d.Digest.String()); err != nil {
		return err
	}
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
	if err := m.call(ctx, "put", reference); err != nil {
		return "", err
	}
	var man struct{ Subject *ocispec.Descriptor }
	if err := json.Unmarshal(data, &man); err != nil {
		return "", err
	}
	m.mu.Lock()
	m.writes[reference]++
	if m.sneaks > 0 && strings.HasPrefix(reference, "sha256-") {
		m.sneaks--
		m.sneak(reference)
	}
	if err := m.unknownChildren(reference, data); err != nil {
		m.mu.Unlock()
		return "", err
	}
	if old, ok := m.manifests[reference]; ok && m.etags && ifMatch != "" && ifMatch != etagOf(old) {
		m.mu.Unlock()
		return "", fmt.Errorf("%s: %w", reference, exporter.ErrPreconditionFailed)
	}
	m.manifests[reference] = data
	if m.drops > 0 && strings.HasPrefix(reference, "sha256-") {
		m.drops--
		m.manifests[reference] = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	}
	if m.lost > 0 && strings.HasPrefix(reference, "sha256-") {
		m.lost--
		m.mu.Unlock()
		return "", fmt.Errorf("%s: %w", reference, exporter.ErrPreconditionFailed)
	}
	noAPI := m.noAPI
	m.mu.Unlock()
	if man.Subject != nil && !noAPI {
		return man.Subject.Digest, nil
	}
	return "", nil
}

func (m *memTarget) FetchManifest(ctx context.Context, reference string) (ocispec.Descriptor, []byte, string, error) {
	if err := m.call(ctx, "get", reference); err != nil {
		return ocispec.Descriptor{}, nil, "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads[reference]++
	b, ok := m.manifests[reference]
	if !ok {
		return ocispec.Descriptor{}, nil, "", fmt.Errorf("%s: %w", reference, exporter.ErrNotFound)
	}
	var probe struct{ MediaType string }
	json.Unmarshal(b, &probe)
	etag := ""
	if m.etags {
		etag = etagOf(b)
	}
	return ocispec.Descriptor{MediaType: probe.MediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}, b, etag, nil
}

// unknownChildren is validate's refusal of data, written under
// reference, nil when it takes it. The caller holds m.mu.
func (m *memTarget) unknownChildren(reference string, data []byte) error {
	if !m.validate || !strings.HasPrefix(reference, "sha256-") {
		return nil
	}
	var idx ocispec.Index
	json.Unmarshal(data, &idx)
	var errs []string
	for _, c := range idx.Manifests {
		if _, ok := m.manifests[c.Digest.String()]; !ok && (m.refuse == 0 || len(errs) < m.refuse) {
			errs = append(errs, `{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"`+c.Digest.String()+`"}`)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &exporter.ResponseError{Method: "PUT", URL: reference, StatusCode: 400, Detail: `{"errors":[` + strings.Join(errs, ",") + `]}`}
}

func etagOf(b []byte) string { return `"` + digest.FromBytes(b).String() + `"` }

// sneak adds an entry of another writer to the referrers index under
// reference. The caller holds m.mu.
func (m *memTarget) sneak(reference string) {
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	if b, ok := m.manifests[reference]; ok {
		json.Unmarshal(b, &idx)
	}
	other := []byte(fmt.Sprintf("another writer's referrer %d", len(idx.Manifests)))
	idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(other), Size: int64(len(other)), ArtifactType: "application/vnd.example.other"})
	b, _ := json.Marshal(idx)
	m.manifests[reference] = b
}
