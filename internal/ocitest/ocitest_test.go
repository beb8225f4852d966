package ocitest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	subject = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 7}
	layer   = ocispec.Descriptor{MediaType: "application/spdx+json", Digest: digest.FromString("{}\n"), Size: 3}
)

// referrer returns a valid SBOM referrer manifest, changed by edit.
func referrer(edit func(m map[string]any)) []byte {
	var m map[string]any
	b, _ := json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/spdx+json",
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{layer},
		Subject:      &subject,
		Annotations:  map[string]string{ocispec.AnnotationCreated: "2024-01-02T03:04:05Z", "dev.affix.sbom.format": "spdx-json"},
	})
	_ = json.Unmarshal(b, &m)
	if edit != nil {
		edit(m)
	}
	b, _ = json.Marshal(m)
	return b
}

func TestValidateDocument(t *testing.T) {
	cfg := func(m map[string]any) map[string]any { return m["config"].(map[string]any) }
	tests := []struct {
		name, mediaType string
		doc             []byte
		want            string // "" is valid
	}{
		{"referrer", ocispec.MediaTypeImageManifest, referrer(nil), ""},
		{"no mediaType", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) { delete(m, "mediaType") }), "mediaType is absent"},
		{"wrong mediaType", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) { m["mediaType"] = ocispec.MediaTypeImageIndex }), "MUST be application/vnd.oci.image.manifest.v1+json"},
		{"empty config without artifactType", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) { delete(m, "artifactType") }), "artifactType is not set"},
		{"empty config of the wrong size", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) { cfg(m)["size"] = 3; delete(cfg(m), "data") }), "the empty blob is {}"},
		{"empty config data not {}", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) { cfg(m)["data"] = "e30K" }), "data holds 3 bytes"},
		{"data not the content", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) { cfg(m)["data"] = "W10=" }), "data is not the content"},
		{"created not RFC 3339", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) {
			m["annotations"].(map[string]any)[ocispec.AnnotationCreated] = "2024-01-02 03:04:05"
		}), "not an RFC 3339 date-time"},
		{"created with a comma", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) {
			m["annotations"].(map[string]any)[ocispec.AnnotationCreated] = "2024-01-02T03:04:05,5Z"
		}), "not an RFC 3339 date-time"},
		{"reserved annotation", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) {
			m["annotations"].(map[string]any)["org.opencontainers.image.sbom"] = "x"
		}), "reserved org.opencontainers prefix"},
		{"subject not a manifest", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) {
			m["subject"].(map[string]any)["mediaType"] = "application/spdx+json"
		}), "subject: mediaType"},
		{"subject without size", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) { delete(m["subject"].(map[string]any), "size") }), "schema"},
		{"no layers", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) { m["layers"] = []any{} }), "schema"},
		{"upper-case digest", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) {
			m["layers"].([]any)[0].(map[string]any)["digest"] = "sha256:" + strings.ToUpper(layer.Digest.Encoded())
		}), "Registered algorithms"},
		{"media type with parameters", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) { m["artifactType"] = "application/spdx+json; charset=utf-8" }), "schema"},
		{"relative url", ocispec.MediaTypeImageManifest, referrer(func(m map[string]any) {
			m["layers"].([]any)[0].(map[string]any)["urls"] = []string{"blobs/x"}
		}), "RFC 3986"},
		{"duplicate key", ocispec.MediaTypeImageManifest, []byte(strings.Replace(string(referrer(nil)), `"schemaVersion":2`, `"schemaVersion":2,"schemaVersion":2`, 1)), "appears twice"},
		{"index", ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), ""},
		{"index manifests null", ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":null}`), "schema"},
		{"index without mediaType", ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"manifests":[]}`), "mediaType is absent"},
		{"index platform without os", ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + subject.Digest.String() + `","size":7,"platform":{"os":"","architecture":"amd64"}}]}`), "lacks os"},
		{"bad ref.name", ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + subject.Digest.String() + `","size":7,"annotations":{"org.opencontainers.image.ref.name":"a b"}}]}`), "ref grammar"},
		{"config", ocispec.MediaTypeImageConfig, []byte(`{"created":"1970-01-01T00:00:00Z","architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`), ""},
		{"config rootfs type", ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"tar","diff_ids":[]}}`), "MUST be layers"},
		{"layout", ocispec.MediaTypeLayoutHeader, []byte(`{"imageLayoutVersion":"1.0.0"}`), ""},
		{"layout version", ocispec.MediaTypeLayoutHeader, []byte(`{"imageLayoutVersion":"1.1.0"}`), "schema"},
		{"empty", ocispec.MediaTypeEmptyJSON, []byte(`{}`), ""},
		{"empty not {}", ocispec.MediaTypeEmptyJSON, []byte(`{ }`), "the empty blob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateDocument(tt.mediaType, tt.doc)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("ValidateDocument(%s):\n%v\nwant valid:\n%s", tt.mediaType, err, tt.doc)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("ValidateDocument(%s) = %v, want %q:\n%s", tt.mediaType, err, tt.want, tt.doc)
			}
		})
	}
	if err := ValidateDocument("application/json", []byte(`{}`)); !errors.Is(err, ErrNoSchema) {
		t.Errorf("unknown media type: %v, want ErrNoSchema", err)
	}
}

func TestIsRFC3339(t *testing.T) {
	for s, want := range map[string]bool{
		"2024-01-02T03:04:05Z": true, "2024-01-02T03:04:05.123+02:00": true, "2024-01-02t03:04:05z": true,
		"2024-01-02 03:04:05Z": false, "2024-01-02T03:04:05": false, "2024-01-02T03:04:05,5Z": false,
		"2024-13-02T03:04:05Z": false, "2024-01-02T03:04:05+0200": false, "": false,
		"2024-01-02T03:04:05+24:00": false, "2024-01-02T03:04:05-23:59": true, "10000-01-02T03:04:05Z": false,
	} {
		if got := IsRFC3339(s); got != want {
			t.Errorf("IsRFC3339(%q) = %v, want %v", s, got, want)
		}
	}
}

// memStore is a Fetch over blobs in memory.
type memStore map[digest.Digest][]byte

func (s memStore) put(mt string, b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	s[d] = b
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
}

func (s memStore) fetch(_ context.Context, d ocispec.Descriptor) ([]byte, error) {
	if b, ok := s[d.Digest]; ok {
		return b, nil
	}
	return nil, ErrMissing
}

func TestTreeAndReferrersIndex(t *testing.T) {
	ctx := context.Background()
	s := memStore{}
	cfg := s.put(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	lay := s.put(ocispec.MediaTypeImageLayerGzip, []byte("layer"))
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{lay}})
	img := s.put(ocispec.MediaTypeImageManifest, mb)
	s.put(ocispec.MediaTypeEmptyJSON, []byte("{}"))
	sb := s.put("application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`))
	ann := map[string]string{ocispec.AnnotationCreated: "2024-01-02T03:04:05Z"}
	rb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/spdx+json",
		Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{sb}, Subject: &img, Annotations: ann})
	ref := s.put(ocispec.MediaTypeImageManifest, rb)

	index := func(entries ...ocispec.Descriptor) []byte {
		b, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: entries})
		return b
	}
	withPlatform := img
	withPlatform.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	if err := Tree(ctx, s.fetch, s.put(ocispec.MediaTypeImageIndex, index(withPlatform))); err != nil {
		t.Errorf("valid index: %v", err)
	}
	if err := Tree(ctx, s.fetch, s.put(ocispec.MediaTypeImageIndex, index(img))); err == nil || !strings.Contains(err.Error(), "has no platform") {
		t.Errorf("index without platform: %v", err)
	}
	wrongSize := withPlatform
	wrongSize.Size++
	if err := Tree(ctx, s.fetch, s.put(ocispec.MediaTypeImageIndex, index(wrongSize))); err == nil || !strings.Contains(err.Error(), "descriptor size") {
		t.Errorf("index with a wrong size: %v", err)
	}
	if err := Tree(ctx, s.fetch, ref); err != nil {
		t.Errorf("referrer: %v", err)
	}

	entry := ocispec.Descriptor{MediaType: ref.MediaType, Digest: ref.Digest, Size: ref.Size, ArtifactType: "application/spdx+json", Annotations: ann}
	if err := ReferrersIndex(ctx, s.fetch, img.Digest, index(entry)); err != nil {
		t.Errorf("referrers index: %v", err)
	}
	for _, tt := range []struct {
		name string
		edit func(*ocispec.Descriptor)
		want string
	}{
		{"no artifactType", func(d *ocispec.Descriptor) { d.ArtifactType = "" }, "artifactType"},
		{"annotations missing", func(d *ocispec.Descriptor) { d.Annotations = nil }, "annotations"},
		{"wrong subject", nil, "its subject"},
	} {
		e := entry
		subj := img.Digest
		if tt.edit != nil {
			tt.edit(&e)
		} else {
			subj = digest.FromString("other")
		}
		if err := ReferrersIndex(ctx, s.fetch, subj, index(e)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	if err := ReferrersIndex(ctx, s.fetch, img.Digest, index(entry, entry)); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("duplicate entry: %v", err)
	}
}

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`))
	write(filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	if err := Layout(context.Background(), dir); err != nil {
		t.Errorf("empty layout: %v", err)
	}
	write(filepath.Join(blobs, digest.FromString("a").Encoded()), []byte("b"))
	if err := Layout(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "MUST match the digest") {
		t.Errorf("misnamed blob: %v", err)
	}
}
