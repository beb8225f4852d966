package convert

import (
	"context"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
)

// This file holds the phases of Convert, in the order it runs them:
// resolveIndex, pair, prepare, unconverted, write.

// resolveIndex fetches the manifest reference names in repo, checks it
// is the one wanted (opts.Digest, a tag when stripping) and
// walks it to its manifests. The root it returns carries the bytes read
// in Data, so that the walk and the push's load (oci.ReadBlob) reuse them
// instead of reading the index again by digest. The walk reads manifests
// through manifests (the converter's cache), so that those it reads are
// not read again.
func resolveIndex(ctx context.Context, repo Repository, manifests oci.Fetcher, reference string, opts Options) (ocispec.Descriptor, []oci.Image, error) {
	// Stripping writes the index under a tag: a digest is refused before
	// any request, whatever it names.
	if _, err := digest.Parse(reference); err == nil && opts.StripAttestations {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s@%s: %w", repo.Name(), reference, ErrNeedTag)
	}
	root, data, _, err := repo.FetchManifest(ctx, reference)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	root.Data = data
	if opts.Digest != "" && root.Digest != opts.Digest {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s:%s names %s, not %s, the digest asked for (TAG@DIGEST, checked before converting; nothing written): %w", repo.Name(), reference, root.Digest, opts.Digest, ErrTagMoved)
	}
	// Every entry, not each (digest, platform) once: one attestation
	// manifest listed for two platforms is two entries (unknown/unknown
	// both), each to pair, convert and strip.
	images, err := oci.WalkEntries(ctx, manifests, root)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: %s: %w", repo.Name(), reference, err)
	}
	return root, images, nil
}

// pair fills res.Platforms with the platform manifests of images (each
// digest once) and gives each its BuildKit attestation manifest; those
// for no platform manifest go to res.Unmatched. An attestation manifest
// names its platform manifest in its vnd.docker.reference.digest
// annotation; one listed without it (Walk found it by its artifactType)
// is read, and names it in its subject, as BuildKit's OCI-artifact form
// does. images holds every index entry (oci.WalkEntries): one attestation
// manifest listed for two platforms is paired with both. It returns every
// attestation manifest images holds, matched or not, each digest once:
// what stripping leaves out of the index.
//
// An index that lists one manifest both as a platform image and as an
// attestation entry is refused (ErrBadAttestation): converting it would
// read an image as statements, and stripping the attestation entry, by
// digest, would take the platform out of the index.
func (c *converter) pair(ctx context.Context, res *Result, images []oci.Image) ([]ocispec.Descriptor, error) {
	byDigest := map[digest.Digest]int{}
	var attestations []oci.Image
	for _, img := range images {
		if img.Attestation {
			attestations = append(attestations, img)
			continue
		}
		if _, ok := byDigest[img.Descriptor.Digest]; ok {
			// One manifest under two platforms: one SBOM referrer,
			// annotated with the first platform.
			continue
		}
		byDigest[img.Descriptor.Digest] = len(res.Platforms)
		res.Platforms = append(res.Platforms, Platform{Manifest: img.Descriptor})
	}
	var out []ocispec.Descriptor
	for _, img := range attestations {
		a := img.Descriptor
		if i, ok := byDigest[a.Digest]; ok {
			return nil, fmt.Errorf("%s: index %s lists manifest %s both as the %s platform manifest and as an attestation manifest (for %s); refused, nothing written: %w", c.repo.Name(), img.Parent.Digest, a.Digest, oci.FormatPlatform(*res.Platforms[i].Manifest.Platform), describeSubject(a, digest.Digest(a.Annotations[oci.AnnotationDockerReferenceDigest])), ErrBadAttestation)
		}
		if !slices.ContainsFunc(out, func(d ocispec.Descriptor) bool { return d.Digest == a.Digest }) {
			out = append(out, a)
		}
		sub, err := c.attestationSubject(ctx, a)
		if err != nil {
			return nil, err
		}
		i, ok := byDigest[sub]
		if !ok {
			if slices.ContainsFunc(res.Unmatched, func(d ocispec.Descriptor) bool { return d.Digest == a.Digest }) && res.UnmatchedFor[a.Digest] == sub {
				continue // the same entry listed again
			}
			c.logf("attestation manifest %s is for %s, not a platform manifest of the index; skipped", a.Digest, describeSubject(a, sub))
			res.Unmatched = append(res.Unmatched, a)
			if sub != "" {
				if res.UnmatchedFor == nil {
					res.UnmatchedFor = map[digest.Digest]digest.Digest{}
				}
				res.UnmatchedFor[a.Digest] = sub
			}
			continue
		}
		switch p := &res.Platforms[i]; p.Attestation.Digest {
		case "":
			p.Attestation = a
		case a.Digest:
			// The same attestation entry listed twice for the platform.
		default:
			return nil, fmt.Errorf("%s: platform manifest %s has two attestation manifests (%s, %s): %w", c.repo.Name(), sub, p.Attestation.Digest, a.Digest, ErrBadAttestation)
		}
	}
	return out, nil
}

// attestationSubject returns the platform manifest attestation manifest a
// is for: its vnd.docker.reference.digest annotation, else the subject
// of its manifest (read), else "".
func (c *converter) attestationSubject(ctx context.Context, a ocispec.Descriptor) (digest.Digest, error) {
	if s := a.Annotations[oci.AnnotationDockerReferenceDigest]; s != "" {
		return digest.Digest(s), nil
	}
	var m ocispec.Manifest
	if _, err := oci.ReadJSON(ctx, c.manifests, a, &m); err != nil {
		return "", fmt.Errorf("%s: attestation manifest %s: %w", c.repo.Name(), a.Digest, err)
	}
	if m.Subject == nil {
		return "", nil
	}
	return m.Subject.Digest, nil
}

// describeSubject names sub, the manifest attestation manifest a is for
// as pair found it: by a's vnd.docker.reference.digest annotation, else
// by its subject (read), else neither.
func describeSubject(a ocispec.Descriptor, sub digest.Digest) string {
	switch {
	case sub == "":
		return "no manifest (no vnd.docker.reference.digest, no subject)"
	case a.Annotations[oci.AnnotationDockerReferenceDigest] == "":
		return fmt.Sprintf("%q (its subject)", string(sub))
	}
	return fmt.Sprintf("%q", string(sub))
}

// prepare reads every platform's attestation and builds its referrer,
// concurrently (at most c.concurrency() platforms at a time). It returns,
// by platform index, the referrers to write, their documents in c.spool
// (so that memory holds at most c.concurrency() documents, not one per
// platform): nil for a platform without an SBOM or whose referrer exists
// already.
func (c *converter) prepare(ctx context.Context, platforms []Platform) ([]*prepared, error) {
	if err := c.expectStatements(ctx, platforms); err != nil {
		return nil, err
	}
	arts := make([]*prepared, len(platforms))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(c.concurrency())
	for i := range platforms {
		p := &platforms[i]
		eg.Go(func() error {
			a, err := c.preparePlatform(ectx, p)
			arts[i] = a
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	return arts, nil
}

// expectStatements reads the attestation manifests of platforms
// (concurrently; the manifest cache keeps them for preparePlatform) and
// tells c.statements which statement layers each platform will read, so
// that a layer several platforms list is read once and kept only until
// the last of them took it.
func (c *converter) expectStatements(ctx context.Context, platforms []Platform) error {
	layers := make([][]ocispec.Descriptor, len(platforms))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(c.concurrency())
	for i := range platforms {
		p := &platforms[i]
		if p.Attestation.Digest == "" {
			continue
		}
		eg.Go(func() error {
			m, err := c.readAttestation(ectx, p)
			if err != nil {
				return fmt.Errorf("%s: attestation %s of %s: %w", c.repo.Name(), p.Attestation.Digest, oci.FormatPlatform(*p.Manifest.Platform), err)
			}
			layers[i] = m.Layers
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	for _, ls := range layers {
		seen := map[digest.Digest]bool{}
		for _, l := range ls {
			if readsLayer(l) && !seen[l.Digest] {
				seen[l.Digest] = true
				c.statements.expect(l.Digest)
			}
		}
	}
	return nil
}

// preparePlatform builds p's referrer from its attestation manifest and
// looks up the referrers p's platform manifest has, filling p (Referrer,
// SBOMReferrers, OtherForms, Existed and what artifact sets). It returns
// the referrer to write, its document spooled (c.spool), nil when there
// is none or it exists already.
func (c *converter) preparePlatform(ctx context.Context, p *Platform) (*prepared, error) {
	if p.Attestation.Digest == "" {
		// Nothing to convert; say which SBOM referrers it has.
		_, _, err := c.referrers(ctx, p)
		return nil, err
	}
	a, err := c.artifact(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("%s: attestation %s of %s: %w", c.repo.Name(), p.Attestation.Digest, oci.FormatPlatform(*p.Manifest.Platform), err)
	}
	if a == nil {
		return nil, nil
	}
	// Hashed once, here: Manifest, the spool and the push take the
	// digest as given (the spool checks its file against it).
	for i := range a.Blobs {
		a.Blobs[i].Digest = digest.FromBytes(a.Blobs[i].Data)
	}
	desc, _, err := a.Manifest()
	if err != nil {
		return nil, fmt.Errorf("%s: referrer of %s from attestation %s: %w", c.repo.Name(), oci.FormatPlatform(*p.Manifest.Platform), p.Attestation.Digest, err)
	}
	p.Referrer = desc
	refs, mode, err := c.referrers(ctx, p)
	if err != nil {
		return nil, err
	}
	p.OtherForms = otherForms(p.SBOMReferrers, desc)
	p.Existed = slices.ContainsFunc(refs, func(r ocispec.Descriptor) bool { return r.Digest == desc.Digest })
	if p.Existed && mode == exporter.ModeTagSchema {
		// A referrers tag may list a manifest deleted since: counted as
		// there, a strip would move the tag with no SBOM behind it.
		// (The referrers API drops a deleted manifest from its answers.)
		ok, err := exporter.HasManifest(ctx, c.repo, desc)
		if err != nil {
			return nil, fmt.Errorf("%s: checking referrer %s of %s, listed in its referrers tag: %w", c.repo.Name(), desc.Digest, p.Manifest.Digest, err)
		}
		if !ok {
			c.warnf("%s lists referrer %s of %s in its referrers tag %s, but its manifest is gone (deleted); writing it again", c.repo.Name(), desc.Digest, p.Manifest.Digest, exporter.ReferrersTag(p.Manifest.Digest))
			p.Existed = false
		}
	}
	if p.Existed {
		return nil, nil
	}
	return c.spool.put(a)
}

// referrers returns the referrers of p's platform manifest, sets
// p.SBOMReferrers to those holding an SBOM, and records the mode the
// repository indexes referrers with.
func (c *converter) referrers(ctx context.Context, p *Platform) ([]ocispec.Descriptor, exporter.Mode, error) {
	refs, mode, err := c.finder.Referrers(ctx, p.Manifest.Digest)
	if err != nil {
		return nil, "", fmt.Errorf("%s: referrers of %s: %w", c.repo.Name(), p.Manifest.Digest, err)
	}
	c.setMode(mode)
	p.SBOMReferrers = sbomReferrers(refs)
	return refs, mode, nil
}

// unconverted returns the *UnconvertedError stripping the attestation
// manifests of res would be: the platforms whose attestation manifest
// holds statements not published as referrers, and res.Unmatched. It
// returns nil when there are none.
func unconverted(repository string, res *Result) error {
	ue := &UnconvertedError{Repository: repository, Unmatched: res.Unmatched, UnmatchedFor: res.UnmatchedFor}
	for _, p := range res.Platforms {
		if len(p.Unconverted) > 0 {
			ue.Platforms = append(ue.Platforms, p)
		}
	}
	if len(ue.Platforms) > 0 || len(ue.Unmatched) > 0 {
		return ue
	}
	return nil
}

// write pushes arts (by platform index of res.Platforms) as referrers
// through one exporter.Push; with strip that push also writes the index
// without its attestation manifests by digest, and write then moves
// reference to it (moveTag). It sets res.Mode, and with strip
// res.NewIndex and res.Stripped.
func (c *converter) write(ctx context.Context, res *Result, reference string, arts []*prepared, strip []ocispec.Descriptor) error {
	var image *exporter.Image
	popts := exporter.Options{MaxConcurrency: c.opts.MaxConcurrency, Logf: c.opts.Logf, Warnf: c.opts.Warnf}
	if len(strip) > 0 {
		// Commit writes the stripped index by digest; moveTag then
		// points the tag at it, unless the tag moved meanwhile. The
		// exporter strips exactly the attestation manifests pair found.
		image = &exporter.Image{Source: c.repo, Root: c.root}
		popts.StripAttestations = true
		popts.StripSet = map[digest.Digest]bool{}
		for _, a := range strip {
			popts.StripSet[a.Digest] = true
		}
	}
	push := exporter.New(c.repo, image, popts)
	defer push.Abort()
	if err := upload(ctx, push, res.Platforms, arts, c.concurrency()); err != nil {
		if len(strip) > 0 {
			return fmt.Errorf("%s: converting %s failed, tag not moved: %w", c.repo.Name(), reference, err)
		}
		return fmt.Errorf("%s: converting %s: %w", c.repo.Name(), reference, err)
	}
	pres, err := push.Commit(ctx)
	if err != nil {
		if len(strip) > 0 {
			// The stripped index is written by digest; the tag comes
			// after (moveTag).
			return fmt.Errorf("%s: converting %s failed, tag not moved: %w", c.repo.Name(), reference, err)
		}
		return fmt.Errorf("%s: converting %s: %w", c.repo.Name(), reference, err)
	}
	res.Mode = c.mode
	if m, ok := pres.Modes[c.repo.Name()]; ok {
		res.Mode = m
	}
	if len(strip) > 0 {
		if missed := notStripped(strip, pres.Stripped); len(missed) > 0 {
			return fmt.Errorf("%s: converting %s: the stripped index %s still lists the attestation manifests %v; the tag was not moved", c.repo.Name(), reference, pres.Root.Digest, missed)
		}
		if err := moveTag(ctx, c.repo, push, reference, res.Index, pres.Root); err != nil {
			return err
		}
		res.NewIndex = pres.Root
		res.NewIndex.Annotations, res.NewIndex.Platform = nil, nil
		res.Stripped = pres.Stripped
	}
	return nil
}

// upload runs push.Images and attaches the artifacts of arts, beside it,
// at most limit at a time: each reads its document back from the spool
// for its Attach, so that memory holds at most limit documents. It checks
// that each referrer gets the digest its platform (platforms[i] for
// arts[i]) expects.
func upload(ctx context.Context, push *exporter.Push, platforms []Platform, arts []*prepared, limit int) error {
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error { return push.Images(ectx) })
	sem := make(chan struct{}, limit)
	for i, p := range arts {
		if p == nil {
			continue
		}
		eg.Go(func() error {
			select {
			case sem <- struct{}{}:
			case <-ectx.Done():
				return ectx.Err()
			}
			defer func() { <-sem }()
			a, err := p.load()
			if err != nil {
				return err
			}
			d, err := push.Attach(ectx, a)
			if err != nil {
				return err
			}
			if d.Digest != platforms[i].Referrer.Digest {
				return fmt.Errorf("referrer of %s: pushed %s, expected %s", a.Subject.Digest, d.Digest, platforms[i].Referrer.Digest)
			}
			return nil
		})
	}
	return eg.Wait()
}

// notStripped returns the digests of want that stripped does not list.
func notStripped(want, stripped []ocispec.Descriptor) []digest.Digest {
	var out []digest.Digest
	for _, w := range want {
		if !slices.ContainsFunc(stripped, func(s ocispec.Descriptor) bool { return s.Digest == w.Digest }) && !slices.Contains(out, w.Digest) {
			out = append(out, w.Digest)
		}
	}
	return out
}
