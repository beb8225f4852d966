package exporter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"
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
// releases everything, the grace timer included.
func CommitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	grace := commitGrace
	stop := context.AfterFunc(ctx, func() {
		// The grace timer ends with the write's context, whichever
		// comes first.
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(tctx, func() { t.Stop() })
	})
	return tctx, func() { stop(); cancel() }
}

// TagWriteError marks the error of a tag write whose request may have
// reached the registry without its answer reaching us as ErrTagUnknown:
// Remote.PushManifest marks such errors when any attempt (not only the
// last, which a retry may have ended with a 503) broke or timed out after
// the connection was made. Other errors, a blob re-upload's among them,
// are returned as they are.
func TagWriteError(err error) error {
	var du *deliveryUnknown
	if !errors.As(err, &du) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrTagUnknown, err)
}

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
// that failed with err.
func noteAttempt(ctx context.Context, err error) {
	if b, ok := ctx.Value(deliveryKey{}).(*atomic.Bool); ok && err != nil && maybeSent(err) {
		b.Store(true)
	}
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
