package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// Mode is how a repository indexes referrers.
type Mode string

// Referrers modes, as reported in Result.Modes.
const (
	// ModeAPI means the registry indexes referrers itself (it answered
	// the referrer's manifest PUT with OCI-Subject equal to the subject).
	ModeAPI Mode = "api"
	// ModeTagSchema means affix maintains the referrers index under the
	// referrers tag.
	ModeTagSchema Mode = "tag-schema"
	// ModeLayout is a Layout target's: referrers are manifests with a
	// subject that the layout's index.json lists (as oras and affix read
	// them), no referrers tag.
	ModeLayout Mode = "oci-layout"
)

// Options configure a Push. The zero value is usable.
type Options struct {
	// Tag is the tag the image root is written under, last. Empty pushes
	// the root by digest only.
	Tag string
	// MaxConcurrency bounds concurrent uploads (blobs and manifests); 0
	// means 4.
	MaxConcurrency int
	// MountFrom, when not empty, is a repository of the same registry to
	// mount missing blobs from instead of uploading them.
	MountFrom string
	// StripAttestations omits BuildKit attestation manifests from the
	// pushed index (which then has a new digest).
	StripAttestations bool
	// VerifyRounds bounds the re-reads of the referrers index after
	// writing it; 0 means 10.
	VerifyRounds int
	// VerifyDelay is the mean delay before each re-read (jittered between
	// 75% and 150%); 0 means 150ms.
	VerifyDelay time.Duration
	// Logf, if set, receives progress messages.
	Logf func(format string, args ...any)
}

// Image is an image to push: a root manifest or index read from Source.
type Image struct {
	// Source holds the image's content (an oci.Layout, a Remote, ...).
	Source oci.Fetcher
	// Root is the index or manifest to push (and tag).
	Root ocispec.Descriptor
}

// Push publishes one image and its referrers to a Target, in the order:
// blobs and platform manifests (Images), referrer blobs and manifests with
// the referrers index where needed (Attach, once per referrer, or
// AttachAll for several), and the root by tag (Commit). Images and Attach
// may run concurrently: Attach uploads its blobs at once and waits for
// Images before writing its manifest, so a scan can overlap the upload.
// Commit must be called after Images and every Attach have returned.
//
// Where the registry has no referrers API, the entries of one subject
// that are attached together are written to its referrers index in one
// read-merge-write, and verified by re-reads that continue in the
// background after Attach returns. Ready waits for them, and Commit,
// which calls Ready first, moves no tag unless Images and every
// verification succeeded. A push that fails or is interrupted before
// Commit must stop them: callers defer Abort right after New.
type Push struct {
	target Target
	opts   Options
	img    *Image
	sem    chan struct{}

	imagesOnce sync.Once
	imagesRun  bool // Images called; under mu
	imagesDone chan struct{}
	imagesErr  error
	plan       *node

	mu        sync.Mutex
	blobs     map[digest.Digest]*task
	mode      Mode
	indexes   map[digest.Digest]*subjectIndex
	referrers []Referrer
	blobCount BlobCounts
	closed    bool // Commit or Abort called: no Attach, no second Commit
	sealed    bool // Ready or Abort called: no verification starts
	aborted   bool
	committed bool // Commit returned
	commitOK  bool // Commit returned and wrote its tag (or root)

	readyOnce sync.Once
	readyErr  error

	rootMu      sync.Mutex
	rootWritten bool // the root was written by digest (it has referrers)

	rounds    sync.WaitGroup // referrers-tag rounds being written (round.go)
	verifying sync.WaitGroup
	cancels   []context.CancelFunc
	verifyErr []error // referrers not verified, for Ready; guarded by mu
}

// Referrer is a referrer written by a push.
type Referrer struct {
	// Subject is the digest of the manifest it refers to.
	Subject digest.Digest
	// Descriptor is the referrer manifest's descriptor, as the referrers
	// index lists it (artifactType and annotations set).
	Descriptor ocispec.Descriptor
	// Mode is how the registry indexes it.
	Mode Mode
}

// Result describes a completed push.
type Result struct {
	// Target names the repository.
	Target string
	// Tag is the tag written, if any.
	Tag string
	// Root is the root as pushed; its digest differs from SourceRoot's
	// only when attestations were stripped.
	Root ocispec.Descriptor
	// SourceRoot is the root as read from the source.
	SourceRoot ocispec.Descriptor
	// Images are the platform manifests, in index order.
	Images []ocispec.Descriptor
	// Attestations are the BuildKit attestation manifests pushed.
	Attestations []ocispec.Descriptor
	// Stripped are the attestation manifests left out.
	Stripped []ocispec.Descriptor
	// Referrers are the referrers attached, in the order Attach returned
	// (those of one AttachAll in the order of its artifacts).
	Referrers []Referrer
	// Modes is the referrers mode used, by repository.
	Modes map[string]Mode
	// Blobs counts the blobs by what the push did with them.
	Blobs BlobCounts
}

// BlobCounts counts the blobs a push made sure the target has (the
// image's configs and layers, its referrers'), each once, by what it did:
// found them there, mounted them from Options.MountFrom, or uploaded them.
type BlobCounts struct {
	Existing int `json:"existing"`
	Mounted  int `json:"mounted"`
	Uploaded int `json:"uploaded"`
	// NotMounted counts the uploaded image blobs that Options.MountFrom
	// was asked for and the registry could not mount.
	NotMounted int `json:"notMounted,omitempty"`
}

// New returns a push to target. img may be nil for a push of referrers
// only (affix attach): then Commit writes no tag.
func New(target Target, img *Image, opts Options) *Push {
	n := opts.MaxConcurrency
	if n <= 0 {
		n = 4
	}
	p := &Push{
		target:     target,
		opts:       opts,
		img:        img,
		sem:        make(chan struct{}, n),
		imagesDone: make(chan struct{}),
		blobs:      map[digest.Digest]*task{},
		indexes:    map[digest.Digest]*subjectIndex{},
	}
	if img == nil {
		close(p.imagesDone)
	}
	return p
}

func (p *Push) logf(format string, args ...any) {
	if p.opts.Logf != nil {
		p.opts.Logf(format, args...)
	}
}

// parallel runs f for each distinct descriptor, at most MaxConcurrency at a
// time, and returns the first error (cancelling the others).
func (p *Push) parallel(ctx context.Context, descs []ocispec.Descriptor, f func(context.Context, ocispec.Descriptor) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	seen := map[digest.Digest]bool{}
	for _, d := range descs {
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		wg.Go(func() {
			if err := f(ctx, d); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return err
	}
	return nil
}

// isContextErr reports whether err is a cancellation or an expired
// deadline.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

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
// root is then written by digest first; its tag still comes last) or a
// referrer this push has written already (a signature of an SBOM):
// callers attach a referrer's subject first. It returns desc as a referrers list gives
// it (artifactType, else the config media type, and the manifest's
// annotations). Concurrent AttachFrom and Attach calls of one subject
// share a referrers index round, as Attach says.
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
	mode := p.learn(indexed, r.subject)
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
// a manifest or index of the image or a referrer this push wrote
// (ErrInvalidArtifact otherwise), and writes the root by digest first when
// r refers to the root index.
func (p *Push) checkSubject(ctx context.Context, r *referrer) error {
	if p.plan != nil && !p.inPlan(r.subject) && !p.hasReferrer(r.subject) {
		return fmt.Errorf("%w: subject %s is not a manifest of the pushed image", ErrInvalidArtifact, r.subject)
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
	pl := p.putLock(r.subject)
	pl.Lock()
	err = p.retryBlobUnknown(ctx, r.blobs, false, r.open, func() error {
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-p.sem }()
		var err error
		indexed, err = p.target.PushManifest(ctx, md, r.data, r.desc.Digest.String(), "")
		return err
	})
	pl.Unlock()
	if err != nil {
		if s := status(err); (s == 400 || s == 415 || s == 422) && !blobUnknown(err) {
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

// hasReferrer reports whether this push has written the referrer d.
func (p *Push) hasReferrer(d digest.Digest) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.referrers, func(r Referrer) bool { return r.Descriptor.Digest == d })
}

// cancelVerifications cancels every verification started.
func (p *Push) cancelVerifications() {
	p.mu.Lock()
	cancels := slices.Clone(p.cancels)
	p.mu.Unlock()
	for _, c := range cancels {
		c()
	}
}

// learn records the referrers mode of the target from the first referrer
// manifest PUT: OCI-Subject equal to the subject digest means the API. The
// mode is then kept for the rest of the push.
func (p *Push) learn(header, subject digest.Digest) Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "" {
		if _, ok := p.target.(*Layout); ok {
			p.mode = ModeLayout
		} else if header != "" && header == subject {
			p.mode = ModeAPI
		} else {
			p.mode = ModeTagSchema
		}
	}
	return p.mode
}

// Ready waits until the push may move its tag: for Images, for any
// referrers-tag round still being written (one whose Attach calls gave
// up), and for the verification of every referrers index entry Attach
// wrote, and returns their errors, joined. It writes nothing: on a push
// with an image it returns ErrImagesNotStarted when Images was not called.
// ctx bounds the wait: when it ends, the rounds and verifications are
// cancelled and Ready returns their context errors. Call it after Images
// and every Attach have returned; Attach after Ready returns
// ErrPushClosed, so that no verification escapes the wait. Calling it
// again returns the first result; a first call after Abort returns
// ErrPushClosed. Commit calls it.
func (p *Push) Ready(ctx context.Context) error {
	p.mu.Lock()
	if p.img != nil && !p.imagesRun {
		p.mu.Unlock()
		return ErrImagesNotStarted
	}
	p.sealed = true
	p.kickAll()
	p.mu.Unlock()
	p.readyOnce.Do(func() { p.readyErr = p.ready(ctx) })
	return p.readyErr
}

func (p *Push) ready(ctx context.Context) error {
	p.mu.Lock()
	aborted := p.aborted
	p.mu.Unlock()
	if aborted {
		return ErrPushClosed
	}
	var errs []error
	select {
	case <-p.imagesDone:
		if p.imagesErr != nil {
			errs = append(errs, p.imagesErr)
		}
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("waiting for the image: %w", ctx.Err()))
	}
	// A round still being written is one every waiter of which gave up
	// (Ready comes after Attach): it ends soon, and before the tag.
	stop := context.AfterFunc(ctx, func() {
		p.stopRounds()
		p.cancelVerifications()
	})
	p.rounds.Wait()
	p.verifying.Wait()
	stop()
	p.mu.Lock()
	errs = append(errs, p.verifyErr...)
	p.mu.Unlock()
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// Commit runs Images if it was not called, then Ready and, only when Ready
// succeeded, writes the root by tag (or by digest without a tag): the last
// write of the push. When Images failed or a referrer could not be
// verified in its referrers index, Commit returns that error without
// writing the root, so the tag is not moved. A push without an image
// writes nothing. It returns what was pushed. Commit after Commit or Abort
// returns ErrPushClosed.
func (p *Push) Commit(ctx context.Context) (*Result, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPushClosed
	}
	p.closed = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.committed = true
		p.mu.Unlock()
	}()
	// Ready reports its error.
	_ = p.Images(ctx)
	if err := p.Ready(ctx); err != nil {
		return nil, err
	}
	if p.plan != nil {
		ref := p.opts.Tag
		if ref == "" {
			ref = p.plan.desc.Digest.String()
		}
		if err := p.writeTag(ctx, ref, ""); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	p.commitOK = true
	p.mu.Unlock()
	return p.result(), nil
}

// Tag points tag at the index (or manifest) a successful Commit wrote, as
// Commit writes its own tag: the index is pushed again under tag, an
// interrupt does not cut the write short (but one that came before keeps
// it from starting), and a write whose answer was lost is ErrTagUnknown.
// After a failed Commit it is ErrPushClosed.
func (p *Push) Tag(ctx context.Context, tag string) error {
	return p.TagIfMatch(ctx, tag, "")
}

// TagIfMatch is Tag, sending If-Match: ifMatch (a strong ETag of the
// tag's last read, see StrongETag; "" sends none), so that a registry
// that honours it refuses to move a tag changed since with
// ErrPreconditionFailed.
func (p *Push) TagIfMatch(ctx context.Context, tag, ifMatch string) error {
	p.mu.Lock()
	ok := p.commitOK && p.plan != nil
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("tag %s: %w", tag, ErrPushClosed)
	}
	// An interrupt lets a tag write under way finish; it starts none.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tag %s not written: %w", tag, context.Cause(ctx))
	}
	return p.writeTag(ctx, tag, ifMatch)
}

// writeTag pushes the root under ref as the commit point: an interrupt
// does not cut the write short (CommitContext), and a write whose answer
// was lost is ErrTagUnknown (TagWriteError).
func (p *Push) writeTag(ctx context.Context, ref, ifMatch string) error {
	tctx, cancel := CommitContext(ctx)
	defer cancel()
	if err := p.pushManifest(tctx, p.plan, ref, ifMatch); err != nil {
		return fmt.Errorf("writing %s: %w", ref, TagWriteError(err))
	}
	return nil
}

// Abort ends a push that will not be committed: it cancels every
// referrers-tag round being written and every verification Attach started,
// waits for them to end (no referrers-tag request is sent after it
// returns), and closes the push: Attach, Ready and Commit then return
// ErrPushClosed, as do the Attach calls waiting for a round, at once.
// Images and Attach calls still uploading end with their own ctx. After
// Commit has returned it does nothing. Callers defer it right after New,
// so that a push that fails, or is interrupted, does not keep re-reading
// and re-writing referrers indexes for up to VerifyRounds × VerifyDelay.
func (p *Push) Abort() {
	p.mu.Lock()
	if p.committed {
		p.mu.Unlock()
		return
	}
	p.closed, p.sealed, p.aborted = true, true, true
	p.kickAll()
	p.mu.Unlock()
	p.stopRounds()
	p.cancelVerifications()
	p.rounds.Wait()
	p.verifying.Wait()
}

func (p *Push) result() *Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &Result{Target: p.target.Name(), Referrers: slices.Clone(p.referrers), Modes: map[string]Mode{}, Blobs: p.blobCount}
	if p.mode != "" {
		r.Modes[p.target.Name()] = p.mode
	}
	if p.plan == nil {
		return r
	}
	r.Tag = p.opts.Tag
	r.Root = p.plan.desc
	r.Root.Platform, r.Root.Annotations = nil, nil
	r.SourceRoot = ocispec.Descriptor{MediaType: p.img.Root.MediaType, Digest: p.img.Root.Digest, Size: p.img.Root.Size}
	var walk func(n *node)
	walk = func(n *node) {
		r.Stripped = append(r.Stripped, n.stripped...)
		if oci.IsManifest(n.desc.MediaType) {
			if n.attestation {
				r.Attestations = append(r.Attestations, n.desc)
			} else {
				r.Images = append(r.Images, n.desc)
			}
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(p.plan)
	return r
}
