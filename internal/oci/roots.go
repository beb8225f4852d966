package oci

import (
	"context"
	"fmt"
	"regexp"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// SplitRoots separates the descriptors an index.json lists into images and
// referrers. A referrer is a manifest with a subject: the SBOMs affix build
// --output records beside its image, and what oras attach --oci-layout
// adds. Referrers are returned by subject digest, each as the referrers
// API describes it (artifactType, else the config media type, and the
// manifest's annotations), whatever index.json says of it; an image listed
// under several names is returned once, with the first of its descriptors.
// A referrers tag schema index listed in index.json (regctl's way of
// recording referrers in a layout: ref.name sha256-<hex>) is no image: what
// it lists are referrers of that digest. A root that cannot be read is an
// error (the first, in index.json order).
//
// A layout with one root is returned as is without reading it.
func SplitRoots(ctx context.Context, f Fetcher, roots []ocispec.Descriptor) (images []ocispec.Descriptor, referrers map[digest.Digest][]ocispec.Descriptor, err error) {
	images, referrers, unreadable := ClassifyRoots(ctx, f, roots)
	for _, r := range roots {
		if err := unreadable[r.Digest]; err != nil {
			return nil, nil, err
		}
	}
	return images, referrers, nil
}

// ClassifyRoots is SplitRoots for readers that show what they can: a root
// it cannot read is neither image nor referrer but set aside in
// unreadable, with why, for the caller to report.
func ClassifyRoots(ctx context.Context, f Fetcher, roots []ocispec.Descriptor) (images []ocispec.Descriptor, referrers map[digest.Digest][]ocispec.Descriptor, unreadable map[digest.Digest]error) {
	if len(roots) <= 1 {
		return roots, nil, nil
	}
	for _, r := range roots {
		if subject, ok := referrersTagSubject(r); ok {
			// A referrers tag schema index, as regctl writes it into a
			// layout: what it lists are referrers of subject.
			var idx ocispec.Index
			if _, err := ReadJSON(ctx, f, r, &idx); err != nil {
				if unreadable == nil {
					unreadable = map[digest.Digest]error{}
				}
				unreadable[r.Digest] = fmt.Errorf("reading referrers tag %s: %w", r.Annotations[ocispec.AnnotationRefName], err)
				continue
			}
			if referrers == nil {
				referrers = map[digest.Digest][]ocispec.Descriptor{}
			}
			for _, m := range idx.Manifests {
				if !slices.ContainsFunc(referrers[subject], func(d ocispec.Descriptor) bool { return d.Digest == m.Digest }) {
					referrers[subject] = append(referrers[subject], m)
				}
			}
			continue
		}
		subject, ref, err := referrerOf(ctx, f, r)
		if err != nil {
			if unreadable == nil {
				unreadable = map[digest.Digest]error{}
			}
			unreadable[r.Digest] = err
			continue
		}
		if subject != "" {
			if referrers == nil {
				referrers = map[digest.Digest][]ocispec.Descriptor{}
			}
			if i := slices.IndexFunc(referrers[subject], func(d ocispec.Descriptor) bool { return d.Digest == r.Digest }); i < 0 {
				referrers[subject] = append(referrers[subject], ref)
			} else {
				referrers[subject][i] = ref // the manifest's own word over a tag index's copy
			}
			continue
		}
		if !slices.ContainsFunc(images, func(d ocispec.Descriptor) bool { return d.Digest == r.Digest }) {
			images = append(images, r)
		}
	}
	return images, referrers, unreadable
}

// referrersTagRE is a referrers tag of a sha256 subject (the only
// algorithm whose tag keeps the whole digest).
var referrersTagRE = regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)

// anyReferrersTagRE is a referrers tag of a sha256 or sha512 subject
// (the hex cut to 64 characters, as the schema cuts it).
var anyReferrersTagRE = regexp.MustCompile(`^sha(256|512)-[0-9a-f]{64}$`)

// IsReferrersTag reports whether tag has the referrers tag schema's form
// for a sha256 or sha512 digest (<alg>-<hex>): on a registry without the
// referrers API, the tag where the referrers of that digest are listed,
// which an image tagged so would overwrite.
func IsReferrersTag(tag string) bool {
	return anyReferrersTagRE.MatchString(tag)
}

// referrersTagSubject reports whether the index.json entry d is a
// referrers tag schema index, and the subject digest its tag names.
func referrersTagSubject(d ocispec.Descriptor) (digest.Digest, bool) {
	tag := d.Annotations[ocispec.AnnotationRefName]
	if !IsIndex(d.MediaType) || !referrersTagRE.MatchString(tag) {
		return "", false
	}
	return digest.Digest("sha256:" + tag[len("sha256-"):]), true
}

// referrerOf returns the subject digest of manifest or index d and d as a
// referrers list describes it, or "" when it has no subject or is not a
// manifest.
func referrerOf(ctx context.Context, f Fetcher, d ocispec.Descriptor) (digest.Digest, ocispec.Descriptor, error) {
	if !IsManifest(d.MediaType) && !IsIndex(d.MediaType) {
		return "", d, nil
	}
	// An index decodes as a manifest without config or layers: what is
	// read here (artifactType, subject, annotations) it has the same.
	var m ocispec.Manifest
	if _, err := ReadJSON(ctx, f, d, &m); err != nil {
		return "", d, fmt.Errorf("reading %s: %w", d.Digest, err)
	}
	if m.Subject == nil {
		return "", d, nil
	}
	return m.Subject.Digest, ReferrerDescriptor(d, m), nil
}

// ReferrerDescriptor returns d, the descriptor of the referrer manifest
// m, as the referrers API lists it: media type, digest and size, m's
// artifactType (else, for an image manifest, its config's media type) and
// m's annotations.
func ReferrerDescriptor(d ocispec.Descriptor, m ocispec.Manifest) ocispec.Descriptor {
	out := ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: m.ArtifactType, Annotations: m.Annotations}
	if out.ArtifactType == "" && IsManifest(d.MediaType) {
		out.ArtifactType = m.Config.MediaType
	}
	return out
}
