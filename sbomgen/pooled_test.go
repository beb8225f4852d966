package sbomgen

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"

	"github.com/affix-oci/affix/sbomgen/internal/manypkgs"
)

// closeCounter is a reader that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

// sectionCloser is a reader with ReadAt and Seek, as stereoscope's are.
type sectionCloser struct {
	*io.SectionReader
	closed int
}

func (c *sectionCloser) Close() error { c.closed++; return nil }

// onlySeek has Seek but no ReadAt.
type onlySeek struct{ *sectionCloser }

func (onlySeek) ReadAt() {} // hides the embedded ReadAt

func TestPooledReader(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10000) // more than a buffer

	t.Run("plain", func(t *testing.T) {
		in := &closeCounter{Reader: bytes.NewReader(data)}
		rc := pooledReader(in)
		if _, ok := rc.(io.WriterTo); !ok {
			t.Fatal("no WriteTo")
		}
		if _, ok := rc.(io.ReaderAt); ok {
			t.Error("ReadAt the reader lacks")
		}
		if _, ok := rc.(io.Seeker); ok {
			t.Error("Seek the reader lacks")
		}
		var got bytes.Buffer
		n, err := io.Copy(struct{ io.Writer }{&got}, rc) // a writer without ReadFrom
		if err != nil || n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("copied %d, %v; equal %v", n, err, bytes.Equal(got.Bytes(), data))
		}
		if err := rc.Close(); err != nil || in.closed != 1 {
			t.Fatalf("Close: %v, closed %d times", err, in.closed)
		}
	})

	t.Run("seekable", func(t *testing.T) {
		in := &sectionCloser{SectionReader: io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data)))}
		rc := pooledReader(in)
		// What syft's unionreader takes without reading the file whole.
		u, ok := rc.(interface {
			io.ReadCloser
			io.ReaderAt
			io.Seeker
			io.WriterTo
		})
		if !ok {
			t.Fatalf("%T lacks ReadAt, Seek or WriteTo", rc)
		}
		if _, err := u.Seek(5, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if _, err := io.Copy(struct{ io.Writer }{&got}, u); err != nil || !bytes.Equal(got.Bytes(), data[5:]) {
			t.Fatalf("copy from offset 5: %v, equal %v", err, bytes.Equal(got.Bytes(), data[5:]))
		}
		b := make([]byte, 3)
		if _, err := u.ReadAt(b, 11); err != nil || string(b) != "123" {
			t.Fatalf("ReadAt = %q, %v", b, err)
		}
		if err := u.Close(); err != nil || in.closed != 1 {
			t.Fatalf("Close: %v, closed %d times", err, in.closed)
		}
	})

	t.Run("seek only", func(t *testing.T) {
		in := onlySeek{&sectionCloser{SectionReader: io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data)))}}
		if rc := pooledReader(in); rc != io.ReadCloser(in) {
			t.Fatalf("got %T, want the reader as it is", rc)
		}
	})

	t.Run("has WriteTo", func(t *testing.T) {
		in := io.NopCloser(strings.NewReader("x")) // NopCloser keeps WriteTo
		if rc := pooledReader(in); rc != in {
			t.Fatalf("got %T, want the reader as it is", rc)
		}
	})
}

// fakeResolver is a resolver (only its FileContentsByLocation works).
type fakeResolver struct {
	file.Resolver
	rc io.ReadCloser
}

func (r fakeResolver) FileContentsByLocation(file.Location) (io.ReadCloser, error) {
	return r.rc, nil
}

type ociResolver struct{ fakeResolver }

func (ociResolver) FilesByMediaType(...string) ([]file.Location, error) { return nil, nil }

type refResolver struct{ fakeResolver }

func (refResolver) ImageReference() string { return "r" }

type bothResolver struct{ fakeResolver }

func (bothResolver) FilesByMediaType(...string) ([]file.Location, error) { return nil, nil }
func (bothResolver) ImageReference() string                              { return "r" }

// TestPooledResolverInterfaces checks that the pooled resolver has exactly
// the optional interfaces syft asserts that the resolver it wraps has.
func TestPooledResolverInterfaces(t *testing.T) {
	base := fakeResolver{rc: &closeCounter{Reader: strings.NewReader("x")}}
	for _, r := range []file.Resolver{base, ociResolver{base}, refResolver{base}, bothResolver{base}} {
		p := newPooledResolver(r)
		_, wantOCI := r.(file.OCIMediaTypeResolver)
		_, wantRef := r.(imageReferencer)
		if _, ok := p.(file.OCIMediaTypeResolver); ok != wantOCI {
			t.Errorf("%T: OCIMediaTypeResolver %v, want %v", r, ok, wantOCI)
		}
		if _, ok := p.(imageReferencer); ok != wantRef {
			t.Errorf("%T: ImageReference %v, want %v", r, ok, wantRef)
		}
		rc, err := p.FileContentsByLocation(file.Location{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rc.(io.WriterTo); !ok {
			t.Errorf("%T: reader without WriteTo", r)
		}
	}
}

type fakeSource struct {
	source.Source
	excluded []string
}

func (s fakeSource) ExcludedPaths() []string { return s.excluded }

type plainSource struct{ source.Source }

func TestPooledSourceExcludedPaths(t *testing.T) {
	if got := newPooledSource(fakeSource{excluded: []string{"/x"}}).(source.PathExcluder).ExcludedPaths(); len(got) != 1 || got[0] != "/x" {
		t.Errorf("ExcludedPaths = %q, want [/x]", got)
	}
	if got := newPooledSource(plainSource{}).(source.PathExcluder).ExcludedPaths(); got != nil {
		t.Errorf("ExcludedPaths of a source without = %q, want none", got)
	}
}

// BenchmarkScanOwnedFiles scans an image of 200 deb packages owning 10
// files each, whose files syft digests: each digest copied through a new
// 32 KiB buffer before the readers had a pooled WriteTo.
func BenchmarkScanOwnedFiles(b *testing.B) {
	dir, res := writeLayout(b, manypkgs.Spec(manypkgs.Counts{Deb: 200, FilesPerDeb: 10}))
	benchScanFirst(b, dir, res)
}
