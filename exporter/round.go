package exporter

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Referrers-tag rounds: a group commit.
//
// Where the registry has no referrers API, the entries this push adds to
// the referrers index of one subject are written in rounds: one
// read-merge-write of the referrers tag for every entry waiting, and one
// verification for what it wrote. An Attach call (Attach, each artifact
// of AttachAll, AttachFrom) of subject S goes through it so:
//
//	claim    before any upload     pending++
//	release  failed, or no tag     pending--, kick
//	index    manifest written      pending--, queue w, kick; wait for w.done or ctx
//
// kick(S) starts a round when entries are queued, no Attach call of S is
// under way (pending == 0) and no round of S is being written (writing ==
// nil): the round takes the whole queue, reads, merges, writes (If-Match;
// 412 reads again), starts or joins the verification of S with the entries
// it added for calls still waiting (startVerify), gives every waiter its
// outcome (w.err, close(w.done)), and kicks again.
//
// Invariants, under Push.mu:
//   - pending counts the claims neither released nor queued: each claim
//     ends once, in release or index (claim.over), whatever the Attach
//     call's path; a panic unwinds through its deferred release.
//   - Every change that can make kick's condition true (pending--, an
//     entry queued, a round over, the push sealed) calls kick: no entry
//     waits while nothing of its subject is in flight.
//   - At most one round per subject runs (writing != nil). A round and the
//     verification of its subject take turns on the tag (tagLock).
//   - w.done is closed once, by the round that took w or, once sealed, by
//     kick. A waiter whose ctx ends returns at once (gone); it leaves the
//     queue if no round took it yet, else the round may still write its
//     entry but does not verify it (until it is attached again). Both
//     happen under Push.mu, so a call returns nil only when its entry is
//     in the index the round wrote (and verified, if the round added it),
//     and an entry whose call failed never fails Ready.
//   - A round's context ends when every waiter's context has, or when
//     Abort (or Ready's ctx ending) cancels it with ErrPushClosed.
//   - Every round is counted in Push.rounds from kick to its end, and no
//     round starts once Ready or Abort sealed the push: both wait for all.
//
// An entry thus waits for the other Attach calls of its subject under way:
// each is bounded by its own ctx and by the transport (stall timeout,
// bounded retries), and the waiter's own ctx bounds the wait. With the
// referrers API a call releases its claim after its manifest PUT and
// never waits.

// subjectIndex is this push's writing of the referrers index of one
// subject: the state of its rounds (see above) and its verification.
// k referrers of a subject attached together (AttachAll, or concurrent
// Attach calls) cost one round, not k. Its fields but the locks are
// guarded by Push.mu.
type subjectIndex struct {
	// put serializes this push's referrer manifest PUTs for the subject;
	// tag its own readers and writers of the subject's referrers tag (a
	// round and a verification), so that they do not race each other.
	put, tag sync.Mutex

	pending int                     // Attach calls of the subject under way that have not queued an entry
	queue   []*indexWait            // entries for the next round
	writing context.CancelCauseFunc // cancels the round being written; nil when none
	verify  *verification           // the verification under way, nil when none
	// verified are the entries verified so far: a later verification
	// of the subject that finds one dropped merges it back and verifies
	// it again.
	verified []ocispec.Descriptor
	// unverified are entries a round wrote for Attach calls that had
	// given up: not verified then, they are when attached again (and
	// found listed, so not written again).
	unverified []digest.Digest
}

// indexWait is an entry waiting for a round, and then its outcome. It
// lives as long as the Attach call that waits, like a request: ctx is
// that call's, which the round's context takes its values from and
// outlives only while another waiter's is live.
type indexWait struct {
	ctx   context.Context
	entry ocispec.Descriptor
	done  chan struct{} // closed when err is set
	err   error
	gone  bool // the call returned with its ctx's error before done
}

// result is what the call waiting in w returns once w.done is closed: the
// round's error, or ctx's own when the round ended with the end of every
// waiter's context, this one's among them.
func (w *indexWait) result(ctx context.Context) error {
	if w.err != nil && isContextErr(w.err) && ctx.Err() != nil {
		return ctx.Err()
	}
	return w.err
}

// indexOf returns the state of subject's referrers index. The caller holds
// p.mu.
func (p *Push) indexOf(subject digest.Digest) *subjectIndex {
	s, ok := p.indexes[subject]
	if !ok {
		s = &subjectIndex{}
		p.indexes[subject] = s
	}
	return s
}

// claim is an Attach call's place in the next round of its subject's
// referrers index: the round does not start before the call has queued
// its entry (index) or given up (release).
type claim struct {
	p       *Push
	subject digest.Digest
	over    bool // queued or released; used by one goroutine only
}

// claim counts an Attach call of subject under way, before its blobs are
// uploaded, so that a round of the subject waits for its entry.
func (p *Push) claim(subject digest.Digest) *claim {
	p.mu.Lock()
	p.indexOf(subject).pending++
	p.mu.Unlock()
	return &claim{p: p, subject: subject}
}

// release gives up c's place, when its Attach call writes no entry (it
// failed, or the registry indexes referrers itself). It may be called
// again.
func (c *claim) release() {
	if c.over {
		return
	}
	c.over = true
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	s := c.p.indexOf(c.subject)
	s.pending--
	c.p.kick(c.subject, s)
}

// index queues entry for the next round of c's subject and waits for it:
// entry is in the referrers index and its verification started, or the
// round failed (ErrPushClosed once Ready or Abort sealed the push). When
// ctx ends first it returns ctx's error; entry is then taken out of the
// queue if the round has not started (a round under way may still write
// it).
func (c *claim) index(ctx context.Context, entry ocispec.Descriptor) error {
	p := c.p
	w := &indexWait{ctx: ctx, entry: entry, done: make(chan struct{})}
	c.over = true
	p.mu.Lock()
	s := p.indexOf(c.subject)
	s.pending--
	s.queue = append(s.queue, w)
	p.kick(c.subject, s)
	p.mu.Unlock()
	select {
	case <-w.done:
		return w.result(ctx)
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		select {
		case <-w.done:
			// The round was over first: its outcome stands.
			return w.result(ctx)
		default:
		}
		w.gone = true
		s.queue = slices.DeleteFunc(s.queue, func(q *indexWait) bool { return q == w })
		return ctx.Err()
	}
}

// kick starts the next round of subject when entries wait, no round is
// being written and no Attach call of the subject is still under way.
// Once Ready or Abort has sealed the push it starts none: the entries
// waiting get ErrPushClosed at once, as no verification could follow
// their write. The caller holds p.mu.
func (p *Push) kick(subject digest.Digest, s *subjectIndex) {
	if p.sealed {
		for _, w := range s.queue {
			w.err = ErrPushClosed
			close(w.done)
		}
		s.queue = nil
		return
	}
	if s.writing != nil || s.pending > 0 || len(s.queue) == 0 {
		return
	}
	batch := s.queue
	s.queue = nil
	ctx, cancel := roundContext(batch)
	s.writing = cancel
	// WaitGroup.Go: Done runs once round has returned, so nothing of the
	// push is left running when Abort's Wait returns.
	p.rounds.Go(func() { p.round(ctx, cancel, subject, batch) })
}

// kickAll runs kick for every subject. The caller holds p.mu.
func (p *Push) kickAll() {
	for subject, s := range p.indexes {
		p.kick(subject, s)
	}
}

// round writes the entries of batch, referrers of subject, into its
// referrers index in one read-merge-write, starts or joins one
// verification for those it added for calls still waiting, and gives every
// waiting Attach call the outcome. ctx and cancel are from roundContext:
// it runs while any of them waits for it, and Abort ends it with
// ErrPushClosed.
func (p *Push) round(ctx context.Context, cancel context.CancelCauseFunc, subject digest.Digest, batch []*indexWait) {
	entries := make([]ocispec.Descriptor, len(batch))
	for i, w := range batch {
		entries[i] = w.entry
	}
	wrote, err := p.addToIndex(ctx, subject, entries)
	if err != nil && errors.Is(context.Cause(ctx), ErrPushClosed) {
		err = ErrPushClosed
	}
	cancel(nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.indexOf(subject)
	if err == nil {
		// Verified are the entries written for a call still waiting: one
		// that gave up returned an error, so the push does not count its
		// entry, nor fails for it, but remembers it as unverified. An
		// entry a round wrote for a call that gave up, attached again,
		// is verified now. Under p.mu, as gone is set.
		var keep []ocispec.Descriptor
		for _, w := range batch {
			d := w.entry.Digest
			wrote := slices.ContainsFunc(wrote, func(e ocispec.Descriptor) bool { return e.Digest == d })
			earlier := slices.Contains(s.unverified, d)
			switch {
			case w.gone && wrote && !earlier:
				s.unverified = append(s.unverified, d)
			case !w.gone && (wrote || earlier):
				s.unverified = slices.DeleteFunc(s.unverified, func(u digest.Digest) bool { return u == d })
				if !slices.ContainsFunc(keep, func(e ocispec.Descriptor) bool { return e.Digest == d }) {
					keep = append(keep, w.entry)
				}
			}
		}
		if len(keep) > 0 {
			err = p.startVerify(ctx, subject, keep)
		}
	}
	for _, w := range batch {
		w.err = err
		close(w.done)
	}
	s.writing = nil
	p.kick(subject, s)
}

// stopRounds cancels the rounds being written with ErrPushClosed.
func (p *Push) stopRounds() {
	p.mu.Lock()
	var cancels []context.CancelCauseFunc
	for _, s := range p.indexes {
		if s.writing != nil {
			cancels = append(cancels, s.writing)
		}
	}
	p.mu.Unlock()
	for _, c := range cancels {
		c(ErrPushClosed)
	}
}

// roundContext returns the context of a round for batch: it carries the
// values of the first waiter's context and ends when every waiter's
// context has ended, so that one Attach call given up (a per-scan
// context) does not fail the others' entries, or when cancel is called.
// cancel may be called more than once, concurrently.
func roundContext(batch []*indexWait) (ctx context.Context, cancel context.CancelCauseFunc) {
	ctx, end := context.WithCancelCause(context.WithoutCancel(batch[0].ctx))
	var left atomic.Int64
	left.Store(int64(len(batch)))
	stops := make([]func() bool, 0, len(batch))
	for _, w := range batch {
		wctx := w.ctx
		stops = append(stops, context.AfterFunc(wctx, func() {
			if left.Add(-1) == 0 {
				end(context.Cause(wctx))
			}
		}))
	}
	return ctx, func(cause error) {
		for _, stop := range stops {
			stop()
		}
		end(cause)
	}
}

// startVerify starts the verification of entries, written in the
// referrers index of subject, or adds them to the one under way for
// subject. A verification outlives Attach, whose ctx may be a per-scan
// context that ends with it: Ready waits for it and its ctx cancels it;
// it takes only ctx's values. Once Ready has begun no verification starts
// and none takes new entries (ErrPushClosed), so none escapes its wait.
// The caller holds p.mu.
func (p *Push) startVerify(ctx context.Context, subject digest.Digest, entries []ocispec.Descriptor) error {
	if p.sealed {
		return ErrPushClosed
	}
	s := p.indexOf(subject)
	if s.verify != nil {
		// Judged by reads at least the shortest delay from now, as a
		// verification of their own would be.
		notBefore := time.Now().Add(p.verifyDelay() * 3 / 4)
		for _, e := range entries {
			s.verify.entries = append(s.verify.entries, &verifyEntry{desc: e, notBefore: notBefore})
		}
		p.logf("%d referrers of %s join the verification under way", len(entries), subject)
		return nil
	}
	v := &verification{}
	for _, e := range entries {
		v.entries = append(v.entries, &verifyEntry{desc: e})
	}
	s.verify = v
	vctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancels = append(p.cancels, cancel)
	p.verifying.Go(func() {
		defer cancel()
		p.verify(vctx, subject, v)
	})
	return nil
}
