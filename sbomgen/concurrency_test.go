package sbomgen

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// slowLayers is a Fetcher whose layer blobs start late and that counts the
// layer readers open at once. With want set, a layer read waits (up to 10
// s) until want readers have been open at once, rather than for a fixed
// time: on a loaded machine a scan that starts late still overlaps the
// others.
type slowLayers struct {
	oci.Fetcher
	want       int
	mu         sync.Mutex
	open, peak int
	reached    chan struct{} // closed when peak reaches want
}

func (s *slowLayers) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if !strings.Contains(d.MediaType, "layer") {
		return s.Fetcher.Fetch(ctx, d)
	}
	s.mu.Lock()
	s.open++
	s.peak = max(s.peak, s.open)
	if s.want > 0 && s.reached == nil {
		s.reached = make(chan struct{})
	}
	if s.want > 0 && s.peak >= s.want {
		select {
		case <-s.reached:
		default:
			close(s.reached)
		}
	}
	reached := s.reached
	s.mu.Unlock()
	if reached == nil {
		time.Sleep(100 * time.Millisecond)
	} else {
		select {
		case <-reached:
		case <-time.After(10 * time.Second):
		}
	}
	rc, err := s.Fetcher.Fetch(ctx, d)
	if err != nil {
		s.closed()
		return nil, err
	}
	return &countedReader{ReadCloser: rc, done: s.closed}, nil
}

func (s *slowLayers) closed() {
	s.mu.Lock()
	s.open--
	s.mu.Unlock()
}

type countedReader struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (c *countedReader) Close() error {
	c.once.Do(c.done)
	return c.ReadCloser.Close()
}

// TestSbomConcurrency scans the four platform images of the Variants
// fixture with Images: no more images are read at once than
// Options.Concurrency allows, and as many as it allows.
func TestSbomConcurrency(t *testing.T) {
	dir, res := variants(t)
	for _, n := range []int{1, 2, 4} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := &slowLayers{Fetcher: openLayout(t, dir), want: n}
			results, err := newGen(t, Options{Concurrency: n}).Images(context.Background(), f, res.Manifests)
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != len(res.Manifests) {
				t.Fatalf("%d results for %d images", len(results), len(res.Manifests))
			}
			if f.open != 0 {
				t.Errorf("%d layer readers left open", f.open)
			}
			if f.peak != n {
				t.Errorf("%d layers read at once, want %d (Concurrency)", f.peak, n)
			}
		})
	}
}
