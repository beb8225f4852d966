package exporter_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestStalledRegistry: a registry that stops answering (no response to a
// request, or a response body that stops arriving) fails the request once
// the connection has been silent for the stall timeout, which the retries
// treat like a dropped connection: a push either completes or fails with
// a timeout, the tag unmoved, and a rerun completes. Without the timeout
// these pushes would never end.
func TestStalledRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out stall timeouts")
	}
	const stall = time.Second // long beside a loaded CI machine's slowest answer
	for _, c := range []struct {
		name     string
		fault    registrytest.Fault
		complete bool // the push completes (the fault passes), else fails
	}{
		{"tag PUT never answered", registrytest.Fault{Method: "PUT", Path: "/manifests/v1$", Action: registrytest.Hang}, false},
		{"blob upload answered late once", registrytest.Fault{Method: "PUT", Path: "/blobs/uploads/", Action: registrytest.Hang, Times: 1}, true},
		{"referrers tag body stalls once", registrytest.Fault{Method: "GET", Path: "/manifests/sha256-", Action: registrytest.Stall, Times: 1}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sc := newFaultScene(t, registrytest.OlaregNoAPI, false)
			stalling := exporter.NewClient(nil, &exporter.Counter{Base: exporter.NewTransport(stall)})
			sc.proxy.Inject(c.fault)
			got, tag, err := sc.push(t, stalling)
			switch {
			case c.complete && err != nil:
				t.Fatalf("push failed: %v", err)
			case c.complete && tag != got.Root.Digest:
				t.Fatalf("tag %s, want %s", tag, got.Root.Digest)
			case !c.complete:
				var ne net.Error
				if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
					t.Fatalf("push: err = %v, want a timeout", err)
				}
				if tag != sc.oldRes.Index.Digest {
					t.Fatalf("failed push moved the tag to %s", tag)
				}
			}
			sc.rerun(t, stalling)
		})
	}
}

// TestStallTransport: the stall bound is on silence, not on duration: a
// response that keeps trickling in outlives the bound, one that never
// starts does not; over HTTPS with HTTP/2 as over plain HTTP.
func TestStallTransport(t *testing.T) {
	const stall = 600 * time.Millisecond
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/trickle": // 6 × 150 ms: longer than the bound, never silent for it
			for range 6 {
				w.Write([]byte("x"))
				w.(http.Flusher).Flush()
				time.Sleep(stall / 4)
			}
		case "/silent":
			select {
			case <-time.After(5 * stall):
			case <-r.Context().Done():
			}
		}
	})
	for _, tls := range []bool{false, true} {
		srv := httptest.NewUnstartedServer(handler)
		if tls {
			srv.EnableHTTP2 = true
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		tr := exporter.NewTransport(stall)
		if tls {
			tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
		}
		c := &http.Client{Transport: tr}
		resp, err := c.Get(srv.URL + "/trickle")
		if err != nil {
			t.Fatalf("tls %v: trickle: %v", tls, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "xxxxxx" || (tls && resp.ProtoMajor != 2) {
			t.Errorf("tls %v: trickle: %q, %v (%s)", tls, body, err, resp.Proto)
		}
		_, err = c.Get(srv.URL + "/silent")
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("tls %v: silent: err = %v, want a timeout", tls, err)
		}
	}
}
