package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// maxWriteAttempts bounds the writes of one read-merge-write of a
// referrers tag: conditional writes that keep failing with 412, and
// writes the registry refuses for entries gone from it (writeIndex).
const maxWriteAttempts = 8

// referrersIndex is the referrers index under a referrers tag, as read.
type referrersIndex struct {
	index ocispec.Index
	etag  string
	// absent is true when the tag was not found (index is then empty).
	absent bool
	// raw holds each entry read, by digest, as it was written: another
	// tool's fields beyond the OCI descriptor's are written back as they
	// were, not dropped.
	raw map[digest.Digest]json.RawMessage
	// dropped are the entries dropped from it as gone from the registry
	// (pruneDangling), for the warning once it is written.
	dropped []digest.Digest
	// malformed says why each entry of the tag left out of index as
	// malformed (validEntry) was, for the warning once it is written.
	malformed []string
}

func (ri *referrersIndex) has(d digest.Digest) bool {
	for _, m := range ri.index.Manifests {
		if m.Digest == d {
			return true
		}
	}
	return false
}

// add appends entry unless its digest is listed, and drops duplicate
// digests left by other writers (the first one is kept).
func (ri *referrersIndex) add(entry ocispec.Descriptor) {
	seen := map[digest.Digest]bool{}
	out := ri.index.Manifests[:0:0]
	for _, m := range append(ri.index.Manifests, entry) {
		if seen[m.Digest] {
			continue
		}
		seen[m.Digest] = true
		out = append(out, m)
	}
	ri.index.Manifests = out
}

// ReadReferrersIndex reads the referrers index of subject from the
// referrers tag. A missing tag is an empty index. Anything that is not an
// image index, or that is the subject itself (some registries resolve the
// tag to it), is ErrReferrersTagConflict; the message names the tag and
// what it holds, and says nothing about writing (a reader such as affix ls
// shows it as it is; the write path adds that it refuses to overwrite).
// The index lists each digest once (its first entry); an entry whose
// digest is not a digest, or whose size is negative (validEntry), is left
// out, as ReferrersAPI leaves it out of the API's list: fetched by that
// "digest", it would be a tag's content, verified by nothing. A push that
// writes the tag writes it without them, with a warning.
func ReadReferrersIndex(ctx context.Context, t Target, subject digest.Digest) (ocispec.Index, error) {
	ri, err := readReferrersIndex(ctx, t, subject)
	return ri.index, err
}

func readReferrersIndex(ctx context.Context, t Target, subject digest.Digest) (*referrersIndex, error) {
	tag := ReferrersTag(subject)
	empty := &referrersIndex{index: ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}}
	// Whatever the tag holds is asked for, so that a registry matching
	// Accept strictly shows what is not an index rather than a 404.
	desc, data, etag, err := t.FetchManifest(withAccept(ctx, referrersTagAccept), tag)
	if errors.Is(err, ErrNotFound) {
		empty.absent = true
		return empty, nil
	}
	if err != nil {
		return empty, fmt.Errorf("reading referrers tag %s: %w", tag, err)
	}
	if desc.Digest == subject {
		return empty, tagIsSubjectError{fmt.Errorf("%w: %s resolves to the subject %s itself", ErrReferrersTagConflict, tag, subject)}
	}
	if desc.MediaType != ocispec.MediaTypeImageIndex {
		return empty, fmt.Errorf("%w: %s is %s (%s), not an image index", ErrReferrersTagConflict, tag, desc.MediaType, desc.Digest)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return empty, fmt.Errorf("%w: %s: %w", ErrReferrersTagConflict, tag, err)
	}
	var entries struct {
		Manifests []json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(data, &entries); err != nil || len(entries.Manifests) != len(idx.Manifests) {
		return empty, fmt.Errorf("%w: %s: entries unreadable", ErrReferrersTagConflict, tag)
	}
	for _, m := range idx.Manifests {
		if m.Digest == subject {
			return empty, fmt.Errorf("%w: %s lists the subject %s itself", ErrReferrersTagConflict, tag, subject)
		}
	}
	raw := make(map[digest.Digest]json.RawMessage, len(idx.Manifests))
	var malformed []string
	kept := idx.Manifests[:0]
	for i, m := range idx.Manifests {
		if err := validEntry(m); err != nil {
			malformed = append(malformed, err.Error())
			continue
		}
		if _, ok := raw[m.Digest]; ok {
			continue
		}
		raw[m.Digest] = entries.Manifests[i]
		kept = append(kept, m)
	}
	idx.Manifests = kept
	idx.MediaType = ocispec.MediaTypeImageIndex
	idx.SchemaVersion = 2
	// The tag holds what the referrers API would answer: a listing has
	// neither (another tool may have written them; a reader would take
	// the index for a referrer itself), as oci.ReferrersTagIndex drops
	// them in layouts.
	idx.Subject, idx.ArtifactType = nil, ""
	return &referrersIndex{index: idx, etag: StrongETag(etag), raw: raw, malformed: malformed}, nil
}

// referrersIndexJSON is a referrers index as written: ocispec.Index's
// fields a referrers listing has, its entries as they were read or, new,
// as affix writes them.
type referrersIndexJSON struct {
	specs.Versioned
	MediaType   string            `json:"mediaType,omitempty"`
	Manifests   []json.RawMessage `json:"manifests"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// marshal returns the index to write: each entry read as it was, the new
// ones marshaled.
func (ri *referrersIndex) marshal() ([]byte, error) {
	out := referrersIndexJSON{Versioned: ri.index.Versioned, MediaType: ri.index.MediaType, Annotations: ri.index.Annotations, Manifests: []json.RawMessage{}}
	for _, m := range ri.index.Manifests {
		b, ok := ri.raw[m.Digest]
		if !ok {
			var err error
			if b, err = json.Marshal(m); err != nil {
				return nil, err
			}
		}
		out.Manifests = append(out.Manifests, b)
	}
	return json.Marshal(out)
}

// tagIsSubjectError is the ErrReferrersTagConflict of a referrers tag
// that resolves to its subject: a registry (GitLab's) that takes
// sha256-<hex> for the digest it spells, so that no referrers tag can be
// read back from it.
type tagIsSubjectError struct{ error }

func (e tagIsSubjectError) Unwrap() error { return e.error }

// refuseOverwrite adds to a read error of the write path that a
// referrers tag holding something else is left alone, and, when the tag
// resolves to its subject, that the registry can hold none.
func refuseOverwrite(err error) error {
	if errors.As(err, new(tagIsSubjectError)) {
		return fmt.Errorf("%w; not overwriting it: this registry resolves every referrers tag to its subject (as GitLab's does), so it can hold none and, without a referrers API, no referrer (affix push --no-sbom publishes the image alone)", err)
	}
	if errors.Is(err, ErrReferrersTagConflict) {
		return fmt.Errorf("%w; not overwriting it", err)
	}
	return err
}

// writeReferrersIndex writes ri under the referrers tag of subject, with
// If-Match when the read gave a strong ETag.
func writeReferrersIndex(ctx context.Context, t Target, subject digest.Digest, ri *referrersIndex) error {
	b, err := ri.marshal()
	if err != nil {
		return err
	}
	if len(b) > oci.MaxManifestSize {
		return fmt.Errorf("referrers index of %s: %d bytes: %w", subject, len(b), oci.ErrTooLarge)
	}
	d := oci.DescriptorFor(ocispec.MediaTypeImageIndex, b)
	_, err = t.PushManifest(ctx, d, b, ReferrersTag(subject), ri.etag)
	return err
}

// tagLock serializes this push's own readers and writers of one
// referrers tag (a round and a verification of one subject), so they do
// not race each other.
func (p *Push) tagLock(subject digest.Digest) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	return &p.indexOf(subject).tag
}

// addToIndex adds entries, referrers of subject, to its referrers index in
// one read-merge-write: read (404 is empty), add those not listed, write
// with If-Match, and on 412 read again. A write refused for an entry gone
// from the registry drops it and writes again (writeIndex); every write
// counts towards maxWriteAttempts. It returns the entries it wrote, or
// tried to: an entry missing at a read and listed at the next one, after
// a 412, may be there by the write whose answer was a 412 (its answer
// lost, and the resend's If-Match stale), and is verified as one this
// push wrote. It returns none when all were listed at the first read.
func (p *Push) addToIndex(ctx context.Context, subject digest.Digest, entries []ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	l := p.tagLock(subject)
	l.Lock()
	defer l.Unlock()
	tag := ReferrersTag(subject)
	// tried are the entries a write of this call carried.
	var tried []ocispec.Descriptor
	writes := 0
	for writes < maxWriteAttempts {
		start := time.Now()
		ri, err := readReferrersIndex(ctx, p.target, subject)
		if err != nil {
			return nil, refuseOverwrite(err)
		}
		var missing []ocispec.Descriptor
		for _, e := range entries {
			if ri.has(e.Digest) {
				p.logf("referrer %s already in %s", e.Digest, tag)
				continue
			}
			if !slices.ContainsFunc(missing, func(m ocispec.Descriptor) bool { return m.Digest == e.Digest }) {
				missing = append(missing, e)
			}
		}
		if len(missing) == 0 {
			return tried, nil
		}
		for _, e := range missing {
			if !slices.ContainsFunc(tried, func(m ocispec.Descriptor) bool { return m.Digest == e.Digest }) {
				tried = append(tried, e)
			}
		}
		for _, e := range missing {
			ri.add(e)
		}
		err = p.writeIndex(ctx, subject, ri, entries, &writes)
		if errors.Is(err, ErrPreconditionFailed) {
			p.logf("referrers tag %s changed while merging; reading it again", tag)
			if err := sleep(ctx, jitter(p.verifyDelay()/4)); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("writing referrers tag %s: %w", tag, err)
		}
		p.observeRound(time.Since(start))
		p.logf("wrote referrers tag %s with %d entries (%d new)", tag, len(ri.index.Manifests), len(missing))
		return tried, nil
	}
	return nil, fmt.Errorf("referrers tag %s: %d conditional writes failed: %w", tag, maxWriteAttempts, ErrPreconditionFailed)
}

// maxVerifyDelay bounds the verification delay that slow rounds
// (observeRound) give.
const maxVerifyDelay = 2 * time.Second

// verifyDelay is how long a referrers tag verification waits before
// re-reading the tag: Options.VerifyDelay, else 150 ms, or twice the
// slowest read-merge-write round of this push when longer (at most
// maxVerifyDelay). On a registry that ignores If-Match, what the
// verification has to outlast is another writer's round: its read
// before our write, its write after. Such a writer's round takes about
// as long as ours (the same registry, network and machine): on a slow
// link or a starved machine a fixed delay would end the verification
// before that write arrives, and the entry it drops would be lost.
func (p *Push) verifyDelay() time.Duration {
	d := p.opts.VerifyDelay
	if d <= 0 {
		d = 150 * time.Millisecond
	}
	slowest := time.Duration(p.slowestRound.Load())
	return max(d, min(2*slowest, maxVerifyDelay))
}

// observeRound records d, the time a read-merge-write round of a
// referrers tag took, for verifyDelay.
func (p *Push) observeRound(d time.Duration) {
	for {
		old := p.slowestRound.Load()
		if int64(d) <= old || p.slowestRound.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// verifyRounds bounds the re-read and merge rounds of a verification:
// Options.VerifyRounds, else 10, and at least 2, as an entry is verified
// by two consecutive reads that list it.
func (p *Push) verifyRounds() int {
	if p.opts.VerifyRounds > 0 {
		return max(p.opts.VerifyRounds, 2)
	}
	return 10
}

// verification is the running verification of this push's entries in
// the referrers index of one subject: one re-read covers them all. Its
// entries are guarded by Push.mu.
type verification struct {
	entries []*verifyEntry
}

// verifyEntry is one entry under verification.
type verifyEntry struct {
	desc ocispec.Descriptor
	// notBefore is when reads start to count for it: an entry that joins
	// a verification under way is judged only by reads at least the
	// shortest delay after it was written, as a verification of its own
	// would be.
	notBefore time.Time
	stable    int   // consecutive reads that listed it
	reads     int   // reads counted, at most VerifyRounds
	failed    error // of the last counted read, if it failed
}

// verify re-reads the referrers index of subject after a jittered delay
// until every entry of v has been present in two consecutive reads,
// merging back, in one write, whichever another writer dropped
// (registries such as distribution ignore If-Match, so a concurrent
// writer's lost update is repaired here). Entries may join v while it
// runs (startVerify); it ends when none is left. A read or write that
// fails in a way that may pass (a 5xx or 429 the transport's retries did
// not outlast, a dropped connection, a corrupted body) counts as an
// unstable read, not as the end: the next read tries again, after the
// Retry-After the registry sent (pause; one longer than maxVerifyPause
// ends it). A context error, or a read failing otherwise, ends it for
// every entry; a write failing otherwise, for the entries it was to merge
// back. An entry not stable after VerifyRounds counted reads fails with
// ErrReferrerLost (and the last failure, if its last read failed). Each
// entry's failure is recorded for Ready under its own name.
func (p *Push) verify(ctx context.Context, subject digest.Digest, v *verification) {
	rounds := p.verifyRounds()
	for {
		if err := sleep(ctx, jitter(p.verifyDelay())); err != nil {
			p.endVerify(subject, v, err)
			return
		}
		if p.verifyRound(ctx, subject, v, rounds) {
			return
		}
	}
}

// verifyRound is one read of a verification of v: it re-reads the
// referrers index of subject, merging back the entries it no longer
// lists, then settles v, or handles the read's or write's failure. It
// reports whether the verification is over.
func (p *Push) verifyRound(ctx context.Context, subject digest.Digest, v *verification, rounds int) bool {
	all, counted := p.verifyEntries(v, time.Now())
	missing, readErr, writeErr := p.reread(ctx, subject, v, all, counted)
	switch {
	case readErr != nil:
		return p.rereadFailed(ctx, subject, v, rounds, counted, readErr)
	case writeErr != nil:
		return p.mergeBackFailed(ctx, subject, v, rounds, counted, missing, writeErr)
	}
	return p.settle(subject, v, rounds)
}

// verifyEntries returns the entries of v (all) and those of them that a
// read starting at start counts for (counted: notBefore has passed).
func (p *Push) verifyEntries(v *verification, start time.Time) (all, counted []*verifyEntry) {
	p.mu.Lock()
	all = slices.Clone(v.entries)
	p.mu.Unlock()
	for _, e := range all {
		if !start.Before(e.notBefore) {
			counted = append(counted, e)
		}
	}
	return all, counted
}

// reread reads the referrers index of subject under its tag lock, counts
// the read for the counted entries (stable when it lists them), and writes
// back, in one write, the entries of all that it does not list, and the
// entries verified before that it does not list any more, which join v
// (missing: all those). A write refused for an entry gone from the
// registry drops that entry and writes again (writeIndex).
// readErr is the read's failure, and then nothing is counted or written;
// writeErr is the write's, wrapped with the tag, nil on 412 (another
// writer moved the tag: the next read sees it).
func (p *Push) reread(ctx context.Context, subject digest.Digest, v *verification, all, counted []*verifyEntry) (missing []*verifyEntry, readErr, writeErr error) {
	l := p.tagLock(subject)
	l.Lock()
	defer l.Unlock()
	ri, err := readReferrersIndex(ctx, p.target, subject)
	if err != nil {
		return nil, err, nil
	}
	if ri.absent {
		// The tag this push wrote reads as missing: a stale replica or
		// cache as likely as a deletion. Merged back onto nothing (a
		// write with no If-Match), every other writer's entries would
		// be lost: the read is unstable and the next one decides. A tag
		// that stays gone fails the entries (ErrReferrerLost), leaving
		// the tag of the image unmoved; a rerun creates it again.
		err := fmt.Errorf("%s not found after it was written", ReferrersTag(subject))
		p.mu.Lock()
		for _, e := range counted {
			e.reads++
			e.stable, e.failed = 0, err
		}
		p.mu.Unlock()
		return nil, nil, nil
	}
	p.mu.Lock()
	for _, e := range counted {
		e.reads++
		e.failed = nil
		if ri.has(e.desc.Digest) {
			e.stable++
		} else {
			e.stable = 0
		}
	}
	// An entry verified before and dropped since (another writer's
	// lost update, while no verification ran to see it) is this push's
	// all the same: merged back, and verified again.
	s := p.indexOf(subject)
	notBefore := time.Now().Add(p.verifyDelay() * 3 / 4)
	s.verified = slices.DeleteFunc(s.verified, func(d ocispec.Descriptor) bool {
		if ri.has(d.Digest) {
			return false
		}
		e := &verifyEntry{desc: d, notBefore: notBefore}
		v.entries = append(v.entries, e)
		missing = append(missing, e)
		return true
	})
	p.mu.Unlock()
	for _, e := range all {
		if !ri.has(e.desc.Digest) {
			missing = append(missing, e)
		}
	}
	if len(missing) == 0 {
		return nil, nil, nil
	}
	tag := ReferrersTag(subject)
	own := make([]ocispec.Descriptor, 0, len(all)+len(missing))
	for _, e := range missing {
		p.logf("referrer %s was dropped from %s by another writer; merging it again", e.desc.Digest, tag)
		ri.add(e.desc)
		own = append(own, e.desc)
	}
	for _, e := range all {
		own = append(own, e.desc)
	}
	// ri is this read's (writeIndex may read the tag again after a
	// refusal for a gone entry): an entry dropped from the tag stays out
	// unless the tag lists it again (only this push's own are added).
	writes := 0
	err = p.writeIndex(ctx, subject, ri, own, &writes)
	if err != nil && !errors.Is(err, ErrPreconditionFailed) {
		return missing, nil, fmt.Errorf("writing referrers tag %s: %w", tag, err)
	}
	return missing, nil, nil
}

// rereadFailed follows a read of a verification of v that failed with
// err: a context error or a failure that will not pass ends v for every
// entry; else the read counts as unstable for the counted entries and
// retryVerify decides. It reports whether the verification is over.
func (p *Push) rereadFailed(ctx context.Context, subject digest.Digest, v *verification, rounds int, counted []*verifyEntry, err error) bool {
	if ctx.Err() != nil || !transient(err) {
		p.endVerify(subject, v, refuseOverwrite(err))
		return true
	}
	p.mu.Lock()
	for _, e := range counted {
		e.reads++
		e.stable, e.failed = 0, err
	}
	p.mu.Unlock()
	return p.retryVerify(ctx, subject, v, rounds, err)
}

// mergeBackFailed follows a write of the missing entries of v that failed
// with err: a context error ends v for every entry, a failure that will
// not pass ends it for the missing entries only (the others go on); else
// it is the last failure of the missing entries the read counted for and
// retryVerify decides. It reports whether the verification is over.
func (p *Push) mergeBackFailed(ctx context.Context, subject digest.Digest, v *verification, rounds int, counted, missing []*verifyEntry, err error) bool {
	if ctx.Err() != nil {
		p.endVerify(subject, v, err)
		return true
	}
	if !transient(err) {
		return p.endEntries(subject, v, missing, err)
	}
	p.mu.Lock()
	for _, e := range missing {
		if slices.Contains(counted, e) {
			e.failed = err
		}
	}
	p.mu.Unlock()
	return p.retryVerify(ctx, subject, v, rounds, err)
}

// retryVerify follows a read or write of a verification of v that failed
// with err in a way that may pass: it settles v (the failed read counted),
// then waits out the Retry-After the registry sent. It reports whether the
// verification is over: no entry left, or the wait refused (too long, or
// ctx done), which ends it for every entry.
func (p *Push) retryVerify(ctx context.Context, subject digest.Digest, v *verification, rounds int, err error) bool {
	if p.settle(subject, v, rounds) {
		return true
	}
	tag := ReferrersTag(subject)
	if perr := p.pause(ctx, tag, err); perr != nil {
		p.endVerify(subject, v, perr)
		return true
	}
	p.logf("verifying referrers of %s: %v; reading %s again", subject, err, tag)
	return false
}

// settle takes the entries of v that are done out of it: stable in two
// consecutive reads, or out of reads (recorded as ErrReferrerLost). It
// reports whether v is over, no entry being left; then no entry can join
// it any more.
func (p *Push) settle(subject digest.Digest, v *verification, rounds int) bool {
	tag := ReferrersTag(subject)
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.indexOf(subject)
	kept := v.entries[:0]
	for _, e := range v.entries {
		switch {
		case e.stable >= 2:
			s.verified = append(s.verified, e.desc)
		case e.reads >= rounds && e.failed != nil:
			p.verifyFailed(subject, e, fmt.Errorf("%s after %d reads: %w: %w", tag, rounds, ErrReferrerLost, e.failed))
		case e.reads >= rounds:
			p.verifyFailed(subject, e, fmt.Errorf("%s after %d reads: %w", tag, rounds, ErrReferrerLost))
		default:
			kept = append(kept, e)
		}
	}
	clear(v.entries[len(kept):])
	v.entries = kept
	if len(kept) > 0 {
		return false
	}
	p.verifyOver(subject, v)
	return true
}

// endEntries ends the verification of entries with err, and reports
// whether v is over, no entry being left.
func (p *Push) endEntries(subject digest.Digest, v *verification, entries []*verifyEntry, err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	v.entries = slices.DeleteFunc(v.entries, func(e *verifyEntry) bool {
		if slices.Contains(entries, e) {
			p.verifyFailed(subject, e, err)
			return true
		}
		return false
	})
	if len(v.entries) > 0 {
		return false
	}
	p.verifyOver(subject, v)
	return true
}

// endVerify ends v with err for every entry left in it.
func (p *Push) endVerify(subject digest.Digest, v *verification, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range v.entries {
		p.verifyFailed(subject, e, err)
	}
	v.entries = nil
	p.verifyOver(subject, v)
}

// verifyOver forgets v, over: the next entries of subject start a
// verification of their own. The caller holds p.mu.
func (p *Push) verifyOver(subject digest.Digest, v *verification) {
	if s := p.indexOf(subject); s.verify == v {
		s.verify = nil
	}
}

// verifyFailed records, for Ready, that e was not verified. The caller
// holds p.mu.
func (p *Push) verifyFailed(subject digest.Digest, e *verifyEntry, err error) {
	p.verifyErr = append(p.verifyErr, fmt.Errorf("referrer %s of %s: %w", e.desc.Digest, subject, err))
}

// pause waits what a registry that failed a verification request with
// err asked for (Retry-After), and returns an error, which ends the
// verification, when it asked for longer than maxVerifyPause.
func (p *Push) pause(ctx context.Context, tag string, err error) error {
	wait := retryAfterOf(err)
	if wait > maxVerifyPause {
		return fmt.Errorf("verifying %s: %w", tag, err)
	}
	return sleep(ctx, wait)
}

// maxVerifyPause is the longest Retry-After a verification waits for
// between two reads; a registry asking for more ends it (and the push
// fails with the tag unmoved) rather than being read again early.
const maxVerifyPause = 10 * time.Second

// retryAfterOf returns the Retry-After of the response err reports, 0 when
// there is none.
func retryAfterOf(err error) time.Duration {
	var re *ResponseError
	if errors.As(err, &re) {
		return re.RetryAfter
	}
	return 0
}

// transient reports whether a registry request that failed with err may
// succeed when sent again later: 408, 429 or a 5xx other than 501 and 505,
// a dropped or stalled connection, or a body that did not match its
// digest. Context errors are not transient.
func transient(err error) bool {
	if isContextErr(err) {
		return false
	}
	if s := status(err); s != 0 {
		return retryableStatus(s)
	}
	return retryableErr(err) || errors.Is(err, oci.ErrDigestMismatch)
}

// jitter returns a duration between 75% and 150% of d.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d*3/4 + time.Duration(rand.Int64N(int64(d)*3/4+1))
}

// StrongETag returns etag, an ETag response header, when it can be sent in
// If-Match: a strong entity tag. A weak one (W/"...", as a compressing
// proxy or CDN gives) never matches under If-Match's strong comparison
// (RFC 9110, 13.1.1), so every conditional write would fail with 412; it
// gives "", as does no ETag at all.
func StrongETag(etag string) string {
	etag = strings.TrimSpace(etag)
	if strings.HasPrefix(etag, "W/") {
		return ""
	}
	return etag
}
