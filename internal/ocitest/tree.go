package ocitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrMissing is what a Fetch wraps for content its store does not hold.
var ErrMissing = errors.New("content not found")

// Fetch returns the content desc names, the bytes as stored: Tree checks
// them against desc. Content the store does not hold is an error wrapping
// ErrMissing.
type Fetch func(ctx context.Context, desc ocispec.Descriptor) ([]byte, error)

// Tree validates the content desc names and everything below it: each
// manifest, index, config and empty blob with ValidateDocument, every
// descriptor (layers too) against the bytes it names (size, digest, data),
// a document's own mediaType against the descriptor naming it, an entry's
// artifactType against the manifest's, the subject of a manifest or index
// against the subject's content, and every image manifest entry of an
// index (one whose config is an image config) for a platform. Docker
// schema 2 documents are walked, not validated. It reports every problem
// found, each prefixed with the path to it.
func Tree(ctx context.Context, fetch Fetch, desc ocispec.Descriptor) error {
	w := newWalker(fetch)
	w.walk(ctx, "", desc)
	return w.err()
}

// walker walks a tree of content once, collecting problems.
type walker struct {
	problems
	fetch Fetch
	seen  map[digest.Digest]bool
	docs  map[digest.Digest][]byte
}

func newWalker(fetch Fetch) *walker {
	return &walker{fetch: fetch, seen: map[digest.Digest]bool{}, docs: map[digest.Digest][]byte{}}
}

// name is where, then d's digest, for messages.
func name(where string, d ocispec.Descriptor) string {
	if where == "" {
		return d.Digest.String()
	}
	return where + " " + d.Digest.String()
}

// content fetches d and checks the bytes against it; ok is false when it
// could not be fetched.
func (w *walker) content(ctx context.Context, where string, d ocispec.Descriptor) (b []byte, ok bool) {
	if b, ok := w.docs[d.Digest]; ok {
		return b, true
	}
	b, err := w.fetch(ctx, d)
	if err != nil {
		w.addf("%s: %w", where, err)
		return nil, false
	}
	if int64(len(b)) != d.Size {
		w.addf("%s: descriptor size %d, content %d bytes (image-spec descriptor.md: size of the raw content)", where, d.Size, len(b))
	}
	if d.Digest.Validate() == nil && d.Digest.Algorithm().Available() && d.Digest.Algorithm().FromBytes(b) != d.Digest {
		w.addf("%s: the content's digest is %s (image-spec descriptor.md: digest of the targeted content)", where, d.Digest.Algorithm().FromBytes(b))
	}
	return b, true
}

// document validates b as a document of mt, prefixing problems with where.
func (w *walker) document(where, mt string, b []byte) {
	if err := ValidateDocument(mt, b); err != nil {
		w.addf("%s (%s): %w", where, mt, err)
	}
}

// isJSONType reports whether mt is a document walk reads.
func isJSONType(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, mediaTypeDockerManifest, mediaTypeDockerManifestList:
		return true
	}
	return false
}

// walk checks d (named at where) and what it references.
func (w *walker) walk(ctx context.Context, where string, d ocispec.Descriptor) {
	if where == "" {
		// Below the root, the document holding d checked it already.
		checkDescriptor(&w.problems, d.Digest.String(), d)
	}
	where = name(where, d)
	if w.seen[d.Digest] {
		return
	}
	w.seen[d.Digest] = true
	b, ok := w.content(ctx, where, d)
	if !ok {
		return
	}
	if isJSONType(d.MediaType) {
		w.docs[d.Digest] = b
	}
	switch d.MediaType {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		if d.MediaType == ocispec.MediaTypeImageManifest {
			w.document(where, d.MediaType, b)
		}
		var m manifestDoc
		if err := json.Unmarshal(b, &m); err != nil {
			w.addf("%s: %w", where, err)
			return
		}
		if m.MediaType != nil && *m.MediaType != d.MediaType {
			w.addf("%s: the descriptor says %s, the manifest's mediaType %s (image-spec descriptor.md: mediaType of the referenced content)", where, d.MediaType, *m.MediaType)
		}
		if d.ArtifactType != "" {
			if at := manifestArtifactType(m); d.ArtifactType != at {
				w.addf("%s: the descriptor's artifactType %q, the manifest's %q (image-spec descriptor.md, artifactType)", where, d.ArtifactType, at)
			}
		}
		if m.Config != nil {
			w.walk(ctx, where+" config", *m.Config)
		}
		for i, l := range m.Layers {
			w.walk(ctx, fmt.Sprintf("%s layers[%d]", where, i), l)
		}
		w.subject(ctx, where, m.Subject)
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		if d.MediaType == ocispec.MediaTypeImageIndex {
			w.document(where, d.MediaType, b)
		}
		var idx indexDoc
		if err := json.Unmarshal(b, &idx); err != nil {
			w.addf("%s: %w", where, err)
			return
		}
		if idx.MediaType != nil && *idx.MediaType != d.MediaType {
			w.addf("%s: the descriptor says %s, the index's mediaType %s (image-spec descriptor.md: mediaType of the referenced content)", where, d.MediaType, *idx.MediaType)
		}
		w.entries(ctx, where, idx.Manifests)
		w.subject(ctx, where, idx.Subject)
	case ocispec.MediaTypeImageConfig, ocispec.MediaTypeEmptyJSON:
		w.document(where, d.MediaType, b)
	}
}

// entries walks the entries of an index (named at where) and checks that
// each image manifest has its platform.
func (w *walker) entries(ctx context.Context, where string, entries []ocispec.Descriptor) {
	for i, e := range entries {
		at := fmt.Sprintf("%s manifests[%d]", where, i)
		w.walk(ctx, at, e)
		if e.Platform == nil && w.isImage(e.Digest) {
			w.addf("%s: image manifest %s (config %s) has no platform (image-spec image-index.md: SHOULD be present if its target is platform-specific; descriptor.md)", at, e.Digest, w.configType(e.Digest))
		}
	}
}

// configType returns the config media type of the manifest d, read
// already, "" if it is none.
func (w *walker) configType(d digest.Digest) string {
	var m manifestDoc
	if b, ok := w.docs[d]; ok && json.Unmarshal(b, &m) == nil && m.Config != nil {
		return m.Config.MediaType
	}
	return ""
}

// isImage reports whether d, read already, is a platform image manifest:
// its config is an image config.
func (w *walker) isImage(d digest.Digest) bool {
	ct := w.configType(d)
	return ct == ocispec.MediaTypeImageConfig || ct == mediaTypeDockerConfig
}

// manifestArtifactType is what a referrers listing says of m: its
// artifactType, else its config media type.
func manifestArtifactType(m manifestDoc) string {
	if m.ArtifactType != nil && *m.ArtifactType != "" {
		return *m.ArtifactType
	}
	if m.Config != nil {
		return m.Config.MediaType
	}
	return ""
}

// subject checks the subject s of the document at where against the
// subject's content: it is in the store, of that size, digest and media
// type. A subject is not walked further: it is another tree.
func (w *walker) subject(ctx context.Context, where string, s *ocispec.Descriptor) {
	if s == nil {
		return
	}
	at := where + " subject " + s.Digest.String()
	b, ok := w.content(ctx, at, *s)
	if !ok {
		return
	}
	var doc struct {
		MediaType *string `json:"mediaType"`
	}
	if json.Unmarshal(b, &doc) == nil && doc.MediaType != nil && *doc.MediaType != s.MediaType {
		w.addf("%s: the subject descriptor says %s, the subject's mediaType %s (image-spec descriptor.md: mediaType of the referenced content)", at, s.MediaType, *doc.MediaType)
	}
	if s.Platform != nil || s.URLs != nil || s.Data != nil || s.ArtifactType != "" || len(s.Annotations) > 0 {
		w.addf("%s: the subject descriptor carries more than mediaType, digest and size: %+v", at, *s)
	}
}

// ReferrersIndex validates data, a referrers index of subject (the
// referrers tag schema's, or a referrers API answer), as the
// distribution-spec v1.1 wants it: a valid image index with mediaType
// set, listing each manifest once (duplicate entries SHOULD NOT be
// created), each a manifest or index in the store (fetch) whose subject
// is subject, each entry with the artifactType of the manifest (else its
// config media type; none for an index without one) and all its
// annotations (and only those), no platform. Each referrer is walked
// (Tree).
func ReferrersIndex(ctx context.Context, fetch Fetch, subject digest.Digest, data []byte) error {
	w := newWalker(fetch)
	w.document("referrers index of "+subject.String(), ocispec.MediaTypeImageIndex, data)
	var idx indexDoc
	if err := json.Unmarshal(data, &idx); err != nil {
		return errors.Join(w.err(), err)
	}
	if idx.MediaType == nil {
		w.addf("referrers index of %s: no mediaType (distribution-spec Listing Referrers: an image index, Content-Type %s, served from the tag by its mediaType)", subject, ocispec.MediaTypeImageIndex)
	}
	if idx.Subject != nil || idx.ArtifactType != nil {
		w.addf("referrers index of %s: has a subject or artifactType: a reader takes it for a referrer itself", subject)
	}
	seen := map[digest.Digest]bool{}
	for i, e := range idx.Manifests {
		at := fmt.Sprintf("referrers index of %s manifests[%d] %s", subject, i, e.Digest)
		if seen[e.Digest] {
			w.addf("%s: listed twice (distribution-spec Pushing Manifests with Subject: duplicate entries SHOULD NOT be created)", at)
		}
		seen[e.Digest] = true
		if e.MediaType != ocispec.MediaTypeImageManifest && e.MediaType != ocispec.MediaTypeImageIndex {
			w.addf("%s: mediaType %s is not an image manifest or index (distribution-spec Listing Referrers)", at, e.MediaType)
			continue
		}
		w.walk(ctx, fmt.Sprintf("referrers index of %s manifests[%d]", subject, i), e)
		b, ok := w.docs[e.Digest]
		if !ok {
			continue
		}
		var doc manifestDoc
		if err := json.Unmarshal(b, &doc); err != nil {
			continue // walk reported it
		}
		if doc.Subject == nil || doc.Subject.Digest != subject {
			w.addf("%s: its subject is %v, not %s (distribution-spec Listing Referrers: each descriptor is of a manifest whose subject is the digest)", at, doc.Subject, subject)
		}
		want := ""
		if e.MediaType == ocispec.MediaTypeImageManifest {
			want = manifestArtifactType(doc)
		} else if doc.ArtifactType != nil {
			want = *doc.ArtifactType
		}
		if e.ArtifactType != want {
			w.addf("%s: artifactType %q, want %q (distribution-spec Pushing Manifests with Subject: the manifest's artifactType, else its config mediaType; omitted for an index without one)", at, e.ArtifactType, want)
		}
		if !maps.Equal(e.Annotations, doc.Annotations) {
			w.addf("%s: annotations %v, the manifest's %v (distribution-spec Pushing Manifests with Subject: all annotations from the pushed manifest MUST be copied)", at, e.Annotations, doc.Annotations)
		}
		if e.Platform != nil {
			w.addf("%s: a platform %+v: a referrers listing describes artifacts, not platform images", at, *e.Platform)
		}
	}
	return w.err()
}
