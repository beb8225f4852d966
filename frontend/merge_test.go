package frontend

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestAgreed(t *testing.T) {
	tests := []struct {
		name string
		in   []map[string]string
		want map[string]string
	}{
		{"none", nil, nil},
		{"one", []map[string]string{{"a": "1"}}, map[string]string{"a": "1"}},
		{"same", []map[string]string{{"a": "1", "b": "2"}, {"a": "1", "b": "2"}}, map[string]string{"a": "1", "b": "2"}},
		{"conflict dropped", []map[string]string{{"a": "1", "b": "2"}, {"a": "1", "b": "3"}}, map[string]string{"a": "1"}},
		{"missing dropped", []map[string]string{{"a": "1", "b": "2"}, {"a": "1"}}, map[string]string{"a": "1"}},
		{"nothing agreed", []map[string]string{{"a": "1"}, nil}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := agreed(tt.in); !maps.Equal(got, tt.want) {
				t.Errorf("agreed(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestMerge merges two one-platform layouts (as two nodes export them)
// and checks order, blobs, index.json naming and determinism.
func TestMerge(t *testing.T) {
	all := fixture.Variants().Images
	amd, arm := all[0], all[3]
	dir := t.TempDir()
	parts := []string{filepath.Join(dir, "p0"), filepath.Join(dir, "p1")}
	// wantBlobs is what the merged index reaches: every blob of the
	// parts but their own indexes (and a stray blob of a node's content
	// store), and the merged index.
	wantBlobs := map[digest.Digest]bool{}
	for i, img := range []fixture.Image{amd, arm} {
		res, err := fixture.WriteLayout(parts[i], fixture.Spec{Images: []fixture.Image{img}})
		if err != nil {
			t.Fatal(err)
		}
		for d := range res.Blobs {
			wantBlobs[d] = d != res.Index.Digest
		}
		// Each node's oci exporter stamps its entry with its own time.
		setEntryAnnotation(t, parts[i], ocispec.AnnotationCreated, []string{"2026-01-02T03:04:05Z", "2026-01-02T03:04:06Z"}[i])
		stray := []byte("not referenced")
		if err := os.WriteFile(filepath.Join(parts[i], "blobs", "sha256", digest.FromBytes(stray).Encoded()), stray, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &plan{names: []string{"example.com/app:v1"}}
	var err error
	if p.platforms, err = parsePlatforms([]string{"linux/arm64", "linux/amd64"}); err != nil {
		t.Fatal(err)
	}
	p.groups = []group{{node: node{addr: "unix:///a"}, platforms: p.platforms[1:]}, {node: node{addr: "unix:///b"}, platforms: p.platforms[:1]}}

	mergeInto := func(out string) (ocispec.Descriptor, []ocispec.Descriptor) {
		t.Helper()
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		root, _, ms, err := merge(t.Context(), out, parts, p)
		if err != nil {
			t.Fatal(err)
		}
		return root, ms
	}
	out := filepath.Join(dir, "out")
	root, ms := mergeInto(out)
	if len(ms) != 2 || platforms.FormatAll(*ms[0].Platform) != "linux/arm64/v8" && platforms.FormatAll(*ms[0].Platform) != "linux/arm64" || platforms.FormatAll(*ms[1].Platform) != "linux/amd64" {
		t.Fatalf("manifests %+v", ms)
	}
	if root.Annotations[ocispec.AnnotationRefName] != "v1" || root.Annotations[oci.AnnotationImageName] != "example.com/app:v1" ||
		root.Annotations[ocispec.AnnotationCreated] != "2026-01-02T03:04:06Z" {
		t.Errorf("index.json annotations %v", root.Annotations)
	}
	l, err := oci.OpenLayout(t.Context(), oci.SchemeLayout+":"+out)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	imgs, err := oci.Walk(t.Context(), l, l.Roots()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		var m ocispec.Manifest
		if _, err := oci.ReadJSON(t.Context(), l, img.Descriptor, &m); err != nil {
			t.Fatal(err)
		}
		for _, d := range append(m.Layers, m.Config) {
			if ok, err := l.Exists(t.Context(), d); !ok || err != nil {
				t.Errorf("blob %s missing from the merged layout (%v)", d.Digest, err)
			}
		}
	}
	wantBlobs[root.Digest] = true
	entries, err := os.ReadDir(filepath.Join(out, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if !wantBlobs[d] {
			t.Errorf("blob %s in the merged layout, which its index does not reach", d)
		}
		delete(wantBlobs, d)
	}
	for d, want := range wantBlobs {
		if want {
			t.Errorf("blob %s missing from the merged layout", d)
		}
	}
	var idx ocispec.Index
	b, err := oci.ReadJSON(t.Context(), l, root, &idx)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.MarshalIndent(idx, "", "  ")
	if string(b) != string(want) {
		t.Errorf("index is not encoded as BuildKit encodes it:\n%s", b)
	}
	// The same parts merge to the same bytes.
	root2, _ := mergeInto(filepath.Join(dir, "out2"))
	if root2.Digest != root.Digest {
		t.Errorf("merging twice: %s then %s", root.Digest, root2.Digest)
	}
}

// setEntryAnnotation sets the annotation k of every index.json entry of
// the layout dir.
func setEntryAnnotation(t *testing.T, dir, k, v string) {
	t.Helper()
	p := filepath.Join(dir, ocispec.ImageIndexFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	for i := range idx.Manifests {
		if idx.Manifests[i].Annotations == nil {
			idx.Manifests[i].Annotations = map[string]string{}
		}
		idx.Manifests[i].Annotations[k] = v
	}
	if b, err = json.Marshal(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLatestCreated(t *testing.T) {
	const c = ocispec.AnnotationCreated
	for _, tt := range []struct {
		name string
		in   []map[string]string
		want string
	}{
		{"none", []map[string]string{{"a": "1"}, nil}, ""},
		{"same", []map[string]string{{c: "2026-01-02T03:04:05Z"}, {c: "2026-01-02T03:04:05Z"}}, "2026-01-02T03:04:05Z"},
		{"second node later", []map[string]string{{c: "2026-01-02T03:04:05Z"}, {c: "2026-01-02T03:04:06Z"}}, "2026-01-02T03:04:06Z"},
		{"first node later", []map[string]string{{c: "2026-01-02T03:04:07Z"}, {c: "2026-01-02T03:04:06Z"}}, "2026-01-02T03:04:07Z"},
		{"by time, not text", []map[string]string{{c: "2026-01-02T04:00:00+02:00"}, {c: "2026-01-02T03:00:00Z"}}, "2026-01-02T03:00:00Z"},
		{"one node only", []map[string]string{nil, {c: "2026-01-02T03:04:05Z"}}, "2026-01-02T03:04:05Z"},
		{"not a time passed over", []map[string]string{{c: "yesterday"}, {c: "2026-01-02T03:04:05Z"}}, "2026-01-02T03:04:05Z"},
		{"no time", []map[string]string{{c: "yesterday"}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := latestCreated(tt.in)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("latestCreated(%v) = %q, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}

func TestSingleIndex(t *testing.T) {
	idx := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("index"), Size: 5}
	other := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("other"), Size: 5}
	manifest := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 1}
	named := func(d ocispec.Descriptor, name string) ocispec.Descriptor {
		d.Annotations = map[string]string{ocispec.AnnotationRefName: name}
		return d
	}
	for _, tt := range []struct {
		name    string
		roots   []ocispec.Descriptor
		wantErr string
	}{
		{"one", []ocispec.Descriptor{idx}, ""},
		{"one image under two names", []ocispec.Descriptor{named(idx, "v1"), named(idx, "latest")}, ""},
		{"empty", nil, "index.json lists no entry, want one image index"},
		{"a manifest", []ocispec.Descriptor{manifest}, "index.json lists " + manifest.Digest.String() + " (application/vnd.oci.image.manifest.v1+json), want one image index"},
		{"no media type", []ocispec.Descriptor{{Digest: manifest.Digest}}, "(no media type)"},
		{"two images", []ocispec.Descriptor{idx, other}, "lists " + idx.Digest.String() + " and " + other.Digest.String()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := singleIndex(tt.roots)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("singleIndex = %v, %v; want error %q", got.Digest, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Digest != idx.Digest || (len(tt.roots) > 1 && got.Annotations[ocispec.AnnotationRefName] != "v1") {
				t.Errorf("singleIndex = %v, %v; want the first entry", got, err)
			}
		})
	}
}

// TestMergeAttestationOrder: attestation manifests follow the platform
// manifests in the order of their subjects, as BuildKit orders them in
// one index, whichever node built them: linux/amd64 and linux/arm/v6 on
// one node, linux/arm64 on another, requested amd64, arm64, arm/v6.
func TestMergeAttestationOrder(t *testing.T) {
	all := fixture.Variants().Images
	amd, v6, arm := all[0], all[1], all[3]
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for dst, imgs := range map[string][]fixture.Image{a: {amd, v6}, b: {arm}} {
		if _, err := fixture.WriteLayout(dst, fixture.Spec{Images: imgs, Attestations: true, Provenance: true}); err != nil {
			t.Fatal(err)
		}
	}
	pls, err := parsePlatforms([]string{"linux/amd64", "linux/arm64", "linux/arm/v6"})
	if err != nil {
		t.Fatal(err)
	}
	na, nb := node{addr: "unix:///a"}, node{addr: "unix:///b"}
	var first digest.Digest
	for _, tt := range []struct {
		name   string
		parts  []string
		groups []group
	}{
		{"a first", []string{a, b}, []group{{node: na, platforms: []ocispec.Platform{pls[0], pls[2]}}, {node: nb, platforms: pls[1:2]}}},
		{"b first", []string{b, a}, []group{{node: nb, platforms: pls[1:2]}, {node: na, platforms: []ocispec.Platform{pls[0], pls[2]}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &plan{platforms: pls, groups: tt.groups}
			out := filepath.Join(t.TempDir(), "out")
			root, _, ms, err := merge(t.Context(), out, tt.parts, p)
			if err != nil {
				t.Fatal(err)
			}
			l, err := oci.OpenLayout(t.Context(), oci.SchemeLayout+":"+out)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var idx ocispec.Index
			if _, err := oci.ReadJSON(t.Context(), l, root, &idx); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range idx.Manifests {
				if oci.IsAttestation(d) {
					got = append(got, d.Annotations[oci.AnnotationDockerReferenceDigest])
				} else {
					got = append(got, d.Digest.String())
				}
			}
			want := []string{ms[0].Digest.String(), ms[1].Digest.String(), ms[2].Digest.String()}
			want = append(want, want...)
			if !slices.Equal(got, want) {
				t.Errorf("index lists (attestations by subject)\n%v\nwant\n%v", got, want)
			}
			if tt.name == "a first" {
				first = root.Digest
			} else if root.Digest != first {
				t.Errorf("node order changed the index: %s, then %s", first, root.Digest)
			}
		})
	}
}
