package sbomgen

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
)

// foreignImage writes a Windows image whose base layer (layer 0) holds
// the Python package six and whose app layer holds the npm package
// left-pad, then a manifest whose layer 0 descriptor has media type mt
// and urls. It returns the layout, that manifest's descriptor and the
// base layer's descriptor.
func foreignImage(t *testing.T, mt string, urls []string) (string, ocispec.Descriptor, ocispec.Descriptor) {
	t.Helper()
	spec := fixture.Spec{Images: []fixture.Image{{
		Platform: ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.2340"},
		Layers: []fixture.Layer{
			{{Path: "Files/Python/Lib/site-packages/six-1.16.0.dist-info/METADATA", Data: []byte("Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n")}},
			{{Path: "Files/app/node_modules/left-pad/package.json", Data: []byte(`{"name":"left-pad","version":"1.3.0","license":"MIT"}`)}},
		},
	}}}
	dir, res := writeLayout(t, spec)
	var m ocispec.Manifest
	if err := json.Unmarshal(mustRead(t, blobPath(dir, res.Manifests[0].Digest)), &m); err != nil {
		t.Fatal(err)
	}
	m.Layers[0].MediaType, m.Layers[0].URLs = mt, urls
	d := putJSON(t, dir, ocispec.MediaTypeImageManifest, m)
	return dir, d, m.Layers[0]
}

// TestForeignLayerAbsent scans images whose non-distributable (foreign)
// base layer is not in the layout, as docker push, crane, affix push and
// exports with --skip-non-distributable leave it: the rest is scanned,
// and the result says which layer was not (Unreadable). A layer that is
// not non-distributable is still an error when it is missing, and a
// non-distributable one that is there is scanned and verified.
func TestForeignLayerAbsent(t *testing.T) {
	const (
		dockerForeign = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
		ociNonDist    = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	)
	mcr := []string{"https://mcr.microsoft.com/v2/windows/servercore/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000"}
	tests := []struct {
		name    string
		mt      string
		urls    []string
		absent  bool
		damaged bool
		want    error // nil: the scan succeeds
		// skipped: layer 0 was not scanned, so only left-pad is found.
		skipped bool
	}{
		{"Docker foreign layer, absent", dockerForeign, mcr, true, false, nil, true},
		{"Docker foreign layer without URLs, absent", dockerForeign, nil, true, false, nil, true},
		{"OCI non-distributable layer, absent", ociNonDist, nil, true, false, nil, true},
		{"OCI non-distributable zstd layer, absent", "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", nil, true, false, nil, true},
		{"OCI non-distributable uncompressed layer, absent", "application/vnd.oci.image.layer.nondistributable.v1.tar", nil, true, false, nil, true},
		{"layer with URLs, absent", ocispec.MediaTypeImageLayerGzip, mcr, true, false, nil, true},
		{"Docker foreign layer, present", dockerForeign, mcr, false, false, nil, false},
		{"Docker foreign layer, damaged", dockerForeign, mcr, false, true, oci.ErrDigestMismatch, false},
		{"distributable layer, absent", ocispec.MediaTypeImageLayerGzip, nil, true, false, oci.ErrBlobNotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, m, base := foreignImage(t, tt.mt, tt.urls)
			p := blobPath(dir, base.Digest)
			switch {
			case tt.absent:
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			case tt.damaged:
				b := mustRead(t, p)
				b[len(b)/2] ^= 0xff
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tmp := t.TempDir()
			r, err := newGen(t, Options{TempDir: tmp, Formats: Formats()}).Image(context.Background(), openLayout(t, dir), m)
			emptyDir(t, tmp)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("error = %v, want %v", err, tt.want)
				}
				if want := "layer 0 (" + base.Digest.String() + ")"; !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := syftPackages(t, doc(t, r, SyftJSON))
			leftPad, six := pkgKey{"left-pad", "1.3.0", "npm"}, pkgKey{"six", "1.16.0", "python"}
			if !got[leftPad] || got[six] == tt.skipped || len(got) != 2-boolInt(tt.skipped) {
				t.Errorf("packages %v, want left-pad (and six unless layer 0 was skipped: %v)", got, tt.skipped)
			}
			if !tt.skipped {
				if len(r.Unreadable) != 0 {
					t.Errorf("unreadable: %v", r.Unreadable)
				}
				return
			}
			want := "layer 0 (" + base.Digest.String() + ", " + tt.mt + "): not scanned: non-distributable, not in the source"
			if len(r.Unreadable) != 1 || r.Unreadable[0] != want {
				t.Errorf("unreadable %q, want [%q]", r.Unreadable, want)
			}
			// Whole: UnreadableSummary cuts what passes 200 bytes.
			if s := r.PackageSummary(); !strings.Contains(s, `1 unreadable, first "`+want+`"`) {
				t.Errorf("summary %q does not name the layer not scanned", s)
			}
			// The documents still describe the manifest: its digest, both
			// layers.
			var sj struct {
				Source struct {
					Metadata struct {
						ManifestDigest string `json:"manifestDigest"`
						Layers         []struct{ MediaType, Digest string }
					}
				}
			}
			if err := json.Unmarshal(doc(t, r, SyftJSON), &sj); err != nil {
				t.Fatal(err)
			}
			if md := sj.Source.Metadata; md.ManifestDigest != m.Digest.String() || len(md.Layers) != 2 || md.Layers[0].MediaType != tt.mt {
				t.Errorf("syft JSON source %+v, want manifest %s with both layers", md, m.Digest)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestForeignLayerAbsentNotCached: a scan without a layer is not cached,
// so that a later scan with the layer's blob gives (and caches) the whole
// image's documents.
func TestForeignLayerAbsentNotCached(t *testing.T) {
	dir, m, base := foreignImage(t, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", nil)
	p := blobPath(dir, base.Digest)
	blob := mustRead(t, p)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	cacheDir := t.TempDir()
	scanCached := func() *Result {
		t.Helper()
		r, err := newGen(t, Options{CacheDir: cacheDir}).Image(context.Background(), openLayout(t, dir), m)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var partial *Result
	for i := range 2 {
		if partial = scanCached(); partial.Cached || len(partial.Unreadable) != 1 || partial.PackageCount() != 1 {
			t.Errorf("scan %d without the layer: cached %v, unreadable %v, packages %v", i, partial.Cached, partial.Unreadable, partial.Packages)
		}
	}
	if err := os.WriteFile(p, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := scanCached(); r.Cached || len(r.Unreadable) != 0 || r.PackageCount() != 2 {
		t.Errorf("scan with the layer: cached %v, unreadable %v, packages %v", r.Cached, r.Unreadable, r.Packages)
	} else if a, b := namespace(t, partial), namespace(t, r); a == b {
		t.Errorf("the partial and the whole document share the namespace %s", a)
	}
	if r := scanCached(); !r.Cached || r.PackageCount() != 2 {
		t.Errorf("scan again: cached %v, packages %v", r.Cached, r.Packages)
	}
}

// namespace returns the SPDX documentNamespace of r's SPDX document.
func namespace(t *testing.T, r *Result) string {
	t.Helper()
	var d struct {
		Namespace string `json:"documentNamespace"`
	}
	if err := json.Unmarshal(doc(t, r, SPDXJSON), &d); err != nil || d.Namespace == "" {
		t.Fatalf("no documentNamespace: %v", err)
	}
	return d.Namespace
}
