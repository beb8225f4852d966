package sbomgen

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

type ctxKey struct{}

// TestLazyContext: the build runs once, in the background, whoever starts
// it; a waiter whose context ends stops waiting while the build goes on,
// and a later waiter gets the result.
func TestLazyContext(t *testing.T) {
	release := make(chan struct{})
	var builds atomic.Int32
	l := &lazyContext{build: func() (context.Context, error) {
		builds.Add(1)
		<-release
		return context.WithValue(context.Background(), ctxKey{}, "built"), nil
	}}
	l.start()
	l.start()

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, err := l.wait(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with its context cancelled during the build: %v, want context.Canceled", err)
	}
	if _, err := l.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context: %v", err)
	}

	close(release)
	got, err := l.wait(t.Context())
	if err != nil || got.Value(ctxKey{}) != "built" {
		t.Fatalf("wait after the build: %v, %v", got, err)
	}
	if n := builds.Load(); n != 1 {
		t.Errorf("built %d times, want once", n)
	}
}

// TestLazyContextError: the build's error is every waiter's.
func TestLazyContextError(t *testing.T) {
	boom := errors.New("boom")
	l := &lazyContext{build: func() (context.Context, error) { return nil, boom }}
	for range 2 {
		if _, err := l.wait(t.Context()); !errors.Is(err, boom) {
			t.Errorf("wait: %v, want %v", err, boom)
		}
	}
}
