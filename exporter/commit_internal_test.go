package exporter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestMaybeSent: only a failure after the connection was made may have
// delivered a request; one that never connected, or never finished its
// handshake, did not, and its tag write is no ErrTagUnknown.
func TestMaybeSent(t *testing.T) {
	put := func(err error) error {
		return &url.Error{Op: "Put", URL: "https://r.example/v2/app/manifests/v1", Err: err}
	}
	dial := func(err error) error { return put(&net.OpError{Op: "dial", Net: "tcp", Err: err}) }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), false},
		{"host unreachable", dial(os.NewSyscallError("connect", syscall.EHOSTUNREACH)), false},
		{"dial timeout", dial(&timeoutErr{}), false},
		{"no such host", put(&net.DNSError{Err: "no such host", Name: "r.example", IsNotFound: true}), false},
		{"untrusted certificate", put(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), false},
		{"handshake alert", put(tls.AlertError(42)), false},
		{"not TLS", put(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), false},
		{"certs.d unreadable", put(&certsError{errors.New("registry r.example: ca.crt: no PEM certificate in it")}), false},
		{"reset after sending", put(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), true},
		{"closed before the answer", put(io.EOF), true},
		{"read timeout", put(&net.OpError{Op: "read", Net: "tcp", Err: &timeoutErr{}}), true},
		{"cancelled while waiting", put(context.Canceled), true},
	} {
		if got := maybeSent(tc.err); got != tc.want {
			t.Errorf("%s: maybeSent = %v, want %v", tc.name, got, tc.want)
		}
		// TagWriteError follows what PushManifest marked.
		var err error = fmt.Errorf("pushing: %w", tc.err)
		if tc.want {
			err = &deliveryUnknown{err}
		}
		if got := errors.Is(TagWriteError(err), ErrTagUnknown); got != tc.want {
			t.Errorf("%s: TagWriteError is ErrTagUnknown %v, want %v", tc.name, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (*timeoutErr) Error() string   { return "i/o timeout" }
func (*timeoutErr) Timeout() bool   { return true }
func (*timeoutErr) Temporary() bool { return true }

// TestCommitContextGrace: a tag write's context outlives an interrupt by
// the grace, and ends when released.
func TestCommitContextGrace(t *testing.T) {
	defer func(d time.Duration) { commitGrace = d }(commitGrace)
	commitGrace = 50 * time.Millisecond

	ctx, interrupt := context.WithCancel(context.Background())
	tctx, release := CommitContext(ctx)
	interrupt()
	if tctx.Err() != nil {
		t.Fatal("the tag write's context ended with the interrupt")
	}
	select {
	case <-tctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the tag write's context outlived the grace")
	}
	release()

	// Released before the grace: the context ends at once.
	commitGrace = time.Hour
	ctx, interrupt = context.WithCancel(context.Background())
	tctx, release = CommitContext(ctx)
	interrupt()
	release()
	select {
	case <-tctx.Done():
	default:
		t.Error("a released tag write's context did not end")
	}
}
