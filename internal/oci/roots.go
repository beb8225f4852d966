package oci

import (
	"context"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// SplitRoots separates the descriptors an index.json lists into images and
// referrers. A referrer is a manifest with a subject: the SBOMs affix build
// --output records beside its image, and what oras attach --oci-layout
// adds. Referrers are returned by subject digest; an image listed under
// several names is returned once, with the first of its descriptors.
//
// A layout with one root is returned as is without reading it.
func SplitRoots(ctx context.Context, f Fetcher, roots []ocispec.Descriptor) (images []ocispec.Descriptor, referrers map[digest.Digest][]ocispec.Descriptor, err error) {
	if len(roots) <= 1 {
		return roots, nil, nil
	}
	for _, r := range roots {
		subject, err := subjectOf(ctx, f, r)
		if err != nil {
			return nil, nil, err
		}
		if subject != "" {
			if referrers == nil {
				referrers = map[digest.Digest][]ocispec.Descriptor{}
			}
			referrers[subject] = append(referrers[subject], r)
			continue
		}
		if !slices.ContainsFunc(images, func(d ocispec.Descriptor) bool { return d.Digest == r.Digest }) {
			images = append(images, r)
		}
	}
	return images, referrers, nil
}

// subjectOf returns the subject digest of manifest or index d, or "" when
// it has none or is not a manifest.
func subjectOf(ctx context.Context, f Fetcher, d ocispec.Descriptor) (digest.Digest, error) {
	if !IsManifest(d.MediaType) && !IsIndex(d.MediaType) {
		return "", nil
	}
	var m struct {
		Subject *ocispec.Descriptor `json:"subject"`
	}
	if _, err := ReadJSON(ctx, f, d, &m); err != nil {
		return "", fmt.Errorf("reading %s: %w", d.Digest, err)
	}
	if m.Subject == nil {
		return "", nil
	}
	return m.Subject.Digest, nil
}
