package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	orasoci "oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"

	"github.com/affix-oci/affix/internal/oci"
)

// Layout is an OCI image layout directory as a push target (the build
// command's --output type=oci, attach oci-layout:DIR). Blobs and manifests
// go into it as they are pushed, but index.json is not written on the way:
// a push that stops halfway must not leave it short of entries. The caller
// writes it once the push is complete, listing the referrers (which
// `oras discover --oci-layout` then finds through their subject), or calls
// SaveIndex for oras-go's own index.json. A push to it is in ModeLayout.
type Layout struct {
	path  string
	store *orasoci.Store
}

var _ Target = (*Layout)(nil)

// NewLayout opens (creating it if needed) the OCI layout at path.
func NewLayout(ctx context.Context, path string) (*Layout, error) {
	s, err := orasoci.NewWithContext(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("oci-layout:%s: %w", path, err)
	}
	s.AutoSaveIndex = false
	return &Layout{path: path, store: s}, nil
}

// SaveIndex writes index.json as oras-go's layout store keeps it: every
// tag, and every manifest pushed, in no particular order.
func (l *Layout) SaveIndex() error {
	if err := l.store.SaveIndex(); err != nil {
		return fmt.Errorf("%s: writing index.json: %w", l.Name(), err)
	}
	return nil
}

// Name returns oci-layout:PATH.
func (l *Layout) Name() string { return oci.SchemeLayout + ":" + l.path }

// Exists reports whether the layout holds the blob.
func (l *Layout) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	return l.store.Exists(ctx, desc)
}

// PushBlob copies the blob into the layout, verifying it.
func (l *Layout) PushBlob(ctx context.Context, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := l.store.Push(ctx, desc, rc); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return fmt.Errorf("%s: blob %s: %w", l.Name(), desc.Digest, err)
	}
	return nil
}

// PushManifest stores a manifest and tags it when reference is a tag. It
// returns the manifest's subject digest (the caller's index.json will list
// the referrer). ifMatch is ignored: the layout has one writer.
func (l *Layout) PushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, reference, _ string) (digest.Digest, error) {
	desc = ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	ok, err := l.store.Exists(ctx, desc)
	if err != nil {
		return "", err
	}
	if !ok {
		if err := l.store.Push(ctx, desc, content.NewVerifyReader(bytesReader(data), desc)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return "", fmt.Errorf("%s: manifest %s: %w", l.Name(), desc.Digest, err)
		}
	}
	if reference != desc.Digest.String() {
		if err := l.store.Tag(ctx, desc, reference); err != nil {
			return "", fmt.Errorf("%s: tagging %s as %s: %w", l.Name(), desc.Digest, reference, err)
		}
	}
	var m struct {
		Subject *ocispec.Descriptor `json:"subject"`
	}
	if json.Unmarshal(data, &m) == nil && m.Subject != nil {
		return m.Subject.Digest, nil
	}
	return "", nil
}

// FetchManifest reads the manifest a tag or digest names.
func (l *Layout) FetchManifest(ctx context.Context, reference string) (ocispec.Descriptor, []byte, string, error) {
	desc, err := l.store.Resolve(ctx, reference)
	if errors.Is(err, errdef.ErrNotFound) {
		return ocispec.Descriptor{}, nil, "", fmt.Errorf("%s: %s: %w", l.Name(), reference, ErrNotFound)
	}
	if err != nil {
		return ocispec.Descriptor{}, nil, "", err
	}
	data, err := content.FetchAll(ctx, l.store, desc)
	if err != nil {
		return ocispec.Descriptor{}, nil, "", fmt.Errorf("%s: %s: %w", l.Name(), reference, err)
	}
	return ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}, data, "", nil
}

// Fetch implements oci.Fetcher.
func (l *Layout) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return l.store.Fetch(ctx, desc)
}
