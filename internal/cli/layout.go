package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// layoutRoot returns the one image (index or manifest) of a layout, and
// the referrer manifests index.json lists beside it, by subject digest
// (see oci.SplitRoots). verb says what the command does with the image, in
// the error for a layout of several. An index.json entry that cannot be
// read fails it, unless warn is set (readers: ls, get): then it is skipped
// with a warning there (see NewWarnf), as ls skips a registry's unreadable
// referrers.
func layoutRoot(ctx context.Context, l *oci.Layout, verb string, warn func(format string, args ...any)) (ocispec.Descriptor, map[digest.Digest][]ocispec.Descriptor, error) {
	// The referrers of the whole index.json: a :TAG or @DIGEST in the
	// source selects the image, not the SBOMs listed beside it.
	entries := l.Index().Manifests
	all, refs, unreadable := oci.ClassifyRoots(ctx, l, entries)
	for _, e := range entries {
		err := unreadable[e.Digest]
		if err == nil {
			continue
		}
		if warn == nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("%s: %w", l.Source(), err)
		}
		warn("%s: index.json lists %s, which cannot be read; skipped: %v", l.Source(), e.Digest, err)
	}
	roots := l.Roots()
	if len(roots) == 1 && !slices.ContainsFunc(entries, func(e ocispec.Descriptor) bool { return e.Digest == roots[0].Digest }) {
		// @DIGEST named a manifest inside the image (a platform's).
		return roots[0], refs, nil
	}
	images := slices.DeleteFunc(all, func(d ocispec.Descriptor) bool {
		return !slices.ContainsFunc(roots, func(r ocispec.Descriptor) bool { return r.Digest == d.Digest })
	})
	if len(images) == 1 {
		return images[0], refs, nil
	}
	if len(images) == 0 {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: index.json lists no image: %w", l.Source(), oci.ErrNoMatch)
	}
	var names []string
	for _, r := range images {
		n := oci.EntryName(r)
		if n == "" {
			n = "(unnamed)"
		}
		names = append(names, n+" "+r.Digest.String())
	}
	src := l.Source()
	src.Tag, src.Digest = "TAG", ""
	return ocispec.Descriptor{}, nil, fmt.Errorf("%s: index.json lists %d images (%s); name the one to %s: %s or @DIGEST", l.Source(), len(images), strings.Join(names, ", "), verb, src)
}

// layoutPlatforms returns the manifests of the image root in l (oci.Walk)
// and its platform images (oci.Select, every platform); errors name l.
func layoutPlatforms(ctx context.Context, l *oci.Layout, root ocispec.Descriptor) (images, platforms []oci.Image, err error) {
	images, err = oci.Walk(ctx, l, root)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", l.Source(), err)
	}
	platforms, err = oci.Select(images, oci.Selector{All: true})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", l.Source(), err)
	}
	return images, platforms, nil
}
