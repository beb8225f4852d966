package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
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
	// ref is REF as given, naming the target in errors.
	ref string
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
		return openAttachLayout(ctx, s, warn)
	}
	img, err := o.openRemoteImage(ctx, g, s, counter)
	if err != nil {
		return nil, err
	}
	return &attachTarget{src: img.repo, dst: img.repo, root: img.root, name: img.name, ref: s, close: func() error { return nil }}, nil
}

// openAttachLayout opens the layout directory s names,
// oci-layout:DIR[:TAG][@DIGEST], to attach to its image; finish lists the
// referrers written in its index.json. Warnings go to warn.
func openAttachLayout(ctx context.Context, s string, warn func(format string, args ...any)) (*attachTarget, error) {
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
	root, err := attachLayoutRoot(ctx, l, src.Digest, warn)
	if err != nil {
		l.Close()
		return nil, err
	}
	// Before any scan: a layout it cannot write is known now, and one
	// whose blob or ingest directories (or blobs) lead out of it through
	// symbolic links is refused before anything is written through them.
	if err := checkAttachLayoutWrite(s, src.Path); err != nil {
		l.Close()
		return nil, err
	}
	dst, err := exporter.NewLayout(ctx, src.Path)
	if err != nil {
		l.Close()
		return nil, err
	}
	return &attachTarget{src: l, dst: dst, root: root, name: layoutRefName([]ocispec.Descriptor{l.NamedBy(root)}), ref: s, close: l.Close,
		finish: func(ctx context.Context, res *exporter.Result) error {
			return ocidir.AddReferrers(ctx, src.Path, res.Referrers, warn)
		}}, nil
}

// attachLayoutRoot returns the image of l to attach to (layoutRoot); or,
// when @DIGEST (dgst) names a referrer index.json lists (an SBOM, to be
// signed), that referrer, as REPO@DIGEST can name one in a registry.
//
// Another tool's damage (a referrer or tag index whose blob is gone) does
// not fail the attach: it is left as it is, and ocidir.AddReferrers warns
// about what it leaves that concerns the referrers it writes. The entries
// layoutRoot skips are shown (warn) only when no image is left to attach
// to: they may be why.
func attachLayoutRoot(ctx context.Context, l *oci.Layout, dgst digest.Digest, warn func(format string, args ...any)) (ocispec.Descriptor, error) {
	var skipped []string
	root, _, err := layoutRoot(ctx, l, "attach to", func(format string, args ...any) {
		skipped = append(skipped, fmt.Sprintf(format, args...))
	})
	if r := l.Roots(); errors.Is(err, oci.ErrNoMatch) && dgst != "" && len(r) == 1 && r[0].Digest == dgst {
		return r[0], nil
	}
	if err != nil {
		for _, s := range skipped {
			warn("%s", s)
		}
		return ocispec.Descriptor{}, err
	}
	return root, nil
}

// checkAttachLayoutWrite checks that attach can write the layout
// directory dir (oci.CheckLayoutWrite), and that dir and its blob
// directory, where they exist, take new files; s names the layout in
// errors.
func checkAttachLayoutWrite(s, dir string) error {
	if err := oci.CheckLayoutWrite(dir); err != nil {
		return err
	}
	for _, d := range []string{dir, filepath.Join(dir, ocispec.ImageBlobsDir, "sha256")} {
		if _, err := os.Stat(d); err != nil {
			continue // created when needed
		}
		if err := checkWritableDir(s, d); err != nil {
			return err
		}
	}
	return nil
}

// platforms returns the platform images of t to scan: every one, or the
// one platform (--platform) names. A manifest that is no image (an
// artifact such as an SBOM) is a usage error: it takes files, not SBOMs.
func (t *attachTarget) platforms(ctx context.Context, platform string) ([]oci.Image, error) {
	images, err := oci.Walk(ctx, t.src, t.root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.ref, err)
	}
	if len(images) == 0 && oci.IsManifest(t.root.MediaType) {
		// A referrer (an SBOM, a signature): it takes artifacts, not
		// SBOMs of its own.
		return nil, usageError(fmt.Errorf("%s: %s is no image (an artifact such as an SBOM): attach files to it with --artifact-type TYPE and FILE arguments", t.ref, t.root.Digest))
	}
	sel := oci.Selector{All: true}
	if platform != "" {
		sel = oci.Selector{Platform: platform}
	}
	picked, err := oci.Select(images, sel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.ref, err)
	}
	return picked, nil
}

// subject returns the image attach gives files to: t's root, or with
// platform (--platform) that platform's manifest, of an index or of a
// single-platform image whose config names that platform.
func (t *attachTarget) subject(ctx context.Context, platform string) (oci.Image, error) {
	if platform == "" {
		return oci.Image{Descriptor: t.root}, nil
	}
	images, err := oci.Walk(ctx, t.src, t.root)
	if err != nil {
		return oci.Image{}, fmt.Errorf("%s: %w", t.ref, err)
	}
	picked, err := oci.Select(images, oci.Selector{Platform: platform})
	if err != nil {
		if !oci.IsIndex(t.root.MediaType) && len(images) == 1 && errors.Is(err, oci.ErrNoMatch) {
			return oci.Image{}, fmt.Errorf("%s: --platform %s: %s is a single-platform image of %s: %w", t.ref, platform, t.root.Digest, images[0], oci.ErrNoMatch)
		}
		if len(images) == 0 && oci.IsManifest(t.root.MediaType) {
			return oci.Image{}, usageError(fmt.Errorf("%s: --platform %s: %s is no image (an artifact such as an SBOM), it has no platforms: attach to it without --platform", t.ref, platform, t.root.Digest))
		}
		return oci.Image{}, fmt.Errorf("%s: %w", t.ref, err)
	}
	return picked[0], nil
}

// publish writes referrers to t: attach gives them to p, a push of no
// image to t, which is then committed and, when that succeeded, finished
// (finish). Errors name REF; p is aborted unless committed. logf is the
// push's debug log (nil: none), warn its warnings' (see NewWarnf).
func (t *attachTarget) publish(ctx context.Context, logf, warn func(format string, args ...any), attach func(p *exporter.Push) error) (*exporter.Result, error) {
	p := exporter.New(t.dst, nil, exporter.Options{Logf: logf, Warnf: warn})
	defer p.Abort()
	if err := attach(p); err != nil {
		return nil, fmt.Errorf("attach to %s: %w", t.ref, err)
	}
	res, err := p.Commit(ctx)
	if err == nil && t.finish != nil {
		// Part of the commit: an interrupt now does not cut it short.
		err = t.finish(context.WithoutCancel(ctx), res)
	}
	if err != nil {
		return nil, fmt.Errorf("attach to %s: %w", t.ref, err)
	}
	return res, nil
}
