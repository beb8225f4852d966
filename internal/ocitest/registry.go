package ocitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/olareg/olareg"
	"github.com/olareg/olareg/config"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Put is one manifest PUT a Recorder saw.
type Put struct {
	Repository, Reference string
	// ContentType is the request's Content-Type header, as sent.
	ContentType string
	Body        []byte
	// Status is the registry's answer.
	Status int
}

// Recorder is an http.Handler in front of a registry (Next) that records
// every manifest PUT, so that a test can check what a client sent.
type Recorder struct {
	Next http.Handler

	mu   sync.Mutex
	puts []Put
}

// manifestPath is /v2/<name>/manifests/<reference>.
var manifestPath = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)

// statusWriter records the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// ServeHTTP passes req to Next, recording it when it is a manifest PUT.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	m := manifestPath.FindStringSubmatch(req.URL.Path)
	if req.Method != http.MethodPut || m == nil {
		r.Next.ServeHTTP(w, req)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	sw := &statusWriter{ResponseWriter: w}
	r.Next.ServeHTTP(sw, req)
	r.mu.Lock()
	r.puts = append(r.puts, Put{Repository: m[1], Reference: m[2], ContentType: req.Header.Get("Content-Type"), Body: body, Status: sw.status})
	r.mu.Unlock()
}

// Puts returns the manifest PUTs seen, in order.
func (r *Recorder) Puts() []Put {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Put(nil), r.puts...)
}

// Check checks every manifest PUT the registry accepted (2xx): the
// Content-Type is a media type without parameters (distribution-spec
// Pushing Manifests: the client SHOULD NOT include parameters) equal to
// the body's mediaType field (MUST, when the field is there), a PUT by
// digest sends content of that digest, and the body is a valid document
// of its type (ValidateDocument; OCI types only). It reports every
// problem found.
func (r *Recorder) Check() error {
	var p problems
	for i, put := range r.Puts() {
		if put.Status < 200 || put.Status > 299 {
			continue
		}
		at := fmt.Sprintf("PUT #%d %s:%s", i+1, put.Repository, put.Reference)
		mt, params, err := mime.ParseMediaType(put.ContentType)
		if err != nil || len(params) > 0 || mt != put.ContentType {
			p.addf("%s: Content-Type %q is not a bare media type (distribution-spec Pushing Manifests: the client SHOULD NOT include parameters)", at, put.ContentType)
		}
		var doc struct {
			MediaType *string `json:"mediaType"`
		}
		if err := json.Unmarshal(put.Body, &doc); err != nil {
			p.addf("%s: body: %w", at, err)
			continue
		}
		switch {
		case doc.MediaType == nil:
			p.addf("%s: the manifest has no mediaType field (distribution-spec Pushing Manifests: all manifests SHOULD include one)", at)
		case *doc.MediaType != put.ContentType:
			p.addf("%s: Content-Type %q, the manifest's mediaType %q (distribution-spec Pushing Manifests: clients MUST set the Content-Type to the mediaType field)", at, put.ContentType, *doc.MediaType)
		}
		if d, err := digest.Parse(put.Reference); err == nil && d.Algorithm().Available() && d.Algorithm().FromBytes(put.Body) != d {
			p.addf("%s: the body's digest is %s", at, d.Algorithm().FromBytes(put.Body))
		}
		if HasSchema(put.ContentType) {
			if err := ValidateDocument(put.ContentType, put.Body); err != nil {
				p.addf("%s: %w", at, err)
			}
		}
	}
	return p.err()
}

// manifestAccept is the Accept header of manifest reads.
var manifestAccept = strings.Join([]string{ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest, mediaTypeDockerManifestList, mediaTypeDockerManifest}, ", ")

// GetManifest reads the manifest reference (a tag or digest) names in
// repository repo of the plain-HTTP registry host, and returns it with
// its descriptor (media type from the Content-Type the registry served).
// A 404 wraps ErrMissing.
func GetManifest(ctx context.Context, host, repo, reference string) (ocispec.Descriptor, []byte, error) {
	b, ct, err := get(ctx, "http://"+host+"/v2/"+repo+"/manifests/"+reference, manifestAccept)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	return ocispec.Descriptor{MediaType: ct, Digest: digest.FromBytes(b), Size: int64(len(b))}, b, nil
}

// GetReferrers reads the referrers API's answer for subject in
// repository repo of the plain-HTTP registry host, and checks that it is
// served as an image index (distribution-spec Listing Referrers: the
// Content-Type MUST be application/vnd.oci.image.index.v1+json).
func GetReferrers(ctx context.Context, host, repo string, subject digest.Digest) ([]byte, error) {
	b, ct, err := get(ctx, "http://"+host+"/v2/"+repo+"/referrers/"+subject.String(), ocispec.MediaTypeImageIndex)
	if err != nil {
		return nil, err
	}
	if ct != ocispec.MediaTypeImageIndex {
		return b, fmt.Errorf("referrers of %s served as %q, want %s (distribution-spec Listing Referrers)", subject, ct, ocispec.MediaTypeImageIndex)
	}
	return b, nil
}

// GetReferrersListing reads the referrers listing of subject in
// repository repo of the plain-HTTP registry host: the referrers API's
// answer (GetReferrers) when tag is empty, else the referrers tag index
// tag names, which must be served as an image index.
func GetReferrersListing(ctx context.Context, host, repo string, subject digest.Digest, tag string) ([]byte, error) {
	if tag == "" {
		return GetReferrers(ctx, host, repo, subject)
	}
	d, b, err := GetManifest(ctx, host, repo, tag)
	if err != nil {
		return nil, err
	}
	if d.MediaType != ocispec.MediaTypeImageIndex {
		return b, fmt.Errorf("referrers tag %s of %s served as %s, want %s", tag, subject, d.MediaType, ocispec.MediaTypeImageIndex)
	}
	return b, nil
}

// RegistryFetch returns a Fetch reading repository repo of the plain-HTTP
// registry host: manifests and indexes from /manifests/<digest>, every
// other blob from /blobs/<digest>.
func RegistryFetch(host, repo string) Fetch {
	return func(ctx context.Context, d ocispec.Descriptor) ([]byte, error) {
		if isManifestType(d.MediaType) {
			b, _, err := get(ctx, "http://"+host+"/v2/"+repo+"/manifests/"+d.Digest.String(), d.MediaType)
			return b, err
		}
		b, _, err := get(ctx, "http://"+host+"/v2/"+repo+"/blobs/"+d.Digest.String(), "")
		return b, err
	}
}

// get reads url, returning the body and Content-Type.
func get(ctx context.Context, url, accept string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, "", fmt.Errorf("GET %s: %s: %w", url, resp.Status, ErrMissing)
	case resp.StatusCode != http.StatusOK:
		return nil, "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, resp.Header.Get("Content-Type"), nil
}

// RecordedOlareg runs olareg in memory (referrers API on or off) behind a
// Recorder for the test, and returns its host and the recorder.
func RecordedOlareg(t testing.TB, referrersAPI bool) (string, *Recorder) {
	t.Helper()
	on := referrersAPI
	srv := olareg.New(config.Config{
		Storage: config.ConfigStorage{StoreType: config.StoreMem},
		API:     config.ConfigAPI{Referrer: config.ConfigAPIReferrer{Enabled: &on}},
	})
	rec := &Recorder{Next: srv}
	hs := httptest.NewServer(rec)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return strings.TrimPrefix(hs.URL, "http://"), rec
}
