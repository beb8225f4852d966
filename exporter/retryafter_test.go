package exporter_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestRetryAfter: a Retry-After that fits in the time budget is waited in
// full, past MaxWait, for a manifest (the transport retries it) as for a
// blob upload (the Remote restarts it); one that does not fit ends the
// request at once, with an error naming the wait. Budgets are seconds, so
// the counts tell: a wait capped at MaxWait (1ms) would retry until the
// attempts ran out.
func TestRetryAfter(t *testing.T) {
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	blob := []byte("retry-after test blob")
	blobDesc := oci.DescriptorFor("application/octet-stream", blob)
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	indexDesc := oci.DescriptorFor(ocispec.MediaTypeImageIndex, index)
	pushManifest := func(ctx context.Context, r *exporter.Remote) error {
		_, err := r.PushManifest(ctx, indexDesc, index, "v1", "")
		return err
	}
	pushBlob := func(ctx context.Context, r *exporter.Remote) error {
		return r.PushBlob(ctx, blobDesc, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(blob)), nil })
	}
	exists := func(ctx context.Context, r *exporter.Remote) error {
		_, err := r.Exists(ctx, blobDesc)
		return err
	}
	for i, tc := range []struct {
		name       string
		fault      registrytest.Fault
		maxElapsed time.Duration // of the transport and of blob restarts
		op         func(context.Context, *exporter.Remote) error
		wantErr    string // "" for success
		// requests of the fault's method: at most max, at least min
		min, max   int
		minElapsed time.Duration
	}{
		{"manifest PUT, fits", registrytest.Fault{Method: "PUT", Path: "/manifests/", Action: registrytest.TooManyRequests, RetryAfter: "1", Times: 1},
			10 * time.Second, pushManifest, "", 2, 2, time.Second},
		{"manifest PUT, fits then not", registrytest.Fault{Method: "PUT", Path: "/manifests/", Action: registrytest.TooManyRequests, RetryAfter: "1"},
			1500 * time.Millisecond, pushManifest, "registry asked to retry after 1s", 1, 2, 0},
		{"manifest PUT, too long", registrytest.Fault{Method: "PUT", Path: "/manifests/", Action: registrytest.TooManyRequests, RetryAfter: "60"},
			2 * time.Second, pushManifest, "registry asked to retry after 60s", 1, 1, 0},
		// Seconds past what a Duration holds once wrapped to a negative
		// wait, retried at once until the attempts ran out.
		{"manifest PUT, longer than a Duration", registrytest.Fault{Method: "PUT", Path: "/manifests/", Action: registrytest.TooManyRequests, RetryAfter: "9227000000"},
			2 * time.Second, pushManifest, "registry asked to retry after", 1, 1, 0},
		{"blob HEAD, too long", registrytest.Fault{Method: "HEAD", Path: "/blobs/", Action: registrytest.TooManyRequests, RetryAfter: "60"},
			2 * time.Second, exists, "registry asked to retry after 60s", 1, 1, 0},
		{"blob POST, too long", registrytest.Fault{Method: "POST", Path: "/blobs/uploads/", Action: registrytest.TooManyRequests, RetryAfter: "60"},
			2 * time.Second, pushBlob, "registry asked to retry after 60s", 1, 1, 0},
		{"blob PUT, fits", registrytest.Fault{Method: "PUT", Path: "/blobs/uploads/", Action: registrytest.TooManyRequests, RetryAfter: "2", Times: 1},
			10 * time.Second, pushBlob, "", 2, 2, 2 * time.Second},
		{"blob PUT, longer than a Duration", registrytest.Fault{Method: "PUT", Path: "/blobs/uploads/", Action: registrytest.TooManyRequests, RetryAfter: "18446744074"},
			2 * time.Second, pushBlob, "registry asked to retry after", 1, 1, 0},
		{"blob PUT, too long", registrytest.Fault{Method: "PUT", Path: "/blobs/uploads/", Action: registrytest.TooManyRequests, RetryAfter: "60"},
			2 * time.Second, pushBlob, "registry asked to retry after 60s", 1, 1, 0},
	} {
		repo := fmt.Sprintf("app%d", i)
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proxy := registrytest.StartProxy(t, reg.Host)
			proxy.Inject(tc.fault)
			counter := &exporter.Counter{}
			c := &auth.Client{
				Client: &http.Client{Transport: &exporter.Retry{Base: counter, Attempts: 10, MinWait: time.Millisecond, MaxWait: time.Millisecond, MaxElapsed: tc.maxElapsed}},
				Cache:  auth.NewCache(),
			}
			r, err := exporter.NewRemote(registry.Reference{Registry: proxy.Host, Repository: repo},
				exporter.RemoteOptions{Client: c, PlainHTTP: true, MaxElapsed: tc.maxElapsed})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = tc.op(context.Background(), r)
			elapsed := time.Since(start)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
			}
			t.Logf("err = %v", err)
			if n := counter.Counts()[tc.fault.Method]; n < tc.min || n > tc.max {
				t.Errorf("%d %s requests, want %d to %d", n, tc.fault.Method, tc.min, tc.max)
			}
			// A lower bound only: a loaded machine waits longer, never less.
			if elapsed < tc.minElapsed {
				t.Errorf("took %v, less than the Retry-After of %v", elapsed, tc.minElapsed)
			}
		})
	}
}

// TestResponseErrorRetryAfter: the message of a 429 names the wait the
// registry asked for, in whole seconds.
func TestResponseErrorRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		err  exporter.ResponseError
		want string
	}{
		{exporter.ResponseError{Method: "PUT", URL: "u", StatusCode: 429}, "PUT u: 429 Too Many Requests"},
		{exporter.ResponseError{Method: "PUT", URL: "u", StatusCode: 429, RetryAfter: time.Minute}, "PUT u: 429 Too Many Requests (registry asked to retry after 60s)"},
		{exporter.ResponseError{Method: "GET", URL: "u", StatusCode: 503, Detail: "busy", RetryAfter: 1500 * time.Millisecond}, "GET u: 503 Service Unavailable: busy (registry asked to retry after 2s)"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%s, want %s", got, tc.want)
		}
	}
}
