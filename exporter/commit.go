package exporter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"
)

// CommitGrace is how long a tag write may go on after the push's context
// ended (an interrupt): enough for the one PUT it is, so that whether the
// tag moved is known, and bounded so that a registry that stops answering
// does not hold the process.
const CommitGrace = 30 * time.Second

// CommitContext returns the context of a tag write: ctx's values, not
// cancelled when ctx is but CommitGrace after. Once every SBOM is in, the
// tag write is the push's commit point; cutting it short would leave the
// tag's state unknown. Push.Commit and Push.Tag write through it; so
// should any other tag write that ends a publication.
func CommitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(CommitGrace, cancel) })
	return tctx, func() { stop(); cancel() }
}

// TagWriteError marks the error of a tag write whose request may have
// reached the registry without its answer reaching us as ErrTagUnknown: no
// status, and a connection that broke or timed out rather than one never
// made. Other errors are returned as they are.
func TagWriteError(err error) error {
	if status(err) != 0 || !maybeSent(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrTagUnknown, err)
}

// maybeSent reports whether a request that failed with err (and no
// registry answer) may have been received: not when the connection was
// refused, the name did not resolve or the certificate was refused.
func maybeSent(err error) bool {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr) || errors.As(err, &certErr) {
		return false
	}
	var ue *url.Error
	return retryableErr(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &ue)
}
