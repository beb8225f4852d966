package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// maxWriteAttempts bounds the read-merge-write loop when conditional
// writes keep failing with 412.
const maxWriteAttempts = 8

// referrersIndex is the referrers index under a referrers tag, as read.
type referrersIndex struct {
	index ocispec.Index
	etag  string
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
func ReadReferrersIndex(ctx context.Context, t Target, subject digest.Digest) (ocispec.Index, error) {
	ri, err := readReferrersIndex(ctx, t, subject)
	return ri.index, err
}

func readReferrersIndex(ctx context.Context, t Target, subject digest.Digest) (*referrersIndex, error) {
	tag := ReferrersTag(subject)
	empty := &referrersIndex{index: ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}}
	desc, data, etag, err := t.FetchManifest(ctx, tag)
	if errors.Is(err, ErrNotFound) {
		return empty, nil
	}
	if err != nil {
		return empty, fmt.Errorf("reading referrers tag %s: %w", tag, err)
	}
	if desc.Digest == subject {
		return empty, fmt.Errorf("%w: %s resolves to the subject %s itself", ErrReferrersTagConflict, tag, subject)
	}
	if desc.MediaType != ocispec.MediaTypeImageIndex {
		return empty, fmt.Errorf("%w: %s is %s (%s), not an image index", ErrReferrersTagConflict, tag, desc.MediaType, desc.Digest)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return empty, fmt.Errorf("%w: %s: %w", ErrReferrersTagConflict, tag, err)
	}
	for _, m := range idx.Manifests {
		if m.Digest == subject {
			return empty, fmt.Errorf("%w: %s lists the subject %s itself", ErrReferrersTagConflict, tag, subject)
		}
	}
	idx.MediaType = ocispec.MediaTypeImageIndex
	idx.SchemaVersion = 2
	return &referrersIndex{index: idx, etag: StrongETag(etag)}, nil
}

// refuseOverwrite adds to a read error of the write path that a
// referrers tag holding something else is left alone.
func refuseOverwrite(err error) error {
	if errors.Is(err, ErrReferrersTagConflict) {
		return fmt.Errorf("%w; not overwriting it", err)
	}
	return err
}

// writeReferrersIndex writes ri under the referrers tag of subject, with
// If-Match when the read gave a strong ETag.
func writeReferrersIndex(ctx context.Context, t Target, subject digest.Digest, ri *referrersIndex) error {
	b, err := json.Marshal(ri.index)
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

// tagLock serializes this push's own writers of one referrers tag (two
// formats for one platform), so they do not race each other.
func (p *Push) tagLock(subject digest.Digest) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	tag := ReferrersTag(subject)
	l, ok := p.tagLocks[tag]
	if !ok {
		l = &sync.Mutex{}
		p.tagLocks[tag] = l
	}
	return l
}

// addToIndex adds entry to the referrers index of subject: read (404 is
// empty), merge, write with If-Match, and on 412 read again. It reports
// whether it wrote (false when the entry was already there).
func (p *Push) addToIndex(ctx context.Context, subject digest.Digest, entry ocispec.Descriptor) (bool, error) {
	l := p.tagLock(subject)
	l.Lock()
	defer l.Unlock()
	for attempt := 1; attempt <= maxWriteAttempts; attempt++ {
		ri, err := readReferrersIndex(ctx, p.target, subject)
		if err != nil {
			return false, refuseOverwrite(err)
		}
		if ri.has(entry.Digest) {
			p.logf("referrer %s already in %s", entry.Digest, ReferrersTag(subject))
			return false, nil
		}
		ri.add(entry)
		err = writeReferrersIndex(ctx, p.target, subject, ri)
		if errors.Is(err, ErrPreconditionFailed) {
			p.logf("referrers tag %s changed while merging; reading it again", ReferrersTag(subject))
			if err := sleep(ctx, jitter(p.verifyDelay()/4)); err != nil {
				return false, err
			}
			continue
		}
		if err != nil {
			return false, fmt.Errorf("writing referrers tag %s: %w", ReferrersTag(subject), err)
		}
		p.logf("wrote referrers tag %s with %d entries", ReferrersTag(subject), len(ri.index.Manifests))
		return true, nil
	}
	return false, fmt.Errorf("referrers tag %s: %d conditional writes failed: %w", ReferrersTag(subject), maxWriteAttempts, ErrPreconditionFailed)
}

func (p *Push) verifyDelay() time.Duration {
	if p.opts.VerifyDelay > 0 {
		return p.opts.VerifyDelay
	}
	return 150 * time.Millisecond
}

// verify re-reads the referrers index after a jittered delay until entry
// has been present in two consecutive reads, merging it back whenever
// another writer dropped it (registries such as distribution ignore
// If-Match, so a concurrent writer's lost update is repaired here). A read
// or write that fails in a way that may pass (a 5xx or 429 the transport's
// retries did not outlast, a dropped connection, a corrupted body) counts
// as an unstable round, not as the end: the next round tries again, after
// the Retry-After the registry sent (pause; one longer than maxVerifyPause
// ends it). A context error, or any other failure, ends it. It gives up after
// VerifyRounds reads with ErrReferrerLost (and the last failure, if the
// last round failed).
func (p *Push) verify(ctx context.Context, subject digest.Digest, entry ocispec.Descriptor) error {
	rounds := p.opts.VerifyRounds
	if rounds <= 0 {
		rounds = 10
	}
	tag := ReferrersTag(subject)
	stable := 0
	var failed error // of the last round, if it failed
	for round := 0; round < rounds; round++ {
		if err := sleep(ctx, jitter(p.verifyDelay())); err != nil {
			return err
		}
		l := p.tagLock(subject)
		l.Lock()
		ri, err := readReferrersIndex(ctx, p.target, subject)
		if err != nil {
			l.Unlock()
			if ctx.Err() != nil || !transient(err) {
				return refuseOverwrite(err)
			}
			stable, failed = 0, err
			if err := p.pause(ctx, tag, err); err != nil {
				return err
			}
			p.logf("verifying referrer %s: %v; reading %s again", entry.Digest, failed, tag)
			continue
		}
		failed = nil
		if ri.has(entry.Digest) {
			l.Unlock()
			stable++
			if stable >= 2 {
				return nil
			}
			continue
		}
		stable = 0
		p.logf("referrer %s was dropped from %s by another writer; merging it again", entry.Digest, tag)
		ri.add(entry)
		err = writeReferrersIndex(ctx, p.target, subject, ri)
		l.Unlock()
		if err != nil && !errors.Is(err, ErrPreconditionFailed) {
			err = fmt.Errorf("writing referrers tag %s: %w", tag, err)
			if ctx.Err() != nil || !transient(err) {
				return err
			}
			failed = err
			if err := p.pause(ctx, tag, err); err != nil {
				return err
			}
			p.logf("verifying referrer %s: %v; reading %s again", entry.Digest, failed, tag)
		}
	}
	if failed != nil {
		return fmt.Errorf("%s after %d reads: %w: %w", tag, rounds, ErrReferrerLost, failed)
	}
	return fmt.Errorf("%s after %d reads: %w", tag, rounds, ErrReferrerLost)
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
