//go:build unix

package cli

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
)

// TestSignalContext: the first signal cancels the context with a cause
// naming it and is reported; stop ends the listening.
func TestSignalContext(t *testing.T) {
	ctx, got, stop := signalContext(context.Background(), syscall.SIGUSR1)
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
	ctx, _, stop2 := signalContext(context.Background(), syscall.SIGUSR2)
	stop2()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("after stop: %v", ctx.Err())
	}
}
