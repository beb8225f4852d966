//go:build unix

package sbomgen

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/filetree"
)

// indexDir returns the file tree and index of the directory root (an
// absolute path without links), built as syft's directory indexer
// (syft/internal/fileresolver, directory_indexer.go) builds them in its
// walk of the root, and nothing more: syft then also indexes, as further
// roots, the targets of the links it met, checked and walked with the
// host's view of the filesystem, in which a link on the way (proc ->
// /proc, y -> /) leaves the root; with the root as syft's base, those
// targets add nothing inside the root that the walk did not index (see
// docs/plugin.md). The walk (filepath.Walk) follows no link: every path
// it looks at, and every file it opens, is under root. A link is indexed
// with the target syft gives it, relative to the root (an absolute
// target joined to the root, a relative one resolved from the link's
// directory, neither climbing above the root), and the tree resolves it
// within the tree, so with chroot semantics.
//
// As in syft's walk, a path that cannot be read, a device, socket or
// FIFO, and a path under a mount point of a pseudo filesystem (proc,
// sysfs, devtmpfs; tmpfs at /dev, /run and the like) are left out.
// Unlike syft's, the walk stops when ctx ends, with its error.
func indexDir(ctx context.Context, root string) (*filetree.FileTree, filetree.Index, error) {
	tree, index := filetree.New(), filetree.NewIndex()
	skip := newMountSkipper()
	err := filepath.Walk(root, func(p string, info fs.FileInfo, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil || info == nil {
			return nil // unreadable: not indexed, nor walked into
		}
		switch file.TypeFromMode(info.Mode()) {
		case file.TypeCharacterDevice, file.TypeSocket, file.TypeBlockDevice, file.TypeFIFO, file.TypeIrregular:
			return nil
		}
		if skip.skip(p) {
			// As syft does, for a file too: the rest of its directory
			// is skipped.
			return fs.SkipDir
		}
		addToIndex(tree, index, root, p, info)
		return nil
	})
	return tree, index, err
}

// addToIndex adds p, which info describes, to tree and index as syft's
// indexer adds it; a path it cannot add is left out.
func addToIndex(tree *filetree.FileTree, index filetree.Index, root, p string, info fs.FileInfo) {
	var ref *file.Reference
	var err error
	md := metadataOf(p, info)
	switch md.Type {
	case file.TypeSymLink:
		target, rerr := os.Readlink(p)
		if rerr != nil {
			return
		}
		md.LinkDestination = linkTarget(root, p, target)
		ref, err = tree.AddSymLink(file.Path(p), file.Path(md.LinkDestination))
	case file.TypeDirectory:
		ref, err = tree.AddDir(file.Path(p))
	case file.TypeRegular:
		ref, err = tree.AddFile(file.Path(p))
	default:
		return
	}
	if err != nil {
		return
	}
	index.Add(*ref, md)
}

// linkTarget returns the path in the tree of the target of the link p
// under root: target joined to root when absolute, else to p's directory,
// cleaned as if root were "/" (so that no ".." climbs above it). It is
// what syft's indexer computes with root as its base.
func linkTarget(root, p, target string) string {
	if filepath.IsAbs(target) {
		return filepath.Join(root, filepath.Clean(target))
	}
	dir, err := filepath.Rel(root, filepath.Dir(p))
	if err != nil {
		dir = "."
	}
	return filepath.Join(root, filepath.Clean(filepath.Join("/", dir, target)))
}

// metadataOf returns the metadata syft's indexer records for p
// (fileresolver.NewMetadataFromPath): its file info, type and owner and,
// for a regular file, the MIME type of its content.
func metadataOf(p string, info fs.FileInfo) file.Metadata {
	uid, gid := -1, -1
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	md := file.Metadata{FileInfo: info, Path: p, Type: file.TypeFromMode(info.Mode()), UserID: uid, GroupID: gid}
	if md.Type == file.TypeRegular {
		var r io.Reader
		if f, err := os.Open(p); err == nil {
			defer f.Close()
			r = f
		}
		md.MIMEType = file.MIMEType(r)
	}
	return md
}
