package sbomgen

import (
	"cmp"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"

	"github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/filetree"
	"github.com/anchore/stereoscope/pkg/filetree/filenode"
	"github.com/anchore/stereoscope/pkg/image"
)

// adoptLowerHardLinks gives each hard link of img's layers that names a
// file of a lower layer the file it names, in img's squashed filesystem,
// and returns how many it changed there.
//
// stereoscope gives a hard link the file it names when that file comes
// earlier in the link's own layer; on a Linux image, a link to a lower
// layer's file stays a link node, which the squashed filesystem resolves
// by path when it is read. So a link whose target a layer at or above it
// deletes (a whiteout) names nothing, and what it holds (a dpkg status
// file, a Go binary) is missing from the SBOM; one whose target an upper
// layer replaces reads the replacement; and one whose target is still
// there is reported at the target's path only. A runtime unpacking the
// layers makes the link a second name of the lower file (link(2), in
// containerd's and Docker's applier), which keeps its content whatever
// happens later to the other name.
//
// Here each such link, in layer order, takes the file its target path
// names in the squash of the layers below its own (following the
// directories' symbolic links, not the target's own: link(2) links a
// symbolic link itself) and, when that is a regular file (or a link this
// already gave one), replaces the link node of the image's squashed tree,
// if it is still there, by a regular file with the target's content, size
// and MIME type, the link's name, permissions and layer, as stereoscope
// does for a link within a layer. A link to nothing, to a directory or to
// another kind of file stays as it was. The squashed search context is
// rebuilt when anything changed.
//
// A Windows image is left as stereoscope read it. Lower layers' squashes,
// built lazily (WithLazyLayerSquashes), are built here only for a link
// whose target the image's squash no longer has from a lower layer.
func adoptLowerHardLinks(img *image.Image) (int, error) {
	fc, ok := img.FileCatalog.(*image.FileCatalog)
	if !ok || fc == nil || len(img.Layers) < 2 || img.Metadata.Config.OS == "windows" {
		// stereoscope links a Windows layer's names into the layers
		// below itself, as hcsshim does (case-insensitively, under
		// Files/), and leaves alone what it cannot be sure of.
		return 0, nil
	}
	squash, ok := img.SquashedTree().(*filetree.FileTree)
	if !ok || squash == nil {
		return 0, nil
	}
	entries, err := fc.GetByFileType(file.TypeHardLink)
	if err != nil {
		return 0, fmt.Errorf("listing hard links: %w", err)
	}
	type link struct {
		filetree.IndexEntry
		layer int
	}
	index := make(map[*image.Layer]int, len(img.Layers))
	for i, l := range img.Layers {
		index[l] = i
	}
	var links []link
	for _, e := range entries {
		l := fc.Layer(e.Reference)
		// A link of the lowest layer names nothing below it.
		if i := index[l]; i > 0 && isNodeOf(l.Tree, e.Reference) {
			links = append(links, link{e, i})
		}
	}
	if len(links) == 0 {
		return 0, nil
	}
	slices.SortFunc(links, func(a, b link) int {
		return cmp.Or(cmp.Compare(a.layer, b.layer), cmp.Compare(a.RealPath, b.RealPath))
	})

	// bound holds what each link adopted, by its reference, for a link
	// of a higher layer that names it.
	type binding struct {
		md   file.Metadata
		open file.Opener
	}
	bound := map[file.ID]binding{}
	adopted := 0
	for _, ln := range links {
		target := file.Path(path.Clean("/" + ln.LinkDestination))
		if ln.LinkDestination == "" || target == "/" {
			continue
		}
		ref, ok := lowerFile(img, squash, index, ln.layer, target)
		if !ok {
			continue
		}
		b, ok := bound[ref.ID()]
		if !ok {
			te, err := fc.Get(ref)
			if err != nil || te.Type != file.TypeRegular {
				continue
			}
			b = binding{md: te.Metadata, open: func() (io.ReadCloser, error) { return fc.Open(ref) }}
		}
		md := linkedMetadata(ln.Metadata, ln.RealPath, b.md)
		bound[ln.ID()] = binding{md: md, open: b.open}

		n := literalNode(squash, ln.RealPath)
		if n == nil || n.Reference == nil || n.Reference.ID() != ln.ID() ||
			len(squash.TreeReader().Children(n)) > 0 || hasNonDirAncestor(squash, ln.RealPath) {
			// Deleted or replaced above, or not where removing it is safe.
			continue
		}
		if err := squash.RemovePath(ln.RealPath); err != nil {
			return adopted, fmt.Errorf("replacing hard link %s: %w", ln.RealPath, err)
		}
		added, err := squash.AddFile(ln.RealPath)
		if err != nil {
			return adopted, fmt.Errorf("replacing hard link %s: %w", ln.RealPath, err)
		}
		fc.Add(*added, md, img.Layers[ln.layer], b.open)
		adopted++
	}
	if adopted > 0 {
		// The context built by Read indexed the links as they were.
		sc := filetree.NewSearchContext(squash, fc)
		img.SquashedSearchContext = sc
		img.Layers[len(img.Layers)-1].SquashedSearchContext = sc
	}
	return adopted, nil
}

// lowerFile returns the file at target (following the symbolic links of
// its directories, not its own) in the squash of img's layers below
// layer, index giving each layer's position. The image's squash answers
// when it has, literally at target, a file of a layer below: no layer
// since changed it. Otherwise the squash of the layers below is read,
// which with lazy layer squashes builds it (and those below it).
func lowerFile(img *image.Image, squash *filetree.FileTree, index map[*image.Layer]int, layer int, target file.Path) (file.Reference, bool) {
	if n := literalNode(squash, target); n != nil && n.Reference != nil && !hasNonDirAncestor(squash, target) {
		if l := img.FileCatalog.Layer(*n.Reference); l != nil && index[l] < layer {
			return *n.Reference, true
		}
	}
	exists, res, err := img.Layers[layer-1].SquashedTree.File(target)
	if err != nil || !exists || res == nil || res.Reference == nil {
		return file.Reference{}, false
	}
	return *res.Reference, true
}

// linkedMetadata returns the metadata of the hard link at p, whose header
// is link, once it names the file target describes: the target's type,
// size and MIME type, the link's name, permission bits, times and owner
// (as stereoscope describes a link within one layer).
func linkedMetadata(link file.Metadata, p file.Path, target file.Metadata) file.Metadata {
	md := link
	md.Path = string(p)
	info := file.ManualInfo{NameValue: path.Base(string(p)), SizeValue: target.Size()}
	var perm fs.FileMode
	if link.FileInfo != nil {
		perm = link.Mode() &^ fs.ModeType
		info.ModTimeValue, info.SysValue = link.ModTime(), link.Sys()
	}
	if target.FileInfo != nil {
		info.ModeValue = perm | target.Mode()&fs.ModeType
	}
	md.FileInfo = info
	md.Type, md.MIMEType, md.LinkDestination = target.Type, target.MIMEType, target.LinkDestination
	return md
}

// isNodeOf reports whether ref is the node at its path in tree.
func isNodeOf(tree filetree.Reader, ref file.Reference) bool {
	n := literalNode(tree, ref.RealPath)
	return n != nil && n.Reference != nil && n.Reference.ID() == ref.ID()
}

// literalNode is the node at exactly p in tree, following no links, or
// nil.
func literalNode(tree filetree.Reader, p file.Path) *filenode.FileNode {
	n, _ := tree.TreeReader().Node(filenode.IDByPath(p)).(*filenode.FileNode)
	return n
}

// hasNonDirAncestor reports whether some ancestor of p in tree is not a
// directory: removing p would then follow that ancestor (a symbolic link)
// and remove another path.
func hasNonDirAncestor(tree filetree.Reader, p file.Path) bool {
	for _, c := range p.ConstituentPaths() {
		n := literalNode(tree, c)
		if n == nil {
			return false
		}
		if n.FileType != file.TypeDirectory {
			return true
		}
	}
	return false
}
