package exporter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// The tests below put the referrers-tag rounds of exporter/round.go in
// the situations where a group commit deadlocks, leaks or misreports: a
// call that never counts out, a waiter that gives up mid-round, Abort and
// Commit around a round, verification joined late, the referrers API.
// They run in synctest bubbles, so a goroutine left blocked at the end
// fails the test as a deadlock.

// edgeSubject is the subject of an attach-only push in these tests.
var edgeSubject = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("edge subject"), Size: 12}

// layerOf returns the digest of the one blob of note(subject, i).
func layerOf(subject ocispec.Descriptor, i int) string {
	return digest.FromBytes(note(subject, i).Blobs[0].Data).String()
}

// manifestOf returns the digest of the referrer manifest of a.
func manifestOf(t *testing.T, a exporter.Artifact) digest.Digest {
	t.Helper()
	d, _, err := a.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

// gate is a point where memTarget calls wait until the test opens it or
// their context ends.
type gate struct {
	open    chan struct{}
	once    sync.Once
	ignores bool  // wait for open only, as a response already on its way
	err     error // returned once open (fail)
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) wait(ctx context.Context) error {
	if g.ignores {
		<-g.open
		return nil
	}
	select {
	case <-g.open:
		return g.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// fail releases the call held with err.
func (g *gate) fail(err error) {
	g.err = err
	g.release()
}

// gates holds memTarget calls ("op reference") at gates until released.
type gates struct {
	mu sync.Mutex
	at map[string]*gate
	// ctxErr records, per call released, its context's error then.
	ctxErr map[string]error
}

func newGates() *gates { return &gates{at: map[string]*gate{}, ctxErr: map[string]error{}} }

// hold makes the next call op reference wait at a new gate, which it
// returns.
func (g *gates) hold(op, reference string) *gate {
	g.mu.Lock()
	defer g.mu.Unlock()
	gt := newGate()
	g.at[op+" "+reference] = gt
	return gt
}

func (g *gates) hook(ctx context.Context, op, reference string) error {
	key := op + " " + reference
	g.mu.Lock()
	gt := g.at[key]
	delete(g.at, key)
	g.mu.Unlock()
	if gt == nil {
		return nil
	}
	err := gt.wait(ctx)
	g.mu.Lock()
	g.ctxErr[key] = ctx.Err()
	g.mu.Unlock()
	return err
}

// attachAsync runs Attach in a goroutine; its error arrives on the channel.
func attachAsync(ctx context.Context, p *exporter.Push, a exporter.Artifact) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := p.Attach(ctx, a)
		ch <- err
	}()
	return ch
}

// returned reports whether an Attach started by attachAsync has returned,
// and its error, once every goroutine of the bubble is blocked.
func returned(ch <-chan error) (bool, error) {
	synctest.Wait()
	select {
	case err := <-ch:
		return true, err
	default:
		return false, nil
	}
}

// noTagSchemaTarget is a memTarget without the referrers API whose calls
// go through gs.
func noTagSchemaTarget(gs *gates) *memTarget {
	tgt := newMemTarget()
	tgt.noAPI = true
	tgt.hook = gs.hook
	return tgt
}

// countOps counts the calls of tgt's log equal to "op reference" from
// index from on.
func countOps(tgt *memTarget, from int, op, reference string) int {
	tgt.mu.Lock()
	defer tgt.mu.Unlock()
	n := 0
	for _, l := range tgt.log[from:] {
		if l == op+" "+reference {
			n++
		}
	}
	return n
}

func logLen(tgt *memTarget) int {
	tgt.mu.Lock()
	defer tgt.mu.Unlock()
	return len(tgt.log)
}

// TestRoundWaiterCancelled: two Attach calls of one subject, each with its
// own context, share a round. The first entry of the round (whose context
// the round takes its values from) gives up while the round reads the
// tag: its Attach returns context.Canceled at once, not when the round
// ends, while the round goes on with a live context and writes both
// entries (a round under way may write an entry given up). The other
// Attach succeeds; the push records only it.
func TestRoundWaiterCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gs := newGates()
		tgt := noTagSchemaTarget(gs)
		p := exporter.New(tgt, nil, exporter.Options{})
		defer p.Abort()
		tag := exporter.ReferrersTag(edgeSubject.Digest)
		a1, a2 := note(edgeSubject, 1), note(edgeSubject, 2)

		// a1 is counted in and held uploading its layer; a2 gets its
		// manifest in and waits for a1.
		blob := gs.hold("blob", layerOf(edgeSubject, 1))
		ch1 := attachAsync(t.Context(), p, a1)
		synctest.Wait()
		ctx2, cancel2 := context.WithCancel(t.Context())
		defer cancel2()
		ch2 := attachAsync(ctx2, p, a2)
		if done, err := returned(ch2); done {
			t.Fatalf("a2 returned before a1 queued its entry: %v", err)
		}
		if n := countOps(tgt, 0, "get", tag); n != 0 {
			t.Fatalf("a round read %s while a1 was under way", tag)
		}
		// The round of [a2, a1] reads the tag, held.
		get := gs.hold("get", tag)
		blob.release()
		synctest.Wait()
		cancel2()
		if done, err := returned(ch2); !done || !errors.Is(err, context.Canceled) {
			t.Fatalf("a2 cancelled mid-round: returned %v, err %v; want context.Canceled at once", done, err)
		}
		get.release()
		if err := <-ch1; err != nil {
			t.Fatalf("a1: %v", err)
		}
		if err := gs.ctxErr["get "+tag]; err != nil {
			t.Errorf("the round read with a context ended by a2's cancellation: %v", err)
		}
		got := listed(t, tgt, edgeSubject.Digest)
		if !slices.Contains(got, manifestOf(t, a1)) || !slices.Contains(got, manifestOf(t, a2)) {
			t.Errorf("%s lists %v, want both entries of the round", tag, got)
		}
		res, err := p.Commit(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Referrers) != 1 || res.Referrers[0].Descriptor.Digest != manifestOf(t, a1) {
			t.Errorf("Result.Referrers = %v, want a1 only", res.Referrers)
		}
	})
}

// TestRoundAllWaitersCancelled: when every waiter of a round gives up,
// the round's context ends: the read under way stops, nothing is written,
// and the next Attach of the subject gets a round of its own.
func TestRoundAllWaitersCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gs := newGates()
		tgt := noTagSchemaTarget(gs)
		p := exporter.New(tgt, nil, exporter.Options{})
		defer p.Abort()
		tag := exporter.ReferrersTag(edgeSubject.Digest)
		gs.hold("get", tag) // never released: only the context ends it
		ctx, cancel := context.WithCancel(t.Context())
		ch := attachAsync(ctx, p, note(edgeSubject, 1))
		synctest.Wait()
		cancel()
		if err := <-ch; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		synctest.Wait()
		if n := countOps(tgt, 0, "put", tag); n != 0 {
			t.Fatalf("%d writes of %s by a round nobody waits for", n, tag)
		}
		if _, err := p.Attach(t.Context(), note(edgeSubject, 2)); err != nil {
			t.Fatalf("next Attach: %v", err)
		}
		if err := p.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := listed(t, tgt, edgeSubject.Digest); len(got) != 1 || got[0] != manifestOf(t, note(edgeSubject, 2)) {
			t.Errorf("%s lists %v, want the second entry only", tag, got)
		}
	})
}

// TestRoundSiblingGivesUp: an entry waits for a sibling of its subject
// that is still uploading; what bounds the wait is the sibling's context
// (or its failure) and the waiter's own. The sibling failing (its blob
// upload fails, its context ends between count-in and upload) counts it
// out and the round starts; the waiter giving up first takes its entry
// out of the queue and returns at once.
func TestRoundSiblingGivesUp(t *testing.T) {
	for _, how := range []string{"blob fails", "sibling cancelled", "waiter cancelled"} {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				gs := newGates()
				tgt := noTagSchemaTarget(gs)
				p := exporter.New(tgt, nil, exporter.Options{})
				defer p.Abort()
				tag := exporter.ReferrersTag(edgeSubject.Digest)
				a1, a2 := note(edgeSubject, 1), note(edgeSubject, 2)
				ctx1, cancel1 := context.WithCancel(t.Context())
				defer cancel1()
				ctx2, cancel2 := context.WithCancel(t.Context())
				defer cancel2()
				blob := gs.hold("blob", layerOf(edgeSubject, 1))
				ch1 := attachAsync(ctx1, p, a1)
				synctest.Wait()
				ch2 := attachAsync(ctx2, p, a2)
				if done, _ := returned(ch2); done {
					t.Fatal("a2 did not wait for its sibling")
				}
				switch how {
				case "blob fails":
					blob.fail(errors.New("upload failed"))
				case "sibling cancelled":
					cancel1()
				case "waiter cancelled":
					cancel2()
					if done, err := returned(ch2); !done || !errors.Is(err, context.Canceled) {
						t.Fatalf("waiter: returned %v, err %v; want context.Canceled at once", done, err)
					}
					blob.release()
					if err := <-ch1; err != nil {
						t.Fatal(err)
					}
					if got := listed(t, tgt, edgeSubject.Digest); !slices.Equal(got, []digest.Digest{manifestOf(t, a1)}) {
						t.Errorf("%s lists %v, want a1's entry only (a2 left the queue)", tag, got)
					}
					return
				}
				if err := <-ch1; err == nil {
					t.Fatal("a1 succeeded")
				}
				if err := <-ch2; err != nil {
					t.Fatalf("a2: %v", err)
				}
				if got := listed(t, tgt, edgeSubject.Digest); !slices.Equal(got, []digest.Digest{manifestOf(t, a2)}) {
					t.Errorf("%s lists %v, want a2's entry only", tag, got)
				}
				if err := p.Ready(t.Context()); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestAttachAllCountsOut: AttachAll counts out every artifact it counted
// in, whatever ends it: an invalid artifact (none is counted in), a
// context ended before the call, a failed image. A later Attach of the
// same subjects is not left waiting for them.
func TestAttachAllCountsOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img, subjects := memImage(t)
		tgt := newMemTarget()
		tgt.noAPI = true
		p := pushImages(t, tgt, img)
		defer p.Abort()
		s := subjects[0]
		invalid := note(s, 9)
		invalid.Blobs = nil
		if _, err := p.AttachAll(t.Context(), []exporter.Artifact{note(s, 0), invalid}); !errors.Is(err, exporter.ErrInvalidArtifact) {
			t.Fatalf("invalid: %v", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := p.AttachAll(ctx, []exporter.Artifact{note(s, 1), note(s, 2)}); !errors.Is(err, context.Canceled) {
			t.Fatalf("ended context: %v", err)
		} else if strings.Count(err.Error(), "context canceled") != 1 {
			t.Errorf("ended context said more than once: %v", err)
		}
		if _, err := p.Attach(t.Context(), note(s, 3)); err != nil {
			t.Fatalf("Attach after: %v", err)
		}
		if _, err := p.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}

		// A failed image fails every artifact once.
		tgt2 := newMemTarget()
		tgt2.noAPI = true
		tgt2.hook = func(ctx context.Context, op, ref string) error {
			if op == "put" && ref == subjects[1].Digest.String() {
				return errors.New("platform manifest refused")
			}
			return nil
		}
		p2 := exporter.New(tgt2, img, exporter.Options{Tag: "v1"})
		defer p2.Abort()
		go p2.Images(t.Context())
		_, err := p2.AttachAll(t.Context(), []exporter.Artifact{note(s, 1), note(s, 2), note(subjects[1], 1)})
		if err == nil || strings.Count(err.Error(), "platform manifest refused") != 1 {
			t.Errorf("AttachAll after a failed image: %v, want the image's error once", err)
		}
	})
}

// TestAPIModeNoRound: with the referrers API an Attach neither waits for
// a sibling of its subject still uploading nor reads or writes a
// referrers tag.
func TestAPIModeNoRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gs := newGates()
		tgt := newMemTarget()
		tgt.hook = gs.hook
		p := exporter.New(tgt, nil, exporter.Options{})
		defer p.Abort()
		blob := gs.hold("blob", layerOf(edgeSubject, 1))
		ch1 := attachAsync(t.Context(), p, note(edgeSubject, 1))
		synctest.Wait()
		if _, err := p.Attach(t.Context(), note(edgeSubject, 2)); err != nil {
			t.Fatal(err)
		}
		blob.release()
		if err := <-ch1; err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, l := range tgt.log {
			if strings.Contains(l, "sha256-") {
				t.Errorf("referrers API: %s", l)
			}
		}
	})
}

// TestVerifyJoinDelay: an entry written while its subject's verification
// is under way joins it, and is judged as by a verification of its own:
// before Ready returns, it is listed by two consecutive reads of the
// verification, both at least 3/4 of VerifyDelay after its write. Entries
// are attached one after another at random gaps, so that they join at
// every point of the verification's cycle.
func TestVerifyJoinDelay(t *testing.T) {
	const delay = 100 * time.Millisecond
	for run := range 30 {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tgt := newMemTarget()
				tgt.noAPI = true
				tag := exporter.ReferrersTag(edgeSubject.Digest)
				type event struct {
					at    time.Time
					write bool
					lists []digest.Digest
				}
				var mu sync.Mutex
				var events []event
				p := exporter.New(&recordingTarget{memTarget: tgt, tag: tag, record: func(write bool, lists []digest.Digest) {
					mu.Lock()
					events = append(events, event{time.Now(), write, lists})
					mu.Unlock()
				}}, nil, exporter.Options{VerifyDelay: delay})
				defer p.Abort()
				var entries []digest.Digest
				for i := range 4 {
					if _, err := p.Attach(t.Context(), note(edgeSubject, i)); err != nil {
						t.Fatal(err)
					}
					entries = append(entries, manifestOf(t, note(edgeSubject, i)))
					time.Sleep(time.Duration(run*7+i*31) % 23 * delay / 10)
				}
				if err := p.Ready(t.Context()); err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					var wrote time.Time
					for _, ev := range events {
						if ev.write && slices.Contains(ev.lists, e) {
							wrote = ev.at
							break
						}
					}
					if wrote.IsZero() {
						t.Fatalf("%s never written", e)
					}
					// Two reads in a row (no write between) listing e, both
					// at least 3/4 of the delay after its write.
					ok, run := false, 0
					for _, ev := range events {
						switch {
						case ev.write:
							run = 0
						case ev.at.Sub(wrote) < delay*3/4:
						case slices.Contains(ev.lists, e):
							run++
							ok = ok || run >= 2
						default:
							run = 0
						}
					}
					if !ok {
						t.Errorf("entry %s written at +%v not listed by two reads in a row from +%v on", e, wrote.Sub(events[0].at), wrote.Add(delay*3/4).Sub(events[0].at))
					}
				}
			})
		})
	}
}

// recordingTarget is a memTarget that reports what each read and write of
// one referrers tag listed.
type recordingTarget struct {
	*memTarget
	tag    string
	record func(write bool, lists []digest.Digest)
}

func (r *recordingTarget) PushManifest(ctx context.Context, d ocispec.Descriptor, data []byte, reference, ifMatch string) (digest.Digest, error) {
	s, err := r.memTarget.PushManifest(ctx, d, data, reference, ifMatch)
	if err == nil && reference == r.tag {
		r.record(true, digestsOf(data))
	}
	return s, err
}

func (r *recordingTarget) FetchManifest(ctx context.Context, reference string) (ocispec.Descriptor, []byte, string, error) {
	d, data, etag, err := r.memTarget.FetchManifest(ctx, reference)
	if err == nil && reference == r.tag {
		r.record(false, digestsOf(data))
	}
	return d, data, etag, err
}

func digestsOf(index []byte) []digest.Digest {
	var idx ocispec.Index
	json.Unmarshal(index, &idx)
	var out []digest.Digest
	for _, m := range idx.Manifests {
		out = append(out, m.Digest)
	}
	return out
}

// TestVerifyLostPerEntry: another writer drops one of two entries before
// every read of the tag. That entry fails Ready with ErrReferrerLost under
// its own name; the other, which stays listed, is verified and not named:
// whether both were written by one round, or the lost one joined the
// verification of the other's round, or the other joined its.
func TestVerifyLostPerEntry(t *testing.T) {
	for _, how := range []string{"one round", "lost joins", "kept joins"} {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tgt := newMemTarget()
				tgt.noAPI = true
				tag := exporter.ReferrersTag(edgeSubject.Digest)
				lostA, keptA := note(edgeSubject, 1), note(edgeSubject, 2)
				lost, kept := manifestOf(t, lostA), manifestOf(t, keptA)
				tgt.hook = func(ctx context.Context, op, ref string) error {
					if op != "get" || ref != tag {
						return nil
					}
					tgt.mu.Lock()
					defer tgt.mu.Unlock()
					b, ok := tgt.manifests[tag]
					if !ok {
						return nil
					}
					var idx ocispec.Index
					json.Unmarshal(b, &idx)
					idx.Manifests = slices.DeleteFunc(idx.Manifests, func(m ocispec.Descriptor) bool { return m.Digest == lost })
					tgt.manifests[tag], _ = json.Marshal(idx)
					return nil
				}
				const delay = 100 * time.Millisecond
				var joined atomic.Bool
				logf := func(format string, args ...any) {
					if strings.Contains(format, "join the verification under way") {
						joined.Store(true)
					}
				}
				p := exporter.New(tgt, nil, exporter.Options{VerifyRounds: 4, VerifyDelay: delay, Logf: logf})
				defer p.Abort()
				switch how {
				case "one round":
					if _, err := p.AttachAll(t.Context(), []exporter.Artifact{lostA, keptA}); err != nil {
						t.Fatal(err)
					}
				default:
					first, second := keptA, lostA
					if how == "kept joins" {
						first, second = lostA, keptA
					}
					if _, err := p.Attach(t.Context(), first); err != nil {
						t.Fatal(err)
					}
					time.Sleep(delay / 2)
					if _, err := p.Attach(t.Context(), second); err != nil {
						t.Fatal(err)
					}
				}
				if joined.Load() != (how != "one round") {
					t.Fatalf("joined a verification under way: %v", joined.Load())
				}
				err := p.Ready(t.Context())
				if !errors.Is(err, exporter.ErrReferrerLost) || !strings.Contains(err.Error(), lost.String()) || strings.Contains(err.Error(), kept.String()) {
					t.Errorf("Ready: %v; want ErrReferrerLost naming %s and not %s", err, lost, kept)
				}
				if _, err := p.Commit(t.Context()); err == nil {
					t.Error("Commit succeeded with a lost referrer")
				}
			})
		})
	}
}

// TestAbortDuringRound: Abort while a round reads the referrers tag for
// an Attach whose context is live ends the round: Abort returns once it
// has ended, the Attach returns ErrPushClosed, and no request of the
// round is sent after Abort returned. An entry queued behind a sibling
// still uploading, whose round has not started, gets ErrPushClosed at
// once and is never written.
func TestAbortDuringRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gs := newGates()
		tgt := noTagSchemaTarget(gs)
		tag := exporter.ReferrersTag(edgeSubject.Digest)
		p := exporter.New(tgt, nil, exporter.Options{})
		get := gs.hold("get", tag)
		ch := attachAsync(t.Context(), p, note(edgeSubject, 1))
		synctest.Wait()
		aborted := make(chan int)
		go func() {
			p.Abort()
			aborted <- logLen(tgt)
		}()
		synctest.Wait()
		get.release()
		after := <-aborted
		if err := <-ch; !errors.Is(err, exporter.ErrPushClosed) {
			t.Errorf("Attach: %v, want ErrPushClosed", err)
		}
		synctest.Wait()
		if n := logLen(tgt) - after; n != 0 {
			t.Errorf("%d requests after Abort returned: %v", n, tgt.log[after:])
		}

		other := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("other subject"), Size: 13}
		p2 := exporter.New(tgt, nil, exporter.Options{})
		blob := gs.hold("blob", layerOf(other, 1))
		ctx1, cancel1 := context.WithCancel(t.Context())
		defer cancel1()
		ch1 := attachAsync(ctx1, p2, note(other, 1))
		synctest.Wait()
		ch2 := attachAsync(t.Context(), p2, note(other, 2))
		synctest.Wait()
		p2.Abort()
		if done, err := returned(ch2); !done || !errors.Is(err, exporter.ErrPushClosed) {
			t.Errorf("queued entry after Abort: returned %v, err %v; want ErrPushClosed at once", done, err)
		}
		blob.release()
		<-ch1
		synctest.Wait()
		if n := countOps(tgt, 0, "put", exporter.ReferrersTag(other.Digest)); n != 0 {
			t.Errorf("%d writes of the referrers tag after Abort", n)
		}
	})
}

// TestCommitAfterAbandonedRound: an Attach gives up while its round's read
// is on its way back; the round then runs for nobody. Commit, called
// next, returns only once that round is over, so that no goroutine of the
// push is left running (nor request sent) after it, and the index tag is
// its last write.
func TestCommitAfterAbandonedRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img, subjects := memImage(t)
		gs := newGates()
		tgt := noTagSchemaTarget(gs)
		p := pushImages(t, tgt, img)
		defer p.Abort()
		s := subjects[0]
		tag := exporter.ReferrersTag(s.Digest)
		get := gs.hold("get", tag)
		get.ignores = true // the answer is on its way
		ctx, cancel := context.WithCancel(t.Context())
		ch := attachAsync(ctx, p, note(s, 1))
		synctest.Wait()
		cancel()
		if err := <-ch; !errors.Is(err, context.Canceled) {
			t.Fatalf("Attach: %v", err)
		}
		committed := make(chan error, 1)
		go func() {
			_, err := p.Commit(t.Context())
			committed <- err
		}()
		synctest.Wait()
		var err error
		select {
		case err = <-committed:
			t.Error("Commit returned while a round of the push was still running")
			get.release()
		default:
			get.release()
			err = <-committed
		}
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		tgt.mu.Lock()
		last := tgt.log[len(tgt.log)-1]
		tgt.mu.Unlock()
		if last != "put v1" {
			t.Errorf("last request %q, want the index tag: %v", last, tgt.log)
		}
	})
}

// TestAttachAllReferrerOfOwnArtifact: on a push with an image, an
// artifact of AttachAll whose subject is another of its artifacts fails
// with ErrInvalidArtifact (the subject is recorded only when AttachAll
// returns), without holding up the others; attached afterwards, it is
// written.
func TestAttachAllReferrerOfOwnArtifact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img, subjects := memImage(t)
		tgt := newMemTarget()
		tgt.noAPI = true
		p := pushImages(t, tgt, img)
		defer p.Abort()
		sbom := note(subjects[0], 1)
		m, _, err := sbom.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		sig := note(ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}, 2)
		descs, err := p.AttachAll(t.Context(), []exporter.Artifact{sbom, sig, note(subjects[0], 3)})
		if !errors.Is(err, exporter.ErrInvalidArtifact) || descs[0].Digest == "" || descs[1].Digest != "" || descs[2].Digest == "" {
			t.Fatalf("AttachAll: %v, descriptors %v", err, descs)
		}
		if _, err := p.Attach(t.Context(), sig); err != nil {
			t.Fatalf("Attach after its subject: %v", err)
		}
		if _, err := p.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

// abandonedAttach attaches a1 and a2, referrers of edgeSubject, in one
// round whose read of the referrers tag gs holds until a2's call has
// given up (its context's error), so that the round writes a2's entry for
// a call that has returned. between runs before the read goes on. It
// returns once a1's Attach has, successfully.
func abandonedAttach(t *testing.T, gs *gates, p *exporter.Push, a1, a2 exporter.Artifact, between func()) {
	t.Helper()
	blob := gs.hold("blob", layerOf(edgeSubject, 1))
	ch1 := attachAsync(t.Context(), p, a1)
	synctest.Wait()
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	ch2 := attachAsync(ctx2, p, a2)
	synctest.Wait()
	get := gs.hold("get", exporter.ReferrersTag(edgeSubject.Digest))
	blob.release()
	synctest.Wait()
	cancel2()
	if err := <-ch2; !errors.Is(err, context.Canceled) {
		t.Fatalf("a2: %v", err)
	}
	if between != nil {
		between()
	}
	get.release()
	if err := <-ch1; err != nil {
		t.Fatalf("a1: %v", err)
	}
}

// dropFromTag removes d from the referrers index under tag on tgt, as
// another writer's lost update would.
func dropFromTag(tgt *memTarget, tag string, d digest.Digest) {
	tgt.mu.Lock()
	defer tgt.mu.Unlock()
	var idx ocispec.Index
	if json.Unmarshal(tgt.manifests[tag], &idx) == nil {
		idx.Manifests = slices.DeleteFunc(idx.Manifests, func(m ocispec.Descriptor) bool { return m.Digest == d })
		tgt.manifests[tag], _ = json.Marshal(idx)
	}
}

// TestRoundAbandonedEntryNotVerified: an Attach that gives up while its
// round reads the tag returns its context's error; the round may still
// write its entry, but does not verify it, since the push does not count
// it as attached. Another writer then drops that entry on every read:
// its sibling of the round is verified and Commit succeeds, instead of
// failing with ErrReferrerLost for a referrer whose Attach already
// failed.
func TestRoundAbandonedEntryNotVerified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gs := newGates()
		tgt := noTagSchemaTarget(gs)
		tag := exporter.ReferrersTag(edgeSubject.Digest)
		a1, a2 := note(edgeSubject, 1), note(edgeSubject, 2)
		gone := manifestOf(t, a2)
		p := exporter.New(tgt, nil, exporter.Options{VerifyRounds: 3})
		defer p.Abort()
		abandonedAttach(t, gs, p, a1, a2, func() {
			tgt.mu.Lock()
			tgt.hook = func(ctx context.Context, op, ref string) error {
				if err := gs.hook(ctx, op, ref); err != nil || op != "get" || ref != tag {
					return err
				}
				dropFromTag(tgt, tag, gone)
				return nil
			}
			tgt.mu.Unlock()
		})
		res, err := p.Commit(t.Context())
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if len(res.Referrers) != 1 || res.Referrers[0].Descriptor.Digest != manifestOf(t, a1) {
			t.Errorf("Result.Referrers = %v, want a1 only", res.Referrers)
		}
	})
}

// pushGoroutines returns the stacks of goroutines running code of a Push
// (rounds, verifications, their context callbacks).
func pushGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "affix/exporter.(*Push)") || strings.Contains(g, "affix/exporter.roundContext") {
			out = append(out, g)
		}
	}
	return out
}

// TestNoGoroutineAfterCommitOrAbort pushes to a registry without the
// referrers API over HTTP: two referrers of each platform with AttachAll
// (one round, one verification each), and one Attach cancelled on the
// way. When Commit returns, no goroutine of the push is left; nor when
// Abort returns in the middle of the verifications.
func TestNoGoroutineAfterCommitOrAbort(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	l, res := source(t, twoPlatforms(false))
	for _, end := range []string{"commit", "abort"} {
		t.Run(end, func(t *testing.T) {
			c, _ := client(nil)
			p := exporter.New(target(t, reg.Host, "app-"+end, c), &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1", VerifyDelay: 500 * time.Millisecond})
			if err := p.Images(ctx); err != nil {
				t.Fatal(err)
			}
			var arts []exporter.Artifact
			for _, m := range res.Manifests {
				cdx := exporter.SBOM(m, oci.MediaTypeCycloneDX, fakeSBOM(m, "cyclonedx"), created, nil)
				arts = append(arts, sbomArtifact(m), cdx)
			}
			if _, err := p.AttachAll(ctx, arts); err != nil {
				t.Fatal(err)
			}
			// The verifications wait their first delay: the check sees them.
			if len(pushGoroutines()) == 0 {
				t.Fatal("no goroutine of the push seen while it verifies")
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := p.Attach(cctx, note(res.Manifests[0], 7)); !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled Attach: %v", err)
			}
			if end == "commit" {
				if _, err := p.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			} else {
				p.Abort()
			}
			if g := pushGoroutines(); len(g) > 0 {
				t.Errorf("%d goroutines of the push left after %s:\n%s", len(g), end, strings.Join(g, "\n\n"))
			}
		})
	}
}

// TestAbortDuringCommit: Abort called while Commit waits in Ready for the
// last read of a verification, whose answer is already on its way, keeps
// the tag where it was: Commit fails and the index is not written by tag.
// (Commit also checks for an Abort between Ready and the tag write, a
// window no test can hold open.)
func TestAbortDuringCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img, subjects := memImage(t)
		tgt := newMemTarget()
		tgt.noAPI = true
		s := subjects[0]
		tag := exporter.ReferrersTag(s.Digest)
		last := newGate()
		last.ignores = true // the answer is on its way
		gets := 0
		tgt.hook = func(ctx context.Context, op, ref string) error {
			if op == "get" && ref == tag {
				if gets++; gets == 3 {
					return last.wait(ctx)
				}
			}
			return nil
		}
		p := pushImages(t, tgt, img)
		if _, err := p.Attach(t.Context(), note(s, 0)); err != nil {
			t.Fatal(err)
		}
		committed := make(chan error, 1)
		go func() {
			_, err := p.Commit(t.Context())
			committed <- err
		}()
		synctest.Wait()
		aborted := make(chan struct{})
		go func() {
			p.Abort()
			close(aborted)
		}()
		synctest.Wait()
		last.release()
		<-aborted
		if err := <-committed; err == nil {
			t.Fatal("Commit succeeded after Abort")
		}
		if n := countOps(tgt, 0, "put", "v1"); n != 0 {
			t.Errorf("tag written %d times after Abort", n)
		}
	})
}

// TestInterruptDuringCommit: an interrupt that comes while Commit
// verifies the referrers index, as its last read is answered, keeps the
// tag from being written, as it does for Tag.
func TestInterruptDuringCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img, subjects := memImage(t)
		tgt := newMemTarget()
		tgt.noAPI = true
		s := subjects[0]
		tag := exporter.ReferrersTag(s.Digest)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		gets := 0
		tgt.hook = func(_ context.Context, op, ref string) error {
			if op == "get" && ref == tag {
				if gets++; gets == 3 {
					cancel() // the read is answered all the same
				}
			}
			return nil
		}
		p := pushImages(t, tgt, img)
		if _, err := p.Attach(t.Context(), note(s, 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(ctx); err == nil {
			t.Fatal("Commit succeeded after an interrupt")
		}
		if n := countOps(tgt, 0, "put", "v1"); n != 0 {
			t.Errorf("tag written %d times after an interrupt", n)
		}
	})
}

// TestVerifyTagNotFound: a verification read that finds no referrers tag
// (a stale replica or cache right after the write) writes nothing back,
// which would drop another writer's entry, and counts as unstable: once
// the tag reads again, both entries are there and Commit succeeds. A tag
// that stays gone fails Commit with ErrReferrerLost, nothing tagged.
func TestVerifyTagNotFound(t *testing.T) {
	for _, tt := range []struct {
		name     string
		notFound func(get int) bool // which reads of the tag answer 404
		ok       bool
	}{
		{name: "once", notFound: func(get int) bool { return get == 2 }, ok: true},
		{name: "from then on", notFound: func(get int) bool { return get >= 2 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				img, subjects := memImage(t)
				s := subjects[0]
				tgt := newMemTarget()
				tgt.noAPI, tgt.etags = true, true
				tag := exporter.ReferrersTag(s.Digest)
				tgt.mu.Lock()
				tgt.sneak(tag) // another writer's entry, there before the push
				tgt.mu.Unlock()
				gets := 0
				tgt.hook = func(_ context.Context, op, ref string) error {
					if op == "get" && ref == tag {
						if gets++; tt.notFound(gets) {
							return fmt.Errorf("%s: %w", ref, exporter.ErrNotFound)
						}
					}
					return nil
				}
				p := pushImages(t, tgt, img)
				if _, err := p.Attach(t.Context(), note(s, 0)); err != nil {
					t.Fatal(err)
				}
				_, err := p.Commit(t.Context())
				tgt.hook = nil // the tag as it is
				if got := listed(t, tgt, s.Digest); len(got) != 2 {
					t.Errorf("the referrers tag lists %v, want the other writer's entry and ours", got)
				}
				if tt.ok {
					if err != nil {
						t.Fatalf("Commit: %v", err)
					}
					return
				}
				if !errors.Is(err, exporter.ErrReferrerLost) || !strings.Contains(err.Error(), "not found after it was written") {
					t.Errorf("Commit: %v, want ErrReferrerLost saying the tag was not found", err)
				}
				if n := countOps(tgt, 0, "put", "v1"); n != 0 {
					t.Errorf("tag written %d times", n)
				}
			})
		})
	}
}

// TestVerifyRepairsVerifiedEntry: an entry verified earlier that another
// writer drops while a later entry of the same subject is verified is
// merged back and verified again; Commit succeeds with both listed. One
// that keeps being dropped fails Commit, nothing tagged.
func TestVerifyRepairsVerifiedEntry(t *testing.T) {
	for _, tt := range []struct {
		name  string
		drops int // reads before which the first entry is dropped
		ok    bool
	}{
		{name: "dropped once", drops: 1, ok: true},
		{name: "dropped every time", drops: 1 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				img, subjects := memImage(t)
				s := subjects[0]
				tgt := newMemTarget()
				tgt.noAPI = true
				tag := exporter.ReferrersTag(s.Digest)
				a1, a2 := note(s, 1), note(s, 2)
				d1 := manifestOf(t, a1)
				p := pushImages(t, tgt, img)
				if _, err := p.Attach(t.Context(), a1); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Minute) // a1's verification is over
				synctest.Wait()
				var drops atomic.Int32
				drops.Store(-1) // not yet
				tgt.mu.Lock()
				tgt.hook = func(_ context.Context, op, ref string) error {
					if op == "get" && ref == tag && drops.Load() > 0 {
						drops.Add(-1)
						dropFromTag(tgt, tag, d1)
					}
					return nil
				}
				tgt.mu.Unlock()
				if _, err := p.Attach(t.Context(), a2); err != nil {
					t.Fatal(err)
				}
				drops.Store(int32(min(tt.drops, 1<<30)))
				_, err := p.Commit(t.Context())
				drops.Store(0)
				got := listed(t, tgt, s.Digest)
				if tt.ok {
					if err != nil || !slices.Contains(got, d1) || len(got) != 2 {
						t.Fatalf("Commit: %v; listed %v, want both entries", err, got)
					}
					return
				}
				if !errors.Is(err, exporter.ErrReferrerLost) || !strings.Contains(err.Error(), d1.String()) {
					t.Errorf("Commit: %v, want ErrReferrerLost for %s", err, d1)
				}
				if n := countOps(tgt, 0, "put", "v1"); n != 0 {
					t.Errorf("tag written %d times", n)
				}
			})
		})
	}
}

// TestReattachVerifies: an entry a round wrote for an Attach call that
// had given up is not verified then; attached again (found listed, so not
// written again), it is: a drop by another writer after that is merged
// back before Commit moves the tag.
func TestReattachVerifies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gs := newGates()
		tgt := noTagSchemaTarget(gs)
		tag := exporter.ReferrersTag(edgeSubject.Digest)
		a1, a2 := note(edgeSubject, 1), note(edgeSubject, 2)
		d2 := manifestOf(t, a2)
		p := exporter.New(tgt, nil, exporter.Options{VerifyRounds: 3})
		defer p.Abort()
		// The round writes a2 without verifying it: its call gave up.
		abandonedAttach(t, gs, p, a1, a2, nil)
		if _, err := p.Attach(t.Context(), a2); err != nil {
			t.Fatalf("a2 again: %v", err)
		}
		// Another writer drops a2 once, from the next read on.
		var drops atomic.Int32
		drops.Store(1)
		tgt.mu.Lock()
		tgt.hook = func(_ context.Context, op, ref string) error {
			if op == "get" && ref == tag && drops.Add(-1) >= 0 {
				dropFromTag(tgt, tag, d2)
			}
			return nil
		}
		tgt.mu.Unlock()
		if _, err := p.Commit(t.Context()); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if got := listed(t, tgt, edgeSubject.Digest); !slices.Contains(got, d2) {
			t.Errorf("a2 was attached again but is not listed: %v", got)
		}
	})
}
