package frontend

import (
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// TestExporterDescriptor: the descriptor BuildKit's exporter reports has
// the index-descriptor annotations, not the names index.json adds; the
// oci exporter adds created, the image exporter only when given.
func TestExporterDescriptor(t *testing.T) {
	const created = ocispec.AnnotationCreated
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("index"), Size: 5}
	with := func(a map[string]string) ocispec.Descriptor {
		d := d
		d.Annotations = a
		return d
	}
	entry := with(map[string]string{oci.AnnotationImageName: "r.example/app:v1", ocispec.AnnotationRefName: "v1", created: "2026-01-02T03:04:05Z", "k": "v"})
	for _, tt := range []struct {
		name     string
		res      Result
		exporter string
		want     map[string]string
	}{
		{"reported, oci", Result{Index: entry, exported: with(map[string]string{created: "2026-01-02T03:04:05Z", "k": "v"})}, ExporterOCI,
			map[string]string{created: "2026-01-02T03:04:05Z", "k": "v"}},
		{"reported, image", Result{Index: entry, exported: with(map[string]string{created: "2026-01-02T03:04:05Z", "k": "v"})}, ExporterImage,
			map[string]string{"k": "v"}},
		{"created given, image", Result{Index: entry, exported: with(map[string]string{created: "2026-01-02T03:04:05Z"}), createdGiven: true}, ExporterImage,
			map[string]string{created: "2026-01-02T03:04:05Z"}},
		{"not reported: names dropped", Result{Index: entry}, ExporterOCI,
			map[string]string{created: "2026-01-02T03:04:05Z", "k": "v"}},
		{"nothing left", Result{Index: with(map[string]string{oci.AnnotationImageName: "r.example/app:v1", ocispec.AnnotationRefName: "v1", created: "x"})}, ExporterImage,
			nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := maps.Clone(tt.res.Index.Annotations)
			got := tt.res.ExporterDescriptor(tt.exporter)
			if got.Digest != d.Digest || got.Size != d.Size || got.MediaType != d.MediaType || !maps.Equal(got.Annotations, tt.want) || (tt.want == nil) != (got.Annotations == nil) {
				t.Errorf("ExporterDescriptor(%s) = %+v, want annotations %v", tt.exporter, got, tt.want)
			}
			if !maps.Equal(tt.res.Index.Annotations, before) {
				t.Errorf("Index annotations changed: %v", tt.res.Index.Annotations)
			}
		})
	}
}

func TestExportedDescriptor(t *testing.T) {
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("index"), Size: 5, Annotations: map[string]string{ocispec.AnnotationCreated: "2026-01-02T03:04:05Z"}}
	b, _ := json.Marshal(d)
	for _, tt := range []struct {
		name, v, err string
		want         ocispec.Descriptor
	}{
		{name: "none"},
		{name: "a descriptor", v: base64.StdEncoding.EncodeToString(b), want: d},
		{name: "not base64", v: "%%", err: "exporter response containerimage.descriptor: illegal base64"},
		{name: "not JSON", v: base64.StdEncoding.EncodeToString([]byte("{")), err: "exporter response containerimage.descriptor: unexpected end of JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := map[string]string{"containerimage.digest": d.Digest.String()}
			if tt.v != "" {
				resp["containerimage.descriptor"] = tt.v
			}
			got, err := exportedDescriptor(resp)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got.Digest != tt.want.Digest || got.Size != tt.want.Size || !maps.Equal(got.Annotations, tt.want.Annotations) {
				t.Errorf("exportedDescriptor = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestLocalFS: a directory inside a local context (the node parts of an
// --output inside the build context) is not sent; everything else is.
func TestLocalFS(t *testing.T) {
	ctxDir := t.TempDir()
	files := []string{"Dockerfile", "src/a.go", "out/.affix-parts/0/index.json", "out/keep"}
	all := []string{"Dockerfile", "out", "out/.affix-parts", "out/.affix-parts/0", "out/.affix-parts/0/index.json", "out/keep", "src", "src/a.go"}
	weird := runtime.GOOS != "windows" // no such names there, and patterns have no escape
	if weird {
		files = append(files, "we[ir]d*?/.affix-parts/1/blob", "we[ir]d*?/other", "!out/.affix-parts/2/blob")
		all = append(all, "we[ir]d*?", "we[ir]d*?/.affix-parts", "we[ir]d*?/.affix-parts/1", "we[ir]d*?/.affix-parts/1/blob", "we[ir]d*?/other",
			"!out", "!out/.affix-parts", "!out/.affix-parts/2", "!out/.affix-parts/2/blob")
	}
	slices.Sort(all)
	for _, f := range files {
		p := filepath.Join(ctxDir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	without := func(prefix string) []string {
		var out []string
		for _, p := range all {
			if p != prefix && !strings.HasPrefix(p, prefix+"/") {
				out = append(out, p)
			}
		}
		return out
	}
	for _, tt := range []struct {
		name    string
		exclude string
		want    []string
	}{
		{"nothing excluded", "", all},
		{"parts inside", filepath.Join(ctxDir, "out", ".affix-parts"), without("out/.affix-parts")},
		{"pattern characters", filepath.Join(ctxDir, "we[ir]d*?", ".affix-parts"), without("we[ir]d*?/.affix-parts")},
		{"a leading !, which negates a pattern", filepath.Join(ctxDir, "!out", ".affix-parts"), without("!out/.affix-parts")},
		{"outside", filepath.Join(t.TempDir(), ".affix-parts"), all},
		{"the context itself", ctxDir, all},
		{"a sibling with the context's name as prefix", ctxDir + "-out", all},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !weird && strings.ContainsAny(tt.exclude, "[*?!") {
				t.Skip("no such names on Windows")
			}
			fsys, err := localFS(ctxDir, tt.exclude)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			err = fsys.Walk(t.Context(), "", func(p string, _ fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				got = append(got, filepath.ToSlash(p))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("sent\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}
