package exporter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// entry is a referrers list entry of an SBOM manifest with digest d.
func entry(d digest.Digest) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: oci.MediaTypeSPDX, Digest: d, Size: 100}
}

// refDigests returns the digests of refs, in order.
func refDigests(refs []ocispec.Descriptor) []digest.Digest {
	out := make([]digest.Digest, len(refs))
	for i, r := range refs {
		out[i] = r.Digest
	}
	return out
}

// TestReferrersAPIHostile: what a broken or hostile referrers endpoint
// answers does not reach the caller as referrers. An entry whose digest
// is not a digest (or whose size is negative) is left out; a digest
// listed twice, on one page or two, is listed once, the first entry in
// its place; a Link back to a page read already is an error after one
// request per page, not the list read again; a 200 that is not an image
// index (Content-Type or the body's mediaType) on the first page is a
// registry without the API, so the referrers tag is read, and on a later
// page an error; a page over 4 MiB says it is too large (with a
// Content-Length or without). Requests are counted: the fake answers any
// page of the endpoint, so a client that did not stop would show it.
func TestReferrersAPIHostile(t *testing.T) {
	subject := digest.FromString("subject")
	a, b, c, fromTag := digest.FromString("a"), digest.FromString("b"), digest.FromString("c"), digest.FromString("tag")
	index := func(entries ...ocispec.Descriptor) []byte {
		data, _ := json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: entries})
		return data
	}
	page := func(ct string, body []byte, next string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			if next != "" {
				w.Header().Set("Link", `<`+next+`>; rel="next"`)
			}
			if ct != "" {
				w.Header().Set("Content-Type", ct)
			}
			w.Write(body)
		}
	}
	big := index(slices.Repeat([]ocispec.Descriptor{entry(a)}, oci.MaxManifestSize/100)...)
	const ix = ocispec.MediaTypeImageIndex
	for _, tt := range []struct {
		name  string
		pages []func(w http.ResponseWriter, r *http.Request) // page n answers ?page=n, the first none
		want  []digest.Digest
		mode  exporter.Mode
		err   string // what the error says, when one is wanted
		is    error  // what it wraps, when one is wanted
		gets  int    // GET requests of the endpoint
	}{
		{name: "digest not a digest", gets: 1, mode: exporter.ModeAPI, want: []digest.Digest{a, b},
			pages: []func(http.ResponseWriter, *http.Request){page(ix, index(
				entry("evil"), entry(a), entry("sha256:abc"), entry(digest.Digest("sha999:"+b.Encoded())),
				ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: c, Size: -1}, entry(b)), "")}},
		{name: "duplicates across pages", gets: 2, mode: exporter.ModeAPI, want: []digest.Digest{a, b, c},
			pages: []func(http.ResponseWriter, *http.Request){
				page(ix, index(entry(a), entry(b), entry(a)), "?page=1"),
				page(ix, index(entry(b), entry(c), entry(a)), "")}},
		{name: "a page links to itself", gets: 1, err: "page 1 links back to page 1",
			pages: []func(http.ResponseWriter, *http.Request){page(ix, index(entry(a)), "/v2/app/referrers/"+subject.String())}},
		{name: "the second page links back to the first", gets: 2, err: "page 2 links back to page 1",
			pages: []func(http.ResponseWriter, *http.Request){
				page(ix, index(entry(a)), "?page=1"),
				page(ix, index(entry(a)), "/v2/app/referrers/"+subject.String())}},
		{name: "third links back to second", gets: 3, err: "page 3 links back to page 2",
			pages: []func(http.ResponseWriter, *http.Request){
				page(ix, index(entry(a)), "?page=1"),
				page(ix, index(entry(b)), "?page=2"),
				page(ix, index(entry(c)), "?page=1")}},
		{name: "application/json", gets: 1, mode: exporter.ModeTagSchema, want: []digest.Digest{fromTag},
			pages: []func(http.ResponseWriter, *http.Request){page("application/json", []byte(`{}`), "")}},
		{name: "no Content-Type", gets: 1, mode: exporter.ModeTagSchema, want: []digest.Digest{fromTag},
			pages: []func(http.ResponseWriter, *http.Request){page("", index(entry(a)), "")}},
		{name: "body an image manifest", gets: 1, mode: exporter.ModeTagSchema, want: []digest.Digest{fromTag},
			pages: []func(http.ResponseWriter, *http.Request){page(ix, []byte(`{"schemaVersion":2,"mediaType":"`+ocispec.MediaTypeImageManifest+`"}`), "")}},
		{name: "Content-Type with parameters", gets: 1, mode: exporter.ModeAPI, want: []digest.Digest{a},
			pages: []func(http.ResponseWriter, *http.Request){page(ix+"; charset=utf-8", index(entry(a)), "")}},
		{name: "second page not an index", gets: 2, err: "(page 2)", is: nil,
			pages: []func(http.ResponseWriter, *http.Request){
				page(ix, index(entry(a)), "?page=1"),
				page("application/json", []byte(`{}`), "")}},
		{name: "page over 4 MiB", gets: 1, err: "content too large", is: oci.ErrTooLarge,
			pages: []func(http.ResponseWriter, *http.Request){page(ix, big, "")}},
		{name: "page over 4 MiB, no Content-Length", gets: 1, err: "content too large", is: oci.ErrTooLarge,
			pages: []func(http.ResponseWriter, *http.Request){func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ix)
				for chunk := range slices.Chunk(big, 64<<10) {
					w.Write(chunk)
					w.(http.Flusher).Flush()
				}
			}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gets := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/v2/app/referrers/" + subject.String():
					gets++
					n, _ := strconv.Atoi(r.URL.Query().Get("page"))
					tt.pages[n](w, r)
				case "/v2/app/manifests/" + exporter.ReferrersTag(subject):
					w.Header().Set("Content-Type", ix)
					w.Write(index(entry(fromTag)))
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			cl, _ := client(nil)
			f := exporter.NewFinder(target(t, strings.TrimPrefix(srv.URL, "http://"), "app", cl))
			refs, mode, err := f.Referrers(context.Background(), subject)
			if gets != tt.gets {
				t.Errorf("%d GETs of the referrers endpoint, want %d", gets, tt.gets)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || errors.Is(err, exporter.ErrReferrersAPIUnsupported) || (tt.is != nil && !errors.Is(err, tt.is)) {
					t.Fatalf("Referrers = %v, %s, %v; want an error saying %q", refDigests(refs), mode, err, tt.err)
				}
				if f.Mode() == exporter.ModeTagSchema {
					t.Error("the failed list made the Finder read the referrers tag from now on")
				}
				return
			}
			if err != nil || mode != tt.mode || !slices.Equal(refDigests(refs), tt.want) {
				t.Fatalf("Referrers = %v, %s, %v; want %v, %s", refDigests(refs), mode, err, tt.want, tt.mode)
			}
		})
	}
}

// TestFetchRefusesNonDigest: a descriptor whose digest is not a digest is
// refused by every fetch or check by descriptor, with no request sent,
// although the registry has a tag of that name (which a fetch by that
// "reference" would have read, and taken as verified).
func TestFetchRefusesNonDigest(t *testing.T) {
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		body := []byte(`{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageManifest + `"}`)
		w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
		w.Header().Set("Docker-Content-Digest", digest.FromBytes(body).String())
		w.Write(body)
	}))
	defer srv.Close()
	cl, _ := client(nil)
	r := target(t, strings.TrimPrefix(srv.URL, "http://"), "app", cl)
	ctx := context.Background()
	for _, d := range []ocispec.Descriptor{
		entry("evil"),
		entry("latest"),
		entry("sha256:abc"),
		entry(""),
		{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("x"), Size: -1},
	} {
		for _, call := range []struct {
			name string
			do   func() error
		}{
			{"Fetch manifest", func() error { _, err := r.Fetch(ctx, d); return err }},
			{"Fetch blob", func() error {
				b := d
				b.MediaType = "application/octet-stream"
				_, err := r.Fetch(ctx, b)
				return err
			}},
			{"ManifestExists", func() error { _, err := r.ManifestExists(ctx, d); return err }},
			{"Exists", func() error { _, err := r.Exists(ctx, d); return err }},
			{"HasManifest", func() error { _, err := exporter.HasManifest(ctx, r, d); return err }},
			{"ReadBlob", func() error { _, err := oci.ReadBlob(ctx, r, d, 0); return err }},
		} {
			err := call.do()
			if err == nil || !strings.Contains(err.Error(), fmt.Sprint(d.Digest)) && d.Digest != "" {
				t.Errorf("%s of %q (size %d) = %v; want an error naming it", call.name, d.Digest, d.Size, err)
			}
		}
	}
	if requests != 0 {
		t.Errorf("%d requests sent, want none", requests)
	}
}

// TestReferrersTagMalformedEntries: an entry of a referrers tag whose
// digest is not a digest (a tag of that name holding the SBOM manifest),
// or whose size is negative, is not listed by readers, nor is a digest
// twice; an attach to the same subject writes the tag without them,
// warning about each, and keeps the other entries. olareg refuses to store
// such a tag (its digest names no manifest): a proxy in front of it
// answers reads of the tag with one until the attach writes the tag.
func TestReferrersTagMalformedEntries(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	l, res := source(t, twoPlatforms(false))
	cl, counter := client(nil)
	direct := target(t, reg.Host, "app", cl)
	if _, err := pushAll(ctx, direct, l, res, exporter.Options{Tag: "v1"}); err != nil {
		t.Fatal(err)
	}
	subject := res.Manifests[0]
	tag := exporter.ReferrersTag(subject.Digest)
	_, data, _, err := direct.FetchManifest(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("referrers tag: %v, %v", idx.Manifests, err)
	}
	sbom := idx.Manifests[0]
	// The SBOM manifest, also under the tag "evil".
	_, sbomData, _, err := direct.FetchManifest(ctx, sbom.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.PushManifest(ctx, sbom, sbomData, "evil", ""); err != nil {
		t.Fatal(err)
	}
	evil := sbom
	evil.Digest = "evil"
	negative := sbom
	negative.Digest, negative.Size = digest.FromString("negative"), -5
	idx.Manifests = []ocispec.Descriptor{evil, sbom, negative, sbom}
	crafted, _ := json.Marshal(idx)

	var mu sync.Mutex
	written := false
	up := &url.URL{Scheme: "http", Host: reg.Host}
	rp := httputil.NewSingleHostReverseProxy(up)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/v2/app/manifests/"+tag {
			if r.Method == http.MethodPut {
				written = true
			} else if !written {
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				w.Header().Set("Docker-Content-Digest", digest.FromBytes(crafted).String())
				w.Write(crafted)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	tgt := target(t, strings.TrimPrefix(srv.URL, "http://"), "app", cl)

	counter.Reset()
	refs, mode, err := exporter.NewFinder(tgt).Referrers(ctx, subject.Digest)
	if err != nil || mode != exporter.ModeTagSchema || !slices.Equal(refDigests(refs), []digest.Digest{sbom.Digest}) {
		t.Fatalf("Referrers = %v, %s, %v; want only %s", refDigests(refs), mode, err, sbom.Digest)
	}
	if got := counter.Total(); got != 2 {
		t.Errorf("%d requests, want 2 (the API's 404, the tag):\n%s", got, strings.Join(counter.Log(), "\n"))
	}
	if _, err := tgt.Fetch(ctx, evil); err == nil || !strings.Contains(err.Error(), `"evil"`) {
		t.Errorf("Fetch of the entry %q = %v; want an error naming it", evil.Digest, err)
	}

	var w warnings
	if err := attachNotes(ctx, tgt, &w, cyclonedx(subject)); err != nil {
		t.Fatal(err)
	}
	_, data, _, err = direct.FetchManifest(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(`"evil"`)) || bytes.Contains(data, []byte(negative.Digest)) || bytes.Count(data, []byte(sbom.Digest)) != 1 {
		t.Errorf("the attach wrote the referrers tag as %s; want the malformed entries and the duplicate dropped", data)
	}
	all := strings.Join(w.all(), "\n")
	if len(w.all()) != 2 || !strings.Contains(all, `"evil"`) || !strings.Contains(all, "negative size -5") || !strings.Contains(all, tag) {
		t.Errorf("warnings:\n%s\nwant one naming each malformed entry and the tag", all)
	}
	refs, _, err = exporter.NewFinder(tgt).Referrers(ctx, subject.Digest)
	if err != nil || len(refs) != 2 || refs[0].Digest != sbom.Digest {
		t.Errorf("after the attach: %v, %v; want the SBOM, then the new one", refDigests(refs), err)
	}
}

// TestFetchBlobOtherContent: a blob the registry serves with a length
// other than the descriptor's size, or under another digest, is
// oci.ErrDigestMismatch (a fault of the entry, which callers such as
// convert skip), not a failure to retry or give up on.
func TestFetchBlobOtherContent(t *testing.T) {
	body := []byte(`{"spdxVersion":"SPDX-2.3"}`)
	good := ocispec.Descriptor{MediaType: "application/spdx+json", Digest: digest.FromBytes(body), Size: int64(len(body))}
	for _, tt := range []struct {
		name   string
		desc   ocispec.Descriptor
		header string // Docker-Content-Digest
	}{
		{"size smaller than the blob", ocispec.Descriptor{MediaType: good.MediaType, Digest: good.Digest, Size: good.Size - 1}, good.Digest.String()},
		{"size larger than the blob", ocispec.Descriptor{MediaType: good.MediaType, Digest: good.Digest, Size: 5000}, good.Digest.String()},
		{"another Docker-Content-Digest", good, digest.FromString("other").String()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Docker-Content-Digest", tt.header)
				w.Write(body)
			}))
			defer srv.Close()
			cl, _ := client(nil)
			r := target(t, strings.TrimPrefix(srv.URL, "http://"), "app", cl)
			_, err := oci.ReadBlob(t.Context(), r, tt.desc, 0)
			if !errors.Is(err, oci.ErrDigestMismatch) || !strings.Contains(err.Error(), tt.desc.Digest.String()) {
				t.Errorf("ReadBlob = %v; want oci.ErrDigestMismatch naming the blob", err)
			}
		})
	}
}

// TestDockerHub: Docker Hub's hosts, in any case, and no other.
func TestDockerHub(t *testing.T) {
	for host, want := range map[string]bool{
		"docker.io": true, "registry-1.docker.io": true, "index.docker.io": true, "Docker.IO": true,
		"ghcr.io": false, "docker.io.example.com": false, "localhost:5000": false, "mirror.gcr.io": false,
	} {
		if got := exporter.DockerHub(host); got != want {
			t.Errorf("DockerHub(%q) = %v, want %v", host, got, want)
		}
	}
}
