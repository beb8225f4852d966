package exporter

import (
	"net/url"
	"testing"
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
	} {
		got, err := nextLink(base, tt.header)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("nextLink(%q) = %q, %v; want %q, error %v", tt.header, got, err, tt.want, tt.err)
		}
	}
}
