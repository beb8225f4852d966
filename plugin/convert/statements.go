package convert

import (
	"context"
	"fmt"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// MaxRead is the default of Options.MaxRead, per platform with an
// attestation manifest: the bytes of statements one Convert reads, eight
// times MaxStatementSize (1.25 GiB) for each such platform. Each layer
// digest is read once however many attestation manifests list it, so the
// bound is on distinct statements: a build's final-image SBOM, its
// stages' and context's. It keeps an index that lists many large
// statements from costing reads without end, and grows with the
// platforms, so that an image of many platforms, each with a large SBOM,
// converts.
const MaxRead = 8 * MaxStatementSize

// statements reads the statement layers of one Convert: each digest once,
// however many attestation manifests list it (or one lists it how many
// times), and at most max bytes in all. A digest several platforms read
// (expect) is kept in memory until the last of them took it, then
// forgotten: what is held is what is shared, not every statement read.
type statements struct {
	f     oci.Fetcher
	max   int64
	image string // the image converted, for the error past max

	mu   sync.Mutex
	read int64 // bytes read or being read
	m    map[digest.Digest]*statementRead
}

// statementRead is one digest's read, shared by the platforms that list it.
type statementRead struct {
	started bool
	done    chan struct{} // closed once data and err are set
	data    []byte
	err     error
	users   int // platforms still to take it
}

// newStatements returns the reader of the statements of image, which
// reads at most limit bytes in all; 0 means MaxRead, until perPlatform
// sets it for the platforms attested.
func newStatements(f oci.Fetcher, limit int64, image string) *statements {
	if limit <= 0 {
		limit = MaxRead
	}
	return &statements{f: f, max: limit, image: image, m: map[digest.Digest]*statementRead{}}
}

// perPlatform sets the bound to MaxRead for each of n platforms (at
// least one), before any read.
func (s *statements) perPlatform(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.max = MaxRead * int64(max(n, 1))
}

// expect says one more platform will read d (once: a platform whose
// attestation manifest lists d twice reads it once).
func (s *statements) expect(d digest.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[d]
	if e == nil {
		e = &statementRead{done: make(chan struct{})}
		s.m[d] = e
	}
	e.users++
}

// get returns the bytes of l, reading them (oci.ReadBlob, at most
// MaxStatementSize) unless another platform did or is doing so; it is
// the caller's take of l's expected reads. Past s.max bytes in all it
// fails with ErrReadLimit.
func (s *statements) get(ctx context.Context, l ocispec.Descriptor) ([]byte, error) {
	s.mu.Lock()
	e := s.m[l.Digest]
	if e == nil || (e.started && e.users <= 0) {
		// Not expected, or every expected reader took it: read alone.
		e = &statementRead{done: make(chan struct{}), users: 1}
		s.m[l.Digest] = e
	}
	owner := !e.started
	e.started = true
	s.mu.Unlock()
	if owner {
		e.data, e.err = s.fetch(ctx, l)
		close(e.done)
	} else {
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	if e.users <= 0 {
		// Taken by as many readers as expected already, not by this
		// one (a caller that did not expect it): read it alone.
		s.mu.Unlock()
		return s.fetch(ctx, l)
	}
	data, err := e.data, e.err
	if e.users--; e.users == 0 {
		// The last platform listing it took it: forget the bytes.
		e.data = nil
		if s.m[l.Digest] == e {
			delete(s.m, l.Digest)
		}
	}
	s.mu.Unlock()
	return data, err
}

// fetch reads l after counting its size against s.max.
func (s *statements) fetch(ctx context.Context, l ocispec.Descriptor) ([]byte, error) {
	if l.Size > 0 && l.Size <= MaxStatementSize {
		// Larger is refused by ReadBlob without a read.
		s.mu.Lock()
		over := s.read+l.Size > s.max
		if !over {
			s.read += l.Size
		}
		read := s.read
		s.mu.Unlock()
		if over {
			return nil, fmt.Errorf("%s: statement layer %s (%d bytes) would take the statements read past %d bytes (%d read or being read): %w", s.image, l.Digest, l.Size, s.max, read, ErrReadLimit)
		}
	}
	return oci.ReadBlob(ctx, s.f, l, MaxStatementSize)
}

// imageRef names the image reference names in repository name:
// NAME:TAG, or NAME@DIGEST.
func imageRef(name, reference string) string {
	if _, err := digest.Parse(reference); err == nil {
		return name + "@" + reference
	}
	return name + ":" + reference
}
