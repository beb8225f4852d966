package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
)

// barrierStore is a Store of one manifest with one SBOM that has
// more signatures than lsConcurrency: reading a signature's referrers
// waits until lsConcurrency reads are in flight, so a tree built one
// read after another never completes; it records the most reads in
// flight at once.
type barrierStore struct {
	Store
	root, sbom ocispec.Descriptor
	sigs       []ocispec.Descriptor

	mu       sync.Mutex
	reads    map[digest.Digest]int
	inFlight int
	peak     int
	waiting  int
	all      chan struct{}
}

func (s *barrierStore) Name() string                                     { return "barrier" }
func (s *barrierStore) Root(context.Context) (ocispec.Descriptor, error) { return s.root, nil }

func (s *barrierStore) Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, exporter.Mode, error) {
	s.mu.Lock()
	s.reads[subject]++
	s.mu.Unlock()
	switch subject {
	case s.root.Digest:
		return []ocispec.Descriptor{s.sbom}, exporter.ModeAPI, nil
	case s.sbom.Digest:
		return s.sigs, exporter.ModeAPI, nil
	}
	s.mu.Lock()
	s.inFlight++
	s.peak = max(s.peak, s.inFlight)
	if s.waiting++; s.waiting == lsConcurrency {
		close(s.all)
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	select {
	case <-s.all:
		return nil, exporter.ModeAPI, nil
	case <-ctx.Done():
		return nil, "", ctx.Err()
	case <-time.After(time.Minute):
		return nil, "", errors.New("the signatures' referrers were not read concurrently")
	}
}

// TestLsReferrersConcurrent: the referrers of a manifest's referrers are
// read concurrently (lsConcurrency at a time), each once, and the tree
// keeps the registry's order.
func TestLsReferrersConcurrent(t *testing.T) {
	desc := func(s string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(s), Size: int64(len(s))}
	}
	st := &barrierStore{root: desc("root"), sbom: desc("sbom"), reads: map[digest.Digest]int{}, all: make(chan struct{})}
	for i := range lsConcurrency + 3 {
		st.sigs = append(st.sigs, desc(fmt.Sprint("sig", i)))
	}
	tree, _, err := buildTree(t.Context(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	sbom := tree.Root.Children[0]
	var got []digest.Digest
	for _, c := range sbom.Children {
		if c.Error != "" {
			t.Errorf("%s: %s", c.Digest, c.Error)
		}
		got = append(got, c.Digest)
	}
	var want []digest.Digest
	for _, s := range st.sigs {
		want = append(want, s.Digest)
	}
	if !slices.Equal(got, want) {
		t.Errorf("signatures %v, want the registry's order %v", got, want)
	}
	for d, n := range st.reads {
		if n != 1 {
			t.Errorf("referrers of %s read %d times", d, n)
		}
	}
	if len(st.reads) != 2+len(st.sigs) {
		t.Errorf("%d referrers reads, want %d", len(st.reads), 2+len(st.sigs))
	}
	if st.peak > lsConcurrency {
		t.Errorf("%d referrers reads in flight at once, want at most %d", st.peak, lsConcurrency)
	}
}

// memStore is a Store of blobs in memory, with fixed referrers, listed
// as the referrers API lists them unless mode says otherwise.
type memStore struct {
	Store
	root      ocispec.Descriptor
	blobs     map[digest.Digest][]byte
	referrers map[digest.Digest][]ocispec.Descriptor
	mode      exporter.Mode
	// fail is the error a fetch of a digest fails with.
	fail map[digest.Digest]error
}

func (s *memStore) Name() string                                     { return "mem" }
func (s *memStore) Root(context.Context) (ocispec.Descriptor, error) { return s.root, nil }

func (s *memStore) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if err := s.fail[d.Digest]; err != nil {
		return nil, err
	}
	b, ok := s.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", d.Digest, exporter.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *memStore) Referrers(_ context.Context, subject digest.Digest) ([]ocispec.Descriptor, exporter.Mode, error) {
	if s.mode != "" {
		return s.referrers[subject], s.mode, nil
	}
	return s.referrers[subject], exporter.ModeAPI, nil
}

// put stores v as JSON and returns its descriptor of media type mt.
func (s *memStore) put(t testing.TB, mt string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
	s.blobs[d.Digest] = b
	return d
}

// TestLsManifestUnderTwoPlatforms: a manifest the index lists under two
// platforms shows the same children under both: its referrers, read
// once, and its BuildKit attestation manifest, which the index lists
// once.
func TestLsManifestUnderTwoPlatforms(t *testing.T) {
	st := &memStore{blobs: map[digest.Digest][]byte{}, referrers: map[digest.Digest][]ocispec.Descriptor{}}
	img := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5}
	sbom := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("sbom"), Size: 4, ArtifactType: "application/spdx+json"}
	st.referrers[img.Digest] = []ocispec.Descriptor{sbom}
	att := st.put(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("{}"), Size: 2}})
	att.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	att.Annotations = map[string]string{oci.AnnotationDockerReferenceType: "attestation-manifest", oci.AnnotationDockerReferenceDigest: img.Digest.String()}
	amd, v2 := img, img
	amd.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	v2.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64", Variant: "v2"}
	st.root = st.put(t, ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{amd, v2, att}})
	tree, err := ReadTree(t.Context(), st, t.Errorf, nil)
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, n := range tree.Root.Children {
		if n.Kind != KindManifest {
			continue
		}
		platforms = append(platforms, n.Platform)
		var kids []string
		for _, c := range n.Children {
			kids = append(kids, c.Kind+" "+c.Digest.Encoded()[:8])
		}
		want := []string{KindReferrer + " " + sbom.Digest.Encoded()[:8], KindAttestation + " " + att.Digest.Encoded()[:8]}
		if !slices.Equal(kids, want) {
			t.Errorf("%s: children %v, want %v", n.Platform, kids, want)
		}
	}
	if want := []string{"linux/amd64", "linux/amd64/v2"}; !slices.Equal(platforms, want) {
		t.Errorf("platforms %v, want %v", platforms, want)
	}
}
