package convert

import (
	"errors"
	"os"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/affix-oci/affix/exporter"
)

// TestSpoolLoad: a spooled document is read back as written, and one
// changed on disk since is refused, not pushed.
func TestSpoolLoad(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	doc := []byte(`{"spdxVersion":"SPDX-2.3"}`)
	a := exporter.Artifact{ArtifactType: "application/spdx+json", Blobs: []exporter.Blob{{Data: doc, Digest: digest.FromBytes(doc)}}}
	s := &spool{}
	defer s.remove()
	p, err := s.put(&a)
	if err != nil {
		t.Fatal(err)
	}
	if p.art.Blobs[0].Data != nil || a.Blobs[0].Data == nil {
		t.Fatal("put kept the spooled data, or took the caller's")
	}
	got, err := p.load()
	if err != nil || string(got.Blobs[0].Data) != string(doc) || got.Blobs[0].Digest != a.Blobs[0].Digest {
		t.Fatalf("load: %q, %v", got.Blobs, err)
	}
	for _, changed := range []string{`{"spdxVersion":"SPDX-2.2"}`, string(doc) + "\n"} {
		if err := os.WriteFile(p.files[0], []byte(changed), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := p.load(); !errors.Is(err, errSpoolChanged) {
			t.Errorf("load of %q: %v, want errSpoolChanged", changed, err)
		}
	}
	dir := s.dir.Path
	if err := s.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s after remove: %v", dir, err)
	}
}
