package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"path"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layoutWriteDirs are the directories of a layout that a writer (oras-go's
// layout store, as affix attach oci-layout: uses it) creates files in:
// blob directories, and "ingest" for blobs on their way in.
var layoutWriteDirs = []string{
	ocispec.ImageBlobsDir,
	path.Join(ocispec.ImageBlobsDir, "sha256"),
	path.Join(ocispec.ImageBlobsDir, "sha512"),
	"ingest",
}

// CheckLayoutWrite checks, before anything is written into the existing
// layout directory dir, that writing there stays inside it: the blob and
// ingest directories, where present, are directories inside dir (no
// symbolic link leading out of it), oci-layout and index.json regular
// files inside it, and every blob already there a regular file inside it
// (a writer that finds a blob present reads it or skips it). It fails with
// ErrUnsafeLayout naming the entry. A missing directory passes: the writer
// creates it.
func CheckLayoutWrite(dir string) error {
	r, err := openRootFS(dir)
	if err != nil {
		return fmt.Errorf("oci-layout:%s: %w", dir, err)
	}
	defer r.Close()
	wrap := func(err error) error { return fmt.Errorf("oci-layout:%s: %w", dir, err) }
	for _, f := range []string{ocispec.ImageLayoutFile, ocispec.ImageIndexFile} {
		if _, err := r.Stat(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return wrap(err)
		}
	}
	for _, d := range layoutWriteDirs {
		fi, err := r.root.Stat(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return wrap(r.pathErr("stat", d, err))
		}
		if !fi.IsDir() {
			return wrap(&fs.PathError{Op: "stat", Path: d, Err: fmt.Errorf("not a directory: %w", ErrUnsafeLayout)})
		}
		if path.Dir(d) != ocispec.ImageBlobsDir {
			continue
		}
		entries, err := fs.ReadDir(r.root.FS(), d)
		if err != nil {
			return wrap(err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				continue
			}
			if _, err := r.Stat(path.Join(d, e.Name())); err != nil {
				return wrap(err)
			}
		}
	}
	return nil
}
