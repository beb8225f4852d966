package exporter

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// TestExplainForbiddenHost: a 403 is blamed on storage the registry
// redirected to only when the request went to another host than the
// registry's: Docker Hub's requests go to registry-1.docker.io, its
// reference's host for docker.io, and a 403 there is the registry's.
func TestExplainForbiddenHost(t *testing.T) {
	for _, tt := range []struct {
		name, registry, requestHost string
		storage                     bool
	}{
		{"Docker Hub", "docker.io", "registry-1.docker.io", false},
		{"registry itself", "registry.example.com:5000", "registry.example.com:5000", false},
		{"registry host in other case", "registry.example.com", "Registry.Example.com:443", false},
		{"redirected to storage", "registry.example.com", "bucket.s3.example.com", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRemote(registry.Reference{Registry: tt.registry, Repository: "library/app"}, RemoteOptions{Client: NewClient(nil, nil)})
			if err != nil {
				t.Fatal(err)
			}
			resp := &errcode.ErrorResponse{Method: http.MethodGet, URL: &url.URL{Scheme: "https", Host: tt.requestHost, Path: "/v2/library/app/blobs/sha256:00"}, StatusCode: http.StatusForbidden}
			got := r.explain("reading blob", resp, "").Error()
			if storage := strings.Contains(got, "the storage host"); storage != tt.storage {
				t.Errorf("explain = %q; storage blamed: %v, want %v", got, storage, tt.storage)
			}
		})
	}
}
