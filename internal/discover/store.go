// Package discover finds what is attached to an image: the tree of its
// index, platform manifests and their referrers (affix ls), and the SBOM of
// a platform among its referrers, the index's BuildKit attestations,
// cosign's tags and the shapes other tools give SBOMs (affix get). It reads
// from a Store, which the commands open (a registry repository with its
// options and credentials, or a local OCI layout), and says what it skipped
// through a notes callback; it prints nothing else and knows no command.
package discover

import (
	"context"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
)

// Store is what ls and get read an image and its referrers from: a
// registry repository, or a local OCI layout as affix build --output and
// oras attach --oci-layout leave it (referrers listed in index.json).
type Store interface {
	oci.Fetcher
	// Name names the image as the user would write it, for messages.
	Name() string
	// Root returns the image (index or manifest) the user named.
	Root(ctx context.Context) (ocispec.Descriptor, error)
	// Referrers returns the referrers of subject and how they were read.
	Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, exporter.Mode, error)
	// Close releases the store.
	Close() error
}

// ManifestByTag is a store whose manifests can be read by tag: a registry
// repository, where cosign's tag schemes live.
type ManifestByTag interface {
	FetchManifest(ctx context.Context, reference string) (ocispec.Descriptor, []byte, string, error)
}

// TagStore is an image store whose tags can be listed and read: a
// registry repository, where cosign's tag schemes live.
type TagStore interface {
	ManifestByTag
	// ListTags returns the repository's tags.
	ListTags(ctx context.Context) ([]string, error)
}
