package oci_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
)

func writeVariants(t *testing.T, spec fixture.Spec) (string, *fixture.Result) {
	t.Helper()
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	return dir, res
}

func walk(t *testing.T, src string) []oci.Image {
	t.Helper()
	ctx := context.Background()
	l, err := oci.OpenLayout(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	imgs, err := oci.Walk(ctx, l, l.Roots()...)
	if err != nil {
		t.Fatal(err)
	}
	return imgs
}

func TestSelect(t *testing.T) {
	spec := fixture.Variants()
	spec.Attestations = true
	dir, res := writeVariants(t, spec)
	imgs := walk(t, "oci-layout:"+dir)
	if got, want := len(imgs), 8; got != want {
		t.Fatalf("walk found %d manifests, want %d", got, want)
	}
	byPlat := func(i int) digest.Digest { return res.Manifests[i].Digest }
	tests := []struct {
		name    string
		sel     oci.Selector
		want    []digest.Digest
		wantErr error
	}{
		{"amd64", oci.Selector{Platform: "linux/amd64"}, []digest.Digest{byPlat(0)}, nil},
		{"arm v6", oci.Selector{Platform: "linux/arm/v6"}, []digest.Digest{byPlat(1)}, nil},
		{"arm v7", oci.Selector{Platform: "linux/arm/v7"}, []digest.Digest{byPlat(2)}, nil},
		{"arm default variant is v7", oci.Selector{Platform: "linux/arm"}, []digest.Digest{byPlat(2)}, nil},
		{"arm64 without variant matches v8", oci.Selector{Platform: "linux/arm64"}, []digest.Digest{byPlat(3)}, nil},
		{"arm64 v8", oci.Selector{Platform: "linux/arm64/v8"}, []digest.Digest{byPlat(3)}, nil},
		{"alias aarch64", oci.Selector{Platform: "linux/aarch64"}, []digest.Digest{byPlat(3)}, nil},
		{"unknown platform", oci.Selector{Platform: "linux/s390x"}, nil, oci.ErrNoMatch},
		{"variant absent", oci.Selector{Platform: "linux/arm/v5"}, nil, oci.ErrNoMatch},
		{"os.version mismatch", oci.Selector{Platform: "windows(10.0.17763)/amd64"}, nil, oci.ErrNoMatch},
		{"by digest", oci.Selector{Digest: byPlat(1)}, []digest.Digest{byPlat(1)}, nil},
		{"attestation by digest", oci.Selector{Digest: res.Attestations[0].Digest}, nil, oci.ErrNoMatch},
		{"missing digest", oci.Selector{Digest: digest.FromString("nope")}, nil, oci.ErrNoMatch},
		{"all skips attestations", oci.Selector{All: true}, []digest.Digest{byPlat(0), byPlat(1), byPlat(2), byPlat(3)}, nil},
		{"none given with several", oci.Selector{}, nil, oci.ErrAmbiguous},
		{"architecture alone, unknown", oci.Selector{Platform: "s390x"}, nil, oci.ErrNoMatch},
	}
	if runtime.GOOS == "linux" {
		// An architecture alone is this machine's OS, as buildx takes it.
		tests = append(tests, []struct {
			name    string
			sel     oci.Selector
			want    []digest.Digest
			wantErr error
		}{
			{"architecture alone", oci.Selector{Platform: "amd64"}, []digest.Digest{byPlat(0)}, nil},
			{"alias x86_64 alone", oci.Selector{Platform: "x86_64"}, []digest.Digest{byPlat(0)}, nil},
			{"alias aarch64 alone", oci.Selector{Platform: "aarch64"}, []digest.Digest{byPlat(3)}, nil},
			{"arm64 alone", oci.Selector{Platform: "arm64"}, []digest.Digest{byPlat(3)}, nil},
			{"alias armhf alone is arm/v7", oci.Selector{Platform: "armhf"}, []digest.Digest{byPlat(2)}, nil},
			{"alias armel alone is arm/v6", oci.Selector{Platform: "armel"}, []digest.Digest{byPlat(1)}, nil},
		}...)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := oci.Select(imgs, tt.sel)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.sel.Platform != "" && !strings.Contains(err.Error(), "linux/arm/v6") {
					t.Errorf("error does not list the platforms present: %v", err)
				}
				// Attestation manifests are no platform to pick.
				if tt.sel.Platform != "" && strings.Contains(err.Error(), "attestation") {
					t.Errorf("error lists attestation manifests as platforms: %v", err)
				}
				if d := res.Attestations[0].Digest.String(); strings.Count(err.Error(), d) > 1 {
					t.Errorf("error names %s twice: %v", d, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ds []digest.Digest
			for _, g := range got {
				ds = append(ds, g.Descriptor.Digest)
			}
			if !equal(ds, tt.want) {
				t.Errorf("selected %v, want %v", ds, tt.want)
			}
		})
	}
}

func TestSelectAmbiguousWithoutDefaultVariant(t *testing.T) {
	spec := fixture.Variants()
	spec.Images = spec.Images[1:2] // only linux/arm/v6
	dir, res := writeVariants(t, spec)
	imgs := walk(t, dir)
	got, err := oci.Select(imgs, oci.Selector{Platform: "linux/arm"})
	if err != nil || got[0].Descriptor.Digest != res.Manifests[0].Digest {
		t.Fatalf("linux/arm with only v6 present: got %v, %v", got, err)
	}
	got, err = oci.Select(imgs, oci.Selector{})
	if err != nil || len(got) != 1 {
		t.Fatalf("zero selector with one image: %v, %v", got, err)
	}
}

func TestWalkFlatAndPlatformFromConfig(t *testing.T) {
	spec := fixture.Variants()
	spec.Flat = true
	dir, _ := writeVariants(t, spec)
	// Drop the platform from index.json: Walk must read it from the config.
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte(`"platform":`), []byte(`"x-platform":`))
	if err := os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	imgs := walk(t, dir)
	var got []string
	for _, i := range imgs {
		got = append(got, i.String())
	}
	want := []string{"linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8"}
	if !equal(got, want) {
		t.Errorf("platforms = %v, want %v", got, want)
	}
}

func TestLayoutErrors(t *testing.T) {
	ctx := context.Background()
	good, res := writeVariants(t, fixture.Variants())
	tarPath := filepath.Join(t.TempDir(), "img.tar")
	if err := fixture.WriteArchive(good, tarPath); err != nil {
		t.Fatal(err)
	}
	tarBytes, err := os.ReadFile(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	truncated := filepath.Join(tmp, "truncated.tar")
	if err := os.WriteFile(truncated, tarBytes[:len(tarBytes)/2+100], 0o644); err != nil {
		t.Fatal(err)
	}
	// Cut at an entry boundary: the archive reads as complete up to
	// there, but lacks the end-of-archive blocks.
	atBoundary := filepath.Join(tmp, "boundary.tar")
	if err := os.WriteFile(atBoundary, tarBytes[:entryBoundary(t, tarBytes, len(tarBytes)/2)], 0o644); err != nil {
		t.Fatal(err)
	}
	noTrailer := filepath.Join(tmp, "notrailer.tar")
	if err := os.WriteFile(noTrailer, tarBytes[:len(tarBytes)-1024], 0o644); err != nil {
		t.Fatal(err)
	}
	notTar := filepath.Join(tmp, "not.tar")
	if err := os.WriteFile(notTar, []byte("hello, this is not a tar archive at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  string
		want error
	}{
		{"empty dir", "oci-layout:" + t.TempDir(), oci.ErrNotLayout},
		{"dir as archive", "oci-archive:" + good, oci.ErrNotLayout},
		{"file as layout", "oci-layout:" + tarPath, oci.ErrNotLayout},
		{"truncated tar", "oci-archive:" + truncated, oci.ErrTruncated},
		{"tar cut at an entry boundary", "oci-archive:" + atBoundary, oci.ErrTruncated},
		{"tar without end blocks", "oci-archive:" + noTrailer, oci.ErrTruncated},
		{"not a tar", "oci-archive:" + notTar, oci.ErrNotLayout},
		{"missing path", "oci-layout:" + filepath.Join(tmp, "nope"), os.ErrNotExist},
		{"empty", "", oci.ErrInvalidSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := oci.OpenLayout(ctx, tt.src)
			if err == nil {
				l.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.src != "" && !strings.Contains(err.Error(), strings.TrimPrefix(strings.TrimPrefix(tt.src, "oci-layout:"), "oci-archive:")) {
				t.Errorf("error does not name the input: %v", err)
			}
		})
	}
	// Both forms read the same content.
	for _, src := range []string{"oci-layout:" + good, "oci-archive:" + tarPath, tarPath, good} {
		l, err := oci.OpenLayout(ctx, src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		b, err := oci.ReadBlob(ctx, l, res.Manifests[0], 0)
		if err != nil || digest.FromBytes(b) != res.Manifests[0].Digest {
			t.Fatalf("%s: read manifest: %v", src, err)
		}
		l.Close()
	}
}

// entryBoundary returns the first offset at or after min where an entry
// of the tar archive b ends (its data padded to a block).
func entryBoundary(t *testing.T, b []byte, min int) int {
	t.Helper()
	r := bytes.NewReader(b)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no entry ends after %d: %v", min, err)
		}
		off, _ := r.Seek(0, io.SeekCurrent)
		if end := int(off + (hdr.Size+511)/512*512); end >= min {
			return end
		}
	}
}

func TestFetchVerifies(t *testing.T) {
	ctx := context.Background()
	dir, res := writeVariants(t, fixture.Variants())
	l, err := oci.OpenLayout(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := res.Manifests[0]
	// Corrupt the manifest blob in place.
	p := filepath.Join(dir, "blobs", "sha256", m.Digest.Encoded())
	b, _ := os.ReadFile(p)
	corrupt := bytes.Replace(b, []byte("layers"), []byte("lAyers"), 1)
	if err := os.WriteFile(p, corrupt, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := oci.ReadBlob(ctx, l, m, 0); !errors.Is(err, oci.ErrDigestMismatch) {
		t.Errorf("corrupt blob: err = %v, want ErrDigestMismatch", err)
	}
	if err := os.WriteFile(p, append(b, ' '), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := oci.ReadBlob(ctx, l, m, 0); !errors.Is(err, oci.ErrDigestMismatch) {
		t.Errorf("longer blob: err = %v, want ErrDigestMismatch", err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := oci.ReadBlob(ctx, l, m, 0); !errors.Is(err, oci.ErrBlobNotFound) {
		t.Errorf("missing blob: err = %v, want ErrBlobNotFound", err)
	}
	big := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: m.Digest, Size: oci.MaxManifestSize + 1}
	if _, err := oci.ReadBlob(ctx, l, big, 0); !errors.Is(err, oci.ErrTooLarge) {
		t.Errorf("oversized: err = %v, want ErrTooLarge", err)
	}
}

func TestVerifyReader(t *testing.T) {
	data := []byte("some content")
	d := oci.DescriptorFor("application/octet-stream", data)
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"exact", data, true},
		{"short", data[:4], false},
		{"long", append(append([]byte{}, data...), 'x'), false},
		{"same length, different bytes", []byte("some CONTENT"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := io.ReadAll(oci.VerifyReader(bytes.NewReader(tt.in), d))
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, oci.ErrDigestMismatch) {
				t.Fatalf("err = %v, want ErrDigestMismatch", err)
			}
		})
	}
}

func TestParseSource(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.tar")
	os.WriteFile(file, nil, 0o644)
	colon := filepath.Join(dir, "a:b")
	os.Mkdir(colon, 0o755)
	dgst := "sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		in      string
		want    oci.Source
		wantErr bool
	}{
		{in: "oci-layout:/some/dir", want: oci.Source{Scheme: oci.SchemeLayout, Path: "/some/dir"}},
		{in: "oci-archive:/some/file.tar", want: oci.Source{Scheme: oci.SchemeArchive, Path: "/some/file.tar"}},
		{in: dir, want: oci.Source{Scheme: oci.SchemeLayout, Path: dir}},
		{in: file, want: oci.Source{Scheme: oci.SchemeArchive, Path: file}},
		{in: "oci-layout:" + dir + ":v1.0", want: oci.Source{Scheme: oci.SchemeLayout, Path: dir, Tag: "v1.0"}},
		{in: "oci-archive:" + file + ":latest", want: oci.Source{Scheme: oci.SchemeArchive, Path: file, Tag: "latest"}},
		{in: "oci-layout:" + dir + "@" + dgst, want: oci.Source{Scheme: oci.SchemeLayout, Path: dir, Digest: digest.Digest(dgst)}},
		{in: "oci-layout:" + dir + ":v1@" + dgst, want: oci.Source{Scheme: oci.SchemeLayout, Path: dir, Tag: "v1", Digest: digest.Digest(dgst)}},
		// A path with a colon that exists is a path.
		{in: "oci-layout:" + colon, want: oci.Source{Scheme: oci.SchemeLayout, Path: colon}},
		// Neither the path nor its prefix exists: no tag guessed.
		{in: "oci-layout:/no/such:v1", want: oci.Source{Scheme: oci.SchemeLayout, Path: "/no/such:v1"}},
		// "@" without a valid digest after it is part of the path.
		{in: "oci-layout:" + dir + "@sha256:short", want: oci.Source{Scheme: oci.SchemeLayout, Path: dir + "@sha256:short"}},
		{in: "oci-layout:/var/ws/app@2/img", want: oci.Source{Scheme: oci.SchemeLayout, Path: "/var/ws/app@2/img"}},
		// A bare path takes TAG and DIGEST as the schemes do.
		{in: dir + ":v1.0", want: oci.Source{Scheme: oci.SchemeLayout, Path: dir, Tag: "v1.0"}},
		{in: file + "@" + dgst, want: oci.Source{Scheme: oci.SchemeArchive, Path: file, Digest: digest.Digest(dgst)}},
		{in: dir + ":v1@" + dgst, want: oci.Source{Scheme: oci.SchemeLayout, Path: dir, Tag: "v1", Digest: digest.Digest(dgst)}},
		{in: colon, want: oci.Source{Scheme: oci.SchemeLayout, Path: colon}},
		{in: "/no/such:v1", wantErr: true},
		{in: "oci-layout:", wantErr: true},
		{in: "docker://nginx", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		s, err := oci.ParseSource(tt.in)
		if (err != nil) != tt.wantErr || s != tt.want {
			t.Errorf("ParseSource(%q) = %+v, %v", tt.in, s, err)
		}
		if err == nil && s.String() != tt.in && !strings.HasPrefix(tt.in, "/") {
			t.Errorf("ParseSource(%q).String() = %q", tt.in, s.String())
		}
	}
}

// TestLayoutSelectsRoots: a tag or digest in the source selects the
// index.json entries (a tag by ref.name or io.containerd.image.name), or
// a digest a manifest inside them; an unknown one is ErrNoMatch listing
// what is there.
func TestLayoutSelectsRoots(t *testing.T) {
	dir, res := oneImageLayout(t)
	// A second entry: the same index under another name.
	b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	var idx ocispec.Index
	json.Unmarshal(b, &idx)
	other := idx.Manifests[0]
	other.Annotations = map[string]string{ocispec.AnnotationRefName: "v2"}
	// A third, named as BuildKit's client and containerd name an image.
	third := idx.Manifests[0]
	third.Annotations = map[string]string{oci.AnnotationImageName: "example.com/app:v3"}
	idx.Manifests = append(idx.Manifests, other, third)
	b, _ = json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644)
	ctx := context.Background()
	for _, c := range []struct {
		src  string
		want []string // ref names of the roots
		err  string
	}{
		{src: "oci-layout:" + dir, want: []string{"latest", "v2", ""}},
		{src: "oci-layout:" + dir + ":v2", want: []string{"v2"}},
		{src: "oci-layout:" + dir + ":v3", want: []string{""}},
		{src: "oci-layout:" + dir + "@" + res.Index.Digest.String(), want: []string{"latest", "v2", ""}},
		{src: "oci-layout:" + dir + ":latest@" + res.Index.Digest.String(), want: []string{"latest"}},
		{src: "oci-layout:" + dir + ":v4", err: "index.json lists no v4 (it lists latest@" + res.Index.Digest.String() + ", v2@" + res.Index.Digest.String() + ", example.com/app:v3@"},
		{src: "oci-layout:" + dir + "@sha256:" + strings.Repeat("0", 64), err: "lists no sha256:000" + strings.Repeat("0", 61) + ", nor does any image it lists hold it"},
		// A manifest inside the image, as REPO@DIGEST names one in a
		// registry: it is the root, as its index describes it.
		{src: "oci-layout:" + dir + "@" + res.Manifests[0].Digest.String(), want: []string{""}},
		{src: "oci-layout:" + dir + ":v2@" + res.Manifests[0].Digest.String(), want: []string{""}},
	} {
		l, err := oci.OpenLayout(ctx, c.src)
		if c.err != "" {
			if err == nil || !errors.Is(err, oci.ErrNoMatch) || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), c.src) {
				t.Errorf("%s: error %v, want ErrNoMatch with %q", c.src, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		var got []string
		for _, r := range l.Roots() {
			got = append(got, r.Annotations[ocispec.AnnotationRefName])
		}
		if r := l.Roots(); strings.HasSuffix(c.src, res.Manifests[0].Digest.String()) && (len(r) != 1 || r[0].Digest != res.Manifests[0].Digest || r[0].Platform == nil) {
			t.Errorf("%s: roots %+v, want the platform manifest with its platform", c.src, r)
		}
		if !equal(got, c.want) || len(l.Index().Manifests) != 3 {
			t.Errorf("%s: roots %q, want %q", c.src, got, c.want)
		}
		l.Close()
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestLayoutNestedDigestSkipsUnreadable: a platform manifest named by
// digest is found behind an index.json entry that cannot be read, whatever
// the order; only when it is found nowhere is the read error reported.
func TestLayoutNestedDigestSkipsUnreadable(t *testing.T) {
	dir, res := oneImageLayout(t)
	var idx ocispec.Index
	b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	json.Unmarshal(b, &idx)
	broken := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("gone"), Size: 4}
	idx.Manifests = append([]ocispec.Descriptor{broken}, idx.Manifests...)
	b, _ = json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644)
	ctx := context.Background()
	l, err := oci.OpenLayout(ctx, "oci-layout:"+dir+"@"+res.Manifests[0].Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	if r := l.Roots(); len(r) != 1 || r[0].Digest != res.Manifests[0].Digest || l.NamedBy(r[0]).Digest != res.Index.Digest {
		t.Errorf("roots %+v, named by %+v; want the platform manifest, named by the index", r, l.NamedBy(r[0]))
	}
	l.Close()
	_, err = oci.OpenLayout(ctx, "oci-layout:"+dir+"@"+digest.FromString("nowhere").String())
	if err == nil || !strings.Contains(err.Error(), broken.Digest.String()) {
		t.Errorf("a digest found nowhere: %v, want the unreadable entry named", err)
	}
}

// oneImageLayout writes a layout of the Variants fixture's first image.
func oneImageLayout(t *testing.T) (string, *fixture.Result) {
	t.Helper()
	dir := t.TempDir()
	spec := fixture.Variants()
	spec.Images = spec.Images[:1]
	res, err := fixture.WriteLayout(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	return dir, res
}

// TestTagged: a layout entry's tag is its ref.name, or the tag of its
// io.containerd.image.name, a digest after the tag included.
func TestTagged(t *testing.T) {
	for _, tt := range []struct {
		refName, imageName, tag string
		want                    bool
	}{
		{refName: "v1", tag: "v1", want: true},
		{imageName: "example.com/app:v1", tag: "v1", want: true},
		{imageName: "example.com/app:v1@sha256:" + strings.Repeat("a", 64), tag: "v1", want: true},
		{imageName: "localhost:5000/app:v1", tag: "v1", want: true},
		{imageName: "localhost:5000/app", tag: "5000", want: false},
		{imageName: "example.com/app:v10", tag: "v1", want: false},
		{refName: "v2", imageName: "example.com/app:v2", tag: "v1", want: false},
		// skopeo writes the whole reference into ref.name.
		{refName: "example.com/test/img:1", tag: "1", want: true},
		{refName: "example.com/test/img:10", tag: "1", want: false},
	} {
		d := ocispec.Descriptor{Annotations: map[string]string{}}
		if tt.refName != "" {
			d.Annotations[ocispec.AnnotationRefName] = tt.refName
		}
		if tt.imageName != "" {
			d.Annotations[oci.AnnotationImageName] = tt.imageName
		}
		if got := oci.Tagged(d, tt.tag); got != tt.want {
			t.Errorf("Tagged(%q, %q, tag %q) = %v, want %v", tt.refName, tt.imageName, tt.tag, got, tt.want)
		}
	}
}

// verifiedFetcher returns rc from every Fetch.
type verifiedFetcher struct{ rc io.ReadCloser }

func (f *verifiedFetcher) Fetch(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
	return f.rc, nil
}

// TestReadBlobVerifiedBytes: bytes a fetcher verified are taken as they
// are, for the digest and size they were verified for only.
func TestReadBlobVerifiedBytes(t *testing.T) {
	data := []byte(`{"schemaVersion":2}`)
	d := digest.FromBytes(data)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(data))}
	got, err := oci.ReadBlob(context.Background(), &verifiedFetcher{rc: oci.NewVerifiedBytes(d, data)}, desc, 0)
	if err != nil || &got[0] != &data[0] {
		t.Errorf("ReadBlob of verified bytes: %v, copied %v", err, err == nil && &got[0] != &data[0])
	}
	// Verified for another digest: read and checked, so the mismatch shows.
	other := desc
	other.Digest = digest.FromString("other")
	if _, err := oci.ReadBlob(context.Background(), &verifiedFetcher{rc: oci.NewVerifiedBytes(d, data)}, other, 0); !errors.Is(err, oci.ErrDigestMismatch) {
		t.Errorf("verified for another digest: %v, want ErrDigestMismatch", err)
	}
}
