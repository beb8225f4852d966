package exporter

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Target is a repository a push writes to. Remote implements it for a
// registry, Layout for an OCI image layout directory.
type Target interface {
	// Name names the target (registry/repository or layout path) in
	// messages and metadata.
	Name() string
	// Exists reports whether the target holds the blob desc.
	Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error)
	// PushBlob stores the blob desc. open returns its content; it may be
	// called again when an attempt fails and is retried.
	PushBlob(ctx context.Context, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error
	// PushManifest stores the manifest or index data (described by desc)
	// under reference, a tag or its digest. A non-empty ifMatch is sent as
	// If-Match; a lost condition is ErrPreconditionFailed. It returns the
	// subject digest the target says it indexed (the OCI-Subject response
	// header), "" when it indexed none.
	PushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, reference, ifMatch string) (subject digest.Digest, err error)
	// FetchManifest reads the manifest or index that reference (a tag or
	// digest) names, verified against its digest. etag is the response's
	// ETag, "" when none. A missing manifest is ErrNotFound.
	FetchManifest(ctx context.Context, reference string) (desc ocispec.Descriptor, data []byte, etag string, err error)
}

// Mounter is a Target that can mount a blob from another repository of the
// same registry instead of uploading it.
type Mounter interface {
	// Mount makes the blob desc of repository from available in the
	// target, uploading it from open when the registry cannot mount.
	Mount(ctx context.Context, desc ocispec.Descriptor, from string, open func() (io.ReadCloser, error)) error
}

// ManifestChecker is a Target that can tell, cheaper than a write, whether
// it holds a manifest or index.
type ManifestChecker interface {
	// ManifestExists reports whether the target holds the manifest or
	// index desc, by digest.
	ManifestExists(ctx context.Context, desc ocispec.Descriptor) (bool, error)
}

// ReferrersLister is a Target that may serve the referrers API.
type ReferrersLister interface {
	// ReferrersAPI lists the referrers of subject through the referrers
	// API. A registry without the API answers ErrReferrersAPIUnsupported.
	ReferrersAPI(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error)
}

// HasManifest reports whether t holds the manifest or index desc, by
// digest: a HEAD where t can (ManifestChecker), else, or when the registry
// refuses the HEAD with a 4xx other than 429 (400, 401, 403, 405: a
// registry that does not serve HEAD on manifests, a push-only credential;
// a 404 is an answer, false), a GET; a GET answered ErrNotFound is false.
// A HEAD that failed otherwise (a 429 or 5xx that outlasted the retries, a
// lost connection) is returned: the GET would go through a second full
// retry cycle against the same trouble. A manifest listed in a referrers
// tag may be gone (deleted since): readers that count such an entry check
// it with HasManifest first.
func HasManifest(ctx context.Context, t Target, desc ocispec.Descriptor) (bool, error) {
	d := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	var headErr error
	if mc, ok := t.(ManifestChecker); ok {
		ok, err := mc.ManifestExists(ctx, d)
		if err == nil || ctx.Err() != nil || !headRefused(err) {
			return ok, err
		}
		headErr = err
	}
	_, _, _, err := t.FetchManifest(ctx, d.Digest.String())
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	case headErr != nil:
		return false, headErr
	}
	return false, err
}

// headRefused reports whether err, a failed HEAD, is the registry refusing
// it (a 4xx other than 429), which a GET may get past.
func headRefused(err error) bool {
	s := status(err)
	return s >= 400 && s < 500 && s != http.StatusTooManyRequests
}
