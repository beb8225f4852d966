package cli

import (
	"context"
	"fmt"
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
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
	finish func(res *exporter.Result) error
	close  func() error
}

// openAttachTarget opens s: oci-layout:DIR[:TAG][@DIGEST], else a
// registry reference. A tar (oci-archive:) cannot take referrers in place.
func (o *attachOptions) openAttachTarget(ctx context.Context, g *globalOptions, s string, counter *exporter.Counter) (*attachTarget, error) {
	if isLayoutSource(s) {
		src, err := oci.ParseSource(s)
		if err != nil {
			return nil, usageError(err)
		}
		if src.Scheme != oci.SchemeLayout {
			return nil, usageError(fmt.Errorf("%s: a layout tar cannot take referrers in place; attach to a layout directory (oci-layout:DIR)", s))
		}
		l, err := oci.Open(ctx, src)
		if err != nil {
			return nil, err
		}
		root, _, err := layoutRoot(ctx, l, "attach to", nil)
		if err != nil {
			l.Close()
			return nil, err
		}
		dst, err := exporter.NewLayout(ctx, src.Path)
		if err != nil {
			l.Close()
			return nil, err
		}
		entries := l.Index().Manifests
		return &attachTarget{src: l, dst: dst, root: root, name: layoutRefName([]ocispec.Descriptor{l.NamedBy(root)}), close: l.Close,
			finish: func(res *exporter.Result) error {
				// index.json as it was, then the referrers it did not list.
				var refs []ocispec.Descriptor
				for _, r := range res.Referrers {
					if !slices.ContainsFunc(entries, func(e ocispec.Descriptor) bool { return e.Digest == r.Descriptor.Digest }) {
						refs = append(refs, r.Descriptor)
					}
				}
				return rewriteLayoutIndex(src.Path, entries, refs)
			}}, nil
	}
	ref, err := parseRef(s)
	if err != nil {
		return nil, err
	}
	r, err := o.connect(g, ref, counter)
	if err != nil {
		return nil, err
	}
	root, err := resolve(ctx, r, ref)
	if err != nil {
		return nil, err
	}
	return &attachTarget{src: r, dst: r, root: root, name: refName(ref, ref.ReferenceOrDefault()), close: func() error { return nil }}, nil
}

// commit commits p and then runs the target's finish.
func (t *attachTarget) commit(ctx context.Context, p *exporter.Push) (*exporter.Result, error) {
	res, err := p.Commit(ctx)
	if err != nil {
		return nil, err
	}
	if t.finish != nil {
		if err := t.finish(res); err != nil {
			return nil, err
		}
	}
	return res, nil
}
