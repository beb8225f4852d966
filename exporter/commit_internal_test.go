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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/affix-oci/affix/internal/oci"
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
		if got := errors.Is(TagWriteError("v1", digest.FromString("index"), err), ErrTagUnknown); got != tc.want {
			t.Errorf("%s: TagWriteError is ErrTagUnknown %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestTagWriteStoredOther: a write the registry accepted while naming
// another digest moved the tag: by tag it is ErrTagUnknown (never "not
// moved") and says where the tag points, with the mismatch still there;
// by digest (no tag) it stays the plain mismatch. A lost answer after
// it does not hide it.
func TestTagWriteStoredOther(t *testing.T) {
	sent, stored := digest.FromString("index"), digest.FromString("other")
	so := &storedOtherError{error: fmt.Errorf("r/app: pushing manifest %s: registry stored %s: %w", sent, stored, oci.ErrDigestMismatch), stored: stored.String()}
	for _, tc := range []struct {
		name    string
		ref     string
		err     error
		unknown bool
	}{
		{"by tag", "v1", so, true},
		{"by tag, an earlier attempt's answer lost", "v1", &deliveryUnknown{so}, true},
		{"by digest", sent.String(), so, false},
	} {
		err := TagWriteError(tc.ref, sent, tc.err)
		if errors.Is(err, ErrTagUnknown) != tc.unknown || !errors.Is(err, oci.ErrDigestMismatch) {
			t.Errorf("%s: %v: ErrTagUnknown %v (want %v), ErrDigestMismatch %v", tc.name, err, errors.Is(err, ErrTagUnknown), tc.unknown, errors.Is(err, oci.ErrDigestMismatch))
		}
		if !tc.unknown {
			continue
		}
		msg := err.Error()
		if want := "tag v1 moved, to content the registry reports as " + stored.String() + ", not the pushed " + sent.String(); !strings.Contains(msg, want) || strings.Contains(msg, "not moved") || strings.Contains(msg, "no answer") {
			t.Errorf("%s: %q, want it to say %q", tc.name, msg, want)
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
	if c := context.Cause(tctx); c == nil || !strings.Contains(c.Error(), "no answer 50ms after the interrupt") {
		t.Errorf("cause %v, want it to say the grace was up", c)
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

// TestTagWrites: a TagWrites in the context knows the tag writes under
// way: Cut ends them at once, with its cause, and those started after;
// Interrupted counts the writes that went on after their context ended.
// Without one, CommitContext is as before.
func TestTagWrites(t *testing.T) {
	defer func(d time.Duration) { commitGrace = d }(commitGrace)
	commitGrace = time.Hour

	var w TagWrites
	ctx, interrupt := context.WithCancel(WithTagWrites(context.Background(), &w))
	// One write ends before the interrupt, one goes on after it.
	_, release := CommitContext(ctx)
	release()
	tctx, release := CommitContext(ctx)
	interrupt()
	if tctx.Err() != nil {
		t.Fatal("the tag write's context ended with the interrupt")
	}
	cause := errors.New("second interrupt")
	if n := w.Cut(cause); n != 1 {
		t.Errorf("Cut ended %d writes, want 1", n)
	}
	if !errors.Is(context.Cause(tctx), cause) {
		t.Errorf("cut write's cause %v, want %v", context.Cause(tctx), cause)
	}
	release()
	if n := w.Interrupted(); n != 1 {
		t.Errorf("Interrupted = %d, want 1", n)
	}
	// A write that starts after Cut ends as it starts.
	late, release := CommitContext(ctx)
	if !errors.Is(context.Cause(late), cause) {
		t.Errorf("write started after Cut: cause %v", context.Cause(late))
	}
	release()
	if n := w.Cut(cause); n != 0 {
		t.Errorf("second Cut ended %d writes, want 0", n)
	}

	// Nothing under way: Cut ends nothing.
	var idle TagWrites
	if n := idle.Cut(cause); n != 0 {
		t.Errorf("Cut with no write ended %d", n)
	}
	// No TagWrites (and a nil one): nothing counted, nothing cut.
	var none *TagWrites
	for _, c := range []context.Context{context.Background(), WithTagWrites(context.Background(), nil)} {
		tctx, release := CommitContext(c)
		if none.Cut(cause) != 0 || none.Interrupted() != 0 || tctx.Err() != nil {
			t.Error("a nil TagWrites knows of a write")
		}
		release()
	}
}

// TestRetryableErr: a connection reset, closed early (io.EOF, or
// net.ErrClosed when the transport closed it under a request body it
// was writing) or timed out is worth another attempt; a cancellation,
// a refused TLS handshake or any other error is not.
func TestRetryableErr(t *testing.T) {
	put := func(err error) error {
		return &url.Error{Op: "Put", URL: "https://r.example/v2/app/blobs/uploads/x", Err: err}
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"reset", put(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), true},
		{"broken pipe", put(&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}), true},
		{"closed under the body", put(&net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}), true},
		{"closed before the answer", put(io.EOF), true},
		{"read timeout", put(&net.OpError{Op: "read", Net: "tcp", Err: &timeoutErr{}}), true},
		{"cancelled", put(context.Canceled), false},
		{"deadline", put(context.DeadlineExceeded), false},
		{"untrusted certificate", put(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), false},
		{"other", errors.New("boom"), false},
	} {
		if got := retryableErr(tc.err); got != tc.want {
			t.Errorf("%s: retryableErr = %v, want %v", tc.name, got, tc.want)
		}
	}
}
