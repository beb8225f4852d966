package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Source prefixes accepted by ParseSource.
const (
	// SchemeLayout names an OCI image layout directory: "oci-layout:PATH".
	SchemeLayout = "oci-layout"
	// SchemeArchive names an OCI image layout tar archive: "oci-archive:PATH".
	SchemeArchive = "oci-archive"
)

// Source is a parsed local image source.
type Source struct {
	// Scheme is SchemeLayout or SchemeArchive.
	Scheme string
	// Path is the directory or tar file.
	Path string
}

// String returns the source in the form ParseSource accepts.
func (s Source) String() string { return s.Scheme + ":" + s.Path }

// ParseSource parses "oci-layout:PATH" or "oci-archive:PATH". A bare path is
// accepted too: a directory is a layout, a regular file an archive.
func ParseSource(s string) (Source, error) {
	if s == "" {
		return Source{}, fmt.Errorf("empty source: %w", ErrInvalidSource)
	}
	scheme, p, ok := strings.Cut(s, ":")
	if ok && (scheme == SchemeLayout || scheme == SchemeArchive) {
		if p == "" {
			return Source{}, fmt.Errorf("source %q: no path: %w", s, ErrInvalidSource)
		}
		return Source{Scheme: scheme, Path: p}, nil
	}
	fi, err := os.Stat(s)
	if err != nil {
		return Source{}, fmt.Errorf("source %q: want oci-layout:PATH or oci-archive:PATH: %w", s, err)
	}
	if fi.IsDir() {
		return Source{Scheme: SchemeLayout, Path: s}, nil
	}
	return Source{Scheme: SchemeArchive, Path: s}, nil
}

// Layout is a read-only OCI image layout in a directory or a tar archive.
// Its Fetch verifies content against the descriptor as it is read. It is
// safe for concurrent use.
type Layout struct {
	src   Source
	fsys  fs.FS
	close func() error
	index ocispec.Index
}

var _ Fetcher = (*Layout)(nil)

// OpenLayout opens the layout that src (see ParseSource) names and reads
// its oci-layout and index.json files. Close releases it.
func OpenLayout(ctx context.Context, src string) (*Layout, error) {
	s, err := ParseSource(src)
	if err != nil {
		return nil, err
	}
	return Open(ctx, s)
}

// Open opens the layout of s.
func Open(ctx context.Context, s Source) (*Layout, error) {
	l := &Layout{src: s, close: func() error { return nil }}
	switch s.Scheme {
	case SchemeLayout:
		fi, err := os.Stat(s.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s: not a directory (use oci-archive: for a tar): %w", s, ErrNotLayout)
		}
		l.fsys = os.DirFS(s.Path)
	case SchemeArchive:
		t, err := openTarFS(ctx, s.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
		l.fsys, l.close = t, t.Close
	default:
		return nil, fmt.Errorf("source %q: unknown scheme %q: %w", s, s.Scheme, ErrInvalidSource)
	}
	if err := l.load(); err != nil {
		l.close()
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	return l, nil
}

func (l *Layout) load() error {
	b, err := fs.ReadFile(l.fsys, ocispec.ImageLayoutFile)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrNotLayout, ocispec.ImageLayoutFile, err)
	}
	var lf ocispec.ImageLayout
	if err := json.Unmarshal(b, &lf); err != nil {
		return fmt.Errorf("%w: decoding %s: %w", ErrNotLayout, ocispec.ImageLayoutFile, err)
	}
	if lf.Version != ocispec.ImageLayoutVersion {
		return fmt.Errorf("%w: layout version %q, want %q", ErrNotLayout, lf.Version, ocispec.ImageLayoutVersion)
	}
	f, err := l.fsys.Open(ocispec.ImageIndexFile)
	if err != nil {
		return fmt.Errorf("%w: opening %s: %w", ErrNotLayout, ocispec.ImageIndexFile, err)
	}
	defer f.Close()
	if err := json.NewDecoder(io.LimitReader(f, MaxManifestSize)).Decode(&l.index); err != nil {
		return fmt.Errorf("%w: decoding %s: %w", ErrNotLayout, ocispec.ImageIndexFile, err)
	}
	if len(l.index.Manifests) == 0 {
		return fmt.Errorf("%s lists no manifests: %w", ocispec.ImageIndexFile, ErrNoMatch)
	}
	for i, d := range l.index.Manifests {
		if err := d.Digest.Validate(); err != nil {
			return fmt.Errorf("%s: manifests[%d]: digest %q: %w", ocispec.ImageIndexFile, i, d.Digest, err)
		}
	}
	return nil
}

// Source returns the source the layout was opened from.
func (l *Layout) Source() Source { return l.src }

// Index returns the layout's index.json. The caller must not modify it.
func (l *Layout) Index() ocispec.Index { return l.index }

// Roots returns the descriptors index.json lists.
func (l *Layout) Roots() []ocispec.Descriptor { return l.index.Manifests }

// Fetch opens the blob desc names. Reading it to the end fails with
// ErrDigestMismatch when the bytes do not match desc.
func (l *Layout) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("%s: digest %q: %w", l.src, desc.Digest, err)
	}
	p := path.Join(ocispec.ImageBlobsDir, desc.Digest.Algorithm().String(), desc.Digest.Encoded())
	f, err := l.fsys.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %s (%s): %w", l.src, desc.Digest, desc.MediaType, ErrBlobNotFound)
		}
		return nil, fmt.Errorf("%s: %w", l.src, err)
	}
	return &verifiedFile{Reader: VerifyReader(f, desc), c: f, src: l.src}, nil
}

// Exists reports whether the layout holds the blob desc names.
func (l *Layout) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	if err := desc.Digest.Validate(); err != nil {
		return false, fmt.Errorf("%s: digest %q: %w", l.src, desc.Digest, err)
	}
	p := path.Join(ocispec.ImageBlobsDir, desc.Digest.Algorithm().String(), desc.Digest.Encoded())
	_, err := fs.Stat(l.fsys, p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Close releases the layout.
func (l *Layout) Close() error { return l.close() }

type verifiedFile struct {
	io.Reader
	c   io.Closer
	src Source
}

func (f *verifiedFile) Read(p []byte) (int, error) {
	n, err := f.Reader.Read(p)
	if err != nil && err != io.EOF && errors.Is(err, ErrDigestMismatch) {
		err = fmt.Errorf("%s: %w", f.src, err)
	}
	return n, err
}

func (f *verifiedFile) Close() error { return f.c.Close() }
