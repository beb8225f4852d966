package sbomgen

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
)

// confinedSource is a directory source whose resolver answers only with
// files inside the root filesystem it scans. syft's directory indexer
// checks a link's target with the host's root (os.Stat) and, when
// something is there, indexes it as another root: a chain such as
// /x -> /y/f with /y -> / reaches the scanning process's own files (under
// BuildKit: the generator's binary, the other targets under /run/src),
// which the image does not hold. dirSource's own index holds nothing
// outside the root; the confinement is what keeps those files out where
// syft indexes the directory itself (dirSource's fallback), and a second
// guard elsewhere.
//
// It is a source.Source and nothing more: the exclusion dirSource gives
// syft's source (source.PathExcluder), which syft would also apply inside
// the archives it finds, does not pass through.
type confinedSource struct {
	source.Source
	roots []string // the root, and the root with its links resolved, each ending in a separator
}

// newConfinedSource returns src, the directory source of root, with its
// resolver confined to root (as written and with its links resolved).
func newConfinedSource(src source.Source, root string) (*confinedSource, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	s := &confinedSource{Source: src, roots: []string{withSep(abs)}}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		s.roots = append(s.roots, withSep(real))
	}
	return s, nil
}

// withSep returns p ending in one path separator.
func withSep(p string) string {
	if strings.HasSuffix(p, string(filepath.Separator)) {
		return p
	}
	return p + string(filepath.Separator)
}

// FileResolver returns the source's resolver, confined to the root.
func (s *confinedSource) FileResolver(scope source.Scope) (file.Resolver, error) {
	r, err := s.Source.FileResolver(scope)
	if err != nil {
		return nil, err
	}
	return confinedResolver{Resolver: r, roots: s.roots}, nil
}

// confinedResolver drops every location whose file (its host path, links
// resolved: the reference's RealPath) is outside the roots.
type confinedResolver struct {
	file.Resolver
	roots []string
}

// inside reports whether l's file is under one of the roots.
func (r confinedResolver) inside(l file.Location) bool {
	p := string(l.Reference().RealPath)
	for _, root := range r.roots {
		if strings.HasPrefix(p, root) {
			return true
		}
	}
	return false
}

// filter returns the locations of ls inside the roots.
func (r confinedResolver) filter(ls []file.Location, err error) ([]file.Location, error) {
	if err != nil {
		return nil, err
	}
	out := make([]file.Location, 0, len(ls))
	for _, l := range ls {
		if r.inside(l) {
			out = append(out, l)
		}
	}
	return out, nil
}

// HasPath reports a file the confined resolver finds, or a directory
// inside the root (opened through os.Root: no link leaves it).
func (r confinedResolver) HasPath(p string) bool {
	if ls, _ := r.FilesByPath(p); len(ls) > 0 {
		return true
	}
	if !r.Resolver.HasPath(p) {
		return false
	}
	root, err := os.OpenRoot(r.roots[0])
	if err != nil {
		return false
	}
	defer root.Close()
	name := strings.TrimPrefix(filepath.Clean("/"+p), "/")
	if name == "" {
		name = "."
	}
	fi, err := root.Stat(name)
	return err == nil && fi.IsDir()
}

func (r confinedResolver) FilesByPath(paths ...string) ([]file.Location, error) {
	return r.filter(r.Resolver.FilesByPath(paths...))
}

func (r confinedResolver) FilesByGlob(patterns ...string) ([]file.Location, error) {
	return r.filter(r.Resolver.FilesByGlob(patterns...))
}

func (r confinedResolver) FilesByMIMEType(types ...string) ([]file.Location, error) {
	return r.filter(r.Resolver.FilesByMIMEType(types...))
}

func (r confinedResolver) RelativeFileByPath(l file.Location, p string) *file.Location {
	got := r.Resolver.RelativeFileByPath(l, p)
	if got == nil || !r.inside(*got) {
		return nil
	}
	return got
}

func (r confinedResolver) FileContentsByLocation(l file.Location) (io.ReadCloser, error) {
	if !r.inside(l) {
		return nil, fs.ErrNotExist
	}
	return r.Resolver.FileContentsByLocation(l)
}

func (r confinedResolver) FileMetadataByLocation(l file.Location) (file.Metadata, error) {
	if !r.inside(l) {
		return file.Metadata{}, fs.ErrNotExist
	}
	return r.Resolver.FileMetadataByLocation(l)
}

func (r confinedResolver) AllLocations(ctx context.Context) <-chan file.Location {
	ctx, cancel := context.WithCancel(ctx)
	in := r.Resolver.AllLocations(ctx)
	out := make(chan file.Location)
	go func() {
		defer close(out)
		defer cancel()
		for l := range in {
			if !r.inside(l) {
				continue
			}
			select {
			case out <- l:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
