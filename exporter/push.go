package exporter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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
	// As a repository's mode (Result.Modes): it did so for every
	// referrer the push wrote.
	ModeAPI Mode = "api"
	// ModeTagSchema means affix maintains the referrers index under the
	// referrers tag (the referrer's manifest PUT was answered without
	// OCI-Subject, or with another digest). As a repository's mode
	// (Result.Modes): at least one referrer the push wrote went into a
	// referrers tag; others may have been indexed by the registry alone.
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
	// MountFor, when set, names for each blob the repository of the same
	// registry to mount it from ("" uploads it), in place of MountFrom:
	// for a push whose blobs come from several repositories. It is asked
	// for the blobs of referrers too (AttachFrom of a referrer that
	// another repository holds), which MountFrom never mounts.
	MountFor func(ocispec.Descriptor) string
	// StripAttestations omits BuildKit attestation manifests from the
	// pushed index (which then has a new digest): the entries StripSet
	// lists, or, when it is nil, the attestation manifests oci.Walk finds
	// under the root (StripSetOf): by their index entry (platform
	// unknown/unknown, vnd.docker.reference.type attestation-manifest),
	// else by their artifactType or their config's unknown/unknown
	// platform.
	StripAttestations bool
	// StripSet, when not nil, names the entries StripAttestations leaves
	// out, by digest, in the root index and any nested one: the
	// attestation manifests a caller found (convert pairs them with their
	// platforms), so that what it decided on is what is stripped. An
	// entry that lists a platform image is kept whatever its digest (an
	// index listing one manifest as a platform and as an attestation).
	StripSet map[digest.Digest]bool
	// VerifyRounds bounds the re-reads of the referrers index after
	// writing it; 0 means 10. An entry is verified by two consecutive
	// reads that list it, so less than 2 means 2.
	VerifyRounds int
	// VerifyDelay is the mean delay before each re-read (jittered between
	// 75% and 150%); 0 means 150ms. A push whose referrers-tag rounds
	// (read, merge, write) are slow waits twice its slowest round
	// instead, when longer, up to 2 s.
	VerifyDelay time.Duration
	// Logf, if set, receives progress messages.
	Logf func(format string, args ...any)
	// Warnf, if set, receives warnings: what the push changed beyond what
	// it was asked to, that its user should know (an entry of a referrers
	// tag dropped because the registry no longer has that manifest). When
	// nil they go to Logf.
	Warnf func(format string, args ...any)
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
	stripSet   map[digest.Digest]bool // what StripAttestations leaves out (findStripSet)

	mu        sync.Mutex
	blobs     map[digest.Digest]*task
	mode      Mode
	indexes   map[digest.Digest]*subjectIndex
	referrers []Referrer
	held      map[digest.Digest]bool // manifests the target has (TargetHas)
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

	slowestRound atomic.Int64 // nanoseconds, the slowest referrers-tag round written (verifyDelay)
}

// Referrer is a referrer written by a push.
type Referrer struct {
	// Subject is the digest of the manifest it refers to.
	Subject digest.Digest
	// Descriptor is the referrer manifest's descriptor, as the referrers
	// index lists it (artifactType and annotations set).
	Descriptor ocispec.Descriptor
	// Mode is how the registry indexes it, decided by the answer to its
	// own manifest PUT: ModeAPI, else ModeTagSchema (its referrers tag
	// lists it), or ModeLayout.
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
	// Modes is the referrers mode of the repository, by repository:
	// ModeTagSchema when any referrer written went into its referrers tag,
	// ModeAPI when the registry indexed every one itself (see Referrer.Mode
	// for each), ModeLayout for a Layout; none when no referrer was
	// written.
	Modes map[string]Mode
	// Blobs counts the blobs by what the push did with them.
	Blobs BlobCounts
}

// BlobCounts counts the blobs a push made sure the target has (the
// image's configs and layers, its referrers'), each once, by what it did:
// found them there, mounted them (Options.MountFrom, MountFor), or
// uploaded them.
type BlobCounts struct {
	Existing int `json:"existing"`
	Mounted  int `json:"mounted"`
	Uploaded int `json:"uploaded"`
	// NotMounted counts the uploaded blobs that Options.MountFrom or
	// MountFor named a repository for and the registry could not mount.
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

// acquire takes one of the MaxConcurrency slots of uploads and manifest
// PUTs, or returns ctx's error when it ends first; release gives it back.
func (p *Push) acquire(ctx context.Context) error {
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release gives back the slot acquire took.
func (p *Push) release() { <-p.sem }

// logf logs through Options.Logf, if set.
func (p *Push) logf(format string, args ...any) {
	if p.opts.Logf != nil {
		p.opts.Logf(format, args...)
	}
}

// warnf warns through Options.Warnf, else Options.Logf.
func (p *Push) warnf(format string, args ...any) {
	switch {
	case p.opts.Warnf != nil:
		p.opts.Warnf(format, args...)
	case p.opts.Logf != nil:
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

// cancelVerifications cancels every verification started.
func (p *Push) cancelVerifications() {
	p.mu.Lock()
	cancels := slices.Clone(p.cancels)
	p.mu.Unlock()
	for _, c := range cancels {
		c()
	}
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

// ready is Ready's work, done once: it waits for the image and every
// referrers tag round and verification, and joins their errors.
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
// writes nothing. An interrupt (ctx done) before the root write starts
// keeps it from starting; one after does not cut it short. It returns
// what was pushed. Commit after Commit or Abort returns ErrPushClosed.
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
	// Abort called while Ready waited keeps the tag where it is; one
	// called once the tag write has started does not cut it short.
	p.mu.Lock()
	aborted := p.aborted
	p.mu.Unlock()
	if aborted {
		return nil, ErrPushClosed
	}
	if p.plan != nil {
		ref := p.opts.Tag
		if ref == "" {
			ref = p.plan.desc.Digest.String()
		}
		// Nor does an interrupt that came while Ready waited, as for Tag.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s not written: %w", ref, context.Cause(ctx))
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
// After a failed Commit it is ErrPushClosed. Every error names the tag.
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
		err = TagWriteError(ref, p.plan.desc.Digest, err)
		// A write cut short after the interrupt says why (the grace was
		// up, a second interrupt), where its error does not (net/http
		// reports the cause, a backoff wait "context canceled").
		if cause := context.Cause(tctx); ctx.Err() != nil && tctx.Err() != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
		return fmt.Errorf("writing %s: %w", ref, err)
	}
	return nil
}

// Abort ends a push that will not be committed: it cancels every
// referrers-tag round being written and every verification Attach started,
// waits for them to end (no referrers-tag request is sent after it
// returns), and closes the push: Attach, Ready and Commit then return
// ErrPushClosed, as do the Attach calls waiting for a round, at once.
// Images and Attach calls still uploading end with their own ctx. After
// Commit has returned it does nothing; during Commit it keeps the tag
// from being written unless that write has started. Callers defer it
// right after New, so that a push that fails, or is interrupted, does
// not keep re-reading and re-writing referrers indexes for up to
// VerifyRounds × VerifyDelay.
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

// result returns what the push wrote so far, for Commit to report.
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
