package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/oci"
)

// cosignSuffixes are the suffixes of cosign's tag schemes: signatures,
// attestations (before cosign v3's bundles, which are referrers), SBOMs
// (cosign attach sbom).
var cosignSuffixes = []string{"sig", "att", "sbom"}

// cosignTagCopy is one of cosign's tags, sha256-<hex>.sig (.att, .sbom),
// that merge copies from a SOURCE's repository into REF's: its subject is
// a manifest merge copies byte for byte (the index kept, a platform or
// attestation manifest, a referrer), so the signature stays valid.
type cosignTagCopy struct {
	source  *mergeSource
	tag     string
	subject digest.Digest
}

// cosignTagResult is what copyCosignTags did with one tag.
type cosignTagResult struct {
	cosignTagCopy
	desc ocispec.Descriptor // the tag's manifest in the source
	// state: "copied", "present" (REF's repository has that tag with the
	// same manifest), "kept" (REF's repository has that tag with another
	// manifest: left as it is, with a warning), "gone" (deleted from the
	// source since it was listed).
	state string
}

// planCosignTags lists, with one tag list per source repository other
// than REF's, cosign's tags of every manifest merge copies from there
// (entries, the manifests of the index; the index itself when kept; the
// referrers walked). A repository whose tags cannot be listed is warned
// about, and each of those subjects' possible tags is read instead (a
// 404 is no tag): a signature is not dropped because a registry lists
// no tags. A source index that is not published (a new index is) has
// another digest than REF's: its cosign tags are not copied, with a
// warning.
func planCosignTags(ctx context.Context, m *mergePlan, entries []ocispec.Descriptor, warn func(string, ...any)) ([]cosignTagCopy, error) {
	type subject struct {
		d digest.Digest
		s *mergeSource
	}
	byRepo := map[*mergeRepo][]subject{}
	var repos []*mergeRepo // in order of the sources
	add := func(d digest.Digest, s *mergeSource) {
		if s == nil || !s.repo.other || s.repo.tags == nil {
			return
		}
		if slices.ContainsFunc(byRepo[s.repo], func(x subject) bool { return x.d == d }) {
			return
		}
		if _, ok := byRepo[s.repo]; !ok {
			repos = append(repos, s.repo)
		}
		byRepo[s.repo] = append(byRepo[s.repo], subject{d, s})
	}
	if c := m.content; c.kept != nil {
		add(c.root.Digest, c.kept)
	}
	for _, e := range entries {
		add(e.Digest, m.content.owner[e.Digest])
	}
	var walked []digest.Digest
	for d := range m.referrers.walked {
		walked = append(walked, d)
	}
	slices.Sort(walked)
	for _, d := range walked {
		add(d, m.referrers.walked[d])
	}
	// The source indexes not published: their digest is not REF's.
	unkept := map[*mergeRepo][]*mergeSource{}
	for i := range m.sources {
		s := &m.sources[i]
		if s.repo.other && oci.IsIndex(s.root.MediaType) && s.root.Digest != m.content.root.Digest {
			if _, ok := byRepo[s.repo]; !ok {
				continue
			}
			unkept[s.repo] = append(unkept[s.repo], s)
		}
	}
	var out []cosignTagCopy
	for _, r := range repos {
		subjects := byRepo[r]
		listed, err := listTags(ctx, r)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			warn("SOURCE %s: cannot list the tags of %s (%v): reading cosign's tags (%s) of each manifest copied instead", subjects[0].s.arg, r.remote.Name(), err, strings.Join(cosignSuffixes, ", "))
		}
		for _, sub := range subjects {
			for _, suffix := range cosignSuffixes {
				tag, err := discover.CosignTag(sub.d, suffix)
				if err != nil {
					// The walk drops such a referrer: never here.
					warn("SOURCE %s: %v: not copied", sub.s.arg, err)
					break
				}
				if listed != nil && !listed[tag] {
					continue
				}
				out = append(out, cosignTagCopy{source: sub.s, tag: tag, subject: sub.d})
			}
		}
		for _, s := range unkept[r] {
			if listed == nil {
				warn("SOURCE %s: cosign's tags of the source's index %s, if any, are not copied: REF's index is a new one (%s), which they do not sign", s.arg, s.root.Digest, m.content.root.Digest)
				continue
			}
			for _, suffix := range cosignSuffixes {
				if tag, err := discover.CosignTag(s.root.Digest, suffix); err == nil && listed[tag] {
					warn("SOURCE %s: cosign's tag %s not copied: it is of the source's index %s, and REF's index is a new one (%s), which it does not sign", s.arg, tag, s.root.Digest, m.content.root.Digest)
				}
			}
		}
	}
	return out, nil
}

// listTags lists the tags of r, once.
func listTags(ctx context.Context, r *mergeRepo) (map[string]bool, error) {
	out := map[string]bool{}
	err := r.tags.Tags(ctx, "", func(tags []string) error {
		for _, t := range tags {
			out[t] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// copyCosignTags copies each of cosign's tags planned into REF's
// repository, at most maxConcurrency at once: the manifest byte for
// byte, after its blobs (those REF's repository lacks; mounted from the
// source's repository on REF's registry, else streamed and verified),
// under the same tag. A tag REF's repository has with the same manifest
// costs two reads (the source's tag, REF's) and no write (a rerun); with another manifest (cosign
// appends signatures to a .sig tag: REF's may have signatures of its
// own), it is left as it is, with a warning naming it. A tag planned
// (listed, or probed when the list failed) that the source does not
// have (404) is not copied.
func (m *mergePlan) copyCosignTags(ctx context.Context) error {
	if len(m.cosign) == 0 {
		return nil
	}
	dst := m.dst.remote
	results := make([]cosignTagResult, len(m.cosign))
	blobs := &blobOnce{done: map[digest.Digest]*onceErr{}}
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(max(m.maxConcurrency, 1))
	for i, c := range m.cosign {
		eg.Go(func() error {
			res, err := m.copyCosignTag(ectx, dst, blobs, c)
			if err != nil {
				return err
			}
			results[i] = res
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	for _, r := range results {
		if r.state == "kept" {
			m.warn("REF %s: cosign's tag %s (of %s) not copied from SOURCE %s: REF's repository has that tag with another manifest, left as it is (cosign appends to its tags: merge does not overwrite them)", dst.Name(), r.tag, r.subject, r.source.arg)
		}
		if r.state != "gone" && r.state != "skipped" {
			m.cosignDone = append(m.cosignDone, r)
		}
	}
	return nil
}

// copyCosignTag copies one of cosign's tags (see copyCosignTags).
func (m *mergePlan) copyCosignTag(ctx context.Context, dst *exporter.Remote, blobs *blobOnce, c cosignTagCopy) (cosignTagResult, error) {
	res := cosignTagResult{cosignTagCopy: c}
	src := c.source.repo.remote
	desc, data, _, err := src.FetchManifest(ctx, c.tag)
	if errors.Is(err, exporter.ErrNotFound) {
		res.state = "gone"
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("SOURCE %s: reading cosign's tag %s: %w", c.source.arg, c.tag, err)
	}
	// The bytes read are the manifest copied: their own digest.
	desc = ocispec.Descriptor{MediaType: desc.MediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	res.desc = desc
	var man ocispec.Manifest
	if err := json.Unmarshal(data, &man); err != nil || !oci.IsManifest(desc.MediaType) {
		// Not what cosign writes there: not copied, as a referrer
		// merge cannot copy is not (warned about, not fatal).
		why := "a " + desc.MediaType
		if err != nil {
			why = fmt.Sprintf("not an image manifest (%v)", err)
		}
		res.state = "skipped"
		m.warn("SOURCE %s: cosign's tag %s (of %s) not copied: it holds %s, not the image manifest cosign writes", c.source.arg, c.tag, c.subject, why)
		return res, nil
	}
	have, _, _, err := dst.FetchManifest(ctx, c.tag)
	switch {
	case err == nil && have.Digest == desc.Digest:
		res.state = "present"
		return res, nil
	case err == nil:
		res.state = "kept"
		return res, nil
	case !errors.Is(err, exporter.ErrNotFound):
		return res, fmt.Errorf("REF %s: reading cosign's tag %s: %w", dst.Name(), c.tag, err)
	}
	for _, b := range append([]ocispec.Descriptor{man.Config}, man.Layers...) {
		if len(b.URLs) > 0 {
			continue // a foreign layer: not in the registry
		}
		if err := b.Digest.Validate(); err != nil {
			return res, fmt.Errorf("SOURCE %s: cosign's tag %s: blob digest %q: %w", c.source.arg, c.tag, b.Digest, err)
		}
		b := ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
		if err := blobs.do(b.Digest, func() error { return copyBlob(ctx, dst, c.source, b) }); err != nil {
			return res, fmt.Errorf("copying cosign's tag %s from SOURCE %s into REF's repository: %w", c.tag, c.source.arg, err)
		}
	}
	if _, err := dst.PushManifest(ctx, desc, data, c.tag, ""); err != nil {
		return res, fmt.Errorf("copying cosign's tag %s from SOURCE %s into REF's repository: %w", c.tag, c.source.arg, err)
	}
	res.state = "copied"
	return res, nil
}

// copyBlob makes REF's repository (dst) hold blob b of SOURCE s: nothing
// when it has it, else mounted from s's repository on dst's registry, or
// uploaded from s (verified against b as it streams).
func copyBlob(ctx context.Context, dst *exporter.Remote, s *mergeSource, b ocispec.Descriptor) error {
	ok, err := dst.Exists(ctx, b)
	if err != nil || ok {
		return err
	}
	open := func() (io.ReadCloser, error) { return s.open(ctx, b) }
	if exporter.SameRegistry(s.ref.Registry, dst.Reference().Registry) {
		return dst.Mount(ctx, b, s.ref.Repository, open)
	}
	return dst.PushBlob(ctx, b, open)
}

// blobOnce runs one copy of each blob, whichever tag asks first; the
// others wait for it and share its outcome.
type blobOnce struct {
	mu   sync.Mutex
	done map[digest.Digest]*onceErr
}

type onceErr struct {
	once sync.Once
	err  error
}

func (b *blobOnce) do(d digest.Digest, f func() error) error {
	b.mu.Lock()
	o, ok := b.done[d]
	if !ok {
		o = &onceErr{}
		b.done[d] = o
	}
	b.mu.Unlock()
	o.once.Do(func() { o.err = f() })
	return o.err
}
