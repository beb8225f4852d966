package main

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// genSpec is the image gen writes: per platform, three layers (a base with
// a dpkg database and many small files, one of a few big files, one of
// whiteouts over the base).
type genSpec struct {
	Platforms  []ocispec.Platform
	BigBytes   int64 // the big layer's file bytes, per platform
	BigFiles   int   // how many files they are split into
	SmallFiles int   // small files in the base layer
	Packages   int   // dpkg status entries
	Whiteouts  int   // whiteout entries in the top layer
}

// epoch is every generated file's modification time and the config's
// created time.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// generate writes s as an OCI layout into dir, platforms in parallel,
// streaming every layer to its blob (nothing is held whole in memory).
func generate(dir string, s genSpec) (ocispec.Descriptor, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return ocispec.Descriptor{}, err
	}
	mans := make([]ocispec.Descriptor, len(s.Platforms))
	var eg errgroup.Group
	for i, p := range s.Platforms {
		eg.Go(func() error {
			d, err := writeImage(dir, s, p, uint64(i))
			if err != nil {
				return fmt.Errorf("%s/%s: %w", p.OS, p.Architecture, err)
			}
			mans[i] = d
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return ocispec.Descriptor{}, err
	}
	idx, err := putJSON(dir, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: mans,
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	idx.Annotations = map[string]string{ocispec.AnnotationRefName: "large"}
	top, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{idx}})
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageIndexFile), top, 0o644); err != nil {
		return ocispec.Descriptor{}, err
	}
	lf, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	return idx, os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), lf, 0o644)
}

// writeImage writes one platform image and returns its manifest
// descriptor.
func writeImage(dir string, s genSpec, p ocispec.Platform, seed uint64) (ocispec.Descriptor, error) {
	created := epoch
	cfg := ocispec.Image{
		Created:  &created,
		Platform: p,
		Config:   ocispec.ImageConfig{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	man := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest}
	layers := []struct {
		what string
		fill func(*tarWriter) error
	}{
		{"base: dpkg database and small files", func(tw *tarWriter) error { return baseLayer(tw, s, p) }},
		{"big files", func(tw *tarWriter) error { return bigLayer(tw, s, seed) }},
		{"whiteouts", func(tw *tarWriter) error { return whiteoutLayer(tw, s) }},
	}
	for _, l := range layers {
		d, diffID, err := writeLayer(dir, l.fill)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer %q: %w", l.what, err)
		}
		man.Layers = append(man.Layers, d)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		cfg.History = append(cfg.History, ocispec.History{Created: &created, CreatedBy: "largeimage: " + l.what})
	}
	cd, err := putJSON(dir, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	man.Config = cd
	md, err := putJSON(dir, ocispec.MediaTypeImageManifest, man)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	md.Platform = &p
	return md, nil
}

// putJSON writes v as a blob of media type mt.
func putJSON(dir, mt string, v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
	return d, os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()), b, 0o644)
}

// tarWriter writes a layer's entries, adding each parent directory once
// before its first entry.
type tarWriter struct {
	*tar.Writer
	dirs map[string]bool
}

func (t *tarWriter) parents(p string) error {
	d := path.Dir(p)
	if d == "." || t.dirs[d] {
		return nil
	}
	if err := t.parents(d); err != nil {
		return err
	}
	t.dirs[d] = true
	return t.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Uname: "root", Gname: "root"})
}

// file writes a regular file p of size bytes, its content from r.
func (t *tarWriter) file(p string, size int64, r io.Reader) error {
	if err := t.parents(p); err != nil {
		return err
	}
	if err := t.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o644, Size: size, ModTime: epoch, Uname: "root", Gname: "root"}); err != nil {
		return err
	}
	if size == 0 {
		return nil
	}
	_, err := io.CopyN(t, r, size)
	return err
}

// fileBytes writes a regular file p holding b.
func (t *tarWriter) fileBytes(p string, b []byte) error {
	return t.file(p, int64(len(b)), bytesReader(b))
}

type bytesSliceReader struct{ b []byte }

func (r *bytesSliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func bytesReader(b []byte) io.Reader { return &bytesSliceReader{b} }

// writeLayer streams the tar that fill writes, gzip-compressed, into a
// blob of dir, hashing the tar (diff ID) and the blob on the way.
func writeLayer(dir string, fill func(*tarWriter) error) (ocispec.Descriptor, digest.Digest, error) {
	blobs := filepath.Join(dir, "blobs", "sha256")
	f, err := os.CreateTemp(blobs, ".partial-")
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer os.Remove(f.Name()) // no-op once renamed
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	blobHash, diffHash := sha256.New(), sha256.New()
	n := &counter{}
	zw, err := gzip.NewWriterLevel(io.MultiWriter(bw, blobHash, n), gzip.BestSpeed)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	tw := &tarWriter{Writer: tar.NewWriter(io.MultiWriter(zw, diffHash)), dirs: map[string]bool{}}
	if err := fill(tw); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := tw.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := zw.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := bw.Flush(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := f.Chmod(0o644); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := f.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: sum(blobHash), Size: n.n}
	if err := os.Rename(f.Name(), filepath.Join(blobs, d.Digest.Encoded())); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	return d, sum(diffHash), nil
}

func sum(h hash.Hash) digest.Digest {
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// pkgName is the name of dpkg package i.
func pkgName(i int) string { return "liblarge" + strconv.Itoa(i) }

// smallPath is the path of small file i, owned by package i%packages.
func smallPath(i, packages int) string {
	return fmt.Sprintf("usr/share/%s/f%05d.txt", pkgName(i%packages), i)
}

// junkPath is the path of base-layer file i that the whiteout layer
// deletes.
func junkPath(i int) string { return fmt.Sprintf("var/cache/junk/d%03d/f%05d", i/100, i) }

// baseLayer writes /etc/os-release, a dpkg status of s.Packages packages
// with an md5sums file each (listing the small files it owns), the small
// files, and s.Whiteouts files the top layer deletes.
func baseLayer(tw *tarWriter, s genSpec, p ocispec.Platform) error {
	if err := tw.fileBytes("etc/os-release", []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n")); err != nil {
		return err
	}
	var status []byte
	sums := make([][]byte, s.Packages)
	for i := range s.SmallFiles {
		pk := i % s.Packages
		sums[pk] = fmt.Appendf(sums[pk], "%032x  %s\n", i, smallPath(i, s.Packages))
	}
	for i := range s.Packages {
		status = fmt.Appendf(status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: %d\nMaintainer: Large Image <large@example.invalid>\nArchitecture: %s\nSource: large-src%d\nVersion: 1.%d.%d-%d\nDepends: libc6 (>= 2.36)\nDescription: generated package %d\n for measuring affix on large images.\n\n",
			pkgName(i), 100+i%900, p.Architecture, i/10, i/100, i%100, 1+i%5, i)
		if len(sums[i]) > 0 {
			if err := tw.fileBytes("var/lib/dpkg/info/"+pkgName(i)+".md5sums", sums[i]); err != nil {
				return err
			}
		}
	}
	if err := tw.fileBytes("var/lib/dpkg/status", status); err != nil {
		return err
	}
	// Small files, 100 bytes to 2 kB of text each, sorted by path.
	paths := make([]string, s.SmallFiles)
	for i := range paths {
		paths[i] = smallPath(i, s.Packages)
	}
	slices.Sort(paths)
	var buf []byte
	for i, p := range paths {
		buf = buf[:0]
		for len(buf) < 100+(i*37)%1900 {
			buf = fmt.Appendf(buf, "%s line %d: the quick brown fox jumps over the lazy dog\n", p, len(buf))
		}
		if err := tw.fileBytes(p, buf); err != nil {
			return err
		}
	}
	for i := range s.Whiteouts {
		if err := tw.fileBytes(junkPath(i), fmt.Appendf(nil, "junk %d\n", i)); err != nil {
			return err
		}
	}
	return nil
}

// bigLayer writes s.BigFiles files of s.BigBytes in all under opt/big:
// three in four of pseudo-random bytes (incompressible), the others of
// log-like text (compressible), so that the blob is about 80 % of the
// tar.
func bigLayer(tw *tarWriter, s genSpec, seed uint64) error {
	var key [32]byte
	key[0] = byte(seed)
	rng := rand.NewChaCha8(key)
	per := s.BigBytes / int64(s.BigFiles)
	for i := range s.BigFiles {
		name, r := fmt.Sprintf("opt/big/data-%d.bin", i), io.Reader(rng)
		if i%4 == 3 {
			name, r = fmt.Sprintf("opt/big/log-%d.txt", i), &logText{seed: seed}
		}
		if err := tw.file(name, per, r); err != nil {
			return err
		}
	}
	return nil
}

// logText yields an endless log of varying lines.
type logText struct {
	seed, n uint64
	pending []byte
}

func (l *logText) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(l.pending) == 0 {
			l.n++
			x := l.n*2654435761 + l.seed
			l.pending = fmt.Appendf(l.pending[:0], "2026-01-02T03:%02d:%02d.%06dZ web-%d GET /api/v1/items/%d status=%d bytes=%d\n",
				x%60, (x/60)%60, x%1000000, x%7, x%100000, 200+100*(x%3), x%65536)
		}
		c := copy(p[n:], l.pending)
		l.pending = l.pending[c:]
		n += c
	}
	return n, nil
}

// whiteoutLayer deletes the base layer's junk files: one whiteout entry
// each for the first half of their directories, an opaque directory
// marker for each of the others, plus a file re-created in one of them.
func whiteoutLayer(tw *tarWriter, s genSpec) error {
	dirs := (s.Whiteouts + 99) / 100
	for i := range s.Whiteouts {
		if i/100 >= dirs/2 {
			break
		}
		d, base := path.Split(junkPath(i))
		if err := tw.file(d+".wh."+base, 0, nil); err != nil {
			return err
		}
	}
	for d := dirs / 2; d < dirs; d++ {
		dir := path.Dir(junkPath(d * 100))
		if err := tw.file(dir+"/.wh..wh..opq", 0, nil); err != nil {
			return err
		}
		if err := tw.fileBytes(dir+"/kept", []byte("re-created above the opaque marker\n")); err != nil {
			return err
		}
	}
	return nil
}
