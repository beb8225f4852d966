package exporter

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// TestNextLink: a referrers page's next link is followed only on the
// registry's own origin: scheme, host and port, since the credentials go
// with it.
func TestNextLink(t *testing.T) {
	base, _ := url.Parse("https://registry.example.com/v2/app/referrers/sha256:abc")
	for _, tt := range []struct {
		header, want string
		err          bool
	}{
		{header: "", want: ""},
		{header: `</v2/app/referrers/sha256:abc?last=x>; rel="next"`, want: "https://registry.example.com/v2/app/referrers/sha256:abc?last=x"},
		{header: `<https://registry.example.com:443/v2/app/referrers/sha256:abc?n=2>; rel=next`, want: "https://registry.example.com:443/v2/app/referrers/sha256:abc?n=2"},
		{header: `<https://REGISTRY.example.com/v2/x?n=2>; rel="next"`, want: "https://REGISTRY.example.com/v2/x?n=2"},
		{header: `<http://registry.example.com/v2/app/referrers/sha256:abc?last=x>; rel="next"`, err: true},
		{header: `<https://registry.example.com:8443/v2/x>; rel="next"`, err: true},
		{header: `<https://evil.example.com/v2/x>; rel="next"`, err: true},
		{header: `<https://registry.example.com/v2/x>; rel="prev"`, want: ""},
		// RFC 8288: parameters in any order, several links, rel a list.
		{header: `</v2/x?n=2>; type="application/vnd.oci.image.index.v1+json"; rel="next"`, want: "https://registry.example.com/v2/x?n=2"},
		{header: `</v2/p>; rel="prev", </v2/n>; rel="next"`, want: "https://registry.example.com/v2/n"},
		{header: `</v2/n>; title="a, b; rel=prev"; rel="next last"`, want: "https://registry.example.com/v2/n"},
		{header: `</v2/n>;REL=NEXT`, want: "https://registry.example.com/v2/n"},
		{header: `</v2/n>; rel="prev"; rel="next"`, want: ""},
		{header: `</v2/a,b>; rel=next`, want: "https://registry.example.com/v2/a,b"},
		{header: `garbage, </v2/n>; rel=next`, want: ""},
	} {
		got, err := nextLink(base, tt.header)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("nextLink(%q) = %q, %v; want %q, error %v", tt.header, got, err, tt.want, tt.err)
		}
	}
}

// TestWrapLeavesErrorsAlone: wrap removes URL queries from the text it
// returns without changing the error values it wraps (oras-go shares a
// failed token fetch's error between goroutines), and keeps the chain.
func TestWrapLeavesErrorsAlone(t *testing.T) {
	u, _ := url.Parse("https://auth.example.com/token?scope=repository:app:pull&service=reg")
	shared := &errcode.ErrorResponse{Method: "GET", URL: u, StatusCode: 401}
	r := &Remote{ref: registry.Reference{Registry: "registry.example.com", Repository: "app"}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := r.wrap("reading tag v1", fmt.Errorf("GET %q: %w", "https://registry.example.com/v2/app/manifests/v1?x=1", shared))
			if strings.Contains(err.Error(), "scope=") || strings.Contains(err.Error(), "x=1") {
				t.Errorf("query in %q", err)
			}
			if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "check the credentials for registry.example.com") {
				t.Errorf("a token server's 401: %v, want the credentials hint and ErrUnauthorized", err)
			}
		})
	}
	wg.Wait()
	if shared.URL.RawQuery == "" {
		t.Errorf("wrap changed the shared error's URL")
	}
}
