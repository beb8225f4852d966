package registrytest

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRegistriesAnswer(t *testing.T) {
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			r := Start(t, k, Options{})
			resp, err := http.Get("http://" + r.Host + "/v2/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/v2/: %s", resp.Status)
			}
			// The referrers endpoint answers 404 exactly when the API is off.
			resp, err = http.Get("http://" + r.Host + "/v2/x/referrers/sha256:" + strings.Repeat("a", 64))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.StatusCode != http.StatusNotFound; got != r.Referrers {
				t.Errorf("referrers endpoint %s, Referrers = %v", resp.Status, r.Referrers)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	for _, k := range []Kind{Distribution, DistributionV3} {
		t.Run(string(k), func(t *testing.T) {
			r := Start(t, k, Options{Auth: true})
			resp, err := http.Get("http://" + r.Host + "/v2/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("anonymous /v2/: %s, want 401", resp.Status)
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+r.Host+"/v2/", nil)
			req.SetBasicAuth(r.Username, r.Password)
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("authenticated /v2/: %s", resp.Status)
			}
		})
	}
}

func TestProxyFaults(t *testing.T) {
	r := Start(t, OlaregAPI, Options{})
	p := StartProxy(t, r.Host)
	p.Inject(Fault{Path: "^/v2/$", Action: Unavailable, Times: 1})
	p.Inject(Fault{Path: "^/v2/$", Action: TooManyRequests, Times: 1, RetryAfter: "2"})
	p.Inject(Fault{Path: "^/v2/$", Action: Drop, Times: 1})
	get := func() (*http.Response, error) { return http.Get("http://" + p.Host + "/v2/") }
	resp, err := get()
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("first: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = get()
	if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("second: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, err = get(); err == nil {
		resp.Body.Close()
		t.Fatalf("third: got %s, want a dropped connection", resp.Status)
	}
	resp, err = get()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("fourth: %v %v", resp, err)
	}
	resp.Body.Close()
	if p.Injected() != 3 || len(p.Log()) != 4 {
		t.Errorf("injected %d, log %v", p.Injected(), p.Log())
	}
}

// TestProxyHold: a held request goes through once released; one whose
// client gives up first is never forwarded.
func TestProxyHold(t *testing.T) {
	r := Start(t, OlaregAPI, Options{})
	p := StartProxy(t, r.Host)
	release := make(chan struct{})
	p.Inject(Fault{Method: "PUT", Path: "/manifests/", Action: Hold, Release: release, Times: 2})
	put := func(ctx context.Context, tag string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, "PUT", "http://"+p.Host+"/v2/app/manifests/"+tag, strings.NewReader(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/vnd.oci.image.index.v1+json")
		return http.DefaultClient.Do(req)
	}
	held := func(tag string) {
		deadline := time.Now().Add(time.Minute)
		for !slices.Contains(p.Log(), "PUT /v2/app/manifests/"+tag+" [hold]") {
			if time.Now().After(deadline) {
				t.Fatalf("the PUT of %s never reached the proxy: %v", tag, p.Log())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	gaveUp := make(chan error)
	go func() {
		_, err := put(ctx, "gave-up")
		gaveUp <- err
	}()
	held("gave-up")
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("a cancelled PUT was answered")
	}
	answered := make(chan *http.Response)
	go func() {
		resp, err := put(t.Context(), "released")
		if err != nil {
			t.Error(err)
		}
		answered <- resp
	}()
	held("released")
	close(release)
	resp := <-answered
	if resp == nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("released PUT: %v", resp)
	}
	resp.Body.Close()
	for tag, want := range map[string]int{"released": http.StatusOK, "gave-up": http.StatusNotFound} {
		req, err := http.NewRequest("HEAD", "http://"+r.Host+"/v2/app/manifests/"+tag, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %s, want %d", tag, resp.Status, want)
		}
	}
}

// TestProxyResponseHeader: the answer's headers are edited as Header
// says for the request and its body (set, replaced, removed); the body
// and status are the registry's.
func TestProxyResponseHeader(t *testing.T) {
	r := Start(t, OlaregAPI, Options{})
	p := StartProxy(t, r.Host)
	index := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`
	var seen string
	p.Inject(Fault{Method: "PUT", Path: "/manifests/", Action: ResponseHeader, Times: 1, Header: func(_ *http.Request, body []byte) map[string]string {
		seen = string(body)
		return map[string]string{"X-Added": "yes", "Docker-Content-Digest": "sha256:" + strings.Repeat("0", 64), "Location": ""}
	}})
	req, _ := http.NewRequest("PUT", "http://"+p.Host+"/v2/app/manifests/v1", strings.NewReader(index))
	req.Header.Set("Content-Type", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if seen != index {
		t.Errorf("Header saw body %q", seen)
	}
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Added") != "yes" || resp.Header.Get("Docker-Content-Digest") != "sha256:"+strings.Repeat("0", 64) || resp.Header.Get("Location") != "" {
		t.Errorf("answer %s %v", resp.Status, resp.Header)
	}
	// The registry got the body whole: the tag reads back.
	req, _ = http.NewRequest("GET", "http://"+p.Host+"/v2/app/manifests/v1", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !slices.Contains(p.Log(), "PUT /v2/app/manifests/v1 [response-header]") {
		t.Errorf("read back %s; log %v", resp.Status, p.Log())
	}
}
