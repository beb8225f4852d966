package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// node is a manifest or index of the image to push.
type node struct {
	desc        ocispec.Descriptor // as pushed: media type, digest, size, platform
	source      ocispec.Descriptor // as read
	data        []byte
	blobs       []ocispec.Descriptor // config and layers of a manifest
	children    []*node
	attestation bool // reported in Result.Attestations; stripping asks p.stripSet
	stripped    []ocispec.Descriptor
}

// Images uploads the image's blobs (skipping those the target has) and
// then its manifests and nested indexes by digest: steps 1 and 2. The root
// index is written by Commit. Calling it again returns the first result.
func (p *Push) Images(ctx context.Context) error {
	if p.img == nil {
		return nil
	}
	p.mu.Lock()
	p.imagesRun = true
	p.mu.Unlock()
	p.imagesOnce.Do(func() {
		p.imagesErr = p.images(ctx)
		close(p.imagesDone)
	})
	return p.imagesErr
}

// images pushes the image (Images' work, done once): it loads the graph
// from the root, then puts blobs, platform manifests and nested indexes
// children first, leaving the root index for Commit. What the target
// holds whole already (inPlace) is neither checked blob by blob nor
// written again.
func (p *Push) images(ctx context.Context) error {
	if err := p.findStripSet(ctx); err != nil {
		return err
	}
	root, err := p.load(ctx, p.img.Root, 0)
	if err != nil {
		return err
	}
	p.plan = root
	whole, err := p.inPlace(ctx, root)
	if err != nil {
		return err
	}
	var manifests, indexes []*node
	var visit func(n *node)
	seen := map[digest.Digest]bool{}
	visit = func(n *node) {
		if seen[n.desc.Digest] || whole[n.desc.Digest] {
			return
		}
		seen[n.desc.Digest] = true
		for _, c := range n.children {
			visit(c)
		}
		if oci.IsIndex(n.desc.MediaType) {
			indexes = append(indexes, n)
		} else {
			manifests = append(manifests, n)
		}
	}
	visit(root)
	// Step 1: every blob, concurrently.
	var blobs []ocispec.Descriptor
	for _, m := range manifests {
		blobs = append(blobs, m.blobs...)
	}
	if err := p.parallel(ctx, blobs, func(ctx context.Context, d ocispec.Descriptor) error {
		return p.ensureBlob(ctx, d, true, func() (io.ReadCloser, error) { return p.img.Source.Fetch(ctx, d) })
	}); err != nil {
		return err
	}
	// Step 2: manifests, then nested indexes children first; the root
	// index waits for Commit.
	byDigest := map[digest.Digest]*node{}
	var mdescs []ocispec.Descriptor
	for _, m := range manifests {
		byDigest[m.desc.Digest] = m
		mdescs = append(mdescs, m.desc)
	}
	if err := p.parallel(ctx, mdescs, func(ctx context.Context, d ocispec.Descriptor) error {
		return p.pushManifest(ctx, byDigest[d.Digest], d.Digest.String(), "")
	}); err != nil {
		return err
	}
	for _, ix := range indexes {
		if ix == root {
			continue
		}
		if err := p.pushManifest(ctx, ix, ix.desc.Digest.String(), ""); err != nil {
			return err
		}
	}
	return nil
}

// inPlace returns the manifests and indexes of the graph under root that
// the target holds whole, when it can tell (ManifestChecker): a manifest
// it has (a registry keeps the blobs of a manifest it holds: it refused
// the manifest without them, and collects only blobs nothing refers to),
// an index it has whose children it holds whole. It asks for the root
// first (one HEAD by digest) and, only when the root is there, for the
// children of each index found, level by level: a rerun of a completed
// push costs one HEAD per manifest instead of one per blob and a PUT per
// manifest, and a first push one HEAD. The children are asked for rather
// than trusted, since a registry may hold an index without them (one
// that accepts sparse indexes, a clean-up of untagged manifests): those
// missing are pushed whole. The blobs of what is found count as existing.
//
// A HEAD refused with a 4xx other than 429 (a push-only credential, a
// registry that does not serve HEAD on manifests) counts as not found:
// the writes that follow tell whether the registry takes them. A 5xx or
// 429 that outlasted the retries is returned.
func (p *Push) inPlace(ctx context.Context, root *node) (map[digest.Digest]bool, error) {
	mc, ok := p.target.(ManifestChecker)
	if !ok {
		return nil, nil
	}
	found := map[digest.Digest]bool{}
	var mu sync.Mutex
	check := func(ctx context.Context, n *node) error {
		d := ocispec.Descriptor{MediaType: n.desc.MediaType, Digest: n.desc.Digest, Size: n.desc.Size}
		if err := p.acquire(ctx); err != nil {
			return err
		}
		ok, err := mc.ManifestExists(ctx, d)
		p.release()
		if err != nil {
			// A refusal (a push-only credential, no HEAD on manifests)
			// or a 5xx that outlasted the retries (a registry whose
			// record of the manifest is broken answers its HEAD 500, and
			// a PUT of it mends it) makes the check moot: the manifest is
			// pushed whole, as on a first push. A 429 or a connection
			// that fails ends the push.
			if s := status(err); s < 400 || s == http.StatusTooManyRequests {
				return err
			}
			p.logf("checking %s: %v; pushing it whole", d.Digest, err)
			return nil
		}
		if ok {
			mu.Lock()
			found[d.Digest] = true
			mu.Unlock()
		}
		return nil
	}
	if err := check(ctx, root); err != nil || !found[root.desc.Digest] {
		return nil, err
	}
	// Level by level, the children of each index found.
	byDigest := map[digest.Digest]*node{}
	for level := []*node{root}; len(level) > 0; {
		var next []*node
		var descs []ocispec.Descriptor
		for _, n := range level {
			for _, c := range n.children {
				if _, ok := byDigest[c.desc.Digest]; !ok {
					byDigest[c.desc.Digest] = c
					descs = append(descs, c.desc)
				}
			}
		}
		if err := p.parallel(ctx, descs, func(ctx context.Context, d ocispec.Descriptor) error {
			return check(ctx, byDigest[d.Digest])
		}); err != nil {
			return nil, err
		}
		for _, d := range descs {
			if c := byDigest[d.Digest]; found[d.Digest] && len(c.children) > 0 {
				next = append(next, c)
			}
		}
		level = next
	}
	whole := map[digest.Digest]bool{}
	var isWhole func(n *node) bool
	isWhole = func(n *node) bool {
		if !found[n.desc.Digest] {
			return false
		}
		all := true
		for _, c := range n.children {
			all = isWhole(c) && all
		}
		if all {
			whole[n.desc.Digest] = true
			p.existingBlobs(n.blobs)
			p.logf("%s %s is in place", n.desc.MediaType, n.desc.Digest)
		}
		return all
	}
	isWhole(root)
	return whole, nil
}

// existingBlobs records blobs as held by the target (found through a
// manifest that names them), each once per push: counted as existing, and
// never checked or uploaded again by this push (a referrer with the same
// blob finds it done).
func (p *Push) existingBlobs(blobs []ocispec.Descriptor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range blobs {
		if _, ok := p.blobs[b.Digest]; ok {
			continue
		}
		t := &task{done: make(chan struct{})}
		close(t.done)
		p.blobs[b.Digest] = t
		p.blobCount.Existing++
	}
}

// pushManifest writes the manifest or index n under ref. It holds a
// concurrency slot only for the PUT itself, never while blobs the registry
// lost are uploaded again (which take slots of their own): holding one
// there would deadlock once every slot is held by a manifest waiting for
// its blobs.
func (p *Push) pushManifest(ctx context.Context, n *node, ref, ifMatch string) error {
	d := ocispec.Descriptor{MediaType: n.desc.MediaType, Digest: n.desc.Digest, Size: n.desc.Size}
	err := p.retryBlobUnknown(ctx, n.blobs, true, func(b ocispec.Descriptor) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return p.img.Source.Fetch(ctx, b) }
	}, func() error {
		if err := p.acquire(ctx); err != nil {
			return err
		}
		defer p.release()
		_, err := p.target.PushManifest(ctx, d, n.data, ref, ifMatch)
		return err
	})
	if err != nil {
		return err
	}
	p.logf("pushed %s %s", d.MediaType, ref)
	return nil
}

// checkMediaTypeField reports a manifest or index whose mediaType field
// (mt; absent in some old OCI documents) is not the media type its
// descriptor d gives: it is pushed with d's as Content-Type, which the
// distribution-spec wants equal to the field.
func checkMediaTypeField(d ocispec.Descriptor, mt string) error {
	if mt != "" && mt != d.MediaType {
		return fmt.Errorf("its mediaType field is %q, the descriptor that names it says %q", mt, d.MediaType)
	}
	return nil
}

// load reads the image graph under d from the source.
func (p *Push) load(ctx context.Context, d ocispec.Descriptor, depth int) (*node, error) {
	if depth > 8 {
		return nil, fmt.Errorf("%w: %s: indexes nested more than 8 deep", ErrInvalidSource, d.Digest)
	}
	data, err := oci.ReadBlob(ctx, p.img.Source, d, oci.MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", d.MediaType, d.Digest, err)
	}
	// The content is in data: a Data field the caller filled (to spare
	// a read) is not carried into what the push reports.
	d.Data = nil
	n := &node{desc: d, source: d, data: data, attestation: oci.IsAttestation(d)}
	switch {
	case oci.IsManifest(d.MediaType):
		var m ocispec.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%w: manifest %s: %w", ErrInvalidSource, d.Digest, err)
		}
		if err := checkMediaTypeField(d, m.MediaType); err != nil {
			return nil, fmt.Errorf("%w: manifest %s: %w", ErrInvalidSource, d.Digest, err)
		}
		if m.Config.Digest.Validate() != nil {
			return nil, fmt.Errorf("%w: manifest %s: config digest %q", ErrInvalidSource, d.Digest, m.Config.Digest)
		}
		n.attestation = n.attestation || m.ArtifactType == oci.ArtifactTypeBuildKitAttestation
		n.blobs = append(n.blobs, m.Config)
		for _, l := range m.Layers {
			if l.Digest.Validate() != nil {
				return nil, fmt.Errorf("%w: manifest %s: layer digest %q", ErrInvalidSource, d.Digest, l.Digest)
			}
			if len(l.URLs) > 0 {
				continue // non-distributable: the registry does not store it
			}
			n.blobs = append(n.blobs, l)
		}
		return n, nil
	case oci.IsIndex(d.MediaType):
		var idx ocispec.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("%w: index %s: %w", ErrInvalidSource, d.Digest, err)
		}
		if err := checkMediaTypeField(d, idx.MediaType); err != nil {
			return nil, fmt.Errorf("%w: index %s: %w", ErrInvalidSource, d.Digest, err)
		}
		edits := make([]entryEdit, len(idx.Manifests))
		changed := false
		for i, c := range idx.Manifests {
			if c.Digest.Validate() != nil {
				return nil, fmt.Errorf("%w: index %s lists digest %q", ErrInvalidSource, d.Digest, c.Digest)
			}
			if p.stripSet[c.Digest] && !platformEntry(c) {
				n.stripped = append(n.stripped, c)
				edits[i].drop = true
				changed = true
				continue
			}
			cn, err := p.load(ctx, c, depth+1)
			if err != nil {
				return nil, err
			}
			if cn.desc.Digest != c.Digest {
				edits[i].digest, edits[i].size = cn.desc.Digest, cn.desc.Size
				changed = true
			}
			n.children = append(n.children, cn)
		}
		if changed {
			// The entries kept stay byte for byte (splice.go).
			b, err := spliceManifests(data, edits)
			if err != nil {
				return nil, fmt.Errorf("%w: index %s: rewriting its manifests: %w", ErrInvalidSource, d.Digest, err)
			}
			n.data = b
			nd := oci.DescriptorFor(d.MediaType, b)
			n.desc.Digest, n.desc.Size = nd.Digest, nd.Size
		}
		return n, nil
	}
	return nil, fmt.Errorf("%w: %s has media type %q, not a manifest or index", ErrInvalidSource, d.Digest, d.MediaType)
}

// platformEntry reports whether index entry c lists a platform image:
// a manifest with a platform other than unknown/unknown, not annotated as
// an attestation, without artifactType, which oci.Walk takes for an image
// without reading it. The strip set names attestation manifests by
// digest; an index that also lists one of those digests as a platform
// image keeps that entry, so a strip never takes a platform out of it.
func platformEntry(c ocispec.Descriptor) bool {
	return oci.IsManifest(c.MediaType) && c.Platform != nil && !oci.IsAttestation(c) && c.ArtifactType == ""
}

// findStripSet sets p.stripSet, the index entries StripAttestations
// leaves out, by digest (never a platform entry, platformEntry):
// Options.StripSet, else the attestation manifests oci.Walk finds under
// the root (by their index entry, their artifactType or, listed without
// hints, their config's unknown/unknown platform).
// What a caller's walk finds (push warns about each) and what the push
// strips are then one decision.
func (p *Push) findStripSet(ctx context.Context) error {
	switch {
	case !p.opts.StripAttestations:
		return nil
	case p.opts.StripSet != nil:
		p.stripSet = p.opts.StripSet
		return nil
	}
	images, err := oci.Walk(ctx, p.img.Source, p.img.Root)
	if err != nil {
		return fmt.Errorf("%w: finding the attestation manifests to strip: %w", ErrInvalidSource, err)
	}
	p.stripSet = StripSetOf(images)
	return nil
}

// StripSetOf returns the digests of the attestation manifests among
// images (an oci.Walk): the Options.StripSet that strips what the walk
// found.
func StripSetOf(images []oci.Image) map[digest.Digest]bool {
	set := map[digest.Digest]bool{}
	for _, img := range images {
		if img.Attestation {
			set[img.Descriptor.Digest] = true
		}
	}
	return set
}

// Pushed returns, once Images has succeeded, the digest every manifest and
// index of the image has as pushed, keyed by its digest in the source: the
// same digest, except where StripAttestations rewrote an index (and the
// indexes above it). Stripped attestation manifests are absent. The root is
// included; Commit writes it. A push without an image returns nil.
func (p *Push) Pushed(ctx context.Context) (map[digest.Digest]digest.Digest, error) {
	if p.img == nil {
		return nil, nil
	}
	p.mu.Lock()
	run := p.imagesRun
	p.mu.Unlock()
	if !run {
		return nil, ErrImagesNotStarted
	}
	select {
	case <-p.imagesDone:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if p.imagesErr != nil {
		return nil, p.imagesErr
	}
	out := map[digest.Digest]digest.Digest{}
	var walk func(n *node)
	walk = func(n *node) {
		out[n.source.Digest] = n.desc.Digest
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(p.plan)
	return out, nil
}

// inPlan reports whether d is a manifest or index of the pushed image, as
// pushed (a stripped attestation is not).
func (p *Push) inPlan(d digest.Digest) bool {
	var found bool
	var walk func(n *node)
	walk = func(n *node) {
		if n.desc.Digest == d {
			found = true
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(p.plan)
	return found
}
