package oci

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxIndexDepth bounds how deeply nested indexes are followed.
const maxIndexDepth = 8

// Image is a manifest reached by walking an index: a platform image, or a
// BuildKit attestation manifest. Other manifests (OCI artifacts such as
// SBOM referrers, whose config is not an image config) are not Images.
type Image struct {
	// Descriptor is the manifest's descriptor, as listed by its index, with
	// Platform always set (from the config when the index omits it).
	Descriptor ocispec.Descriptor
	// Parent is the index that lists the manifest; zero when the manifest
	// was itself a root.
	Parent ocispec.Descriptor
	// Attestation is true for BuildKit attestation manifests (platform
	// unknown/unknown, in the index or in the config, or
	// vnd.docker.reference.type=attestation-manifest).
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

// IsImageConfig reports whether mt is an image config (OCI or Docker
// schema 2): the config media type of a platform image or a BuildKit
// attestation manifest, not of an OCI artifact.
func IsImageConfig(mt string) bool {
	return mt == ocispec.MediaTypeImageConfig || mt == MediaTypeDockerConfig
}

// IsAttestation reports whether an index entry is a BuildKit attestation manifest.
func IsAttestation(d ocispec.Descriptor) bool {
	if d.Annotations[AnnotationDockerReferenceType] == DockerReferenceTypeAttestation {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// Walk follows roots (manifests or indexes, nested to any reasonable depth)
// and returns the images reached, in index order: every platform image and
// BuildKit attestation manifest, each (digest, platform) pair once. A
// manifest an index lists under two platforms is returned twice, once with
// each platform; Select picks one of them. Index and manifest bytes are
// digest-verified.
//
// A manifest whose config is not an image config (IsImageConfig) is an
// artifact, not an image, and is left out, unless its artifactType says
// it is a BuildKit attestation manifest. Walk reads a manifest (and its
// config) only when its index entry does not settle what it is: when the
// entry has no platform or names an artifactType. An entry with a
// platform and no artifactType is taken for an image, as containerd does,
// so walking a remote index costs no request per platform. An entry
// whose content is a manifest where its media type says index, or the
// reverse, is an error (ErrWrongKind): read as listed, it would drop a
// platform without a word.
func Walk(ctx context.Context, f Fetcher, roots ...ocispec.Descriptor) ([]Image, error) {
	return walkRoots(ctx, f, false, roots)
}

// WalkEntries is Walk returning every index entry that is an image or an
// attestation manifest, in index order, a (digest, platform) pair listed
// twice twice: each with its own descriptor (annotations such as
// vnd.docker.reference.digest differ between entries of one digest). An
// index listed twice is still walked once. It is for callers that act on
// index entries (convert pairs and strips each attestation entry); Walk
// is for those that act on images.
func WalkEntries(ctx context.Context, f Fetcher, roots ...ocispec.Descriptor) ([]Image, error) {
	return walkRoots(ctx, f, true, roots)
}

func walkRoots(ctx context.Context, f Fetcher, entries bool, roots []ocispec.Descriptor) ([]Image, error) {
	w := walker{f: f, entries: entries, indexes: map[digest.Digest]bool{}, images: map[imageKey]bool{}, read: map[digest.Digest]manifestInfo{}}
	for _, r := range roots {
		if err := w.walk(ctx, r, ocispec.Descriptor{}, 0); err != nil {
			return nil, err
		}
	}
	return w.out, nil
}

type walker struct {
	f       Fetcher
	entries bool                           // every entry, not each image once (WalkEntries)
	indexes map[digest.Digest]bool         // indexes walked: a cycle guard
	images  map[imageKey]bool              // images returned
	read    map[digest.Digest]manifestInfo // manifests read, by digest
	out     []Image
}

// imageKey identifies an Image in Walk's result.
type imageKey struct {
	digest   digest.Digest
	platform string
}

// manifestInfo is what Walk reads from a manifest and its config.
type manifestInfo struct {
	image       bool              // the config is an image config
	attestation bool              // artifactType is BuildKit's attestation manifest's
	platform    *ocispec.Platform // the config's platform; nil when it names none
}

func (w *walker) walk(ctx context.Context, d, parent ocispec.Descriptor, depth int) error {
	switch {
	case IsIndex(d.MediaType):
		if w.indexes[d.Digest] {
			return nil
		}
		w.indexes[d.Digest] = true
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
		if !img.Attestation && (d.Platform == nil || d.ArtifactType != "") {
			info, err := w.manifest(ctx, d)
			if err != nil {
				return err
			}
			switch {
			case info.attestation:
				// BuildKit's OCI-artifact form (empty config) listed
				// without its hints.
				img.Attestation = true
			case !info.image:
				// An artifact: an SBOM or signature stored in the
				// index, an entry of a referrers-tag index.
				return nil
			case d.Platform == nil && info.platform != nil:
				p := *info.platform
				img.Descriptor.Platform = &p
				// A BuildKit attestation manifest listed without its
				// hints still says unknown/unknown in its config.
				img.Attestation = IsAttestation(img.Descriptor)
			}
		}
		if img.Descriptor.Platform == nil {
			img.Descriptor.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
		}
		if err := checkPlatform(*img.Descriptor.Platform); err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		k := imageKey{d.Digest, platforms.FormatAll(*img.Descriptor.Platform) + " " + strings.Join(img.Descriptor.Platform.OSFeatures, ",")}
		if w.images[k] && !w.entries {
			return nil
		}
		w.images[k] = true
		w.out = append(w.out, img)
		return nil
	default:
		// Content of other media types (schema 1 manifests, unknown
		// types) is not an image either; it is skipped.
		return nil
	}
}

// manifest reads what Walk needs of manifest d, once per digest.
func (w *walker) manifest(ctx context.Context, d ocispec.Descriptor) (manifestInfo, error) {
	if info, ok := w.read[d.Digest]; ok {
		return info, nil
	}
	info, err := readManifestInfo(ctx, w.f, d)
	if err != nil {
		return manifestInfo{}, err
	}
	w.read[d.Digest] = info
	return info, nil
}

// readManifestInfo reads manifest d and, when its config is an image
// config, the platform the config names.
func readManifestInfo(ctx context.Context, f Fetcher, d ocispec.Descriptor) (manifestInfo, error) {
	var m ocispec.Manifest
	if _, err := ReadJSON(ctx, f, d, &m); err != nil {
		return manifestInfo{}, fmt.Errorf("reading manifest %s: %w", d.Digest, err)
	}
	if m.ArtifactType == ArtifactTypeBuildKitAttestation {
		return manifestInfo{attestation: true}, nil
	}
	if !IsImageConfig(m.Config.MediaType) {
		return manifestInfo{}, nil
	}
	var c struct {
		ocispec.Platform
		Variant   string `json:"variant,omitempty"`
		OSVersion string `json:"os.version,omitempty"`
	}
	if _, err := ReadJSON(ctx, f, m.Config, &c); err != nil {
		return manifestInfo{}, fmt.Errorf("reading config %s of manifest %s: %w", m.Config.Digest, d.Digest, err)
	}
	info := manifestInfo{image: true}
	p := ocispec.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant, OSVersion: c.OSVersion}
	if p.OS != "" && p.Architecture != "" {
		info.platform = &p
	}
	return info, nil
}

// platformFieldRE is what an os, architecture, variant or os.version
// value may hold (GOOS and GOARCH values, v7, 10.0.17763.1234, ...).
var platformFieldRE = regexp.MustCompile(`^[A-Za-z0-9._+-]*$`)

// checkPlatform refuses a platform whose fields hold anything else than
// platformFieldRE allows: a slash or a control character in one (an
// escape sequence in a config's architecture) would pass into file names,
// annotations and terminal output.
func checkPlatform(p ocispec.Platform) error {
	for _, f := range []struct{ name, v string }{{"os", p.OS}, {"architecture", p.Architecture}, {"variant", p.Variant}, {"os.version", p.OSVersion}} {
		if !platformFieldRE.MatchString(f.v) {
			return fmt.Errorf("platform %s %q: want letters, digits and . _ + - only: %w", f.name, f.v, ErrInvalidPlatform)
		}
	}
	return nil
}

// FormatPlatform formats p as os[(os.version)]/arch[/variant].
func FormatPlatform(p ocispec.Platform) string {
	if p.OS == "" && p.Architecture == "" {
		return "unknown"
	}
	return platforms.FormatAll(p)
}
