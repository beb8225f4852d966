package cli

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fsutil"
	"github.com/affix-oci/affix/internal/ocidir"
)

// finishLayout gives the --output layout a deterministic index.json (the
// image entry first, then the SBOM manifests, which the referrers index
// descriptors describe: artifactType and annotations, as oras reads them,
// then, in a directory, the referrers tag index of each platform manifest
// with SBOMs, in platform order, as regctl reads them), and writes the tar
// when one is asked for.
//
// A tar gets oras's form only: it is what docker load and ctr import take,
// and containerd's importer makes an image of every index.json entry with
// a ref.name, then fails to unpack one that lists only artifacts (a tag
// index); regctl reads directories (ocidir://), not tars.
func (r *buildRun) finishLayout(ctx context.Context, s *sink) error {
	refs := r.referrers(s.result)
	descs := make([]ocispec.Descriptor, len(refs))
	for i, ref := range refs {
		descs[i] = ref.Descriptor
	}
	entries, added := r.layout.Roots(), []ocispec.Descriptor(nil)
	if !r.plan.output.tar {
		// BuildKit's layout has no tag index: each is new, listed last.
		tags, err := ocidir.ReferrersTags(ctx, r.res.Layout, r.layout, entries, refs, nil)
		if err != nil {
			return err
		}
		entries, added = tags.Entries, tags.Added
	}
	if err := ocidir.RewriteIndex(r.res.Layout, r.layout.Index(), entries, append(descs, added...)); err != nil {
		return err
	}
	if !r.plan.output.tar {
		// BuildKit's scratch directory, empty once it is done: the
		// directory holds what the tar would, no more.
		os.Remove(filepath.Join(r.res.Layout, "ingest"))
		return nil
	}
	dest := r.plan.output.dest
	name := dest
	if dest == "-" {
		name = "stdout"
	}
	return r.prog.Task(ctx, "export "+name+": tar", func(ctx context.Context) error {
		if dest == "-" {
			// Through the command's stdout: a reader gone away then
			// cancels the build (exit 141) rather than fail one write.
			return writeLayoutTar(ctx, r.tarOut, r.res.Layout)
		}
		return writeLayoutTarFile(ctx, dest, r.res.Layout)
	})
}

// referrers returns the SBOM referrers res attached (the layout sink's:
// with -t in several repositories, the layout holds the SBOMs that name
// the first, not those of the others, which r.attached lists too), in
// platform order, then format order.
func (r *buildRun) referrers(res *exporter.Result) []exporter.Referrer {
	in := map[digest.Digest]bool{}
	for _, ref := range res.Referrers {
		in[ref.Descriptor.Digest] = true
	}
	var out []exporter.Referrer
	for _, img := range r.platforms {
		for _, m := range r.attached.get(img.Descriptor.Digest) {
			if !in[m.desc.Digest] {
				continue
			}
			out = append(out, exporter.Referrer{Subject: img.Descriptor.Digest, Descriptor: m.desc})
		}
	}
	return out
}

// checkOutputTar checks, before the build, that the tar file path can be
// written, what naming it in errors: not a directory, and its directory
// either takes new files or is missing below one that does (the missing
// directories are made when the tar is written, as docker buildx makes
// them).
func checkOutputTar(what, path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: is a directory", what)
	}
	dir, fi, err := fsutil.NearestExisting(filepath.Dir(path))
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case !fi.IsDir():
		return fmt.Errorf("%s: %s is not a directory", what, dir)
	}
	return checkWritableDir(what, dir)
}

// writeLayoutTarFile writes the layout dir as a tar to dest, through a
// temporary file renamed into place; missing parent directories of dest
// are created first (checkOutputTar checked that they can be).
func writeLayoutTarFile(ctx context.Context, dest, dir string) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("output %s: %w", dest, err)
	}
	if err := ocidir.WriteFileAtomic(dest, func(w io.Writer) error { return writeLayoutTar(ctx, w, dir) }); err != nil {
		return fmt.Errorf("output %s: %w", dest, err)
	}
	return nil
}

// writeLayoutTar writes the OCI layout in dir as a tar: oci-layout,
// index.json, then the blobs in name order, with fixed owners, modes and
// times, so the same layout always gives the same bytes.
func writeLayoutTar(ctx context.Context, w io.Writer, dir string) error {
	names, err := layoutTarNames(dir)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	for _, name := range names {
		if err := writeTarEntry(ctx, tw, dir, name); err != nil {
			return err
		}
	}
	return tw.Close()
}

// layoutTarNames returns what the tar of the layout in dir holds, in tar
// order: oci-layout, index.json, then the blobs directory, its
// subdirectories (named with a trailing "/") and blobs, in name order.
// Scratch directories (ingest) and other files are left out.
func layoutTarNames(dir string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != ocispec.ImageBlobsDir && !strings.HasPrefix(rel, ocispec.ImageBlobsDir+"/") {
				return filepath.SkipDir // ingest and other scratch directories
			}
			names = append(names, rel+"/")
			return nil
		}
		if rel == ocispec.ImageLayoutFile || rel == ocispec.ImageIndexFile || strings.HasPrefix(rel, ocispec.ImageBlobsDir+"/") {
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rank := func(s string) int {
		switch s {
		case ocispec.ImageLayoutFile:
			return 0
		case ocispec.ImageIndexFile:
			return 1
		}
		return 2
	}
	slices.SortFunc(names, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return names, nil
}

// writeTarEntry writes name, a file of the layout in dir (a directory when
// it ends in "/"), to tw with a fixed owner, mode and time.
func writeTarEntry(ctx context.Context, tw *tar.Writer, dir, name string) error {
	hdr := &tar.Header{Name: name, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if strings.HasSuffix(name, "/") {
		hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		return tw.WriteHeader(hdr)
	}
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	// A multi-GB blob stops at the next read once ctx ends.
	_, err = io.Copy(tw, ctxReader{ctx, f})
	return err
}

// ctxReader is r, failing with ctx's error once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// removeContents removes everything in dir, keeping dir.
func removeContents(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
