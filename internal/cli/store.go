package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/oci"
)

// modeLayout is the referrers mode of a local layout: its referrers are
// the manifests with a subject that index.json lists.
const modeLayout = exporter.ModeLayout

// isLayoutSource reports whether s names a local layout: oci-layout:PATH
// or oci-archive:PATH.
func isLayoutSource(s string) bool {
	return strings.HasPrefix(s, oci.SchemeLayout+":") || strings.HasPrefix(s, oci.SchemeArchive+":")
}

// openStore opens s: oci-layout:PATH[:TAG][@DIGEST] or
// oci-archive:PATH[:TAG][@DIGEST] (the one image of the layout, or the one
// TAG or DIGEST selects), else a registry reference. A layout's index.json
// entry that cannot be read is skipped with a warning (see NewWarnf).
func (o *registryOptions) openStore(ctx context.Context, g *globalOptions, s string, warn func(format string, args ...any)) (discover.Store, error) {
	if isLayoutSource(s) {
		l, err := oci.OpenLayout(ctx, s)
		if err != nil {
			return nil, err
		}
		root, refs, err := layoutRoot(ctx, l, "read", warn)
		if err != nil {
			l.Close()
			return nil, err
		}
		return &layoutStore{Layout: l, root: root, refs: refs}, nil
	}
	ref, err := parseRef(s)
	if err != nil {
		return nil, err
	}
	r, tags, err := o.connectTags(ctx, g, ref, nil)
	if err != nil {
		return nil, err
	}
	return &registryStore{Remote: r, ref: ref, finder: exporter.NewFinder(r), tags: tags}, nil
}

// hintLayout adds a hint to the error of a registry reference that is
// also a local path: the user may have meant the layout there.
func hintLayout(err error, s string) error {
	if err == nil || isLayoutSource(s) {
		return err
	}
	fi, serr := os.Stat(s)
	if serr != nil || !isLocalImage(s) {
		// A directory that holds no layout (nginx/ beside Docker Hub's
		// nginx), or a FIFO: no prefix would make it one.
		return err
	}
	scheme := oci.SchemeArchive
	if fi.IsDir() {
		scheme = oci.SchemeLayout
	}
	return fmt.Errorf("%w (for the local layout %s, write %s:%s)", err, s, scheme, s)
}

// registryStore is a repository of a registry.
type registryStore struct {
	*exporter.Remote
	ref    registry.Reference
	finder *exporter.Finder
	// tags lists the repository's tags; nil lists none.
	tags *remote.Repository
	// root and rootData are the manifest REF names and its bytes, once
	// Root has read them.
	root     ocispec.Descriptor
	rootData []byte
}

func (r *registryStore) Name() string { return refName(r.ref, r.ref.ReferenceOrDefault()) }

// Root resolves REF and keeps the manifest's bytes, so that Fetch of the
// root (oci.Walk reads it) costs no second request. Call it before Fetch.
func (r *registryStore) Root(ctx context.Context) (ocispec.Descriptor, error) {
	d, data, err := resolveData(ctx, r.Remote, r.ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	r.root, r.rootData = d, data
	return d, nil
}

// Fetch is the Remote's Fetch, but for the root, which Root read already:
// its bytes, verified then (they hash to its digest). Every such Fetch
// shares the one slice: callers read it, none may write to it.
func (r *registryStore) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if r.rootData != nil && desc.Digest == r.root.Digest && desc.Size == r.root.Size {
		return oci.NewVerifiedBytes(r.root.Digest, r.rootData), nil
	}
	return r.Remote.Fetch(ctx, desc)
}

func (r *registryStore) Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, exporter.Mode, error) {
	return r.finder.Referrers(ctx, subject)
}

func (r *registryStore) Close() error { return nil }

// ListTags returns the repository's tags, every page of them (at most
// maxTagPages).
func (r *registryStore) ListTags(ctx context.Context) ([]string, error) {
	if r.tags == nil {
		return nil, errors.New("no tag list")
	}
	var out []string
	err := r.tags.Tags(ctx, "", func(tags []string) error {
		out = append(out, tags...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: listing tags: %w", r.Remote.Name(), err)
	}
	return out, nil
}

// layoutStore is a local OCI layout: its image, and the referrers its
// index.json lists beside it.
type layoutStore struct {
	*oci.Layout
	root ocispec.Descriptor
	refs map[digest.Digest][]ocispec.Descriptor
}

func (l *layoutStore) Name() string { return l.Source().String() }

func (l *layoutStore) Root(context.Context) (ocispec.Descriptor, error) { return l.root, nil }

func (l *layoutStore) Referrers(_ context.Context, subject digest.Digest) ([]ocispec.Descriptor, exporter.Mode, error) {
	return l.refs[subject], modeLayout, nil
}
