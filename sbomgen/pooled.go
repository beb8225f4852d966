package sbomgen

import (
	"io"
	"sync"

	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
)

// pooledSource is an image source whose resolver's file readers copy
// through a pooled buffer when read with io.Copy. syft digests every
// regular file with io.Copy from the reader FileContentsByLocation returns;
// stereoscope's readers have no WriteTo, so io.Copy allocated a fresh
// 32 KiB buffer per file: a third of the allocations of a large image's
// scan. The readers, the resolver and the source keep every optional
// interface syft looks for on what they wrap (io.ReaderAt and io.Seeker
// for the binary catalogers, file.OCIMediaTypeResolver and
// ImageReference on the resolver, source.PathExcluder on the source),
// and have none that it lacks.
type pooledSource struct{ source.Source }

// newPooledSource returns src with its resolvers' readers pooled.
func newPooledSource(src source.Source) source.Source {
	return pooledSource{src}
}

// ExcludedPaths returns the wrapped source's exclusion patterns, if it has
// any (syft applies them inside the archives it finds too); a source
// without any is read as one that excludes nothing, as syft reads it.
func (s pooledSource) ExcludedPaths() []string {
	if e, ok := s.Source.(source.PathExcluder); ok {
		return e.ExcludedPaths()
	}
	return nil
}

func (s pooledSource) FileResolver(scope source.Scope) (file.Resolver, error) {
	r, err := s.Source.FileResolver(scope)
	if err != nil {
		return nil, err
	}
	return newPooledResolver(r), nil
}

// imageReferencer is the interface syft's AI cataloger asserts on a
// resolver for the image's reference (unexported there).
type imageReferencer interface {
	ImageReference() string
}

// newPooledResolver returns r with its readers pooled, with the optional
// interfaces of r that syft asserts and no others.
func newPooledResolver(r file.Resolver) file.Resolver {
	p := pooledResolver{r}
	oci, isOCI := r.(file.OCIMediaTypeResolver)
	ref, isRef := r.(imageReferencer)
	switch {
	case isOCI && isRef:
		return struct {
			pooledResolver
			file.OCIMediaTypeResolver
			imageReferencer
		}{p, oci, ref}
	case isOCI:
		return struct {
			pooledResolver
			file.OCIMediaTypeResolver
		}{p, oci}
	case isRef:
		return struct {
			pooledResolver
			imageReferencer
		}{p, ref}
	}
	return p
}

type pooledResolver struct{ file.Resolver }

func (r pooledResolver) FileContentsByLocation(l file.Location) (io.ReadCloser, error) {
	rc, err := r.Resolver.FileContentsByLocation(l)
	if err != nil {
		return nil, err
	}
	return pooledReader(rc), nil
}

// copyBufs holds io.Copy's buffers (its size).
var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}

// copyPooled copies r to w, as io.Copy does (w's ReadFrom if it has one),
// through a buffer from copyBufs.
func copyPooled(w io.Writer, r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	// The bare reader: r's own WriteTo would be this function.
	return io.CopyBuffer(w, struct{ io.Reader }{r}, *bp)
}

// pooledReader returns rc with a WriteTo that copies through a pooled
// buffer, keeping its io.ReaderAt and io.Seeker (syft reads binaries with
// them, and reads a reader without them whole into memory first). A reader
// with its own WriteTo, or with only one of the two, is returned as it is.
func pooledReader(rc io.ReadCloser) io.ReadCloser {
	if _, ok := rc.(io.WriterTo); ok {
		return rc
	}
	at, isAt := rc.(io.ReaderAt)
	sk, isSeek := rc.(io.Seeker)
	switch {
	case isAt && isSeek:
		return &pooledSeekReader{pooledPlainReader{rc}, at, sk}
	case !isAt && !isSeek:
		return &pooledPlainReader{rc}
	}
	return rc
}

// pooledPlainReader is an io.ReadCloser with a pooled WriteTo.
type pooledPlainReader struct{ io.ReadCloser }

func (r *pooledPlainReader) WriteTo(w io.Writer) (int64, error) {
	return copyPooled(w, r.ReadCloser)
}

// pooledSeekReader is pooledPlainReader for a reader with ReadAt and Seek
// (what syft's unionreader takes as is).
type pooledSeekReader struct {
	pooledPlainReader
	io.ReaderAt
	io.Seeker
}
