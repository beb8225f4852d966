package exporter

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestTransportHint: what transportHint says, and about which host: the
// one the request went to (blob storage a redirect led to), not the
// registry's.
func TestTransportHint(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"unknown CA", &url.Error{Op: "Get", URL: "https://r.example:5000/v2/", Err: x509.UnknownAuthorityError{}}, "/etc/docker/certs.d/r.example:5000/ca.crt"},
		{"unknown CA after a redirect", fmt.Errorf("fetching blob: %w", &url.Error{Op: "Get", URL: "https://storage.example:9000/blob?sig=x", Err: x509.UnknownAuthorityError{}}), "/etc/docker/certs.d/storage.example:9000/ca.crt"},
		{"client certificate required", &url.Error{Op: "Get", URL: "https://r.example:5000/v2/", Err: errors.New("remote error: tls: certificate required")}, "asks for a client certificate: put it and its key as NAME.cert and NAME.key in /etc/docker/certs.d/r.example:5000/"},
		{"client certificate refused", &url.Error{Op: "Get", URL: "https://r.example:5000/v2/", Err: errors.New("remote error: tls: bad certificate")}, "NAME.cert and NAME.key"},
		{"no URL", x509.UnknownAuthorityError{}, "/etc/docker/certs.d/registry.example/ca.crt"},
		{"upload on another host", errors.New(`blob upload Location "proxy.example" is on a different host than the registry "r.example:5000"`), "push to the host it names, or make the registry advertise the host it is reached by"},
		{"nothing to say", errors.New("connection refused"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := transportHint(tc.err, "registry.example")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("transportHint = %q, want %q", got, tc.want)
			}
		})
	}
}
