//go:build linux

package main

import (
	"archive/tar"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/affix-oci/affix/internal/fixture"
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
	mans := make([]ocispec.Descriptor, len(s.Platforms))
	var eg errgroup.Group
	for i, p := range s.Platforms {
		eg.Go(func() error {
			d, err := fixture.WriteStreamImage(dir, platformImage(s, p, uint64(i)))
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
	return fixture.WriteIndex(dir, "large", mans)
}

// platformImage is the platform image p of s, its big files' bytes
// drawn from seed.
func platformImage(s genSpec, p ocispec.Platform, seed uint64) fixture.StreamImage {
	return fixture.StreamImage{
		Platform:  p,
		Created:   epoch,
		CreatedBy: "largeimage",
		Layers: []fixture.StreamLayer{
			{What: "base: dpkg database and small files", Fill: fill(func(tw *tarWriter) error { return baseLayer(tw, s, p) })},
			{What: "big files", Fill: fill(func(tw *tarWriter) error { return bigLayer(tw, s, seed) })},
			{What: "whiteouts", Fill: fill(func(tw *tarWriter) error { return whiteoutLayer(tw, s) })},
		},
	}
}

// fill adapts a layer writer to fixture.StreamLayer.Fill.
func fill(f func(*tarWriter) error) func(*tar.Writer) error {
	return func(tw *tar.Writer) error { return f(&tarWriter{Writer: tw, dirs: map[string]bool{}}) }
}

// tarWriter writes a layer's entries, adding each parent directory once
// before its first entry.
type tarWriter struct {
	*tar.Writer
	dirs map[string]bool
}

func (t *tarWriter) parents(p string) error {
	return fixture.WriteParents(t.Writer, t.dirs, p, func(d string) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Uname: "root", Gname: "root"}
	})
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
