package sbomgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
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
// running out of file descriptors with the layer count and the limit,
// else the error as it came.
func TestReadError(t *testing.T) {
	dir := "/var/tmp/affix-sbom-123"
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	full := fmt.Errorf("unable to populate layer cache path=%q: %w", dir+"/1-sha256-abc", &os.PathError{Op: "write", Path: dir + "/x", Err: syscall.ENOSPC})
	other := errors.New("archive/tar: invalid tar header")
	noFiles := fmt.Errorf("failed to index layer 1: failed to read layer=%q tar : %w", "sha256:abc", &os.PathError{Op: "open", Path: dir + "/1-sha256-abc", Err: syscall.EMFILE})
	layers := []ocispec.Descriptor{{Digest: "sha256:aaa"}, {Digest: "sha256:bbb"}}
	for _, tt := range []struct {
		name    string
		ctx     context.Context
		err     error
		is      error
		want    []string // the first a prefix
		withDir bool     // the error may name dir
	}{
		{"cancelled", cancelled, fmt.Errorf("unable to populate layer cache path=%q: %w", dir, context.Canceled), context.Canceled, []string{"reading layers: context canceled"}, false},
		{"full disk", t.Context(), full, syscall.ENOSPC, []string{"reading layers: no space left for the uncompressed layers in /var/tmp (set TMPDIR"}, false},
		{"out of files", t.Context(), noFiles, syscall.EMFILE, []string{
			"too many open files: the scan of an image keeps a file open per layer until it ends, and this image has 2 layers; ",
			"raise the limit, for example to ",
			": reading layers: layer 1 (sha256:bbb): failed to index layer 1: ",
		}, true},
		{"other", t.Context(), other, other, []string{"reading layers: archive/tar: invalid tar header"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := readError(tt.ctx, tt.err, dir, layers)
			if !errors.Is(err, tt.is) || !strings.HasPrefix(err.Error(), tt.want[0]) || !tt.withDir && strings.Contains(err.Error(), dir) {
				t.Errorf("readError = %v, want %v and %q, without %s", err, tt.is, tt.want[0], dir)
			}
			for _, w := range tt.want[1:] {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("readError = %v, want it to say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "tar archive") {
				t.Errorf("readError = %v: says the layer is no tar archive", err)
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

// eofCancelingFetcher cancels a context after a layer has been read to
// its end: at once, stereoscope has unpacked it; some time later, it
// is indexing it.
type eofCancelingFetcher struct {
	oci.Fetcher
	cancel func()
	after  time.Duration
}

func (f eofCancelingFetcher) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := f.Fetcher.Fetch(ctx, d)
	if err != nil || d.MediaType != ocispec.MediaTypeImageLayerGzip {
		return rc, err
	}
	return &eofCanceling{ReadCloser: rc, f: f}, nil
}

type eofCanceling struct {
	io.ReadCloser
	f    eofCancelingFetcher
	once sync.Once
}

func (r *eofCanceling) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err == io.EOF {
		r.once.Do(func() { time.AfterFunc(r.f.after, r.f.cancel) })
	}
	return n, err
}

// manyFilesImage writes an image whose one layer holds n small files
// beside a dpkg database.
func manyFilesImage(t testing.TB, n int) (*oci.Layout, ocispec.Descriptor) {
	layer := fixture.Layer{
		{Path: "etc/os-release", Data: []byte(fixture.DebianOSRelease)},
		{Path: "var/lib/dpkg/status", Data: []byte("Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\nDescription: libc\n\n")},
	}
	for i := range n {
		layer = append(layer, fixture.File{Path: fmt.Sprintf("many/%d/%d.txt", i/1000, i), Data: []byte(strconv.Itoa(i))})
	}
	dir, res := writeLayout(t, fixture.Spec{Images: []fixture.Image{{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Layers: []fixture.Layer{layer}}}})
	return openLayout(t, dir), res.Manifests[0]
}

// TestScanCanceledWhileIndexing: a scan cancelled once its layer is
// unpacked, or a little later, while stereoscope indexes it (which looks
// at no context; readCancelable ends it), returns the cancellation,
// never an SBOM of the part indexed, and leaves nothing in TempDir.
func TestScanCanceledWhileIndexing(t *testing.T) {
	l, m := manyFilesImage(t, 20000)
	for _, after := range []time.Duration{0, 20 * time.Millisecond, 100 * time.Millisecond} {
		t.Run(after.String(), func(t *testing.T) {
			tmp := t.TempDir()
			g := newGen(t, Options{TempDir: tmp, NoCache: true})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			docs, err := g.Image(ctx, eofCancelingFetcher{l, cancel, after}, m)
			if !errors.Is(err, context.Canceled) || docs != nil {
				t.Errorf("Image cancelled %s after the unpack = %v, %v; want context.Canceled and nothing", after, docs, err)
			}
			emptyDir(t, tmp)
		})
	}
}

// BenchmarkScanCanceledWhileIndexing compares the scan of an image of
// 200,000 small files in one layer with the same scan cancelled 100 ms
// after its layer is unpacked, while stereoscope indexes it: the
// cancelled scan ends soon after, rather than when the index is built.
func BenchmarkScanCanceledWhileIndexing(b *testing.B) {
	l, m := manyFilesImage(b, 200000)
	g := newGen(b, Options{NoCache: true})
	b.Run("whole", func(b *testing.B) {
		for b.Loop() {
			if _, err := g.Image(b.Context(), l, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("canceled", func(b *testing.B) {
		for b.Loop() {
			ctx, cancel := context.WithCancel(b.Context())
			if _, err := g.Image(ctx, eofCancelingFetcher{l, cancel, 100 * time.Millisecond}, m); !errors.Is(err, context.Canceled) {
				b.Fatal(err)
			}
			cancel()
		}
	})
}
