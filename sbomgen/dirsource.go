package sbomgen

import (
	"context"
	"path/filepath"

	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
	"github.com/anchore/syft/syft/source/directorysource"
)

// belowRoot is the exclusion pattern of syft's directory source that
// leaves out everything below the root: the root's entries, none of
// which it then walks into or, for a link, follows.
const belowRoot = "./*"

// dirSource returns syft's directory source of root (root as its base,
// so that links resolve within it) named as alias says.
//
// With ownIndex, where indexDir is available, the source's resolver
// answers from the tree indexDir builds, which holds the root and
// nothing outside it: syft's own indexer, after its walk of the root,
// checks and walks the targets of the links it met with the host's view
// of the filesystem, in which proc -> /proc with psr -> /proc/self/root,
// or y -> / with x -> /y/etc, leads out of the root, to the whole host
// filesystem for the former. The source is made with belowRoot excluded,
// so that syft indexes only the root itself, and its resolver is then
// given the tree (useDirTree). Where that cannot be done (indexDir
// unavailable, a resolver of another shape), the source is syft's own,
// which indexes root as it does.
//
// A root whose path (its links resolved) holds a character special in
// a glob ([, {, \) defeats the exclusion: syft indexes it as it would
// (time and memory only, the resolver still answers from indexDir's
// tree).
func dirSource(ctx context.Context, root string, alias source.Alias, ownIndex bool) (source.Source, error) {
	if ownIndex {
		if src, err := ownIndexSource(ctx, root, alias); err != nil || src != nil {
			return src, err
		}
	}
	return directorysource.New(directorysource.Config{Path: root, Base: root, Alias: alias})
}

// ownIndexSource returns dirSource's source with indexDir's tree; nil
// and no error where that cannot be done.
func ownIndexSource(ctx context.Context, root string, alias source.Alias) (source.Source, error) {
	// The root as syft's indexer walks it.
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, nil
	}
	if real, err = filepath.Abs(real); err != nil {
		return nil, nil
	}
	tree, index, err := indexDir(ctx, real)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, nil
	}
	src, r, err := rootOnlySource(root, alias)
	if err != nil {
		return nil, err
	}
	if r != nil && useDirTree(r, tree, index) {
		return src, nil
	}
	src.Close()
	return nil, nil
}

// rootOnlySource returns syft's directory source of root with belowRoot
// excluded, and its resolver (nil if syft fails to make it), which has
// indexed the root alone.
func rootOnlySource(root string, alias source.Alias) (source.Source, file.Resolver, error) {
	src, err := directorysource.New(directorysource.Config{
		Path:    root,
		Base:    root,
		Alias:   alias,
		Exclude: source.ExcludeConfig{Paths: []string{belowRoot}},
	})
	if err != nil {
		return nil, nil, err
	}
	r, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		return src, nil, nil
	}
	return src, r, nil
}
