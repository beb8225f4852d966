package exporter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
)

// CommitGrace is how long a tag write may go on after the push's context
// ended (an interrupt): enough for the one PUT it is, so that whether the
// tag moved is known, and bounded so that a registry that stops answering
// does not hold the process.
const CommitGrace = 30 * time.Second

// commitGrace is CommitGrace; tests shorten it.
var commitGrace = CommitGrace

// CommitContext returns the context of a tag write: ctx's values, not
// cancelled when ctx is but CommitGrace after. Once every SBOM is in, the
// tag write is the push's commit point; cutting it short would leave the
// tag's state unknown. Push.Commit and Push.Tag write through it; so
// should any other tag write that ends a publication. The returned cancel
// releases everything, the grace timer included; it is to be called when
// the write is over.
//
// A TagWrites that ctx carries (WithTagWrites) knows of the write from
// CommitContext to cancel: it can end it before the grace is up (Cut),
// and counts it if ctx ended first (Interrupted).
func CommitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	tctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	grace := commitGrace
	stop := context.AfterFunc(ctx, func() {
		// The grace timer ends with the write's context, whichever
		// comes first.
		t := time.AfterFunc(grace, func() { cancel(fmt.Errorf("no answer %v after the interrupt", grace)) })
		context.AfterFunc(tctx, func() { t.Stop() })
	})
	w, _ := ctx.Value(tagWritesKey{}).(*TagWrites)
	id := w.add(cancel)
	return tctx, func() {
		stop()
		w.done(id, ctx.Err() != nil)
		cancel(nil)
	}
}

// TagWrites knows the tag writes under way (CommitContext) of the
// contexts that carry it (WithTagWrites), so that whoever made it can end
// them before their grace is up, and tell afterwards whether any went on
// after an interrupt. affix's command line makes one per command: a
// second interrupt cuts short the tag writes the first let go on. Its
// methods may be called concurrently, and on a nil *TagWrites, which
// knows of no write.
type TagWrites struct {
	mu     sync.Mutex
	writes map[uint64]context.CancelCauseFunc
	next   uint64
	// cut is Cut's cause, nil before.
	cut error
	// interrupted counts the writes whose context ended before they
	// did.
	interrupted int
}

type tagWritesKey struct{}

// WithTagWrites returns ctx carrying w: the tag writes under ctx
// (CommitContext) are w's.
func WithTagWrites(ctx context.Context, w *TagWrites) context.Context {
	return context.WithValue(ctx, tagWritesKey{}, w)
}

// add records a write that cancel ends, and returns its id for done. A
// write that starts after Cut is cut at once.
func (w *TagWrites) add(cancel context.CancelCauseFunc) uint64 {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cut != nil {
		cancel(w.cut)
		return 0
	}
	if w.writes == nil {
		w.writes = map[uint64]context.CancelCauseFunc{}
	}
	w.next++
	w.writes[w.next] = cancel
	return w.next
}

// done records the end of write id; interrupted says that its context
// (not the write's own) ended before.
func (w *TagWrites) done(id uint64, interrupted bool) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.writes, id)
	if interrupted {
		w.interrupted++
	}
}

// Cut ends every tag write under way at once, with cause as its
// context's cause, rather than when CommitGrace is up; those that start
// later end as they start. It returns how many writes were under way:
// with none, it ended nothing.
func (w *TagWrites) Cut(cause error) int {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cut = cause
	n := len(w.writes)
	for id, cancel := range w.writes {
		cancel(cause)
		delete(w.writes, id)
	}
	return n
}

// Interrupted returns how many tag writes went on after their context
// ended (an interrupt), let finish, or fail, or be cut.
func (w *TagWrites) Interrupted() int {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.interrupted
}

// TagWriteError marks the error of a tag write whose request may have
// reached the registry without its answer reaching us as ErrTagUnknown:
// Remote.PushManifest marks such errors when any attempt (not only the
// last, which a retry may have ended with a 503) broke or timed out after
// the connection was made. A write of tag (the manifest sent, by tag, not
// by its digest) that the registry accepted while answering with another
// Docker-Content-Digest moved the tag, to content other than the
// manifest sent as the registry reports it: that is ErrTagUnknown too,
// never "not moved", and says so. Other errors, a blob re-upload's among
// them, are returned as they are.
func TagWriteError(tag string, sent digest.Digest, err error) error {
	var so *storedOtherError
	if errors.As(err, &so) && tag != sent.String() {
		return &tagOtherError{tag: tag, sent: sent, stored: digest.Digest(so.stored), err: err}
	}
	var du *deliveryUnknown
	if !errors.As(err, &du) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrTagUnknown, err)
}

// tagOtherError is the error of a tag write the registry accepted (2xx)
// while answering with a Docker-Content-Digest other than the manifest
// sent: the tag moved, but maybe not to what was pushed. It is
// ErrTagUnknown to errors.Is (callers that sort tags into moved, may have
// moved and not moved count it with the second), and wraps the write's
// error (oci.ErrDigestMismatch).
type tagOtherError struct {
	tag          string
	sent, stored digest.Digest
	err          error
}

func (e *tagOtherError) Error() string {
	return fmt.Sprintf("tag %s moved, to content the registry reports as %s, not the pushed %s (it accepted the write and answered with that Docker-Content-Digest): the tag may point at something unexpected", e.tag, e.stored, e.sent)
}

func (e *tagOtherError) Is(target error) bool { return target == ErrTagUnknown }

func (e *tagOtherError) Unwrap() error { return e.err }

// deliveryUnknown is the error of a request that may have been acted on:
// an attempt reached the registry, or may have, and its answer was lost.
// Its text is the error's own.
type deliveryUnknown struct{ error }

func (e *deliveryUnknown) Unwrap() error { return e.error }

// deliveryKey is the context key of a request's delivery log.
type deliveryKey struct{}

// withDeliveryLog returns ctx with a flag that Retry sets when an attempt
// of a request sent with it failed in a way that may have reached the
// registry (maybeSent).
func withDeliveryLog(ctx context.Context) (context.Context, *atomic.Bool) {
	var b atomic.Bool
	return context.WithValue(ctx, deliveryKey{}, &b), &b
}

// noteAttempt records in ctx's delivery log, if it has one, an attempt
// that may have reached the registry without its answer reaching us: one
// that failed with err (maybeSent), or one a gateway answered 502 or 504
// (gatewayAnswer).
func noteAttempt(ctx context.Context, resp *http.Response, err error) {
	b, ok := ctx.Value(deliveryKey{}).(*atomic.Bool)
	if !ok {
		return
	}
	if err != nil && maybeSent(err) || err == nil && resp != nil && gatewayAnswer(resp.StatusCode) {
		b.Store(true)
	}
}

// gatewayAnswer reports whether status is a gateway's answer for a
// registry behind it that failed to answer in time or at all (502 Bad
// Gateway, 504 Gateway Timeout): the registry may have received the
// request and acted on it, as when a connection drops after sending.
func gatewayAnswer(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusGatewayTimeout
}

// maybeSent reports whether a request that failed with err, without a
// registry answer, may have been received. Not when the connection was
// never made: refused, unreachable, a dial timeout, a name that did not
// resolve, a TLS handshake that failed, TLS files that could not be read.
func maybeSent(err error) bool {
	var op *net.OpError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var alert tls.AlertError
	var record tls.RecordHeaderError
	var certs *certsError
	switch {
	case errors.As(err, &op) && op.Op == "dial",
		errors.As(err, &dnsErr), errors.As(err, &certErr), errors.As(err, &alert), errors.As(err, &record),
		errors.As(err, &certs), errors.Is(err, syscall.ECONNREFUSED):
		return false
	}
	var ue *url.Error
	return retryableErr(err) || isContextErr(err) || errors.As(err, &ue)
}
