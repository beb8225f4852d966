package sbomgen

import (
	"fmt"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/anchore/stereoscope/pkg/filetree"
	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft/file"
	"github.com/bmatcuk/doublestar/v4"
)

// prefixIndex is a stereoscope file index that answers a basename glob
// beginning with literal characters (libc6.*) from the basenames that
// begin with them, found by binary search in the sorted basenames,
// instead of matching the glob against every distinct basename of the
// filesystem. syft's dpkg cataloger asks, for each package, for
// /var/lib/dpkg/info/NAME.* (or status.d/NAME.*), which stereoscope's
// index answers by the latter: packages × basenames glob matches, 15 s of
// the 27 s of CPU of a scan of 3000 packages and 50000 files.
//
// The answer is the entries stereoscope's index gives, each basename's in
// its order; only the order of the basenames differs: sorted here, in its
// set's map iteration order there, so random from call to call. The
// search context sorts what it makes of the entries (file.Resolutions:
// real paths first, then by request path, a total order once it has kept
// one resolution per request path), so that order does not reach syft,
// beyond what stereoscope already leaves to it (which of two entries
// resolving to one request path is kept). The glob is matched by the same
// function (doublestar.MatchUnvalidated) against the same basenames; only
// those that cannot match are skipped (a glob's leading literal
// characters match only themselves, from the basename's first byte).
// Every other method, and a glob without a literal prefix or one
// stereoscope rejects, is the index's own.
type prefixIndex struct {
	filetree.IndexReader

	once  sync.Once
	names []string // the index's distinct basenames, sorted
	err   error    // listing them failed: every glob goes to the index
}

// newPrefixIndex returns x whose basename globs look only at the
// basenames their literal prefix allows. x must not change afterwards
// (stereoscope's and syft's indexes are complete when their search
// context is built).
func newPrefixIndex(x filetree.IndexReader) *prefixIndex {
	return &prefixIndex{IndexReader: x}
}

// basenames lists the index's distinct basenames once: those of the
// entries the glob "*" gives, which matches every basename (none holds a
// separator), as path.Base of their real path, which is how the index
// keys them.
func (x *prefixIndex) basenames() ([]string, error) {
	x.once.Do(func() {
		entries, err := x.IndexReader.GetByBasenameGlob("*")
		if err != nil {
			x.err = err
			return
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, path.Base(string(e.RealPath)))
		}
		slices.Sort(names)
		x.names = slices.Compact(names)
	})
	return x.names, x.err
}

// GetByBasenameGlob returns the entries whose basename matches any of
// globs, as the index does (globs in order, each basename's entries as
// GetByBasename gives them).
func (x *prefixIndex) GetByBasenameGlob(globs ...string) ([]filetree.IndexEntry, error) {
	if len(globs) == 0 {
		return x.IndexReader.GetByBasenameGlob()
	}
	for _, g := range globs {
		// What stereoscope rejects, with its error.
		if strings.Contains(g, "**") || strings.Contains(g, "/") || !doublestar.ValidatePattern(g) {
			return x.IndexReader.GetByBasenameGlob(globs...)
		}
	}
	names, err := x.basenames()
	if err != nil {
		return x.IndexReader.GetByBasenameGlob(globs...)
	}
	var entries []filetree.IndexEntry
	for _, g := range globs {
		prefix := literalPrefix(g)
		if prefix == "" {
			es, err := x.IndexReader.GetByBasenameGlob(g)
			if err != nil {
				return nil, err
			}
			entries = append(entries, es...)
			continue
		}
		for i := sort.SearchStrings(names, prefix); i < len(names) && strings.HasPrefix(names[i], prefix); i++ {
			if !doublestar.MatchUnvalidated(g, names[i]) {
				continue
			}
			es, err := x.IndexReader.GetByBasename(names[i])
			if err != nil {
				return nil, fmt.Errorf("unable to fetch file references by basename (%q): %w", names[i], err)
			}
			entries = append(entries, es...)
		}
	}
	return entries, nil
}

// literalPrefix returns the leading characters of glob that doublestar
// matches only with themselves: ASCII, before any of its operators (and
// the characters special inside a class or an alternation, which never
// begin one). A name the glob matches begins with these bytes: doublestar
// compares them rune by rune from the name's start, before any wildcard
// it could backtrack to, and an ASCII rune decodes only from its own
// byte.
func literalPrefix(glob string) string {
	for i := 0; i < len(glob); i++ {
		if c := glob[i]; c >= 0x80 || strings.IndexByte(`*?[]{},\/`, c) >= 0 {
			return glob[:i]
		}
	}
	return glob
}

// usePrefixGlobs gives img's squashed filesystem a search context over
// the same tree and index whose basename globs use a prefixIndex. It is
// what Image.Read builds for it (the top layer's squashed search context:
// the image's tree and file catalog), built again; syft's squashed-scope
// resolver searches through img.SquashedSearchContext. An image without
// layers, or a catalog of another type, is left as it is.
func usePrefixGlobs(img *image.Image) {
	fc, ok := img.FileCatalog.(*image.FileCatalog)
	if !ok || fc == nil || fc.Index == nil || len(img.Layers) == 0 {
		return
	}
	// NewSearchContext takes a *FileTree or a lazy squash; the image's
	// squash is the former.
	tree, ok := img.SquashedTree().(*filetree.FileTree)
	if !ok || tree == nil {
		return
	}
	img.SquashedSearchContext = filetree.NewSearchContext(tree, newPrefixIndex(fc.Index))
}

// useDirPrefixGlobs does as usePrefixGlobs for the resolver of syft's
// directory source (fileresolver.Directory, an internal type: its
// exported fields Tree, Index and SearchContext, reached by reflection),
// and reports whether it did. Another resolver, or one whose fields have
// other names or types (another syft version), is left as it is: the scan
// gives the same documents, slower. It must run before the resolver is
// used by more than one goroutine.
func useDirPrefixGlobs(r file.Resolver) bool {
	f, ok := dirResolverFieldsOf(r)
	if !ok {
		return false
	}
	t := f.tree.Interface().(filetree.Reader)
	x := f.index.Interface().(filetree.IndexReader)
	if _, ok := t.(*filetree.FileTree); !ok {
		// NewSearchContext takes a *FileTree or a lazy squash; a directory's is the former.
		return false
	}
	f.search.Set(reflect.ValueOf(filetree.NewSearchContext(t, newPrefixIndex(x))))
	return true
}

// useDirTree makes the resolver of syft's directory source (as
// useDirPrefixGlobs finds its fields) answer from tree and index, with a
// search context of its own over them, and reports whether it did. It
// must run before the resolver is used.
func useDirTree(r file.Resolver, tree *filetree.FileTree, index filetree.Index) bool {
	f, ok := dirResolverFieldsOf(r)
	if !ok || !f.tree.CanSet() || !f.index.CanSet() {
		return false
	}
	f.tree.Set(reflect.ValueOf(tree))
	f.index.Set(reflect.ValueOf(index))
	f.search.Set(reflect.ValueOf(filetree.NewSearchContext(tree, index)))
	return true
}

// dirResolverFields are the fields of syft's directory resolver that
// useDirPrefixGlobs and useDirTree set.
type dirResolverFields struct{ tree, index, search reflect.Value }

// dirResolverFieldsOf returns r's fields Tree (a filetree.Reader), Index
// (a filetree.IndexReader) and SearchContext (a filetree.Searcher, which
// may be set), all set, when r is a pointer to a struct that has them.
func dirResolverFieldsOf(r file.Resolver) (dirResolverFields, bool) {
	v := reflect.ValueOf(r)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return dirResolverFields{}, false
	}
	s := v.Elem()
	tree, index, search := s.FieldByName("Tree"), s.FieldByName("Index"), s.FieldByName("SearchContext")
	if !tree.IsValid() || !index.IsValid() || !search.IsValid() ||
		tree.Type() != reflect.TypeFor[filetree.Reader]() ||
		index.Type() != reflect.TypeFor[filetree.IndexReader]() ||
		search.Type() != reflect.TypeFor[filetree.Searcher]() ||
		!tree.CanInterface() || !index.CanInterface() || !search.CanSet() ||
		tree.IsNil() || index.IsNil() || search.IsNil() {
		return dirResolverFields{}, false
	}
	return dirResolverFields{tree, index, search}, true
}
