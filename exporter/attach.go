package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// Attach writes one referrer: its blobs (the empty config once per push),
// then, once Images has finished, its manifest by digest and, when the
// registry does not index it, its entry in the referrers index. It returns
// the referrer's descriptor. It is safe to call concurrently.
//
// Where the registry has no referrers API, the entries of Attach calls of
// one subject that are under way together are written to its referrers
// index in one read-merge-write: an entry waits for the other calls of its
// subject to reach the index (or fail) before it is written. Referrers of
// one subject known together are best given to AttachAll, which claims
// their round before any of them starts.
//
// The re-reads that verify the entry continue after Attach returns; Ready
// (and so Commit) waits for them, and Commit moves no tag unless they
// succeed; Abort cancels them. Attach after Ready, Commit or Abort returns
// ErrPushClosed.
func (p *Push) Attach(ctx context.Context, a Artifact) (ocispec.Descriptor, error) {
	r, err := p.prepare(a)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return p.attachOne(ctx, r)
}

// attachOne claims r's place in its subject's next round, attaches it
// and records it in the result.
func (p *Push) attachOne(ctx context.Context, r *referrer) (ocispec.Descriptor, error) {
	c := p.claim(r.subject)
	defer c.release()
	mode, err := p.attach(ctx, c, r)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	p.record(r.subject, r.desc, mode)
	return r.desc, nil
}

// AttachAll attaches arts as Attach does each, concurrently, and returns
// their descriptors in the order of arts. Where the registry has no
// referrers API, the referrers of one subject among them cost one
// read-merge-write of its referrers index and one verification, not one
// each: every one is counted in before any is uploaded, so the index is
// written once all of them have their manifest in. Every artifact is
// validated first; when one is invalid, none is attached. Otherwise each
// succeeds or fails on its own: the error joins the failures (one that
// several share, such as a failed Images or an ended ctx, once), and the
// descriptor of an artifact that failed is zero. Result.Referrers lists
// those attached in the order of arts. An artifact whose subject is
// another of arts fails on a push with an image (its subject is not
// written yet): attach a referrer's subject first.
func (p *Push) AttachAll(ctx context.Context, arts []Artifact) ([]ocispec.Descriptor, error) {
	refs := make([]*referrer, len(arts))
	for i, a := range arts {
		r, err := p.prepare(a)
		if err != nil {
			return nil, err
		}
		refs[i] = r
	}
	claims := make([]*claim, len(arts))
	for i, a := range arts {
		claims[i] = p.claim(a.Subject.Digest)
	}
	modes := make([]Mode, len(arts))
	errs := make([]error, len(arts))
	var wg sync.WaitGroup
	for i := range arts {
		wg.Go(func() {
			defer claims[i].release()
			modes[i], errs[i] = p.attach(ctx, claims[i], refs[i])
		})
	}
	wg.Wait()
	descs := make([]ocispec.Descriptor, len(arts))
	var failed []error
	seen := map[string]bool{}
	for i, a := range arts {
		if errs[i] == nil {
			descs[i] = refs[i].desc
			p.record(a.Subject.Digest, refs[i].desc, modes[i])
			continue
		}
		// A failure of the whole push (the image, a context, a closed
		// push) is said once, not once per artifact.
		if msg := errs[i].Error(); !seen[msg] {
			seen[msg] = true
			failed = append(failed, errs[i])
		}
	}
	return descs, errors.Join(failed...)
}

// referrer is a referrer manifest ready to write.
type referrer struct {
	desc    ocispec.Descriptor // as a referrers index lists it: artifactType and annotations set
	data    []byte
	subject digest.Digest
	blobs   []ocispec.Descriptor
	open    func(ocispec.Descriptor) func() (io.ReadCloser, error)
}

// prepare validates a and builds its manifest.
func (p *Push) prepare(a Artifact) (*referrer, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	layers := a.layers()
	desc, data, err := a.manifest(layers)
	if err != nil {
		return nil, err
	}
	open := func(d ocispec.Descriptor) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(d.Data)), nil }
	}
	return &referrer{desc: desc, data: data, subject: a.Subject.Digest, blobs: append([]ocispec.Descriptor{EmptyConfig}, layers...), open: open}, nil
}

// AttachFrom writes the referrer manifest desc of src as it is, with its
// config and layers, as Attach writes an Artifact: the referrers another
// tool left beside an image (oras attach --oci-layout) are published with
// it. Its subject must be a manifest or index of the pushed image (the
// root is then written by digest first; its tag still comes last), a
// referrer this push has written already (a signature of an SBOM:
// callers attach a referrer's subject first), or a manifest given to
// TargetHas. It returns desc as a referrers list gives it (artifactType,
// else the config media type, and the manifest's annotations). Concurrent
// AttachFrom and Attach calls of one subject share a referrers index
// round, as Attach says.
func (p *Push) AttachFrom(ctx context.Context, src oci.Fetcher, desc ocispec.Descriptor) (ocispec.Descriptor, error) {
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return ocispec.Descriptor{}, fmt.Errorf("%w: referrer %s has media type %q, not an image manifest", ErrInvalidArtifact, desc.Digest, desc.MediaType)
	}
	data, err := oci.ReadBlob(ctx, src, desc, oci.MaxManifestSize)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("reading referrer %s: %w", desc.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: referrer %s: %w", ErrInvalidArtifact, desc.Digest, err)
	}
	if err := checkMediaTypeField(desc, m.MediaType); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: referrer %s: %w", ErrInvalidArtifact, desc.Digest, err)
	}
	if m.Subject == nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: referrer %s has no subject", ErrInvalidArtifact, desc.Digest)
	}
	blobs := []ocispec.Descriptor{m.Config}
	for _, l := range m.Layers {
		if len(l.URLs) == 0 {
			blobs = append(blobs, l)
		}
	}
	for _, b := range blobs {
		if b.Digest.Validate() != nil {
			return ocispec.Descriptor{}, fmt.Errorf("%w: referrer %s: blob digest %q", ErrInvalidArtifact, desc.Digest, b.Digest)
		}
	}
	out := oci.ReferrerDescriptor(desc, m)
	open := func(d ocispec.Descriptor) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return src.Fetch(ctx, d) }
	}
	return p.attachOne(ctx, &referrer{desc: out, data: data, subject: m.Subject.Digest, blobs: blobs, open: open})
}

// record adds a referrer written to the result.
func (p *Push) record(subject digest.Digest, desc ocispec.Descriptor, mode Mode) {
	p.mu.Lock()
	p.referrers = append(p.referrers, Referrer{Subject: subject, Descriptor: desc, Mode: mode})
	p.mu.Unlock()
}

// attach writes the referrer r: blobs from r.open, then the manifest once
// Images is done, then, where the registry does not index it, its entry
// in the referrers index, through c, r's claim on its subject's next
// round. It returns the referrers mode.
func (p *Push) attach(ctx context.Context, c *claim, r *referrer) (Mode, error) {
	if p.isClosed() {
		return "", ErrPushClosed
	}
	// Step 3: blobs, which do not depend on the image.
	if err := p.referrerBlobs(ctx, r); err != nil {
		return "", err
	}
	if err := p.waitImages(ctx); err != nil {
		return "", err
	}
	if err := p.checkSubject(ctx, r); err != nil {
		return "", err
	}
	// Step 4: the manifest, by digest.
	indexed, err := p.putReferrer(ctx, r)
	if err != nil {
		return "", err
	}
	mode := p.learn(ctx, indexed, r)
	p.logf("pushed referrer %s (%s) of %s; referrers mode %s", r.desc.Digest, r.desc.ArtifactType, r.subject, mode)
	if mode != ModeTagSchema {
		c.release()
		return mode, nil
	}
	// The entry, with those of the other Attach calls of the subject
	// under way, in one round.
	if err := c.index(ctx, r.desc); err != nil {
		return "", fmt.Errorf("referrer %s of %s: %w", r.desc.Digest, r.subject, err)
	}
	return mode, nil
}

// isClosed reports whether the push takes no more referrers: Commit or
// Abort closed it, or Ready sealed it.
func (p *Push) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed || p.sealed
}

// referrerBlobs makes the target hold the blobs of r, concurrently,
// uploading them from r.open.
func (p *Push) referrerBlobs(ctx context.Context, r *referrer) error {
	if err := p.parallel(ctx, r.blobs, func(ctx context.Context, d ocispec.Descriptor) error {
		// A referrer's blobs are its own: nothing to mount.
		return p.ensureBlob(ctx, d, false, r.open(d))
	}); err != nil {
		return fmt.Errorf("referrer %s of %s: %w", r.desc.ArtifactType, r.subject, err)
	}
	return nil
}

// waitImages waits for Images to end (at once for a push without an
// image) and returns its error, or ctx's if ctx ends first.
func (p *Push) waitImages(ctx context.Context) error {
	select {
	case <-p.imagesDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.imagesErr
}

// checkSubject checks, on a push with an image, that the subject of r is
// a manifest or index of the image, a referrer this push wrote or a
// manifest given to TargetHas (ErrInvalidArtifact otherwise), and writes the root by digest first when
// r refers to the root index.
func (p *Push) checkSubject(ctx context.Context, r *referrer) error {
	if p.plan != nil && !p.inPlan(r.subject) && !p.hasReferrer(r.subject) {
		return fmt.Errorf("%w: subject %s is not a manifest of the pushed image, nor a referrer it wrote or the registry has", ErrInvalidArtifact, r.subject)
	}
	if p.plan != nil && r.subject == p.plan.desc.Digest && oci.IsIndex(p.plan.desc.MediaType) {
		// A referrer of the root (a signature of the index): the root is
		// written by digest first, so that no registry holds a referrer
		// of a manifest it does not have; the tag still comes last.
		if err := p.rootByDigest(ctx); err != nil {
			return fmt.Errorf("referrer %s of %s: %w", r.desc.ArtifactType, r.subject, err)
		}
	}
	return nil
}

// putReferrer writes the manifest of r by digest, uploading again the
// blobs a registry lost, and returns the OCI-Subject the registry
// answered with. A 400, 415 or 422 that is not about a lost blob is
// ErrSubjectRejected.
func (p *Push) putReferrer(ctx context.Context, r *referrer) (indexed digest.Digest, err error) {
	md := ocispec.Descriptor{MediaType: r.desc.MediaType, Digest: r.desc.Digest, Size: r.desc.Size}
	// One referrer PUT per subject at a time: a registry's referrers API
	// updates the subject's list on each PUT, and olareg v0.1.2 loses
	// entries to concurrent PUTs for one subject (the tag schema is
	// verified; the API is taken on trust).
	err = func() error {
		pl := p.putLock(r.subject)
		pl.Lock()
		defer pl.Unlock()
		return p.retryBlobUnknown(ctx, r.blobs, false, r.open, func() error {
			if err := p.acquire(ctx); err != nil {
				return err
			}
			defer p.release()
			var err error
			indexed, err = p.target.PushManifest(ctx, md, r.data, r.desc.Digest.String(), "")
			return err
		})
	}()
	if err != nil {
		if s := status(err); (s == http.StatusBadRequest || s == http.StatusUnsupportedMediaType || s == http.StatusUnprocessableEntity) && !blobUnknown(err) {
			err = fmt.Errorf("%w: %w", ErrSubjectRejected, err)
		}
		return "", fmt.Errorf("referrer %s of %s: %w", r.desc.ArtifactType, r.subject, err)
	}
	return indexed, nil
}

// putLock serializes this push's referrer manifest PUTs for one subject.
func (p *Push) putLock(subject digest.Digest) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	return &p.indexOf(subject).put
}

// rootByDigest writes the root by digest, once per push.
func (p *Push) rootByDigest(ctx context.Context) error {
	p.rootMu.Lock()
	defer p.rootMu.Unlock()
	if p.rootWritten {
		return nil
	}
	if err := p.pushManifest(ctx, p.plan, p.plan.desc.Digest.String(), ""); err != nil {
		return err
	}
	p.rootWritten = true
	return nil
}

// hasReferrer reports whether this push has written the referrer d, or
// was told that the target has it (TargetHas).
func (p *Push) hasReferrer(d digest.Digest) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held[d] || slices.ContainsFunc(p.referrers, func(r Referrer) bool { return r.Descriptor.Digest == d })
}

// TargetHas records that the target holds the manifest d already, outside
// the pushed image (a referrer its referrers list names), so that
// Attach and AttachFrom take referrers of d (a signature of that
// referrer). Without it, a subject must be a manifest of the pushed image
// or a referrer this push wrote.
func (p *Push) TargetHas(d digest.Digest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held == nil {
		p.held = map[digest.Digest]bool{}
	}
	p.held[d] = true
}

// learn returns how the target indexes referrer r, whose manifest PUT
// it answered with the OCI-Subject header, decided for that PUT: the
// header equal to the subject means the referrers API, anything else
// (absent, another digest) the referrers tag schema, whatever the
// answers to earlier PUTs said. The distribution-spec (v1.1, "Pushing
// Manifests with Subject") has the client update the referrers tag
// whenever the header was not set for that push; a registry behind a
// load balancer, mid-upgrade, or one that indexes some manifests and not
// others, may answer one PUT with it and the next without.
//
// On a target that answered an earlier PUT with the header (so it has
// the API), a PUT answered without it is checked with one referrers API
// read: readers ask the API first and read the tag only where the API is
// missing, so on such a registry a tag entry is seen by nobody who asks
// the API, and some registries (olareg) list what such a tag holds in
// place of what they indexed. A referrer the API lists is the API's
// (no tag written); one it does not list goes into the tag, with a
// warning that readers of the API will not see it.
//
// On a target whose header is not trusted (ignoresSubjectHeader: Docker
// Hub), every answer counts as one without it.
//
// learn records the repository's mode for Result.Modes: ModeTagSchema
// once any referrer needed the tag, else ModeAPI (a Layout is
// ModeLayout).
func (p *Push) learn(ctx context.Context, header digest.Digest, r *referrer) Mode {
	mode := ModeTagSchema
	if _, ok := p.target.(*Layout); ok {
		mode = ModeLayout
	} else if header != "" && header == r.subject && !ignoresSubjectHeader(p.target) {
		mode = ModeAPI
	}
	p.mu.Lock()
	was := p.mode
	p.mu.Unlock()
	if mode == ModeTagSchema && was == ModeAPI {
		mode = p.confirmIndexed(ctx, header, r)
	}
	p.mu.Lock()
	if p.mode == "" || mode == ModeTagSchema {
		p.mode = mode
	}
	p.mu.Unlock()
	return mode
}

// subjectHeaderIgnorer is a target whose OCI-Subject answers a push does
// not trust (Remote, RemoteOptions.IgnoreSubjectHeader).
type subjectHeaderIgnorer interface {
	ignoresSubjectHeader() bool
}

// ignoresSubjectHeader reports whether t's OCI-Subject answers are taken
// for absent: its referrers go into the referrers tag.
func ignoresSubjectHeader(t Target) bool {
	i, ok := t.(subjectHeaderIgnorer)
	return ok && i.ignoresSubjectHeader()
}

// apiLister is a target with the referrers API (Remote).
type apiLister interface {
	ReferrersAPI(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error)
}

// confirmIndexed decides, for referrer r whose PUT the target answered
// without OCI-Subject (header) although it answered an earlier one with
// it, whether the referrers API lists r after all (ModeAPI) or the
// referrers tag must (ModeTagSchema).
func (p *Push) confirmIndexed(ctx context.Context, header digest.Digest, r *referrer) Mode {
	lister, ok := p.target.(apiLister)
	if !ok {
		return ModeTagSchema
	}
	refs, err := lister.ReferrersAPI(ctx, r.subject)
	if err == nil && slices.ContainsFunc(refs, func(d ocispec.Descriptor) bool { return d.Digest == r.desc.Digest }) {
		p.logf("the registry answered the PUT of referrer %s of %s with OCI-Subject %q, unlike an earlier one, but its referrers API lists it", r.desc.Digest, r.subject, header)
		return ModeAPI
	}
	if errors.Is(err, ErrReferrersAPIUnsupported) {
		// The earlier header was wrong: no API, the tag is for all.
		p.logf("the registry answered an earlier referrer PUT with OCI-Subject, but has no referrers API (%v): referrer %s of %s goes into the referrers tag", err, r.desc.Digest, r.subject)
		return ModeTagSchema
	}
	why := "its referrers API does not list it"
	if err != nil {
		why = fmt.Sprintf("its referrers API could not be read (%v)", err)
	}
	p.warnf("the registry answered the PUT of referrer %s of %s without OCI-Subject, unlike an earlier one, and %s: it goes into the referrers tag %s, which clients that use the registry's referrers API (affix ls, oras discover) do not read", r.desc.Digest, r.subject, why, ReferrersTag(r.subject))
	return ModeTagSchema
}
