package exporter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestMaxConcurrency pushes an image of 8 blobs through a proxy that holds
// every blob upload for a while, so that uploads overlap as much as the
// pusher lets them: the most requests in flight at once never exceeds
// MaxConcurrency, and reaches it.
func TestMaxConcurrency(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	spec := fixture.Spec{Images: []fixture.Image{{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}}}}
	for i := range 7 {
		spec.Images[0].Layers = append(spec.Images[0].Layers, fixture.Layer{{Path: fmt.Sprintf("layer%d", i), Data: []byte(fmt.Sprint(i))}})
	}
	l, res := source(t, spec)
	for _, limit := range []int{1, 2, 4} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			proxy := registrytest.StartProxy(t, reg.Host)
			proxy.Inject(registrytest.Fault{Method: http.MethodPut, Path: "/blobs/uploads/", Action: registrytest.Slow, Delay: 150 * time.Millisecond})
			c, _ := client(nil)
			p := exporter.New(target(t, proxy.Host, fmt.Sprintf("app%d", limit), c), &exporter.Image{Source: l, Root: res.Manifests[0]},
				exporter.Options{Tag: "v1", MaxConcurrency: limit})
			if err := p.Images(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if got := proxy.PeakInFlight(); got != limit {
				t.Errorf("%d requests in flight at most, want %d (MaxConcurrency)", got, limit)
			}
		})
	}
}

// blobUnknownOnce is a transport in front of a registry that answers the
// first PUT of each manifest by digest with 400 BLOB_UNKNOWN, as
// distribution does when it loses a blob for a moment, and forwards every
// other request.
type blobUnknownOnce struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen map[string]bool
}

func (b *blobUnknownOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/sha256:") {
		b.mu.Lock()
		first := !b.seen[req.URL.Path]
		b.seen[req.URL.Path] = true
		b.mu.Unlock()
		if first {
			if req.Body != nil {
				io.Copy(io.Discard, req.Body)
				req.Body.Close()
			}
			body := `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}`
			return &http.Response{
				StatusCode: http.StatusBadRequest, Status: "400 Bad Request",
				Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header:        http.Header{"Content-Type": {"application/json"}},
				Body:          io.NopCloser(strings.NewReader(body)),
				ContentLength: int64(len(body)),
				Request:       req,
			}, nil
		}
	}
	return b.base.RoundTrip(req)
}

// TestBlobUnknownConcurrency: when the registry answers every manifest's
// first PUT with BLOB_UNKNOWN, each manifest checks its blobs again while
// the others wait for their turn; with one slot, or as many slots as
// manifests, the push completes (it used to deadlock: every slot held by a
// manifest waiting for a slot to check its blobs).
func TestBlobUnknownConcurrency(t *testing.T) {
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	l, res := source(t, twoPlatforms(true)) // 2 platform and 2 attestation manifests
	for _, limit := range []int{1, 4} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			// A regression fails at the deadline instead of hanging.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			fault := &blobUnknownOnce{base: exporter.NewTransport(0), seen: map[string]bool{}}
			c := exporter.NewClient(nil, &exporter.Counter{Base: fault})
			got, err := pushAll(ctx, target(t, reg.Host, fmt.Sprintf("app%d", limit), c), l, res, exporter.Options{Tag: "v1", MaxConcurrency: limit})
			if err != nil {
				t.Fatalf("push: %v", err)
			}
			if len(fault.seen) < 4 {
				t.Errorf("%d manifests answered BLOB_UNKNOWN, want at least 4", len(fault.seen))
			}
			if d := resolve(t, reg.Host, fmt.Sprintf("app%d", limit), "v1"); d != got.Root.Digest {
				t.Fatalf("tag %s, want %s", d, got.Root.Digest)
			}
		})
	}
}

// TestSharedBlobCancelled: two Attach calls with their own contexts share
// the upload of the empty config. When the first is cancelled during that
// upload, the second, whose context is live, uploads the blob itself and
// completes instead of failing with the first one's cancellation; when
// both are cancelled, both fail.
func TestSharedBlobCancelled(t *testing.T) {
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 7}
	artifact := func(i int) exporter.Artifact {
		return exporter.Artifact{Subject: subject, ArtifactType: "application/vnd.affix.test", Blobs: []exporter.Blob{{Data: fmt.Appendf(nil, "artifact %d", i)}}}
	}
	for _, tc := range []struct {
		name           string
		cancelBoth     bool
		wantSecondErr  bool
		wantEmptyCalls int
	}{
		{"second live", false, false, 2},
		{"both cancelled", true, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tgt := newMemTarget()
				tgt.block = exporter.EmptyConfig.Digest
				p := exporter.New(tgt, nil, exporter.Options{})
				ctx1, cancel1 := context.WithCancel(t.Context())
				ctx2, cancel2 := context.WithCancel(t.Context())
				defer cancel2()
				errs1, errs2 := make(chan error, 1), make(chan error, 1)
				go func() { _, err := p.Attach(ctx1, artifact(1)); errs1 <- err }()
				synctest.Wait() // the first uploads the empty config, blocked
				go func() { _, err := p.Attach(ctx2, artifact(2)); errs2 <- err }()
				synctest.Wait() // the second waits for that upload
				if tc.cancelBoth {
					cancel2()
				}
				cancel1()
				if err := <-errs1; !errors.Is(err, context.Canceled) {
					t.Errorf("first Attach: err = %v, want context.Canceled", err)
				}
				err := <-errs2
				if (err != nil) != tc.wantSecondErr {
					t.Errorf("second Attach: err = %v, want error %v", err, tc.wantSecondErr)
				}
				if n := tgt.uploads[exporter.EmptyConfig.Digest]; n != tc.wantEmptyCalls {
					t.Errorf("empty config uploaded %d times, want %d", n, tc.wantEmptyCalls)
				}
				if _, ok := tgt.blobs[exporter.EmptyConfig.Digest]; ok == tc.cancelBoth {
					t.Errorf("empty config stored: %v", ok)
				}
			})
		})
	}
}
