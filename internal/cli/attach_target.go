package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocidir"
)

// attachTarget is where attach reads an image and writes its referrers: a
// registry repository, or a local OCI layout directory (whose index.json
// then lists the new referrers after its entries, as affix build --output
// and oras attach --oci-layout leave one).
type attachTarget struct {
	// src reads the image.
	src oci.Fetcher
	// dst receives the referrers.
	dst exporter.Target
	// root is the image REF names.
	root ocispec.Descriptor
	// name is the image name SBOMs use unless --name is given.
	name string
	// finish, when set, runs after a successful Commit with what it wrote.
	finish func(ctx context.Context, res *exporter.Result) error
	close  func() error
}

// openAttachTarget opens s: oci-layout:DIR[:TAG][@DIGEST], else a
// registry reference. A tar (oci-archive:) cannot take referrers in place.
// Warnings (another tool's damage to the layout, left as it is) go to
// warn (see NewWarnf).
func (o *attachOptions) openAttachTarget(ctx context.Context, g *globalOptions, s string, counter *exporter.Counter, warn func(format string, args ...any)) (*attachTarget, error) {
	if isLayoutSource(s) {
		src, err := oci.ParseSource(s)
		if err != nil {
			return nil, usageError(err)
		}
		if fi, err := os.Stat(src.Path); src.Scheme != oci.SchemeLayout || err == nil && fi.Mode().IsRegular() {
			// oci-layout: naming a tar gets the same answer as
			// oci-archive:, not a hint to use oci-archive:.
			return nil, usageError(fmt.Errorf("%s: a layout tar cannot take referrers in place; attach to a layout directory (oci-layout:DIR)", s))
		}
		l, err := oci.Open(ctx, src)
		if err != nil {
			return nil, err
		}
		// Another tool's damage (a referrer or tag index whose blob
		// is gone) does not fail the attach: it is left as it is, and
		// ocidir.AddReferrers warns about what it leaves that concerns
		// the referrers it writes. The entries skipped here are shown
		// only when no image is left to attach to: they may be why.
		var skipped []string
		root, _, err := layoutRoot(ctx, l, "attach to", func(format string, args ...any) {
			skipped = append(skipped, fmt.Sprintf(format, args...))
		})
		if r := l.Roots(); errors.Is(err, oci.ErrNoMatch) && src.Digest != "" && len(r) == 1 && r[0].Digest == src.Digest {
			// @DIGEST names a referrer index.json lists (an SBOM, to
			// be signed), as REPO@DIGEST can in a registry.
			root, err = r[0], nil
		}
		if err != nil {
			for _, s := range skipped {
				warn("%s", s)
			}
			l.Close()
			return nil, err
		}
		// Before any scan: a layout it cannot write is known now, and
		// one whose blob or ingest directories (or blobs) lead out of
		// it through symbolic links is refused before anything is
		// written through them.
		if err := oci.CheckLayoutWrite(src.Path); err != nil {
			l.Close()
			return nil, err
		}
		for _, d := range []string{src.Path, filepath.Join(src.Path, ocispec.ImageBlobsDir, "sha256")} {
			if _, err := os.Stat(d); err != nil {
				continue // created when needed
			}
			if err := checkWritableDir(s, d); err != nil {
				l.Close()
				return nil, err
			}
		}
		dst, err := exporter.NewLayout(ctx, src.Path)
		if err != nil {
			l.Close()
			return nil, err
		}
		return &attachTarget{src: l, dst: dst, root: root, name: layoutRefName([]ocispec.Descriptor{l.NamedBy(root)}), close: l.Close,
			finish: func(ctx context.Context, res *exporter.Result) error {
				return ocidir.AddReferrers(ctx, src.Path, res.Referrers, warn)
			}}, nil
	}
	img, err := o.openRemoteImage(ctx, g, s, counter)
	if err != nil {
		return nil, err
	}
	return &attachTarget{src: img.repo, dst: img.repo, root: img.root, name: img.name, close: func() error { return nil }}, nil
}

// commit commits p and then runs the target's finish.
func (t *attachTarget) commit(ctx context.Context, p *exporter.Push) (*exporter.Result, error) {
	res, err := p.Commit(ctx)
	if err != nil {
		return nil, err
	}
	if t.finish != nil {
		// Part of the commit: an interrupt now does not cut it short.
		if err := t.finish(context.WithoutCancel(ctx), res); err != nil {
			return nil, err
		}
	}
	return res, nil
}
