package exporter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	orasoci "oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
)

func TestReferrersTag(t *testing.T) {
	tests := []struct {
		in   digest.Digest
		want string
	}{
		{"sha256:" + digest.Digest(strings.Repeat("ab", 32)), "sha256-" + strings.Repeat("ab", 32)},
		{"sha512:" + digest.Digest(strings.Repeat("c", 128)), "sha512-" + strings.Repeat("c", 64)},
		{digest.Digest(strings.Repeat("a", 40) + ":" + strings.Repeat("0", 64)), strings.Repeat("a", 32) + "-" + strings.Repeat("0", 64)},
		{"sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", "sha256-b64u-LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564"},
	}
	for _, tt := range tests {
		got := exporter.ReferrersTag(tt.in)
		if got != tt.want {
			t.Errorf("ReferrersTag(%s) = %s, want %s", tt.in, got, tt.want)
		}
		if len(got) > 128 {
			t.Errorf("tag %s longer than 128", got)
		}
	}
}

func TestArtifactManifest(t *testing.T) {
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 100,
		Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}, Annotations: map[string]string{"x": "y"}}
	a := exporter.SBOM(subject, oci.MediaTypeSPDX, []byte(`{"spdxVersion":"SPDX-2.3"}`), created, map[string]string{oci.AnnotationFormat: "spdx-json"})
	d1, b1, err := a.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	d2, b2, _ := exporter.SBOM(subject, oci.MediaTypeSPDX, []byte(`{"spdxVersion":"SPDX-2.3"}`), created, map[string]string{oci.AnnotationFormat: "spdx-json"}).Manifest()
	if d1.Digest != d2.Digest || string(b1) != string(b2) {
		t.Fatal("same artifact, different manifests")
	}
	var m map[string]any
	json.Unmarshal(b1, &m)
	cfg := m["config"].(map[string]any)
	if cfg["mediaType"] != ocispec.MediaTypeEmptyJSON || cfg["data"] != "e30=" || cfg["size"] != 2.0 {
		t.Errorf("config %v", cfg)
	}
	subj := m["subject"].(map[string]any)
	if len(subj) != 3 {
		t.Errorf("subject carries more than mediaType, digest, size: %v", subj)
	}
	layers := m["layers"].([]any)
	if len(layers) != 1 || layers[0].(map[string]any)["mediaType"] != oci.MediaTypeSPDX || m["artifactType"] != oci.MediaTypeSPDX {
		t.Errorf("layers %v", layers)
	}
	ann := m["annotations"].(map[string]any)
	if ann[ocispec.AnnotationCreated] != "2024-01-02T03:04:05Z" || d1.Annotations[oci.AnnotationFormat] != "spdx-json" || d1.ArtifactType != oci.MediaTypeSPDX {
		t.Errorf("annotations %v / descriptor %+v", ann, d1)
	}
	// Never an SBOM on an index.
	idx := subject
	idx.MediaType = ocispec.MediaTypeImageIndex
	if _, _, err := exporter.SBOM(idx, oci.MediaTypeSPDX, []byte("{}"), created, nil).Manifest(); !errors.Is(err, exporter.ErrInvalidArtifact) {
		t.Errorf("SBOM on index: err = %v", err)
	}
	if _, _, err := (exporter.Artifact{Subject: idx, ArtifactType: "application/vnd.example.sig", Blobs: []exporter.Blob{{Data: []byte("x")}}}).Manifest(); err != nil {
		t.Errorf("signature on index: %v", err)
	}
	for _, bad := range []exporter.Artifact{
		{Subject: subject, ArtifactType: "nope", Blobs: []exporter.Blob{{Data: []byte("x")}}},
		{Subject: subject, ArtifactType: "application/x"},
		{ArtifactType: "application/x", Blobs: []exporter.Blob{{Data: []byte("x")}}},
	} {
		if _, _, err := bad.Manifest(); !errors.Is(err, exporter.ErrInvalidArtifact) {
			t.Errorf("%+v: err = %v", bad, err)
		}
	}
}

// TestNewest: NewestFirst orders the referrers of the types asked for by
// created, newest first, ties and missing times to the later position,
// other types left out; Newest is its first.
func TestNewest(t *testing.T) {
	at := func(ts, d string) ocispec.Descriptor {
		r := ocispec.Descriptor{ArtifactType: oci.MediaTypeSPDX, Digest: digest.FromString(d)}
		if ts != "" {
			r.Annotations = map[string]string{ocispec.AnnotationCreated: ts}
		}
		return r
	}
	names := map[digest.Digest]string{}
	for _, s := range "abcx" {
		names[digest.FromString(string(s))] = string(s)
	}
	for _, tt := range []struct {
		name string
		refs []ocispec.Descriptor
		want string // digests' sources, newest first
	}{
		{"by created", []ocispec.Descriptor{at("2024-01-01T00:00:00Z", "a"), at("2025-01-01T00:00:00Z", "b"), at("2023-01-01T00:00:00Z", "c")}, "bac"},
		{"ties to the later", []ocispec.Descriptor{at("2024-01-01T00:00:00Z", "a"), at("2024-01-01T00:00:00Z", "b")}, "ba"},
		{"missing times last, later first", []ocispec.Descriptor{at("", "a"), at("2024-01-01T00:00:00Z", "b"), at("", "c")}, "bca"},
		{"other types left out", []ocispec.Descriptor{at("2024-01-01T00:00:00Z", "a"), {ArtifactType: oci.MediaTypeCycloneDX, Digest: digest.FromString("x")}}, "a"},
		{"none", []ocispec.Descriptor{{ArtifactType: oci.MediaTypeCycloneDX, Digest: digest.FromString("x")}}, ""},
		{"cosign's SPDX type too", []ocispec.Descriptor{at("2024-01-01T00:00:00Z", "a"), {ArtifactType: "text/spdx+json", Digest: digest.FromString("c"),
			Annotations: map[string]string{ocispec.AnnotationCreated: "2025-01-01T00:00:00Z"}}}, "ca"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			for _, d := range exporter.NewestFirst(tt.refs, oci.MediaTypeSPDX, "text/spdx+json") {
				got += names[d.Digest]
			}
			if got != tt.want {
				t.Errorf("order %q, want %q", got, tt.want)
			}
			n, ok := exporter.Newest(tt.refs, oci.MediaTypeSPDX, "text/spdx+json")
			if ok != (tt.want != "") || ok && names[n.Digest] != tt.want[:1] {
				t.Errorf("Newest = %s, %v; want the first of %q", names[n.Digest], ok, tt.want)
			}
		})
	}
}

func TestRetry(t *testing.T) {
	var n atomic.Int32
	var gaps []time.Duration
	last := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		gaps = append(gaps, now.Sub(last))
		last = now
		body, _ := io.ReadAll(r.Body)
		switch n.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.WriteHeader(http.StatusBadGateway)
		default:
			w.Write(body)
		}
	}))
	defer srv.Close()
	c := &exporter.Counter{}
	var notes []string
	client := &http.Client{Transport: &exporter.Retry{Base: c, MinWait: time.Millisecond, NoteAfter: 500 * time.Millisecond,
		Notef: func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }}}
	resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello" || resp.StatusCode != 200 || c.Total() != 3 || c.Counts()["POST"] != 3 {
		t.Fatalf("got %q %d after %d requests", b, resp.StatusCode, c.Total())
	}
	if gaps[1] < 900*time.Millisecond {
		t.Errorf("Retry-After: 1 not honoured: waited %v", gaps[1])
	}
	// The long wait is noted, the short backoff is not.
	if len(notes) != 1 || !strings.Contains(notes[0], "429 Too Many Requests; waiting 1s before trying again") {
		t.Errorf("notes %q", notes)
	}
	// Bounded: a registry that always fails is given up on.
	n.Store(-100)
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer srv2.Close()
	c.Reset()
	client = &http.Client{Transport: &exporter.Retry{Base: c, MinWait: time.Millisecond, Attempts: 3}}
	resp, err = client.Get(srv2.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || c.Total() != 3 {
		t.Errorf("status %d after %d requests, want 503 after 3", resp.StatusCode, c.Total())
	}
}

// TestLayoutTarget pushes to an OCI layout: index.json records the SBOM
// manifests, so oras-go's OCI store finds them as referrers of their
// subjects (what `oras discover --oci-layout` reads).
func TestLayoutTarget(t *testing.T) {
	ctx := context.Background()
	l, res := source(t, twoPlatforms(true))
	dir := t.TempDir()
	tgt, err := exporter.NewLayout(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pushAll(ctx, tgt, l, res, exporter.Options{Tag: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Modes[tgt.Name()] != exporter.ModeLayout {
		t.Errorf("modes %v", got.Modes)
	}
	// Nothing wrote index.json on the way: the push of a layout leaves it
	// to its caller.
	if b, err := os.ReadFile(filepath.Join(dir, "index.json")); err == nil && strings.Contains(string(b), res.Index.Digest.String()) {
		t.Errorf("index.json written during the push: %s", b)
	}
	if err := tgt.SaveIndex(); err != nil {
		t.Fatal(err)
	}
	store, err := orasoci.NewWithContext(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := store.Resolve(ctx, "v1")
	if err != nil || d.Digest != res.Index.Digest {
		t.Fatalf("v1 = %v, %v", d.Digest, err)
	}
	for _, m := range res.Manifests {
		sboms, err := registry.Referrers(ctx, store, m, oci.MediaTypeSPDX)
		if err != nil {
			t.Fatal(err)
		}
		if len(sboms) != 1 {
			t.Fatalf("%s: %d SBOM referrers in the layout", m.Digest, len(sboms))
		}
		b, err := content.FetchAll(ctx, store, sboms[0])
		if err != nil {
			t.Fatal(err)
		}
		var man ocispec.Manifest
		json.Unmarshal(b, &man)
		if man.Subject == nil || man.Subject.Digest != m.Digest {
			t.Errorf("subject %v", man.Subject)
		}
	}
	// Our own reader opens it as a layout too.
	ol, err := oci.OpenLayout(ctx, "oci-layout:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	ol.Close()
}

// TestInTotoArtifact: an in-toto referrer names its predicate type on the
// layer and on the manifest (so the referrers index carries it), and its
// creation time, as affix convert --keep-intoto and --sbom-format
// spdx-intoto publish it.
func TestInTotoArtifact(t *testing.T) {
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 100}
	a := exporter.InToto(subject, oci.PredicateSPDX, []byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`), created, map[string]string{oci.AnnotationFormat: "spdx-json"})
	d, b, err := a.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != oci.MediaTypeInToto || len(m.Layers) != 1 || m.Layers[0].MediaType != oci.MediaTypeInToto ||
		m.Layers[0].Annotations[oci.AnnotationPredicateType] != oci.PredicateSPDX {
		t.Errorf("manifest %s", b)
	}
	want := map[string]string{oci.AnnotationPredicateType: oci.PredicateSPDX, ocispec.AnnotationCreated: "2024-01-02T03:04:05Z", oci.AnnotationFormat: "spdx-json"}
	if !maps.Equal(m.Annotations, want) || !maps.Equal(d.Annotations, want) || d.ArtifactType != oci.MediaTypeInToto {
		t.Errorf("annotations %v, descriptor %+v; want %v", m.Annotations, d, want)
	}
	// No creation time: no annotation for it.
	if a := exporter.InToto(subject, oci.PredicateSPDX, []byte(`{}`), time.Time{}, nil); a.Annotations[ocispec.AnnotationCreated] != "" || len(a.Annotations) != 1 {
		t.Errorf("annotations without a creation time: %v", a.Annotations)
	}
}

// TestStrongETag: only a strong entity tag goes into If-Match.
func TestStrongETag(t *testing.T) {
	for in, want := range map[string]string{
		`"sha256:abc"`: `"sha256:abc"`,
		` "abc" `:      `"abc"`,
		`W/"abc"`:      "",
		"":             "",
	} {
		if got := exporter.StrongETag(in); got != want {
			t.Errorf("StrongETag(%q) = %q, want %q", in, got, want)
		}
	}
}
