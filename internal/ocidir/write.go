package ocidir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// RewriteIndex writes the index.json of the layout at dir as base (its
// annotations and other fields kept) listing entries (the image entries it
// had, in their order) followed by refs, through WriteFileAtomic.
func RewriteIndex(dir string, base ocispec.Index, entries, refs []ocispec.Descriptor) error {
	idx := base
	idx.Versioned = specs.Versioned{SchemaVersion: 2}
	if idx.MediaType == "" {
		idx.MediaType = ocispec.MediaTypeImageIndex
	}
	// An index with no entries lists an empty array: manifests MUST be
	// present (image-spec image-index.md), and null is no array.
	idx.Manifests = append(make([]ocispec.Descriptor, 0, len(entries)+len(refs)), entries...)
	idx.Manifests = append(idx.Manifests, refs...)
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, ocispec.ImageIndexFile)
	if err := WriteFileAtomic(p, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// WriteFileAtomic writes dest (mode 0644) with write, through a temporary
// file in its directory renamed into place: a reader, or an interruption,
// never sees half of it, and a failure leaves dest as it was and no
// temporary file behind.
func WriteFileAtomic(dest string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // once renamed, there is nothing to remove
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), dest)
	}
	return err
}

// writeBlob stores b, which desc describes, as a blob of the layout at
// dir, unless it holds it already; through WriteFileAtomic, so that a
// reader never sees part of it.
func writeBlob(dir string, desc ocispec.Descriptor, b []byte) error {
	p := filepath.Join(dir, ocispec.ImageBlobsDir, desc.Digest.Algorithm().String(), desc.Digest.Encoded())
	// Only a regular file is read: not a FIFO, nor a link out of dir.
	if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && fi.Size() == desc.Size {
		if have, err := os.ReadFile(p); err == nil && bytes.Equal(have, b) {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return WriteFileAtomic(p, func(w io.Writer) error { _, err := w.Write(b); return err })
}
