package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

func init() { extraCommands = append(extraCommands, newMergeCmd) }

type mergeOptions struct {
	registryOptions
	annotations    []string
	allowNoSBOM    bool
	maxConcurrency int
	metadataFile   string
}

// newMergeCmd returns the merge command: one index of platform images
// already in a repository, tagged once each has its SBOM.
func newMergeCmd(g *globalOptions) *cobra.Command {
	var o mergeOptions
	cmd := &cobra.Command{
		Use:   "merge [flags] REF[:TAG[,TAG...]] SOURCE...",
		Short: "Tag one image index of platform images already pushed, each with its SBOMs",
		Long: `Publish, under REF's tag(s), one image index listing the platform
manifests of every SOURCE: images built and pushed separately, one per
CI runner or architecture (affix build --platform P --push, by a tag or
by digest), merged as docker buildx imagetools create merges them.

Each SOURCE is an image or index in REF's repository, as a reference
(HOST/REPO:TAG, HOST/REPO@DIGEST) or relative to REF (:TAG, @DIGEST). An
index contributes every platform manifest and BuildKit attestation
manifest it lists; a manifest, itself with the platform of its config.
A manifest listed twice is listed once; two manifests of one platform are
an error naming both sources.

The index is tagged only when every platform manifest has an SBOM
referrer (referrers API, else the referrers tag): the tag never names an
image without its SBOMs. --allow-no-sbom drops that check. The platform
manifests and their referrers are not copied or changed: the referrers
stay attached, since their subjects are the platform manifests. The index
is an OCI image index, its entries as the sources list them, in the
order of SOURCE; the same sources give the same index digest.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError(fmt.Errorf("want REF and at least one SOURCE, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := prepareMetadataFile(o.metadataFile); err != nil {
				return err
			}
			return hintHTTP(merge(cmd, g, args[0], args[1:], o), hostOf(args[0]))
		},
	}
	o.registryOptions.addFlags(cmd.Flags())
	f := cmd.Flags()
	f.BoolVar(&o.allowNoSBOM, "allow-no-sbom", false, "tag the index even when a platform manifest has no SBOM referrer")
	f.StringArrayVar(&o.annotations, "annotation", nil, "annotation of the index, [index:]KEY=VALUE, as buildx imagetools create takes it (repeatable)")
	f.IntVar(&o.maxConcurrency, "max-concurrency", 4, "registry requests at once")
	f.StringVar(&o.metadataFile, "metadata-file", "", "write the index digest, tags, platforms and their SBOM referrers, and request counts as JSON")
	return cmd
}

// mergeSource is one SOURCE, resolved.
type mergeSource struct {
	arg  string // as given
	ref  registry.Reference
	root ocispec.Descriptor
}

// merge publishes the index of sources under REF (refStr).
func merge(cmd *cobra.Command, g *globalOptions, refStr string, sourceArgs []string, o mergeOptions) error {
	ctx := cmd.Context()
	if o.maxConcurrency < 1 {
		return usageError(fmt.Errorf("--max-concurrency %d: want at least 1", o.maxConcurrency))
	}
	ref, more, err := mergeTarget(refStr)
	if err != nil {
		return err
	}
	annotations, err := indexAnnotations(o.annotations)
	if err != nil {
		return err
	}
	sources, err := mergeSourceRefs(ref, sourceArgs)
	if err != nil {
		return err
	}
	counter := &exporter.Counter{}
	repo, err := o.connect(g, ref, counter)
	if err != nil {
		return err
	}
	for i := range sources {
		if sources[i].root, err = resolve(ctx, repo, sources[i].ref); err != nil {
			return fmt.Errorf("SOURCE %s: %w", sources[i].arg, err)
		}
	}
	images, entries, err := mergeEntries(ctx, repo, sources)
	if err != nil {
		return err
	}
	attached := &referrerLog{}
	if err := checkSBOMs(ctx, exporter.NewFinder(repo), images, attached, o.allowNoSBOM); err != nil {
		return fmt.Errorf("merge to %s: no tag moved: %w", refName(ref, ref.Reference), err)
	}
	data, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: entries, Annotations: annotations})
	if err != nil {
		return err
	}
	root := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(data), Size: int64(len(data))}
	p := exporter.New(repo, &exporter.Image{Source: rootFetcher{root: root, data: data, rest: repo}, Root: root}, exporter.Options{
		Tag:            ref.Reference,
		MaxConcurrency: o.maxConcurrency,
		Logf:           debugf(g, cmd.ErrOrStderr()),
	})
	defer p.Abort()
	if err := p.Images(ctx); err != nil {
		return fmt.Errorf("merge to %s failed, tag %s not moved: %w", repo.Name(), ref.Reference, err)
	}
	res, err := p.Commit(ctx)
	if err != nil {
		return fmt.Errorf("merge to %s: %w", repo.Name(), err)
	}
	tags, err := tagMore(ctx, p, repo.Name(), ref, more)
	if err != nil {
		return err
	}
	meta := newMetadata(res, refName(ref, ref.Reference), images, attached, counter)
	meta.Tags = refNames(ref, tags)
	printPush(cmd.OutOrStdout(), meta, res)
	if err := writeMetadataFile(o.metadataFile, meta); err != nil {
		return fmt.Errorf("merge to %s succeeded (%s), but --metadata-file was not written: %w", repo.Name(), tagStates(meta.Tags, nil, nil), err)
	}
	return nil
}

// mergeTarget parses REF, a reference by tag with an optional tag list
// (REPO:TAG,TAG...): the reference with its first tag, and the others.
func mergeTarget(refStr string) (registry.Reference, []string, error) {
	s, more, err := splitTagList(refStr)
	if err != nil {
		return registry.Reference{}, nil, err
	}
	ref, err := parseRef(s)
	if err != nil {
		return registry.Reference{}, nil, err
	}
	if ref.Reference == "" || ref.ValidateReferenceAsDigest() == nil {
		return registry.Reference{}, nil, usageError(fmt.Errorf("REF %q: want a tag to publish the index under (REPO:TAG)", refStr))
	}
	for _, t := range append([]string{ref.Reference}, more...) {
		if err := checkImageTag(fmt.Sprintf("REF %q", refStr), t); err != nil {
			return registry.Reference{}, nil, err
		}
	}
	return ref, more, nil
}

// indexAnnotations parses --annotation values, [index:]KEY=VALUE: the
// annotations of the merged index (nil for none). Another type is refused:
// merge writes no other manifest.
func indexAnnotations(values []string) (map[string]string, error) {
	var kvs []string
	for _, v := range values {
		if t, rest, ok := strings.Cut(v, ":"); ok && !strings.Contains(t, "=") && !strings.Contains(t, ".") {
			if t != "index" {
				return nil, usageError(fmt.Errorf("--annotation %q: merge writes only the index: want [index:]KEY=VALUE", v))
			}
			v = rest
		}
		kvs = append(kvs, v)
	}
	out, err := parseAnnotations(kvs)
	if err != nil || len(out) == 0 {
		return nil, err // nil: no annotations in the index
	}
	return out, nil
}

// mergeSourceRefs parses the SOURCE arguments: references in ref's
// repository, or :TAG and @DIGEST relative to it.
func mergeSourceRefs(ref registry.Reference, args []string) ([]mergeSource, error) {
	out := make([]mergeSource, 0, len(args))
	for _, a := range args {
		s := a
		if strings.HasPrefix(a, "@") || strings.HasPrefix(a, ":") {
			s = refName(ref, "") + a
		}
		r, err := parseRef(s)
		if err != nil {
			return nil, usageError(fmt.Errorf("SOURCE %q: %w", a, err))
		}
		if repoKey(r) != repoKey(ref) {
			return nil, usageError(fmt.Errorf("SOURCE %q is not in %s: merge lists manifests of REF's repository (push the image there first)", a, refName(ref, "")))
		}
		if r.Reference == "" {
			return nil, usageError(fmt.Errorf("SOURCE %q: want a tag or digest", a))
		}
		out = append(out, mergeSource{arg: a, ref: r})
	}
	return out, nil
}

// mergeEntries walks the sources and returns their platform images and
// the entries of the merged index: each manifest once, in source order,
// as its source lists it (a source manifest itself with its config's
// platform). Two manifests of one platform are an error naming both
// sources.
func mergeEntries(ctx context.Context, f oci.Fetcher, sources []mergeSource) ([]oci.Image, []ocispec.Descriptor, error) {
	type listed struct {
		source string
		digest digest.Digest
	}
	var images []oci.Image
	var entries []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	byPlatform := map[string]listed{}
	for _, s := range sources {
		imgs, err := oci.Walk(ctx, f, s.root)
		if err != nil {
			return nil, nil, fmt.Errorf("SOURCE %s: %w", s.arg, err)
		}
		for _, img := range imgs {
			d := img.Descriptor
			if !img.Attestation {
				p := img.String()
				if prev, ok := byPlatform[p]; ok && prev.digest != d.Digest {
					return nil, nil, usageError(fmt.Errorf("platform %s twice: SOURCE %s (%s) and %s (%s)", p, prev.source, prev.digest, s.arg, d.Digest))
				}
				byPlatform[p] = listed{s.arg, d.Digest}
			}
			if seen[d.Digest] {
				continue
			}
			seen[d.Digest] = true
			if !img.Attestation {
				images = append(images, img)
			}
			entries = append(entries, ocispec.Descriptor{
				MediaType: d.MediaType, Digest: d.Digest, Size: d.Size,
				Platform: d.Platform, ArtifactType: d.ArtifactType, Annotations: d.Annotations,
			})
		}
	}
	if len(images) == 0 {
		return nil, nil, usageError(fmt.Errorf("the sources list no platform image"))
	}
	return images, entries, nil
}

// checkSBOMs records, for each image, its SBOM referrers in log, and
// fails naming every image that has none, unless allowNone.
func checkSBOMs(ctx context.Context, finder *exporter.Finder, images []oci.Image, log *referrerLog, allowNone bool) error {
	var missing []string
	for _, img := range images {
		refs, _, err := finder.Referrers(ctx, img.Descriptor.Digest)
		if err != nil {
			return fmt.Errorf("referrers of %s (%s): %w", img, img.Descriptor.Digest, err)
		}
		n := 0
		for _, r := range refs {
			if oci.IsSBOMReferrer(r) {
				log.add(img.Descriptor.Digest, sbomFormatName(r), r, "")
				n++
			}
		}
		if n == 0 {
			missing = append(missing, fmt.Sprintf("%s (%s)", img, img.Descriptor.Digest))
		}
	}
	if len(missing) > 0 && !allowNone {
		return fmt.Errorf("no SBOM referrer of %s: attach them first (affix attach REF@DIGEST), or pass --allow-no-sbom", strings.Join(missing, ", "))
	}
	return nil
}

// sbomFormatName names the format of an SBOM referrer as --sbom-format
// does, "" for one affix does not write.
func sbomFormatName(r ocispec.Descriptor) string {
	for _, f := range []referrerFormat{{doc: sbomgen.SPDXJSON}, {doc: sbomgen.CycloneDXJSON}, {doc: sbomgen.SPDXJSON, inToto: true}} {
		if f.artifactType() == r.ArtifactType && (!f.inToto || r.Annotations[oci.AnnotationPredicateType] == oci.PredicateSPDX) {
			return f.String()
		}
	}
	return ""
}

// rootFetcher serves the merged index from memory and everything else
// from the repository.
type rootFetcher struct {
	root ocispec.Descriptor
	data []byte
	rest oci.Fetcher
}

func (f rootFetcher) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if d.Digest == f.root.Digest {
		return io.NopCloser(bytes.NewReader(f.data)), nil
	}
	return f.rest.Fetch(ctx, d)
}
