package oci

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxIndexDepth bounds how deeply nested indexes are followed.
const maxIndexDepth = 8

// Image is a manifest reached by walking an index: a platform image, or a
// BuildKit attestation manifest.
type Image struct {
	// Descriptor is the manifest's descriptor, as listed by its index, with
	// Platform always set (from the config when the index omits it).
	Descriptor ocispec.Descriptor
	// Parent is the index that lists the manifest; zero when the manifest
	// was itself a root.
	Parent ocispec.Descriptor
	// Attestation is true for BuildKit attestation manifests (platform
	// unknown/unknown or vnd.docker.reference.type=attestation-manifest).
	Attestation bool
}

// Platform returns the image's platform.
func (i Image) Platform() ocispec.Platform {
	if i.Descriptor.Platform == nil {
		return ocispec.Platform{}
	}
	return *i.Descriptor.Platform
}

// String returns the platform, or "attestation" for attestation manifests.
func (i Image) String() string {
	if i.Attestation {
		return "attestation " + i.Descriptor.Digest.String()
	}
	return FormatPlatform(i.Platform())
}

// IsIndex reports whether mt is an image index or Docker manifest list.
func IsIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// IsManifest reports whether mt is an image manifest (OCI or Docker schema 2).
func IsManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

// IsAttestation reports whether an index entry is a BuildKit attestation manifest.
func IsAttestation(d ocispec.Descriptor) bool {
	if d.Annotations[AnnotationDockerReferenceType] == DockerReferenceTypeAttestation {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// Walk follows roots (manifests or indexes, nested to any reasonable depth)
// and returns every manifest reached, in index order, each once. Index and
// manifest bytes are digest-verified.
func Walk(ctx context.Context, f Fetcher, roots ...ocispec.Descriptor) ([]Image, error) {
	w := walker{f: f, seen: map[digest.Digest]bool{}}
	for _, r := range roots {
		if err := w.walk(ctx, r, ocispec.Descriptor{}, 0); err != nil {
			return nil, err
		}
	}
	return w.out, nil
}

type walker struct {
	f    Fetcher
	seen map[digest.Digest]bool
	out  []Image
}

func (w *walker) walk(ctx context.Context, d, parent ocispec.Descriptor, depth int) error {
	if w.seen[d.Digest] {
		return nil
	}
	w.seen[d.Digest] = true
	switch {
	case IsIndex(d.MediaType):
		if depth >= maxIndexDepth {
			return fmt.Errorf("index %s: nested more than %d deep", d.Digest, maxIndexDepth)
		}
		var idx ocispec.Index
		if _, err := ReadJSON(ctx, w.f, d, &idx); err != nil {
			return fmt.Errorf("reading index %s: %w", d.Digest, err)
		}
		for _, c := range idx.Manifests {
			if err := c.Digest.Validate(); err != nil {
				return fmt.Errorf("index %s lists digest %q: %w", d.Digest, c.Digest, err)
			}
			if err := w.walk(ctx, c, d, depth+1); err != nil {
				return err
			}
		}
		return nil
	case IsManifest(d.MediaType):
		img := Image{Descriptor: d, Parent: parent, Attestation: IsAttestation(d)}
		if d.Platform == nil && !img.Attestation {
			p, err := platformFromConfig(ctx, w.f, d)
			if err != nil {
				return err
			}
			img.Descriptor.Platform = p
		}
		if img.Descriptor.Platform == nil {
			img.Descriptor.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
		}
		w.out = append(w.out, img)
		return nil
	default:
		// Other artifacts listed by an index (for example referrers in a
		// referrers-tag index) are not images; they are skipped.
		return nil
	}
}

// platformFromConfig reads the platform of a manifest from its config.
func platformFromConfig(ctx context.Context, f Fetcher, d ocispec.Descriptor) (*ocispec.Platform, error) {
	var m ocispec.Manifest
	if _, err := ReadJSON(ctx, f, d, &m); err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", d.Digest, err)
	}
	if m.Config.MediaType != ocispec.MediaTypeImageConfig && m.Config.MediaType != "application/vnd.docker.container.image.v1+json" {
		return nil, nil
	}
	var c struct {
		ocispec.Platform
		Variant   string `json:"variant,omitempty"`
		OSVersion string `json:"os.version,omitempty"`
	}
	if _, err := ReadJSON(ctx, f, m.Config, &c); err != nil {
		return nil, fmt.Errorf("reading config %s of manifest %s: %w", m.Config.Digest, d.Digest, err)
	}
	p := ocispec.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant, OSVersion: c.OSVersion}
	if p.OS == "" || p.Architecture == "" {
		return nil, nil
	}
	return &p, nil
}

// FormatPlatform formats p as os[(os.version)]/arch[/variant].
func FormatPlatform(p ocispec.Platform) string {
	if p.OS == "" && p.Architecture == "" {
		return "unknown"
	}
	return platforms.FormatAll(p)
}

// MarshalIndent is json.MarshalIndent with the indentation affix uses for
// human-facing JSON.
func MarshalIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
