package sbomgen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/affix-oci/affix/internal/tmpdir"
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

// TestReadError: what a failed layer read reports: the cancellation
// alone once the context is done, a full disk naming where the layers go,
// else the error as it came.
func TestReadError(t *testing.T) {
	dir := "/var/tmp/affix-sbom-123"
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	full := fmt.Errorf("unable to populate layer cache path=%q: %w", dir+"/1-sha256-abc", &os.PathError{Op: "write", Path: dir + "/x", Err: syscall.ENOSPC})
	other := errors.New("archive/tar: invalid tar header")
	for _, tt := range []struct {
		name string
		ctx  context.Context
		err  error
		is   error
		want string
	}{
		{"cancelled", cancelled, fmt.Errorf("unable to populate layer cache path=%q: %w", dir, context.Canceled), context.Canceled, "reading layers: context canceled"},
		{"full disk", t.Context(), full, syscall.ENOSPC, "reading layers: no space left for the uncompressed layers in /var/tmp (set TMPDIR"},
		{"other", t.Context(), other, other, "reading layers: archive/tar: invalid tar header"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := readError(tt.ctx, tt.err, dir, nil)
			if !errors.Is(err, tt.is) || !strings.HasPrefix(err.Error(), tt.want) || tt.name != "other" && strings.Contains(err.Error(), dir) {
				t.Errorf("readError = %v, want %v and %q, without %s", err, tt.is, tt.want, dir)
			}
		})
	}
}

// TestSbomSweepsAbandonedScanDirs checks that a scan removes what a scan
// killed earlier (SIGKILL, a CI timeout) left in the temporary directory:
// an unpacked image in an affix-sbom- directory no process holds.
func TestSbomSweepsAbandonedScanDirs(t *testing.T) {
	dir, res := standard(t)
	tmp := t.TempDir()
	abandoned := filepath.Join(tmp, "affix-sbom-1234")
	if err := os.MkdirAll(filepath.Join(abandoned, "layer"), 0o700); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-2 * tmpdir.Grace)
	if err := os.Chtimes(abandoned, past, past); err != nil {
		t.Fatal(err)
	}
	if _, err := newGen(t, Options{TempDir: tmp}).Image(t.Context(), openLayout(t, dir), res.Manifests[0]); err != nil {
		t.Fatal(err)
	}
	emptyDir(t, tmp)
}
