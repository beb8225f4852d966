package discover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
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
