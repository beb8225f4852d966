package oci

import (
	"encoding/json"
	"slices"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A layout can record the referrers of a manifest in two forms, and
// readers take one or the other: oras (oras-go's layout store, oras
// discover --oci-layout) lists each referrer manifest in index.json, where
// its subject field says whose it is; regctl (scheme/ocidir) reads only
// the referrers tag schema, an index.json entry tagged sha256-<hex> (the
// subject's digest) naming an image index whose manifests are the
// referrers' descriptors. The functions here build the second form the
// way regctl v0.11 writes it, byte for byte (but for a subject or
// artifactType another tool gave an old index, which they drop).

// ReferrersTagIndex returns the referrers tag schema index listing the
// manifests of old (nil when the layout has none yet) and then each of
// refs it lacks (compared by digest), in their order; added reports
// whether it lists any new one. Everything else old holds (annotations,
// other entries, whoever wrote them) is kept, but a subject or an
// artifactType, which no referrers tag index has (readers would take it
// for a referrer); a new index is an image
// index with schemaVersion and mediaType and nothing else, as regctl
// makes it. refs are the referrers as the referrers API describes them
// (see ReferrerDescriptor).
func ReferrersTagIndex(old *ocispec.Index, refs []ocispec.Descriptor) (idx ocispec.Index, added bool) {
	if old != nil {
		idx = *old
		// An index tagged sha256-<hex> names no subject and is no
		// artifact: were it one, readers would take it for a referrer.
		idx.Subject, idx.ArtifactType = nil, ""
	}
	idx.Versioned = specs.Versioned{SchemaVersion: 2}
	// regctl sets the media type of the index it rewrites.
	idx.MediaType = ocispec.MediaTypeImageIndex
	idx.Manifests = slices.Clone(idx.Manifests)
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	for _, r := range refs {
		if slices.ContainsFunc(idx.Manifests, func(d ocispec.Descriptor) bool { return d.Digest == r.Digest }) {
			continue
		}
		idx.Manifests = append(idx.Manifests, r)
		added = true
	}
	return idx, added
}

// EncodeReferrersTagIndex returns the bytes of idx and their descriptor:
// encoding/json's compact form, the one regctl hashes and stores.
func EncodeReferrersTagIndex(idx ocispec.Index) ([]byte, ocispec.Descriptor, error) {
	b, err := json.Marshal(idx)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	return b, DescriptorFor(ocispec.MediaTypeImageIndex, b), nil
}

// ReferrersTagEntry returns the index.json entry that tags the referrers
// tag schema index desc as tag: media type, digest and size, and the tag
// as its only annotation (ref.name), as regctl lists it.
func ReferrersTagEntry(desc ocispec.Descriptor, tag string) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:   desc.MediaType,
		Digest:      desc.Digest,
		Size:        desc.Size,
		Annotations: map[string]string{ocispec.AnnotationRefName: tag},
	}
}

// FindTagEntry returns the position of the first of entries (index.json's)
// tagged tag (ref.name), where regctl looks up a tag, or -1 (always for
// the empty tag).
func FindTagEntry(entries []ocispec.Descriptor, tag string) int {
	if tag == "" {
		return -1
	}
	return slices.IndexFunc(entries, func(d ocispec.Descriptor) bool { return d.Annotations[ocispec.AnnotationRefName] == tag })
}

// IsReferrersTagEntry reports whether the index.json entry d is a
// referrers tag schema index (an image index tagged sha256-<hex>, as affix
// and regctl write them into a layout): it lists referrers of that digest
// and is no image of the layout.
func IsReferrersTagEntry(d ocispec.Descriptor) bool {
	_, ok := referrersTagSubject(d)
	return ok
}
