package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The fuzz targets of this file feed untrusted input to the layout
// readers: OCI archives and layouts come from users, indexes and
// manifests from registries. Beyond "no panic, no hang", they check:
// errors name the source; an archive's file names stay inside it; Walk
// is deterministic and returns each (digest, platform) once with a
// platform; Select returns platform images that match, each digest once,
// whatever the order of the images; SplitRoots returns only roots.

// resolveDocs returns docs with their placeholders replaced: in docs[i],
// "<Dj>", "<Hj>" and "<Sj>" for j > i become the digest, its encoded
// (hex) part and the size of docs[j] as resolved. So a fuzzed index can
// point at the fuzzed manifests after it with digests that verify, and
// the fuzzer can still mutate every byte around them. descs[i] is the
// descriptor of docs[i] (no media type).
func resolveDocs(docs []string) (out [][]byte, descs []ocispec.Descriptor) {
	out = make([][]byte, len(docs))
	descs = make([]ocispec.Descriptor, len(docs))
	for i := len(docs) - 1; i >= 0; i-- {
		s := docs[i]
		for j := i + 1; j < len(docs); j++ {
			n := strconv.Itoa(j)
			s = strings.ReplaceAll(s, "<D"+n+">", descs[j].Digest.String())
			s = strings.ReplaceAll(s, "<H"+n+">", descs[j].Digest.Encoded())
			s = strings.ReplaceAll(s, "<S"+n+">", strconv.FormatInt(descs[j].Size, 10))
		}
		out[i] = []byte(s)
		descs[i] = ocispec.Descriptor{Digest: digest.FromBytes(out[i]), Size: int64(len(out[i]))}
	}
	return out, descs
}

// fuzzEntry is one entry of archive.
type fuzzEntry struct {
	name string
	data []byte
	typ  byte // tar.TypeReg when 0
	link string
}

// archive returns an uncompressed tar of files. An entry the tar writer
// refuses (a name it cannot encode) is left out.
func archive(files []fuzzEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, Typeflag: f.typ, Linkname: f.link, ModTime: time.Unix(0, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.data))
		}
		if tw.WriteHeader(h) != nil {
			continue
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(f.data)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// layoutFiles returns the archive entries of a layout with index.json
// docs[0] and blobs docs[1:], placeholders resolved (see resolveDocs).
func layoutFiles(docs ...string) ([]fuzzEntry, []ocispec.Descriptor) {
	b, descs := resolveDocs(docs)
	files := []fuzzEntry{{name: ocispec.ImageLayoutFile, data: []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {name: ocispec.ImageIndexFile, data: b[0]}}
	for i := 1; i < len(b); i++ {
		files = append(files, fuzzEntry{name: "blobs/sha256/" + descs[i].Digest.Encoded(), data: b[i]})
	}
	return files, descs
}

// Seed documents: index.json, then blobs. A BuildKit-like image: index.json
// names a nested index (ref.name latest) that lists an amd64 image, an
// image whose platform only its config says (arm64/v8), and an
// attestation manifest for the amd64 one.
var (
	seedIndexJSON  = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"<D1>","size":<S1>,"annotations":{"org.opencontainers.image.ref.name":"latest","io.containerd.image.name":"docker.io/library/app:latest"}}]}`
	seedImageIndex = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"<D2>","size":<S2>,"platform":{"architecture":"amd64","os":"linux"}},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"<D3>","size":<S3>},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"<D3>","size":<S3>,"platform":{"architecture":"arm","os":"linux","variant":"v7"}},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"<D5>","size":<S5>,"annotations":{"vnd.docker.reference.digest":"<D2>","vnd.docker.reference.type":"attestation-manifest"},"platform":{"architecture":"unknown","os":"unknown"}}]}`
	seedManifest    = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"<D4>","size":<S4>},"layers":[]}`
	seedManifest2   = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"<D4>","size":<S4>},"layers":[],"annotations":{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}}`
	seedConfig      = `{"architecture":"arm64","os":"linux","variant":"v8","rootfs":{"type":"layers","diff_ids":[]}}`
	seedAttestation = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.docker.attestation.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"<D2>","size":<S2>}}`
)

// seedLayouts are layouts as documents (see layoutFiles), realistic and
// nasty.
var seedLayouts = [][]string{
	// BuildKit's nested index, with an attestation manifest.
	{seedIndexJSON, seedImageIndex, seedManifest, seedManifest2, seedConfig, seedAttestation},
	// Flat: a platform manifest in index.json, an SBOM referrer beside
	// it, and a referrers tag schema index (regctl's way) naming it. A
	// document may only point at those after it.
	{`{"schemaVersion":2,"manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"<D3>","size":<S3>,"annotations":{"org.opencontainers.image.ref.name":"v1"}},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"<D2>","size":<S2>,"artifactType":"application/spdx+json"},` +
		`{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"<D1>","size":<S1>,"annotations":{"org.opencontainers.image.ref.name":"sha256-<H3>"}}]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"<D2>","size":<S2>,"artifactType":"application/spdx+json"}]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"<D3>","size":<S3>},"annotations":{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"<D4>","size":<S4>},"layers":[]}`,
		`{"architecture":"amd64","os":"windows","os.version":"10.0.20348.2340"}`,
	},
	// Docker media types; a list nested in a list, listing the same
	// manifest again under another platform.
	{`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","digest":"<D1>","size":<S1>}]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"<D3>","size":<S3>,"platform":{"architecture":"arm64","os":"linux"}},{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","digest":"<D2>","size":<S2>}]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"<D3>","size":<S3>,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"<D4>","size":<S4>},"layers":[]}`,
		`{"architecture":"arm64","os":"linux"}`,
	},
	// Broken: a digest without an algorithm, a size that lies, an index
	// nested past the depth limit, JSON of the wrong shape.
	{`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"<D1>","size":<S1>}]}`,
		`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"nocolon","size":1},{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"<D2>","size":3}]}`,
		`{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"<D3>","size":<S3>}]}`,
		`{"manifests":{"not":"a list"}}`,
	},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:","size":-1}]}`},
	{`{"schemaVersion":2,"manifests":[]}`},
	{`[]`},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"<D1>","size":9223372036854775807}]}`, `{}`},
}

// FuzzLayout opens fuzzed layouts (index.json and up to five blobs, see
// resolveDocs; extra is one more archive entry, named extraName, with
// docs[1]'s bytes) and walks, selects and splits them. sel is a platform,
// "all", a tag, or a digest (placeholders resolved), used both to open
// the layout (Source.Tag, Source.Digest) and to select.
func FuzzLayout(f *testing.F) {
	for _, docs := range seedLayouts {
		for len(docs) < 6 {
			docs = append(docs, "")
		}
		for _, sel := range []string{"", "linux/arm64", "latest", "<D2>", "all"} {
			f.Add(docs[0], docs[1], docs[2], docs[3], docs[4], docs[5], "", sel)
		}
	}
	f.Add(seedIndexJSON, seedImageIndex, seedManifest, seedManifest2, seedConfig, seedAttestation, "./index.json", "windows(10.0.20348)/amd64")
	f.Add(seedIndexJSON, seedImageIndex, seedManifest, seedManifest2, seedConfig, seedAttestation, "../../../oci-layout", "linux/arm")
	f.Add(seedIndexJSON, seedImageIndex, seedManifest, seedManifest2, seedConfig, seedAttestation, "/blobs/sha256/<H2>", "<D3>")
	// One file, rewritten for each input: a fuzzing worker runs one
	// input at a time.
	p := filepath.Join(f.TempDir(), "layout.tar")
	f.Fuzz(func(t *testing.T, index, d1, d2, d3, d4, d5, extraName, sel string) {
		files, descs := layoutFiles(index, d1, d2, d3, d4, d5)
		if extraName != "" {
			files = append(files, fuzzEntry{name: resolveName(extraName, descs), data: files[2].data})
		}
		if err := os.WriteFile(p, archive(files), 0o644); err != nil {
			t.Fatal(err)
		}
		b, _ := resolveDocs([]string{sel, d1, d2, d3, d4, d5})
		checkArchive(t, p, string(b[0]))
	})
}

// resolveName resolves the placeholders of an archive entry name.
func resolveName(s string, descs []ocispec.Descriptor) string {
	for j := 1; j < len(descs); j++ {
		n := strconv.Itoa(j)
		s = strings.ReplaceAll(s, "<D"+n+">", descs[j].Digest.String())
		s = strings.ReplaceAll(s, "<H"+n+">", descs[j].Digest.Encoded())
	}
	return s
}

// FuzzArchive opens fuzzed bytes as an oci-archive. The bytes go through
// as they are, except that a block with the ustar magic gets its header
// checksum fixed, so that mutated headers reach the code past the
// checksum test.
func FuzzArchive(f *testing.F) {
	files, descs := layoutFiles(seedLayouts[0]...)
	good := archive(files)
	f.Add(good)
	f.Add(good[:len(good)/2])    // truncated inside an entry
	f.Add(good[:len(good)-1024]) // without the end-of-archive blocks
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(good)
	zw.Close()
	f.Add(gz.Bytes())
	f.Add([]byte{})
	f.Add(make([]byte, 1024))
	f.Add([]byte("\x28\xb5\x2f\xfd not really zstd"))
	nasty := func(extra ...fuzzEntry) []byte { return archive(append(slices.Clone(files), extra...)) }
	f.Add(nasty(fuzzEntry{name: "../../../index.json", data: []byte(`{"manifests":[]}`)}))
	f.Add(nasty(fuzzEntry{name: "/index.json", data: []byte(`{}`)}))
	f.Add(nasty(fuzzEntry{name: "./blobs/sha256/" + descs[2].Digest.Encoded(), data: []byte("replaced")}))
	f.Add(archive([]fuzzEntry{{name: "oci-layout", typ: tar.TypeSymlink, link: "/etc/passwd"}, {name: "index.json", typ: tar.TypeLink, link: "../../etc/shadow"}}))
	f.Add(archive([]fuzzEntry{{name: "index.json", typ: tar.TypeDir}, {name: "oci-layout", typ: tar.TypeFifo}, {name: "blobs", typ: tar.TypeChar}}))
	f.Add(nasty(fuzzEntry{name: strings.Repeat("a/", 200) + "x", data: []byte("long name")}))
	f.Add(nasty(fuzzEntry{name: "index.json", data: bytes.Repeat([]byte(" "), 1<<12)}))
	// A header claiming more data than the archive has.
	big := archive([]fuzzEntry{{name: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`)}})
	big = setTarSize(big, 0, 1<<40)
	f.Add(big)
	// A PAX header that says the file is sparse (GNU 1.0), and one with a
	// huge record.
	f.Add(paxArchive(map[string]string{"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "index.json", "GNU.sparse.realsize": "99999999999"}, "x", []byte("1\n0\n10\n")))
	f.Add(paxArchive(map[string]string{"path": strings.Repeat("p", 4096)}, "index.json", []byte(`{}`)))
	p := filepath.Join(f.TempDir(), "fuzz.tar") // see FuzzLayout
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(p, fixTarChecksums(data), 0o644); err != nil {
			t.Fatal(err)
		}
		checkArchive(t, p, "latest")
	})
}

// setTarSize rewrites the size field of the header at off.
func setTarSize(b []byte, off int, size int64) []byte {
	b = slices.Clone(b)
	copy(b[off+124:off+136], fmt.Sprintf("%011o\x00", size))
	return fixTarChecksums(b)
}

// paxArchive writes one entry named name with data under the PAX
// records, bypassing the tar writer's checks.
func paxArchive(records map[string]string, name string, data []byte) []byte {
	var rec strings.Builder
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range records {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		// A record's length counts its own digits.
		line := " " + k + "=" + records[k] + "\n"
		n := len(line) + 1
		for len(strconv.Itoa(n))+len(line) != n {
			n++
		}
		rec.WriteString(strconv.Itoa(n) + line)
	}
	block := func(name string, typ byte, size int) []byte {
		h := make([]byte, 512)
		copy(h, name)
		copy(h[100:], "0000644\x00")
		copy(h[108:], "0000000\x00")
		copy(h[116:], "0000000\x00")
		copy(h[124:], fmt.Sprintf("%011o\x00", size))
		copy(h[136:], "00000000000\x00")
		h[156] = typ
		copy(h[257:], "ustar\x0000")
		return h
	}
	pad := func(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }
	var out []byte
	out = append(out, block("PaxHeaders/x", tar.TypeXHeader, rec.Len())...)
	out = append(out, pad([]byte(rec.String()))...)
	out = append(out, block(name, tar.TypeReg, len(data))...)
	out = append(out, pad(slices.Clone(data))...)
	out = append(out, make([]byte, 1024)...)
	return fixTarChecksums(out)
}

// fixTarChecksums sets the checksum of every 512-byte block of b that has
// the ustar magic.
func fixTarChecksums(b []byte) []byte {
	b = slices.Clone(b)
	for off := 0; off+512 <= len(b); off += 512 {
		h := b[off : off+512]
		if string(h[257:262]) != "ustar" {
			continue
		}
		var sum int64
		for i, c := range h {
			if i >= 148 && i < 156 {
				c = ' '
			}
			sum += int64(c)
		}
		copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	}
	return b
}

// checkArchive opens the archive at p as a whole, by the tag or digest
// sel may be, and checks every reading of it (see checkLayout).
func checkArchive(t *testing.T, p, sel string) {
	ctx := context.Background()
	if tf, err := openTarFS(ctx, p); err == nil {
		for name := range tf.entries {
			// An entry name is a clean path inside the archive: never
			// one that climbs out or is absolute.
			if name != "" && (path.Clean(name) != name || path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../")) {
				t.Errorf("archive entry name %q is not a clean relative path", name)
			}
		}
		tf.Close()
	}
	srcs := []Source{{Scheme: SchemeArchive, Path: p}}
	if d, err := digest.Parse(sel); err == nil {
		srcs = append(srcs, Source{Scheme: SchemeArchive, Path: p, Digest: d})
	} else if tagRE.MatchString(sel) {
		srcs = append(srcs, Source{Scheme: SchemeArchive, Path: p, Tag: sel})
	}
	for _, src := range srcs {
		checkLayout(t, ctx, src, sel)
	}
}

// checkLayout opens src and checks what each reader makes of it.
func checkLayout(t *testing.T, ctx context.Context, src Source, sel string) {
	t.Helper()
	l, err := Open(ctx, src)
	if err != nil {
		if !strings.Contains(err.Error(), src.String()) {
			t.Errorf("Open(%s): %v does not name the source", src, err)
		}
		return
	}
	defer l.Close()
	roots := l.Roots()
	if len(roots) == 0 {
		t.Fatalf("Open(%s) succeeded with no roots", src)
	}
	for _, r := range roots {
		if err := r.Digest.Validate(); err != nil {
			t.Errorf("root digest %q: %v", r.Digest, err)
		}
		if src.Digest != "" && r.Digest != src.Digest {
			t.Errorf("Open(%s) selected root %s", src, r.Digest)
		}
		if src.Tag != "" && !Tagged(l.NamedBy(r), src.Tag) {
			t.Errorf("Open(%s) selected root %s, named by %v, without the tag", src, r.Digest, l.NamedBy(r).Annotations)
		}
		checkFetch(t, ctx, l, r)
	}

	images, err := Walk(ctx, l, roots...)
	again, err2 := Walk(ctx, l, roots...)
	if fmt.Sprint(err) != fmt.Sprint(err2) || !reflect.DeepEqual(images, again) {
		t.Fatalf("Walk is not deterministic: %v, %v then %v, %v", images, err, again, err2)
	}
	if err == nil {
		checkImages(t, images)
		checkSelect(t, images, sel)
	}

	refImages, refs, unreadable := ClassifyRoots(ctx, l, roots)
	split, splitRefs, err := SplitRoots(ctx, l, roots)
	if (err != nil) != (len(unreadable) > 0) {
		t.Errorf("SplitRoots: %v, with %d unreadable roots", err, len(unreadable))
	}
	if err == nil && (!reflect.DeepEqual(split, refImages) || !reflect.DeepEqual(splitRefs, refs)) {
		t.Errorf("SplitRoots and ClassifyRoots disagree")
	}
	seen := map[digest.Digest]bool{}
	for _, d := range refImages {
		if seen[d.Digest] {
			t.Errorf("ClassifyRoots returned image %s twice", d.Digest)
		}
		seen[d.Digest] = true
		if !slices.ContainsFunc(roots, func(r ocispec.Descriptor) bool { return reflect.DeepEqual(r, d) }) {
			t.Errorf("ClassifyRoots returned image %v, not a root", d)
		}
		if IsReferrersTagEntry(d) {
			t.Errorf("ClassifyRoots returned the referrers tag index %v as an image", d)
		}
	}
	for subject, rs := range refs {
		if subject == "" {
			t.Errorf("ClassifyRoots returned referrers of no subject: %v", rs)
		}
	}
}

// checkFetch checks that Exists and Fetch agree on d and that Fetch's
// errors name the layout.
func checkFetch(t *testing.T, ctx context.Context, l *Layout, d ocispec.Descriptor) {
	t.Helper()
	ok, existsErr := l.Exists(ctx, d)
	rc, err := l.Fetch(ctx, d)
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
	}
	if err != nil && !strings.Contains(err.Error(), l.src.String()) {
		t.Errorf("Fetch(%s): %v does not name the layout", d.Digest, err)
	}
	if existsErr == nil && ok == errors.Is(err, ErrBlobNotFound) {
		t.Errorf("Exists(%s) = %v but Fetch: %v", d.Digest, ok, err)
	}
}

// checkImages checks Walk's result: a platform on each image, each
// (digest, platform) once, digests valid.
func checkImages(t *testing.T, images []Image) {
	t.Helper()
	seen := map[string]bool{}
	for _, i := range images {
		if i.Descriptor.Platform == nil {
			t.Fatalf("Walk returned %s without a platform", i.Descriptor.Digest)
		}
		if err := i.Descriptor.Digest.Validate(); err != nil {
			t.Errorf("Walk returned digest %q: %v", i.Descriptor.Digest, err)
		}
		k := i.Descriptor.Digest.String() + " " + platforms.FormatAll(*i.Descriptor.Platform) + " " + strings.Join(i.Descriptor.Platform.OSFeatures, ",")
		if seen[k] {
			t.Errorf("Walk returned %s twice", k)
		}
		seen[k] = true
		_ = i.String()
	}
}

// checkSelect selects sel (a platform, "all", a digest; also the zero
// Selector) among images, and among them reversed: the images picked,
// or the kind of error, do not depend on the order, and what is picked
// is a platform image that matches, each digest once.
func checkSelect(t *testing.T, images []Image, sel string) {
	t.Helper()
	sels := []Selector{{}, {All: true}}
	if d, err := digest.Parse(sel); err == nil {
		sels = append(sels, Selector{Digest: d})
	} else if sel != "" && sel != "all" {
		sels = append(sels, Selector{Platform: sel})
	}
	reversed := slices.Clone(images)
	slices.Reverse(reversed)
	for _, s := range sels {
		got, err := Select(images, s)
		rgot, rerr := Select(reversed, s)
		if kind(err) != kind(rerr) {
			t.Fatalf("Select(%+v): %v, but %v with the images reversed", s, err, rerr)
		}
		if err != nil {
			if s.Platform != "" && kind(err) == "other" && !strings.Contains(err.Error(), strconv.Quote(s.Platform)) {
				t.Errorf("Select(%+v): %v does not name the platform", s, err)
			}
			continue
		}
		if !s.All && (len(got) != 1 || len(rgot) != 1 || got[0].Descriptor.Digest != rgot[0].Descriptor.Digest) {
			t.Fatalf("Select(%+v) = %v, reversed %v: want the same one image", s, got, rgot)
		}
		seen := map[digest.Digest]bool{}
		for _, i := range got {
			if i.Attestation {
				t.Errorf("Select(%+v) returned the attestation manifest %s", s, i.Descriptor.Digest)
			}
			if seen[i.Descriptor.Digest] {
				t.Errorf("Select(%+v) returned %s twice", s, i.Descriptor.Digest)
			}
			seen[i.Descriptor.Digest] = true
			if s.Digest != "" && i.Descriptor.Digest != s.Digest {
				t.Errorf("Select(%+v) returned %s", s, i.Descriptor.Digest)
			}
			if s.Platform != "" {
				want, _ := ParsePlatform(s.Platform)
				if !MatchPlatform(want, i.Platform()) && !(strings.Count(s.Platform, "/") < 2 && matchLoose(want, i.Platform())) {
					t.Errorf("Select(%q) returned %s (%s), which does not match", s.Platform, i.Descriptor.Digest, FormatPlatform(i.Platform()))
				}
			}
		}
		if s.All {
			var want []digest.Digest
			for _, i := range images {
				if !i.Attestation && !slices.Contains(want, i.Descriptor.Digest) {
					want = append(want, i.Descriptor.Digest)
				}
			}
			if len(got) != len(want) || len(rgot) != len(want) {
				t.Errorf("Select(all) returned %d images (%d reversed), want %d", len(got), len(rgot), len(want))
			}
		}
	}
}

// kind classifies a Select error.
func kind(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNoMatch):
		return "no match"
	case errors.Is(err, ErrAmbiguous):
		return "ambiguous"
	}
	return "other"
}

// wellFormed reports whether p's parts are made of the characters
// platforms.FormatAll writes so that platforms.Parse reads them back.
// containerd/platforms takes more: "linux/." (formatted "linux"), and an
// os.version with any %XX escape, which it decodes ("%00" is a NUL) but
// does not encode back. Such a platform matches no image, and affix never
// parses a platform it formatted (FormatPlatform is for messages and the
// dev.affix.sbom.platform annotation), so only well-formed ones are held
// to the round trip.
func wellFormed(p ocispec.Platform) bool {
	word := func(s string, extra string) bool {
		return !strings.ContainsFunc(s, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || strings.ContainsRune(extra, r))
		})
	}
	return word(p.OS, "") && word(p.Architecture, "") && word(p.Variant, "") && word(p.OSVersion, ".%+()/")
}

// FuzzSelectPlatform selects a fuzzed platform string among images of
// every kind (variants, os.version, one manifest under two platforms,
// an attestation manifest), in both orders; see checkSelect. A platform
// that parses formats back to a string that parses to the same
// platform (when wellFormed).
func FuzzSelectPlatform(f *testing.F) {
	img := func(d string, p ocispec.Platform, att bool) Image {
		return Image{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(d), Size: 1, Platform: &p}, Attestation: att}
	}
	images := []Image{
		img("amd64", ocispec.Platform{OS: "linux", Architecture: "amd64"}, false),
		img("arm/v6", ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, false),
		img("arm/v7", ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, false),
		img("arm64", ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, false),
		img("arm64", ocispec.Platform{OS: "linux", Architecture: "arm64"}, false),
		img("win", ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.2340"}, false),
		img("win2", ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1"}, false),
		img("riscv", ocispec.Platform{OS: "linux", Architecture: "riscv64", OSFeatures: []string{"x"}}, false),
		img("att", ocispec.Platform{OS: "unknown", Architecture: "unknown"}, true),
	}
	for _, s := range []string{
		"linux/amd64", "linux/arm", "linux/arm/v6", "linux/arm64", "linux/arm64/v8", "linux/aarch64", "windows/amd64",
		"windows(10.0.20348)/amd64", "windows(10.0.20348.2340)/amd64", "windows(10.0)/amd64", "unknown/unknown", "linux",
		"linux/", "/amd64", "linux/amd64/v2/extra", "linux(/amd64", "Linux/AMD64", "darwin/arm64", "linux/riscv64", "local", "all",
		"windows(10.0.20348))/amd64", "linux/arm/v7,linux/arm64", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" || s == "all" {
			return
		}
		checkSelect(t, images, s)
		p, err := ParsePlatform(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Errorf("ParsePlatform(%q): %v does not name it", s, err)
			}
			return
		}
		if !wellFormed(p) {
			return
		}
		back := FormatPlatform(p)
		q, err := ParsePlatform(back)
		if err != nil {
			t.Fatalf("ParsePlatform(%q) = %+v, formatted %q, which does not parse: %v", s, p, back, err)
		}
		if !reflect.DeepEqual(platforms.Normalize(p), platforms.Normalize(q)) {
			t.Fatalf("ParsePlatform(%q) = %+v, formatted %q, parses to %+v", s, p, back, q)
		}
	})
}

// FuzzVerifyReader reads fuzzed content against a descriptor (its own
// digest, or a fuzzed one) and checks VerifyReader and ReadBlob against
// the rule: the content is taken exactly when it is size bytes hashing
// to the digest; never more than size bytes are yielded; a digest that
// verifies but content that does not match is ErrDigestMismatch; ReadBlob
// refuses a size over its limit (ErrTooLarge) before reading.
func FuzzVerifyReader(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2}`), int64(19), "", false, int64(0))
	f.Add([]byte(`{"schemaVersion":2}`), int64(18), "", true, int64(0))
	f.Add([]byte(`{"schemaVersion":2}`), int64(20), "", false, int64(19))
	f.Add([]byte(`x`), int64(-1), "", false, int64(0))
	f.Add([]byte(`x`), int64(9223372036854775807), "", false, int64(0))
	f.Add([]byte(`x`), int64(1), "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881", false, int64(1))
	f.Add([]byte(`x`), int64(1), "sha512:"+strings.Repeat("0", 128), false, int64(0))
	f.Add([]byte(`x`), int64(1), "nocolon", false, int64(0))
	f.Add([]byte(``), int64(0), "sha256:", true, int64(0))
	f.Fuzz(func(t *testing.T, data []byte, size int64, dgst string, embed bool, limit int64) {
		d := digest.Digest(dgst)
		if dgst == "" {
			d = digest.FromBytes(data)
		}
		desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: size}
		matches := d.Validate() == nil && int64(len(data)) == size && d.Algorithm().FromBytes(data) == d

		got, err := io.ReadAll(VerifyReader(bytes.NewReader(data), desc))
		if int64(len(got)) > max(size, 0) {
			t.Fatalf("VerifyReader yielded %d bytes, the descriptor says %d", len(got), size)
		}
		if matches != (err == nil) {
			t.Fatalf("VerifyReader(%d bytes, %s, size %d): %v", len(data), d, size, err)
		}
		if err != nil && d.Validate() == nil && !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("VerifyReader: %v, want ErrDigestMismatch", err)
		}
		if matches && !bytes.Equal(got, data) {
			t.Fatal("VerifyReader changed the content")
		}

		if embed {
			desc.Data = data
		}
		fetches := 0
		fetcher := FetcherFunc(func(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
			fetches++
			return io.NopCloser(bytes.NewReader(data)), nil
		})
		b, err := ReadBlob(context.Background(), fetcher, desc, limit)
		effLimit := limit
		if effLimit <= 0 {
			effLimit = MaxManifestSize
		}
		switch {
		case size > effLimit:
			if !errors.Is(err, ErrTooLarge) || fetches != 0 {
				t.Fatalf("ReadBlob(size %d, limit %d): %v after %d fetches; want ErrTooLarge before fetching", size, limit, err, fetches)
			}
		case matches:
			if err != nil || !bytes.Equal(b, data) {
				t.Fatalf("ReadBlob: %v", err)
			}
		default:
			if err == nil {
				t.Fatalf("ReadBlob took %d bytes that do not match %s size %d", len(data), d, size)
			}
		}
	})
}

// FuzzParseStatement decodes fuzzed in-toto statements. One that decodes
// is a statement (IsStatement), encodes to a form that decodes to itself,
// and Names a digest (even a malformed one, without panicking) exactly
// when a subject lists it.
func FuzzParseStatement(f *testing.F) {
	sub := "sha256:" + strings.Repeat("a", 64)
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[{"name":"pkg:docker/app@latest","digest":{"sha256":"`+strings.Repeat("a", 64)+`"}}],"predicate":{"spdxVersion":"SPDX-2.3"}}`), sub)
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","subject":[],"predicate":null}`), sub)
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"":""}}]}`), "nocolon")
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":""}}]}`), "sha256:")
	f.Add([]byte(`{"_type":"https://example.com/"}`), sub)
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":null,"predicate":"\ud800"}`), ":")
	f.Add([]byte(`[1,2]`), "")
	f.Fuzz(func(t *testing.T, b []byte, d string) {
		s, err := ParseStatement(b)
		if err != nil {
			return
		}
		if !s.IsStatement() {
			t.Fatalf("ParseStatement took _type %q", s.Type)
		}
		names := s.Names(digest.Digest(d))
		alg, enc, ok := strings.Cut(d, ":")
		want := false
		if ok && digest.Digest(d).Validate() == nil {
			for _, sub := range s.Subject {
				if v, has := sub.Digest[alg]; has && v == enc {
					want = true
				}
			}
		}
		if names != want {
			t.Fatalf("Names(%q) = %v, want %v (subjects %v)", d, names, want, s.Subject)
		}
		enc1, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("encoding a decoded statement: %v", err)
		}
		s2, err := ParseStatement(enc1)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", enc1, err)
		}
		enc2, _ := json.Marshal(s2)
		if !bytes.Equal(enc1, enc2) {
			t.Fatalf("statement does not round-trip:\n%s\n%s", enc1, enc2)
		}
	})
}

// FuzzParseSource parses fuzzed source strings. It never panics; an
// error names the string; a source parsed has a known scheme and a path,
// and its String parses back to it.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{
		"oci-layout:testdata", "oci-archive:app.tar", "oci-layout:.:latest", "oci-layout:.@sha256:" + strings.Repeat("a", 64),
		"oci-layout:.:v1@sha256:" + strings.Repeat("b", 64), "oci-layout:/a@2", "oci-layout:", "oci-layout::tag", "oci-archive:@sha256:" + strings.Repeat("c", 64),
		"oci-layout:a:b:c", "docker://x", ".", "", "oci-layout:./x/y:z", "oci-layout:.:" + strings.Repeat("t", 129), "oci-layout:.:-bad",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		src, err := ParseSource(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) && s != "" {
				t.Errorf("ParseSource(%q): %v does not name it", s, err)
			}
			return
		}
		if src.Scheme != SchemeLayout && src.Scheme != SchemeArchive || src.Path == "" {
			t.Fatalf("ParseSource(%q) = %+v", s, src)
		}
		if src.Tag != "" && !tagRE.MatchString(src.Tag) {
			t.Errorf("ParseSource(%q) = %+v: tag is not a tag", s, src)
		}
		if src.Digest != "" && src.Digest.Validate() != nil {
			t.Errorf("ParseSource(%q) = %+v: digest is not a digest", s, src)
		}
		back, err := ParseSource(src.String())
		if err != nil || back != src {
			t.Errorf("ParseSource(%q) = %+v; its String %q parses to %+v, %v", s, src, src.String(), back, err)
		}
	})
}
