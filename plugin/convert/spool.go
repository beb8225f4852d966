package convert

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/tmpdir"
)

// spoolPrefix names the temporary directory a Convert keeps its prepared
// documents in (tmpdir.Make: one a killed convert left is removed by the
// next).
const spoolPrefix = "affix-convert-"

// spool holds the documents of the referrers prepare made in files of a
// temporary directory until write uploads them, so that memory holds the
// documents being worked on (at most the concurrency's), not every
// platform's. The directory is made with the first document and removed
// by remove.
type spool struct {
	mu  sync.Mutex
	dir *tmpdir.Dir
}

// prepared is a referrer prepare made, its blobs' content in spool files.
type prepared struct {
	// art is the referrer, each blob's Data nil and Digest set.
	art exporter.Artifact
	// files are the paths of art's blobs' content, by blob.
	files []string
	// sizes are their sizes, by blob.
	sizes []int64
}

// put moves the content of a's blobs into files of the spool and returns
// a without it. Every blob's Digest must be set: load checks the files
// against it.
func (s *spool) put(a *exporter.Artifact) (*prepared, error) {
	p := &prepared{art: *a}
	p.art.Blobs = slices.Clone(a.Blobs)
	for i := range p.art.Blobs {
		b := &p.art.Blobs[i]
		path, err := s.write(b.Data)
		if err != nil {
			return nil, fmt.Errorf("spooling the document of the referrer of %s: %w", a.Subject.Digest, err)
		}
		p.files = append(p.files, path)
		p.sizes = append(p.sizes, int64(len(b.Data)))
		b.Data = nil
	}
	return p, nil
}

// write writes data to a new file of the spool, making its directory
// first if needed, and returns the file's path.
func (s *spool) write(data []byte) (string, error) {
	s.mu.Lock()
	if s.dir == nil {
		d, err := tmpdir.Make("", spoolPrefix)
		if err != nil {
			s.mu.Unlock()
			return "", fmt.Errorf("creating a temporary directory: %w", err)
		}
		s.dir = d
	}
	dir := s.dir.Path
	s.mu.Unlock()
	f, err := os.CreateTemp(dir, "blob-")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

// remove removes the spool's directory and every file in it.
func (s *spool) remove() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == nil {
		return nil
	}
	err := s.dir.Remove()
	s.dir = nil
	return err
}

// load returns the referrer with its blobs' content read back from the
// spool, each checked against its size and digest.
func (p *prepared) load() (exporter.Artifact, error) {
	a := p.art
	a.Blobs = slices.Clone(p.art.Blobs)
	for i := range a.Blobs {
		data, err := readSpooled(p.files[i], p.sizes[i], a.Blobs[i].Digest)
		if err != nil {
			return exporter.Artifact{}, fmt.Errorf("referrer of %s: reading its spooled document back: %w", a.Subject.Digest, err)
		}
		a.Blobs[i].Data = data
	}
	return a, nil
}

// errSpoolChanged is a spooled file that is not what was written.
var errSpoolChanged = errors.New("changed since it was written")

// readSpooled reads the file at path, which must hold size bytes of
// digest d.
func readSpooled(path string, size int64, d digest.Digest) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if n, _ := f.Read(make([]byte, 1)); n > 0 {
		return nil, fmt.Errorf("%s: longer than the %d bytes written: %w", path, size, errSpoolChanged)
	}
	if got := d.Algorithm().FromBytes(data); got != d {
		return nil, fmt.Errorf("%s: digest %s, not %s as written: %w", path, got, d, errSpoolChanged)
	}
	return data, nil
}
