//go:build unix

package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/affix-oci/affix/exporter"
)

// TestSignalContext: the first signal cancels the context with a cause
// naming it and is reported; stop ends the listening.
func TestSignalContext(t *testing.T) {
	ctx, got, stop := signalContext(context.Background(), nil, syscall.SIGUSR1)
	defer stop()
	if got() != nil {
		t.Fatalf("signal %v before any", got())
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	if got() != syscall.SIGUSR1 || context.Cause(ctx).Error() != "user defined signal 1 signal received" {
		t.Errorf("signal %v, cause %v", got(), context.Cause(ctx))
	}
	ctx, _, stop2 := signalContext(context.Background(), nil, syscall.SIGUSR2)
	stop2()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("after stop: %v", ctx.Err())
	}
}

// TestSecondSignal: a second signal while a tag write the first let go
// on is under way cuts it short, saying so; with no tag write under way
// it gets the default action (raise), as before affix listened for it.
// Either way it is the signal reported: the command ends as by it.
func TestSecondSignal(t *testing.T) {
	defer func(f func(os.Signal)) { raise = f }(raise)
	for _, tc := range []struct {
		name          string
		first, second syscall.Signal
		writing       bool
		cause         string // of the cut write
	}{
		{name: "same signal, tag write", first: syscall.SIGUSR1, second: syscall.SIGUSR1, writing: true,
			cause: "user defined signal 1 signal received twice: the tag write was cut short"},
		{name: "another signal, tag write", first: syscall.SIGUSR1, second: syscall.SIGUSR2, writing: true,
			cause: "user defined signal 1 signal received, then user defined signal 2: the tag write was cut short"},
		{name: "no tag write", first: syscall.SIGUSR1, second: syscall.SIGUSR2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raised := make(chan os.Signal, 1)
			raise = func(s os.Signal) { raised <- s }
			writes := &exporter.TagWrites{}
			ctx, got, stop := signalContext(context.Background(), writes, syscall.SIGUSR1, syscall.SIGUSR2)
			defer stop()
			tctx := context.Background()
			if tc.writing {
				var release context.CancelFunc
				tctx, release = exporter.CommitContext(ctx)
				defer release()
			}
			if err := syscall.Kill(os.Getpid(), tc.first); err != nil {
				t.Fatal(err)
			}
			<-ctx.Done()
			if tctx.Err() != nil {
				t.Fatal("the first signal ended the tag write")
			}
			if err := syscall.Kill(os.Getpid(), tc.second); err != nil {
				t.Fatal(err)
			}
			if !tc.writing {
				if s := <-raised; s != tc.second || got() != tc.second {
					t.Errorf("raised %v, reported %v; want %v for both", s, got(), tc.second)
				}
				return
			}
			<-tctx.Done()
			if c := context.Cause(tctx); c == nil || c.Error() != tc.cause {
				t.Errorf("cut write's cause %v, want %q", c, tc.cause)
			}
			if got() != tc.second {
				t.Errorf("reported %v, want %v", got(), tc.second)
			}
			select {
			case s := <-raised:
				t.Errorf("raised %v while a tag write was under way", s)
			default:
			}
		})
	}
}

// TestPipeStreams: a write that finds the reader gone cancels the command
// with errOutputClosed (instead of SIGPIPE ending the process before any
// clean-up), through a pipeWriter as through watchPipe, which keeps a file
// a file (the progress display draws on a terminal only through one).
func TestPipeStreams(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(*os.File, *atomic.Bool, context.CancelCauseFunc) io.Writer
		file bool
	}{
		{"pipeWriter", func(f *os.File, b *atomic.Bool, c context.CancelCauseFunc) io.Writer {
			return pipeWriter{w: f, broken: b, cancel: c}
		}, false},
		{"watchPipe", func(f *os.File, b *atomic.Bool, c context.CancelCauseFunc) io.Writer {
			return watchPipe(f, b, c)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			ctx, cancel := context.WithCancelCause(context.Background())
			var broken atomic.Bool
			out := tc.wrap(w, &broken, cancel)
			if _, ok := out.(interface {
				Fd() uintptr
				Name() string
				Read([]byte) (int, error)
				Close() error
			}); ok != tc.file {
				t.Errorf("%T is a file: %v, want %v", out, ok, tc.file)
			}
			if _, err := out.Write([]byte("read\n")); err != nil || broken.Load() || ctx.Err() != nil {
				t.Fatalf("write with a reader: %v, broken %v, ctx %v", err, broken.Load(), ctx.Err())
			}
			r.Close()
			if _, err := out.Write([]byte("gone\n")); !errors.Is(err, syscall.EPIPE) || !broken.Load() || !errors.Is(context.Cause(ctx), errOutputClosed) {
				t.Errorf("write without a reader: %v, broken %v, cause %v; want EPIPE and errOutputClosed", err, broken.Load(), context.Cause(ctx))
			}
		})
	}
}

// epipeWriter fails every write as a pipe without a reader does.
type epipeWriter struct{}

func (epipeWriter) Write([]byte) (int, error) { return 0, syscall.EPIPE }

// TestRunBrokenPipe: a command whose output stream lost its reader exits
// 141, as one killed by SIGPIPE would, without an error line; a failing
// command whose stderr is fine still says why.
func TestRunBrokenPipe(t *testing.T) {
	var errs strings.Builder
	if code := Run(context.Background(), "affix", []string{"version"}, epipeWriter{}, &errs); code != 141 || errs.Len() != 0 {
		t.Errorf("version to a closed stdout: exit %d, stderr %q; want 141 and nothing", code, errs.String())
	}
	errs.Reset()
	empty := t.TempDir()
	if code := Run(context.Background(), "affix", []string{"sbom", "oci-layout:" + empty}, epipeWriter{}, &errs); code != 1 || !strings.Contains(errs.String(), empty) {
		t.Errorf("failing sbom, stdout closed: exit %d, stderr %q; want 1 and the error", code, errs.String())
	}
}
