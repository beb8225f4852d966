package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
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
// already pushed, copied into REF's repository where they are in another,
// tagged once each has its SBOM there.
func newMergeCmd(g *globalOptions) *cobra.Command {
	var o mergeOptions
	cmd := &cobra.Command{
		Use:   "merge [flags] REF:TAG[,TAG...] SOURCE...",
		Short: "Tag one image index of platform images already pushed, each with its SBOMs",
		Long: `Publish, under REF's tag(s), one image index listing the platform
manifests of every SOURCE: images built and pushed separately, one per
CI runner or architecture (affix build --platform P --push, by a tag or
by digest), merged as docker buildx imagetools create merges them.

Each SOURCE is an image or index, as a reference (HOST/REPO:TAG,
HOST/REPO@DIGEST) or relative to REF's repository (:TAG, @DIGEST). An
index contributes every platform manifest and BuildKit attestation
manifest it lists; a manifest, itself with the platform of its config.
A manifest listed twice under one platform is listed once (under two
platforms, it keeps both entries); two manifests of one platform are an
error naming both sources.

A SOURCE in another repository (of REF's registry or another) is copied
into REF's repository, as a release pipeline promotes an image: its
manifests byte for byte (same digests), their configs and layers (those
REF's repository has are not sent again; on REF's registry they are
mounted, else streamed from the source's), and the referrers of each
platform manifest that REF's repository does not list yet (SBOMs,
signatures, any referrer that is an image manifest), and the referrers
of those referrers in turn (a signature of an SBOM, as ls shows them),
byte for byte, through the referrers API or the referrers tag as push
writes them. Every registry is reached with the same credentials and
--insecure-registry/--plain-http.

The index is tagged only when every platform manifest has an SBOM
referrer in REF's repository (referrers API, else the referrers tag): the
tag never names an image without its SBOMs. A referrer the referrers tag
still lists after its manifest was deleted is not there (merge checks
those it relies on, a HEAD each): it is no SBOM, and copied again from a
source that has it. A platform manifest whose source lists no SBOM fails
the merge before anything is copied.
--allow-no-sbom drops that check. Nothing is changed in the sources: the
referrers stay attached, since their subjects are the platform manifests,
whose digests do not change. With one SOURCE that is an index and no
--annotation, that index is published itself, byte for byte (its digest
and annotations kept), as buildx imagetools create keeps it: a promotion
or a retag keeps the digest, and the index's own referrers (a signature
of the index) are copied with it. Otherwise the index is a new OCI image index,
its entries as the sources list them, in the order of SOURCE. The same
sources give the same index digest, wherever they were.

cosign's tags (sha256-<hex>.sig, .att, .sbom in a SOURCE's repository) of
every manifest copied are copied too, byte for byte, before the tag; one
REF's repository has with another manifest is left as it is, with a
warning.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError(fmt.Errorf("want REF and at least one SOURCE, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			// Checked before prepareMetadataFile removes an earlier file.
			if err := checkPositive("--max-concurrency", o.maxConcurrency); err != nil {
				return err
			}
			if err := prepareMetadataFile(cmd.Context(), o.metadataFile); err != nil {
				return err
			}
			return hintHTTPHosts(merge(cmd, g, args[0], args[1:], o), mergeHosts(args)...)
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

// mergeHosts returns the registry hosts merge's arguments (REF, then the
// SOURCEs) name, REF's first, for the plain-HTTP hint.
func mergeHosts(args []string) []string {
	hosts := []string{hostOf(args[0])}
	if s, _, err := splitTagList(args[0]); err == nil {
		if r, err := parseRef(s); err == nil {
			hosts[0] = r.Registry
		}
	}
	for _, a := range args[1:] {
		if r, err := parseRef(a); err == nil {
			hosts = append(hosts, r.Registry)
		}
	}
	return hosts
}

// mergeSource is one SOURCE, resolved.
type mergeSource struct {
	arg  string // as given
	ref  registry.Reference
	repo *mergeRepo // its repository
	root ocispec.Descriptor
}

// merge publishes the index of sources under REF (refStr), copying into
// REF's repository what sources in other repositories hold.
func merge(cmd *cobra.Command, g *globalOptions, refStr string, sourceArgs []string, o mergeOptions) error {
	ctx := cmd.Context()
	m, err := planMerge(ctx, g, refStr, sourceArgs, o, warnf(cmd))
	if err != nil {
		return err
	}
	name := m.dst.remote.Name()
	p := exporter.New(m.dst.remote, &exporter.Image{Source: m.content, Root: m.content.root}, exporter.Options{
		Tag:            m.ref.Reference,
		MaxConcurrency: o.maxConcurrency,
		MountFor:       m.content.mountFor(m.ref),
		Logf:           debugf(g, cmd.ErrOrStderr()),
		Warnf:          warnf(cmd),
	})
	defer p.Abort()
	if err := m.copy(ctx, p, o.allowNoSBOM); err != nil {
		return fmt.Errorf("merge to %s failed, tag %s not moved: %w", name, m.ref.Reference, err)
	}
	res, tags, err := commitTags(ctx, p, "merge", name, m.ref, m.more)
	if err != nil {
		return err
	}
	if _, ok := res.Modes[name]; !ok {
		// A merge that wrote no referrer (a rerun, images of REF's own
		// repository) read them: the mode is what that read learnt.
		mode := m.referrers.mode
		if mode == "" {
			// Those reads were of images REF's repository may not
			// have held then (a rerun of a merge from other
			// repositories, on a registry without the referrers
			// API), which tell no mode for sure: ask again, for an
			// image it holds now, so that every run's summary and
			// metadata name it.
			if _, learnt, err := exporter.NewFinder(m.dst.remote).Referrers(ctx, m.images[0].Descriptor.Digest); err == nil {
				mode = learnt
			}
		}
		if mode != "" {
			if res.Modes == nil {
				res.Modes = map[string]exporter.Mode{}
			}
			res.Modes[name] = mode
		}
	}
	meta := newMetadata(res, refName(m.ref, m.ref.Reference), m.images, m.attached, m.counter)
	meta.Tags = refNames(m.ref, tags)
	for _, r := range m.referrers.copies {
		meta.CopiedReferrers = append(meta.CopiedReferrers, layoutReferrerMeta{Subject: r.subject.Descriptor.Digest, Digest: r.desc.Digest, ArtifactType: r.desc.ArtifactType})
	}
	meta.fromOtherRepos, meta.referrersPresent = m.referrers.other, m.referrers.present
	for _, r := range m.cosignDone {
		switch r.state {
		case "copied":
			meta.CosignTags = append(meta.CosignTags, cosignTagMeta{Tag: r.tag, Subject: r.subject, Digest: r.desc.Digest})
		case "present":
			meta.cosignPresent++
		case "kept":
			meta.cosignKept++
		}
	}
	printPush(cmd.OutOrStdout(), meta, res)
	if err := writeMetadataFile(cmd.Context(), o.metadataFile, meta); err != nil {
		return fmt.Errorf("merge to %s succeeded (%s), but --metadata-file was not written: %w", name, tagStates(meta.Tags, nil, nil), err)
	}
	return nil
}

// mergePlan is a merge checked and planned: what it writes, and where
// each part is read from.
type mergePlan struct {
	ref       registry.Reference // REF, with its first tag
	more      []string           // REF's other tags
	dst       *mergeRepo         // REF's repository
	counter   *exporter.Counter  // the requests to every registry
	images    []oci.Image        // the platform images, in index order
	content   *mergeContent      // the index, and the sources of its parts
	referrers *referrerPlan      // the referrers to copy into dst
	attached  *referrerLog       // the SBOM referrers dst lists
	sources   []mergeSource      // the SOURCEs, resolved
	// cosign are cosign's tags to copy into dst (planCosignTags);
	// cosignDone what copyCosignTags did with each.
	cosign         []cosignTagCopy
	cosignDone     []cosignTagResult
	maxConcurrency int
	warn           func(string, ...any)
}

// planMerge checks the arguments (but o.maxConcurrency, checked before),
// resolves the sources, builds the index and lists the referrers to copy
// into REF's repository: all that merge does before it writes. It fails,
// before anything is written, when a platform image would have no SBOM,
// unless o.allowNoSBOM.
func planMerge(ctx context.Context, g *globalOptions, refStr string, sourceArgs []string, o mergeOptions, warn func(string, ...any)) (*mergePlan, error) {
	ref, more, err := mergeTarget(refStr)
	if err != nil {
		return nil, err
	}
	annotations, err := indexAnnotations(o.annotations)
	if err != nil {
		return nil, err
	}
	sources, err := mergeSourceRefs(ref, sourceArgs)
	if err != nil {
		return nil, err
	}
	m := &mergePlan{ref: ref, more: more, counter: &exporter.Counter{}, attached: &referrerLog{}, sources: sources, maxConcurrency: o.maxConcurrency, warn: warn}
	remote, err := o.connect(ctx, g, ref, m.counter)
	if err != nil {
		return nil, err
	}
	m.dst = newMergeRepo(remote, false)
	if err := o.openSources(ctx, g, m.dst, sources, m.counter); err != nil {
		return nil, err
	}
	images, entries, owner, err := mergeEntries(ctx, sources)
	if err != nil {
		return nil, err
	}
	m.images = images
	if m.content, err = newMergeContent(ctx, entries, owner, annotations); err != nil {
		return nil, err
	}
	if len(sources) == 1 && annotations == nil {
		if err := m.content.keepIndex(ctx, &sources[0], entries); err != nil {
			return nil, err
		}
	}
	if m.referrers, err = planReferrers(ctx, m.dst, images, m.content, m.attached, warn, o.allowNoSBOM, o.maxConcurrency); err != nil {
		return nil, fmt.Errorf("merge to %s: no tag moved: %w", refName(ref, ref.Reference), err)
	}
	if m.cosign, err = planCosignTags(ctx, m, entries, warn); err != nil {
		return nil, fmt.Errorf("merge to %s: no tag moved: %w", refName(ref, ref.Reference), err)
	}
	return m, nil
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

// mergeSourceRefs parses the SOURCE arguments: references (in any
// repository), or :TAG and @DIGEST relative to ref's repository.
func mergeSourceRefs(ref registry.Reference, args []string) ([]mergeSource, error) {
	out := make([]mergeSource, 0, len(args))
	for _, a := range args {
		s := a
		if strings.HasPrefix(a, "@") || strings.HasPrefix(a, ":") {
			// REF's host as given, not refName's lowercased one: parsed
			// again, a lowercased "UPPER" would read as a Docker Hub
			// repository, taking the source off REF's registry.
			s = ref.Registry + "/" + ref.Repository + a
		}
		r, err := parseRef(s)
		if err != nil {
			return nil, usageError(fmt.Errorf("SOURCE %q: %w", a, err))
		}
		if r.Reference == "" {
			return nil, usageError(fmt.Errorf("SOURCE %q: want a tag or digest", a))
		}
		out = append(out, mergeSource{arg: a, ref: r})
	}
	return out, nil
}

// mergeEntries walks the sources and returns their platform images (each
// manifest once), the entries of the merged index (each manifest once per
// platform it is listed under, in source order, as its source lists it;
// a source manifest itself with its config's platform) and, by digest,
// the source that lists each first. Two manifests of one platform (as
// containerd tells platforms apart: linux/arm64 is linux/arm64/v8), or
// two BuildKit attestation manifests for one manifest, are an error
// naming both sources.
func mergeEntries(ctx context.Context, sources []mergeSource) ([]oci.Image, []ocispec.Descriptor, map[digest.Digest]*mergeSource, error) {
	type listed struct {
		source string
		digest digest.Digest
	}
	type entryKey struct {
		digest   digest.Digest
		platform string
	}
	var images []oci.Image
	var entries []ocispec.Descriptor
	owner := map[digest.Digest]*mergeSource{}
	byPlatform := map[string]listed{}
	attestationOf := map[string]listed{} // by the manifest it is for
	seen := map[entryKey]bool{}
	for i := range sources {
		s := &sources[i]
		imgs, err := oci.Walk(ctx, s.repo.content, s.root)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("SOURCE %s: %w", s.arg, err)
		}
		for _, img := range imgs {
			d := img.Descriptor
			key := platformKey(d.Platform)
			if img.Attestation {
				if of := d.Annotations[oci.AnnotationDockerReferenceDigest]; of != "" {
					if prev, ok := attestationOf[of]; ok && prev.digest != d.Digest {
						return nil, nil, nil, usageError(fmt.Errorf("two BuildKit attestation manifests for %s: SOURCE %s (%s) and %s (%s); an index holds one per image (merge sources that differ only in provenance one at a time)", of, prev.source, prev.digest, s.arg, d.Digest))
					}
					attestationOf[of] = listed{s.arg, d.Digest}
				}
			} else {
				if prev, ok := byPlatform[key]; ok && prev.digest != d.Digest {
					return nil, nil, nil, usageError(fmt.Errorf("platform %s twice: SOURCE %s (%s) and %s (%s)", img, prev.source, prev.digest, s.arg, d.Digest))
				}
				byPlatform[key] = listed{s.arg, d.Digest}
			}
			if owner[d.Digest] == nil {
				owner[d.Digest] = s
				if !img.Attestation {
					images = append(images, img)
				}
			}
			if ek := (entryKey{d.Digest, key}); !seen[ek] {
				seen[ek] = true
				entries = append(entries, ocispec.Descriptor{
					MediaType: d.MediaType, Digest: d.Digest, Size: d.Size,
					Platform: d.Platform, ArtifactType: d.ArtifactType, Annotations: d.Annotations,
				})
			}
		}
	}
	if len(images) == 0 {
		return nil, nil, nil, usageError(fmt.Errorf("the sources list no platform image"))
	}
	return images, entries, owner, nil
}

// platformKey is p as containerd tells platforms apart: normalized
// (linux/arm64/v8 is linux/arm64, arm is arm/v7), with its OS version
// and features; "" for none.
func platformKey(p *ocispec.Platform) string {
	if p == nil {
		return ""
	}
	n := platforms.Normalize(*p)
	return platforms.FormatAll(n) + " " + strings.Join(n.OSFeatures, ",")
}

// checkSBOMs records, for each image, its SBOM referrers in log (those
// a referrers tag lists checked by look, the manifests gone left out),
// and fails naming every image that has none, and its SOURCE (source),
// unless allowNone.
func checkSBOMs(ctx context.Context, finder *exporter.Finder, look *dstLookup, images []oci.Image, source func(oci.Image) string, log *referrerLog, allowNone bool) error {
	var missing []string
	for _, img := range images {
		refs, mode, err := finder.Referrers(ctx, img.Descriptor.Digest)
		if err == nil {
			have := &dstListing{refs: look.validEntries(img.Descriptor.Digest, refs), tag: mode == exporter.ModeTagSchema, decides: oci.IsSBOMReferrer}
			err = look.confirm(ctx, img.Descriptor.Digest, have, nil)
			refs = have.refs
		}
		if err != nil {
			return fmt.Errorf("referrers of %s (%s): %w", img, img.Descriptor.Digest, err)
		}
		if logSBOMs(log, img, refs) == 0 {
			missing = append(missing, missingSBOM(img, source(img)))
		}
	}
	if len(missing) > 0 && !allowNone {
		return noSBOMError(missing)
	}
	return nil
}

// logSBOMs records in log the SBOMs among refs, referrers of img, and
// returns how many there are.
func logSBOMs(log *referrerLog, img oci.Image, refs []ocispec.Descriptor) int {
	n := 0
	for _, r := range refs {
		if oci.IsSBOMReferrer(r) {
			log.add(img.Descriptor.Digest, sbomFormatName(r), r, "")
			n++
		}
	}
	return n
}

// missingSBOM names an image without SBOM for noSBOMError: its platform,
// its digest and the SOURCE argument that lists it (src, as given).
func missingSBOM(img oci.Image, src string) string {
	return fmt.Sprintf("%s (%s, SOURCE %s)", img, img.Descriptor.Digest, src)
}

// noSBOMError is the refusal to tag images without SBOMs, missing naming
// each.
func noSBOMError(missing []string) error {
	return fmt.Errorf("no SBOM referrer of %s: attach them first (affix attach REF@DIGEST), or pass --allow-no-sbom", strings.Join(missing, ", "))
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
