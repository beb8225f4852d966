package frontend

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
	"github.com/moby/buildkit/util/gitutil"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// contextName normalizes a build context name as buildx does and as the
// Dockerfile frontend looks names up: the familiar form of the image
// name, ":latest" trimmed ("docker.io/library/alpine:latest" is
// "alpine"); a stage-like name ("base") is unchanged. NAME::PLATFORM,
// which the frontend looks up first for that platform, keeps its
// platform, normalized.
func contextName(name string) (string, error) {
	name, plat, hasPlat := strings.Cut(name, "::")
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", err
	}
	name = strings.TrimSuffix(reference.FamiliarString(named), ":latest")
	if hasPlat {
		pl, err := parsePlatform(plat)
		if err != nil {
			return "", err
		}
		name += "::" + platforms.FormatAll(pl)
	}
	return name, nil
}

// addContext adds a NAME=VALUE named build context.
func (p *plan) addContext(s string) error {
	raw, v, ok := strings.Cut(s, "=")
	if !ok || raw == "" || v == "" {
		return optErr("build-context %q: want NAME=VALUE", s)
	}
	name, err := contextName(raw)
	if err != nil {
		return fmt.Errorf("build-context %q: name %q: %w: %w", s, raw, ErrInvalidOption, err)
	}
	key := "context:" + name
	if _, dup := p.attrs[key]; dup {
		return optErr("build-context %q: %s given twice", s, name)
	}
	switch {
	case strings.HasPrefix(v, "docker-image://"):
		if _, err := reference.ParseNormalizedNamed(strings.TrimPrefix(v, "docker-image://")); err != nil {
			return fmt.Errorf("build-context %q: %w: %w", s, ErrInvalidOption, err)
		}
		p.attrs[key] = v
		return nil
	case strings.HasPrefix(v, "oci-layout://"):
		ref, err := p.ociLayoutContext(name, strings.TrimPrefix(v, "oci-layout://"))
		if err != nil {
			return fmt.Errorf("build-context %q: %w", s, err)
		}
		p.attrs[key] = ref
		return nil
	case strings.HasPrefix(v, "target:"):
		return optErr("build-context %q: target: contexts are a bake feature", s)
	case strings.HasPrefix(v, "http://"), strings.HasPrefix(v, "https://"), gitutil.IsGitTransport(v):
		p.attrs[key] = v
		return nil
	}
	// What BuildKit's Dockerfile frontend takes for a git repository
	// (github.com/ORG/REPO[#REF[:DIR]]) is one, not a local directory,
	// as with buildx; "./github.com/..." is a directory.
	if g, isGit, err := dfgitutil.ParseGitRef(v); isGit {
		if err != nil {
			return fmt.Errorf("build-context %q: git reference %q: %w: %w", s, v, ErrInvalidOption, err)
		}
		if g.IndistinguishableFromLocal {
			// The named-context loader dispatches on the scheme.
			v = schemeGitURL(v)
		}
		p.attrs[key] = v
		return nil
	}
	dir, err := filepath.Abs(v)
	if err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("build-context %q: %w: %w", s, ErrInvalidOption, err)
	}
	if !fi.IsDir() {
		return optErr("build-context %q: %s is not a directory", s, v)
	}
	local := name
	if local == "context" || local == "dockerfile" {
		local = "_" + local
	}
	p.locals[local] = dir
	p.attrs[key] = "local:" + local
	return nil
}

// isRemoteContext reports whether v is what buildx and BuildKit take for
// a remote context rather than a directory: an http(s) URL, a git
// transport (git@host:…, ssh://, git://) or a git reference without a
// scheme (github.com/ORG/REPO[#REF[:DIR]]).
func isRemoteContext(v string) bool {
	if strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") || gitutil.IsGitTransport(v) {
		return true
	}
	_, isGit, _ := dfgitutil.ParseGitRef(v)
	return isGit
}

// schemeGitURL turns HOST/PATH[#FRAGMENT] (github.com/org/repo#main) into
// https://HOST/PATH.git[#FRAGMENT], the form BuildKit takes for a git
// repository over https.
func schemeGitURL(v string) string {
	i := strings.IndexAny(v, "?#")
	if i < 0 {
		i = len(v)
	}
	base, rest := v[:i], v[i:]
	if !strings.HasSuffix(base, ".git") {
		base += ".git"
	}
	return "https://" + base + rest
}

// ociLayoutContext resolves PATH[:TAG][@DIGEST] to the form the Dockerfile
// frontend reads, oci-layout://STOREID:TAG@DIGEST, and registers the store.
// PATH, TAG and DIGEST are split as oci.ParseSource splits them (":TAG"
// only when PATH without it exists, "@DIGEST" only when a valid digest
// follows), so a path with a colon or an at sign ("app@2") still works.
// The layout is read as untrusted input, through oci.Open: no link out of
// it, no FIFO or device for index.json or a blob, reads size-bounded.
func (p *plan) ociLayoutContext(name, v string) (string, error) {
	// NewPlan takes no context: it reads local files only, as here (a
	// layout directory, never an archive, so nothing long-running).
	ctx := context.Background()
	src, err := oci.ParseSource(oci.SchemeLayout + ":" + v)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	dir, err := filepath.Abs(src.Path)
	if err != nil {
		return "", err
	}
	l, err := oci.Open(ctx, oci.Source{Scheme: oci.SchemeLayout, Path: dir})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	defer l.Close()
	dgst := src.Digest.String()
	if src.Digest == "" {
		d, err := layoutImage(ctx, dir, l, l.Index(), src.Tag)
		if err != nil {
			return "", err
		}
		dgst = d.Digest.String()
	}
	tag := src.Tag
	if tag == "" {
		tag = "latest"
	}
	id := "affix-" + digest.FromString(name + "\x00" + dir).Encoded()[:16]
	p.ociStores[id] = dir
	return "oci-layout://" + id + ":" + tag + "@" + dgst, nil
}

// layoutImage returns the index.json entry of layout dir that an
// oci-layout:// context without a digest names, as buildx picks it: the
// one tagged tag; without a tag, the one tagged latest, else the only
// image. An image is an index or image manifest that is no artifact (no
// artifactType, no subject): the SBOM manifests affix build --output
// lists beside its image do not count, nor the referrers tag indexes
// (sha256-<hex>) it lists after them. An image listed under several
// names counts once.
func layoutImage(ctx context.Context, dir string, l oci.Fetcher, idx ocispec.Index, tag string) (ocispec.Descriptor, error) {
	if tag != "" {
		found := tagged(idx, tag)
		if len(found) != 1 {
			return ocispec.Descriptor{}, optErr("%s: %d images are tagged %q; name one with :TAG or @DIGEST", dir, len(found), tag)
		}
		return found[0], nil
	}
	switch found := tagged(idx, "latest"); len(found) {
	case 0:
	case 1:
		return found[0], nil
	default:
		return ocispec.Descriptor{}, optErr("%s: %d images are tagged latest; name one with :TAG or @DIGEST", dir, len(found))
	}
	var images []ocispec.Descriptor
	for _, d := range idx.Manifests {
		ok, err := isLayoutImage(ctx, dir, l, d)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if ok && !slices.ContainsFunc(images, func(i ocispec.Descriptor) bool { return i.Digest == d.Digest }) {
			images = append(images, d)
		}
	}
	if len(images) != 1 {
		return ocispec.Descriptor{}, optErr("%s: %d images and none tagged latest; name one with :TAG or @DIGEST", dir, len(images))
	}
	return images[0], nil
}

// tagged returns the index.json entries named tag (by
// org.opencontainers.image.ref.name, or io.containerd.image.name or its
// tag part), each digest once.
func tagged(idx ocispec.Index, tag string) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, d := range idx.Manifests {
		if !oci.Tagged(d, tag) {
			continue
		}
		if !slices.ContainsFunc(out, func(o ocispec.Descriptor) bool { return o.Digest == d.Digest }) {
			out = append(out, d)
		}
	}
	return out
}

// isLayoutImage reports whether index.json entry d of layout dir is an
// image: an index or manifest without artifactType and subject, a
// manifest's config being an image config. It reads the entry's blob.
func isLayoutImage(ctx context.Context, dir string, l oci.Fetcher, d ocispec.Descriptor) (bool, error) {
	if (!oci.IsIndex(d.MediaType) && !oci.IsManifest(d.MediaType)) || d.ArtifactType != "" || oci.IsReferrersTagEntry(d) {
		return false, nil
	}
	var m struct {
		ArtifactType string              `json:"artifactType"`
		Subject      *ocispec.Descriptor `json:"subject"`
		Config       *ocispec.Descriptor `json:"config"`
	}
	// Size-bounded, digest- and size-verified, decoded.
	if _, err := oci.ReadJSON(ctx, l, d, &m); err != nil {
		return false, fmt.Errorf("%s: index.json entry %s: %w: %w", dir, d.Digest, ErrInvalidOption, err)
	}
	if m.ArtifactType != "" || m.Subject != nil {
		return false, nil
	}
	if oci.IsManifest(d.MediaType) && (m.Config == nil || !oci.IsImageConfig(m.Config.MediaType)) {
		return false, nil
	}
	return true, nil
}

// Frontend capabilities a request needs (the frontend.caps attribute):
// BuildKit refuses a Dockerfile frontend image (# syntax=) whose
// moby.buildkit.frontend.caps label lacks one, rather than letting it
// ignore what it does not know. "+forward" asks the built-in frontend to
// pass the requirement on to the image.
const (
	capContexts    = "moby.buildkit.frontend.contexts+forward"
	capSubrequests = "moby.buildkit.frontend.subrequests+forward"
)

// addCap adds capability c to the frontend.caps attribute of attrs, once.
func addCap(attrs map[string]string, c string) {
	v := attrs["frontend.caps"]
	if v == "" {
		attrs["frontend.caps"] = c
		return
	}
	if slices.Contains(strings.Split(v, ","), c) {
		return
	}
	attrs["frontend.caps"] = v + "," + c
}
