package oci

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/affix-oci/affix/internal/fsutil"
)

// tarFS is a read-only fs.FS over the regular files of an uncompressed tar
// archive. Opening it reads the headers once; file contents are read in
// place with ReadAt, never extracted or held in memory.
type tarFS struct {
	f       *os.File
	entries map[string]tarEntry
}

// blockSize is the tar block size: headers are a block, data is padded
// to whole blocks.
const blockSize = 512

type tarEntry struct {
	hdr    *tar.Header
	offset int64
}

// openTarFS opens the archive name. It must be a regular file (symbolic
// links followed): a directory is refused with a hint, a FIFO, socket or
// device with fsutil.ErrNotRegular (and ErrNotLayout) before it is
// opened, as a layout's index.json is (a FIFO would block open(2) for
// ever). A missing path and these fail with ErrSourcePath too.
func openTarFS(ctx context.Context, name string) (*tarFS, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, sourcePathError{err}
	}
	if fi.IsDir() {
		return nil, sourcePathError{fmt.Errorf("is a directory (use oci-layout: for a directory): %w", ErrNotLayout)}
	}
	f, err := fsutil.OpenRegular(name)
	if errors.Is(err, fsutil.ErrNotRegular) {
		return nil, sourcePathError{fmt.Errorf("%w: %w", ErrNotLayout, err)}
	}
	if err != nil {
		return nil, err
	}
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return nil, err
	}
	t := &tarFS{f: f, entries: map[string]tarEntry{}}
	// tar.Reader seeks over entry data when its reader is an io.Seeker, so
	// indexing reads only the headers; after Next the file offset is the
	// start of the entry's data.
	tr := tar.NewReader(f)
	// end is where the last entry's data (padded to a block) ends: an
	// archive whose reading stops there, without the two zero blocks that
	// end an archive, was cut at an entry boundary.
	var (
		end  int64
		last string // the last entry's name
	)
	for {
		if err := ctx.Err(); err != nil {
			f.Close()
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			if cur, serr := f.Seek(0, io.SeekCurrent); serr == nil && cur == end && len(t.entries) > 0 {
				f.Close()
				return nil, fmt.Errorf("reading tar: the archive ends after %q without the end-of-archive blocks: %w", last, ErrTruncated)
			}
			break
		}
		if err != nil {
			c, compressed := compression(f)
			f.Close()
			if len(t.entries) == 0 {
				if compressed {
					return nil, fmt.Errorf("%w: a %s-compressed archive: decompress it first (%s)", ErrNotLayout, c.name, c.tool)
				}
				return nil, fmt.Errorf("%w: not a tar archive: %w", ErrNotLayout, err)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("reading tar: %w", ErrTruncated)
			}
			return nil, fmt.Errorf("reading tar: %w", err)
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			f.Close()
			return nil, err
		}
		end, last = off+(hdr.Size+blockSize-1)/blockSize*blockSize, hdr.Name
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if off+hdr.Size > fi.Size() {
			f.Close()
			return nil, fmt.Errorf("tar entry %q ends past the end of the file: %w", hdr.Name, ErrTruncated)
		}
		t.entries[cleanTarName(hdr.Name)] = tarEntry{hdr: hdr, offset: off}
	}
	if len(t.entries) == 0 {
		f.Close()
		return nil, fmt.Errorf("%w: empty tar archive", ErrNotLayout)
	}
	return t, nil
}

// compressions are the compressed formats an archive is recognised in
// (by its first bytes) to say how to decompress it. An archive is read in
// place, with random access to its blobs, which a compressed stream does
// not allow; buildctl and docker buildx write uncompressed archives.
var compressions = []compressionFormat{
	{"\x1f\x8b", "gzip", "gunzip"},
	{"\x28\xb5\x2f\xfd", "zstd", "zstd -d"},
	{"\xfd7zXZ\x00", "xz", "xz -d"},
	{"BZh", "bzip2", "bunzip2"},
}

type compressionFormat struct {
	magic      string // the first bytes
	name, tool string // the format, and the command that decompresses it
}

// compression reports the compression format f starts with, if any.
func compression(f io.ReaderAt) (compressionFormat, bool) {
	var b [8]byte
	n, _ := f.ReadAt(b[:], 0)
	for _, c := range compressions {
		if strings.HasPrefix(string(b[:n]), c.magic) {
			return c, true
		}
	}
	return compressionFormat{}, false
}

func cleanTarName(n string) string {
	n = path.Clean("/" + strings.TrimPrefix(n, "./"))
	return strings.TrimPrefix(n, "/")
}

// Close closes the archive.
func (t *tarFS) Close() error { return t.f.Close() }

// Open implements fs.FS.
func (t *tarFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	e, ok := t.entries[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &tarFile{SectionReader: io.NewSectionReader(t.f, e.offset, e.hdr.Size), hdr: e.hdr}, nil
}

// Stat implements fs.StatFS.
func (t *tarFS) Stat(name string) (fs.FileInfo, error) {
	e, ok := t.entries[name]
	if !ok {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return e.hdr.FileInfo(), nil
}

type tarFile struct {
	*io.SectionReader
	hdr *tar.Header
}

func (f *tarFile) Stat() (fs.FileInfo, error) { return f.hdr.FileInfo(), nil }
func (f *tarFile) Close() error               { return nil }

var _ fs.StatFS = (*tarFS)(nil)
