package exporter

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Finder lists referrers: through the referrers API where the target
// serves it, else from the referrers tag. After a 404 from the API, before
// the API has answered, it goes straight to the tag for the rest of its
// life. Once the API has answered, a 404 means the repository holds no
// such subject (some registries answer so), not that the API is gone: no
// referrers. It is safe for concurrent use.
type Finder struct {
	t    Target
	mu   sync.Mutex
	mode Mode
}

// NewFinder returns a Finder reading from t.
func NewFinder(t Target) *Finder { return &Finder{t: t} }

// Referrers returns the referrers of subject and the mode that found them:
// the referrers API, else (the registry has none) the referrers tag. A
// referrers API that refuses the credentials (401, 403) while the
// referrers tag lists referrers gives those.
func (f *Finder) Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, Mode, error) {
	f.mu.Lock()
	mode := f.mode
	f.mu.Unlock()
	if l, ok := f.t.(ReferrersLister); ok && mode != ModeTagSchema {
		refs, err := l.ReferrersAPI(ctx, subject)
		if err == nil {
			f.setMode(ModeAPI)
			return refs, ModeAPI, nil
		}
		if errors.Is(err, ErrUnauthorized) {
			// Some registries guard the referrers endpoint apart
			// from manifests: the referrers tag may still be
			// readable. Only a tag that lists referrers is taken;
			// else the refusal stands (an empty list would hide it).
			if idx, terr := ReadReferrersIndex(ctx, f.t, subject); terr == nil && len(idx.Manifests) > 0 {
				return idx.Manifests, ModeTagSchema, nil
			}
			return nil, "", err
		}
		if !errors.Is(err, ErrReferrersAPIUnsupported) {
			return nil, "", err
		}
		if mode == ModeAPI {
			return nil, ModeAPI, nil
		}
		f.setMode(ModeTagSchema)
	}
	idx, err := ReadReferrersIndex(ctx, f.t, subject)
	if err != nil {
		return nil, ModeTagSchema, err
	}
	return idx.Manifests, ModeTagSchema, nil
}

// Mode is what the Finder has learnt of the target: ModeAPI once the
// referrers API answered, ModeTagSchema once it did not, "" before any
// lookup decided.
func (f *Finder) Mode() Mode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mode
}

func (f *Finder) setMode(m Mode) {
	f.mu.Lock()
	f.mode = m
	f.mu.Unlock()
}

// Created returns the org.opencontainers.image.created annotation of d,
// parsed (zero when absent or malformed).
func Created(d ocispec.Descriptor) time.Time {
	t, err := oci.ParseTime(d.Annotations[ocispec.AnnotationCreated])
	if err != nil {
		return time.Time{}
	}
	return t
}

// NewestFirst returns the referrers of any of artifactTypes, newest
// org.opencontainers.image.created first; a tie, or a missing time, goes
// to the later position in refs.
func NewestFirst(refs []ocispec.Descriptor, artifactTypes ...string) []ocispec.Descriptor {
	var idx []int
	for i, r := range refs {
		if slices.Contains(artifactTypes, r.ArtifactType) {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := Created(refs[b]).Compare(Created(refs[a])); c != 0 {
			return c
		}
		return b - a
	})
	out := make([]ocispec.Descriptor, len(idx))
	for i, j := range idx {
		out[i] = refs[j]
	}
	return out
}

// Newest returns the first referrer of NewestFirst, and false when there
// is none.
func Newest(refs []ocispec.Descriptor, artifactTypes ...string) (ocispec.Descriptor, bool) {
	if n := NewestFirst(refs, artifactTypes...); len(n) > 0 {
		return n[0], true
	}
	return ocispec.Descriptor{}, false
}
