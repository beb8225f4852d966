package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Source prefixes accepted by ParseSource.
const (
	// SchemeLayout names an OCI image layout directory: "oci-layout:PATH".
	SchemeLayout = "oci-layout"
	// SchemeArchive names an OCI image layout tar archive: "oci-archive:PATH".
	SchemeArchive = "oci-archive"
)

// Source is a parsed local image source.
type Source struct {
	// Scheme is SchemeLayout or SchemeArchive.
	Scheme string
	// Path is the directory or tar file.
	Path string
	// Tag, when set, selects the index.json entries whose
	// org.opencontainers.image.ref.name it is.
	Tag string
	// Digest, when set, selects the index.json entries with this digest.
	Digest digest.Digest
}

// String returns the source in the form ParseSource accepts.
func (s Source) String() string {
	out := s.Scheme + ":" + s.Path
	if s.Tag != "" {
		out += ":" + s.Tag
	}
	if s.Digest != "" {
		out += "@" + s.Digest.String()
	}
	return out
}

// ErrSourcePath means a source names a path that is missing or not of
// its scheme's kind: a file for oci-layout:, a directory, FIFO, socket or
// device for oci-archive:. The user named the wrong path; nothing of it
// was read. Errors wrapping it keep their own message (sourcePathError).
var ErrSourcePath = errors.New("wrong source path")

// sourcePathError marks err as an ErrSourcePath without adding to its
// message.
type sourcePathError struct{ err error }

func (e sourcePathError) Error() string        { return e.err.Error() }
func (e sourcePathError) Unwrap() error        { return e.err }
func (e sourcePathError) Is(target error) bool { return target == ErrSourcePath }

// tagRE is the grammar of a tag (distribution's reference).
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ParseSource parses "oci-layout:PATH[:TAG][@DIGEST]" or
// "oci-archive:PATH[:TAG][@DIGEST]", as oras and regctl name an image in a
// layout: TAG selects index.json entries by their
// org.opencontainers.image.ref.name or io.containerd.image.name (see
// Tagged), DIGEST by digest. ":TAG" is taken as
// a tag only when PATH with it does not exist and PATH without it does,
// and "@DIGEST" only when a valid digest follows, so paths with colons and
// at signs still work. Code that has a directory rather than a user's
// argument calls Open with a Source instead. A bare path is accepted too,
// with TAG and DIGEST read the same way: a directory is a layout, a
// regular file an archive.
func ParseSource(s string) (Source, error) {
	if s == "" {
		return Source{}, fmt.Errorf("empty source: want oci-layout:PATH or oci-archive:PATH (or a path): %w", ErrInvalidSource)
	}
	scheme, p, ok := strings.Cut(s, ":")
	if ok && (scheme == SchemeLayout || scheme == SchemeArchive) {
		src := splitSource(p)
		src.Scheme = scheme
		if src.Path == "" {
			return Source{}, fmt.Errorf("source %q: no path: %w", s, ErrInvalidSource)
		}
		return src, nil
	}
	src := Source{Path: s}
	fi, err := os.Stat(s)
	if err != nil {
		// PATH:TAG or PATH@DIGEST, as with a scheme, when PATH exists.
		if alt := splitSource(s); alt.Path != s {
			if afi, aerr := os.Stat(alt.Path); aerr == nil {
				src, fi, err = alt, afi, nil
			}
		}
	}
	if err != nil {
		return Source{}, sourcePathError{fmt.Errorf("source %q: want oci-layout:PATH or oci-archive:PATH: %w", s, err)}
	}
	src.Scheme = SchemeArchive
	if fi.IsDir() {
		src.Scheme = SchemeLayout
	}
	return src, nil
}

// splitSource splits PATH[:TAG][@DIGEST] (ParseSource's, after the
// scheme): "@" starts a digest only when a digest follows (a path may
// hold one: a Jenkins workspace "app@2"), and ":TAG" is a tag only when
// PATH with it does not exist and PATH without it does.
func splitSource(p string) Source {
	src := Source{Path: p}
	if i := strings.LastIndex(p, "@"); i >= 0 {
		if d, err := digest.Parse(p[i+1:]); err == nil {
			src.Digest, src.Path = d, p[:i]
		}
	}
	if i := strings.LastIndex(src.Path, ":"); i > strings.LastIndex(src.Path, "/") && tagRE.MatchString(src.Path[i+1:]) {
		if _, err := os.Stat(src.Path); err != nil {
			if _, err := os.Stat(src.Path[:i]); err == nil {
				src.Path, src.Tag = src.Path[:i], src.Path[i+1:]
			}
		}
	}
	return src
}

// Layout is a read-only OCI image layout in a directory or a tar archive.
// Its Fetch verifies content against the descriptor as it is read. It is
// safe for concurrent use.
//
// A layout is untrusted input. A directory's files are opened through an
// os.Root: a symbolic link is followed only while it stays inside the
// directory, and a blob (or oci-layout, index.json) must be a regular
// file; anything else fails with ErrUnsafeLayout naming the file, before
// any of it is read. An archive's blobs are its regular entries, read in
// place.
type Layout struct {
	src   Source
	fsys  fs.FS
	close func() error
	index ocispec.Index
	roots []ocispec.Descriptor // index.json's entries that src selects
	// entry is, for a root that src's digest found inside an index.json
	// entry (a platform manifest), that entry.
	entry *ocispec.Descriptor
}

var _ VerifyingFetcher = (*Layout)(nil)

// FetchVerifies marks Layout as a VerifyingFetcher: Fetch verifies.
func (l *Layout) FetchVerifies() {}

// OpenLayout opens the layout that src (see ParseSource) names and reads
// its oci-layout and index.json files. Close releases it.
func OpenLayout(ctx context.Context, src string) (*Layout, error) {
	s, err := ParseSource(src)
	if err != nil {
		return nil, err
	}
	return Open(ctx, s)
}

// Open opens the layout of s. A path that is missing or not of the
// scheme's kind fails with ErrSourcePath.
func Open(ctx context.Context, s Source) (*Layout, error) {
	l := &Layout{src: s, close: func() error { return nil }}
	switch s.Scheme {
	case SchemeLayout:
		fi, err := os.Stat(s.Path)
		if err != nil {
			return nil, sourcePathError{fmt.Errorf("%s: %w", s, err)}
		}
		if !fi.IsDir() {
			return nil, sourcePathError{fmt.Errorf("%s: not a directory (use oci-archive: for a tar): %w", s, ErrNotLayout)}
		}
		r, err := openRootFS(s.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
		l.fsys, l.close = r, r.Close
	case SchemeArchive:
		t, err := openTarFS(ctx, s.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
		l.fsys, l.close = t, t.Close
	default:
		return nil, fmt.Errorf("source %q: unknown scheme %q: %w", s, s.Scheme, ErrInvalidSource)
	}
	if err := l.load(ctx); err != nil {
		l.close()
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	return l, nil
}

func (l *Layout) load(ctx context.Context) error {
	b, err := readLayoutFile(l.fsys, l.src.Path, ocispec.ImageLayoutFile)
	if err != nil {
		return err
	}
	var lf ocispec.ImageLayout
	if err := json.Unmarshal(b, &lf); err != nil {
		return fmt.Errorf("%w: decoding %s: %w", ErrNotLayout, ocispec.ImageLayoutFile, err)
	}
	if lf.Version != ocispec.ImageLayoutVersion {
		return fmt.Errorf("%w: layout version %q, want %q", ErrNotLayout, lf.Version, ocispec.ImageLayoutVersion)
	}
	if b, err = readLayoutFile(l.fsys, l.src.Path, ocispec.ImageIndexFile); err != nil {
		return err
	}
	// Unmarshal, not a Decoder: what follows the JSON value (a second
	// document, garbage) is an error, not ignored.
	if err := json.Unmarshal(b, &l.index); err != nil {
		return fmt.Errorf("%w: decoding %s: %w", ErrNotLayout, ocispec.ImageIndexFile, err)
	}
	if len(l.index.Manifests) == 0 {
		return fmt.Errorf("%s lists no manifests: %w", ocispec.ImageIndexFile, ErrNoMatch)
	}
	for i, d := range l.index.Manifests {
		if err := d.Digest.Validate(); err != nil {
			return fmt.Errorf("%s: manifests[%d]: digest %q: %w", ocispec.ImageIndexFile, i, d.Digest, err)
		}
	}
	return l.selectRoots(ctx)
}

// readLayoutFile reads the file name (oci-layout, index.json) of the
// layout at dir (naming it in errors), which must not be larger than
// MaxManifestSize: a larger one fails with ErrTooLarge saying so, not as
// JSON cut short, and is not read whole.
func readLayoutFile(fsys fs.FS, dir, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s file in %s", ErrNotLayout, name, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: opening %s: %w", ErrNotLayout, name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrNotLayout, name, err)
	}
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%s: larger than the %d MiB limit: %w", name, MaxManifestSize>>20, ErrTooLarge)
	}
	return b, nil
}

// selectRoots keeps the index.json entries that the source's tag and
// digest name; an unmatched name is an error listing what is there. A
// digest that no entry has may name a manifest or index inside one (a
// platform manifest of the image, as REPO@DIGEST names it in a registry):
// that one, as its parent index describes it, is then the root.
func (l *Layout) selectRoots(ctx context.Context) error {
	if l.src.Tag == "" && l.src.Digest == "" {
		l.roots = l.index.Manifests
		return nil
	}
	var present []string
	for _, d := range l.index.Manifests {
		if (l.src.Tag == "" || Tagged(d, l.src.Tag)) && (l.src.Digest == "" || d.Digest == l.src.Digest) {
			l.roots = append(l.roots, d)
		}
		name := EntryName(d)
		if name == "" {
			name = "(no tag)"
		}
		present = append(present, name+"@"+d.Digest.String())
	}
	if len(l.roots) == 0 && l.src.Digest != "" {
		d, entry, ok, err := l.findNested(ctx, l.src.Digest)
		if ok {
			l.roots, l.entry = []ocispec.Descriptor{d}, &entry
			return nil
		}
		if err != nil {
			return err
		}
	}
	if len(l.roots) == 0 {
		what := l.src.Tag
		if l.src.Digest != "" {
			what = strings.TrimPrefix(what+"@"+l.src.Digest.String(), "@")
		}
		inside := ""
		if l.src.Digest != "" {
			inside = ", nor does any image it lists hold it"
		}
		return fmt.Errorf("%s lists no %s%s (it lists %s): %w", ocispec.ImageIndexFile, what, inside, strings.Join(present, ", "), ErrNoMatch)
	}
	return nil
}

// findNested looks for want among the children of the index.json entries
// that the source's tag names (all without a tag), through nested indexes,
// and returns it with the entry it was found in. An index it cannot read
// does not stop the search (another entry may hold want); its error is
// returned when want is not found.
func (l *Layout) findNested(ctx context.Context, want digest.Digest) (found, entry ocispec.Descriptor, ok bool, err error) {
	type item struct{ d, entry ocispec.Descriptor }
	var queue []item
	for _, d := range l.index.Manifests {
		if l.src.Tag == "" || Tagged(d, l.src.Tag) {
			queue = append(queue, item{d, d})
		}
	}
	seen := map[digest.Digest]bool{}
	var firstErr error
	for depth := 0; len(queue) > 0 && depth < maxIndexDepth; depth++ {
		var next []item
		for _, it := range queue {
			if !IsIndex(it.d.MediaType) || seen[it.d.Digest] {
				continue
			}
			seen[it.d.Digest] = true
			var idx ocispec.Index
			if _, err := ReadJSON(ctx, l, it.d, &idx); err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("looking for %s in %s: %w", want, it.d.Digest, err)
				}
				continue
			}
			for _, c := range idx.Manifests {
				if c.Digest == want {
					return c, it.entry, true, nil
				}
				next = append(next, item{c, it.entry})
			}
		}
		queue = next
	}
	return ocispec.Descriptor{}, ocispec.Descriptor{}, false, firstErr
}

// NamedBy returns the index.json entry through which root, one of Roots,
// was selected: root itself, or the entry holding it when the source's
// digest named a manifest inside an image. Its annotations name the image.
func (l *Layout) NamedBy(root ocispec.Descriptor) ocispec.Descriptor {
	if l.entry != nil && len(l.roots) == 1 && l.roots[0].Digest == root.Digest {
		return *l.entry
	}
	return root
}

// Source returns the source the layout was opened from.
func (l *Layout) Source() Source { return l.src }

// Index returns the layout's index.json. The caller must not modify it.
func (l *Layout) Index() ocispec.Index { return l.index }

// Roots returns the descriptors index.json lists, those the source's tag
// or digest selects when it names one.
func (l *Layout) Roots() []ocispec.Descriptor { return l.roots }

// Fetch opens the blob desc names. Reading it to the end fails with
// ErrDigestMismatch when the bytes do not match desc. A blob whose file
// size differs from desc's fails at once, and one of at most
// MaxManifestSize bytes is verified before Fetch returns: none of its
// bytes reach the caller (a registry being pushed to) unless they are the
// blob's. A blob that is not a regular file inside the layout fails with
// ErrUnsafeLayout.
func (l *Layout) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	p, err := l.blobPath(desc)
	if err != nil {
		return nil, err
	}
	f, err := l.fsys.Open(p)
	if err != nil {
		return nil, l.blobErr(desc, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", l.src, err)
	}
	if fi.Size() != desc.Size {
		f.Close()
		return nil, fmt.Errorf("%s: %s: %s is %d bytes, its descriptor declares %d: %w", l.src, desc.Digest, p, fi.Size(), desc.Size, ErrDigestMismatch)
	}
	if desc.Size <= MaxManifestSize {
		defer f.Close()
		// The file has the size desc declares: one buffer of that size.
		b, err := readSized(VerifyReader(f, desc), desc.Size, desc.Size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.src, err)
		}
		return NewVerifiedBytes(desc.Digest, b), nil
	}
	return &verifiedFile{Reader: VerifyReader(f, desc), c: f, src: l.src}, nil
}

// blobPath returns the path of desc's blob in the layout.
func (l *Layout) blobPath(desc ocispec.Descriptor) (string, error) {
	if err := desc.Digest.Validate(); err != nil {
		return "", fmt.Errorf("%s: digest %q: %w", l.src, desc.Digest, err)
	}
	return path.Join(ocispec.ImageBlobsDir, desc.Digest.Algorithm().String(), desc.Digest.Encoded()), nil
}

// blobErr wraps err, from opening desc's blob, naming the layout.
func (l *Layout) blobErr(desc ocispec.Descriptor, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %s (%s): %w", l.src, desc.Digest, desc.MediaType, ErrBlobNotFound)
	}
	return fmt.Errorf("%s: %w", l.src, err)
}

// Exists reports whether the layout holds the blob desc names. A blob
// that is not a regular file inside the layout is an error
// (ErrUnsafeLayout).
func (l *Layout) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	p, err := l.blobPath(desc)
	if err != nil {
		return false, err
	}
	_, err = fs.Stat(l.fsys, p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, l.blobErr(desc, err)
	}
	return true, nil
}

// Close releases the layout.
func (l *Layout) Close() error { return l.close() }

type verifiedFile struct {
	io.Reader
	c   io.Closer
	src Source
}

func (f *verifiedFile) Read(p []byte) (int, error) {
	n, err := f.Reader.Read(p)
	if err != nil && err != io.EOF && errors.Is(err, ErrDigestMismatch) {
		err = fmt.Errorf("%s: %w", f.src, err)
	}
	return n, err
}

func (f *verifiedFile) Close() error { return f.c.Close() }

// Tagged reports whether index.json entry d carries tag: its
// org.opencontainers.image.ref.name or its io.containerd.image.name is tag
// or a reference ending in ":"+tag (containerd and BuildKit's client
// record the reference in image.name; skopeo and some others write the
// whole reference into ref.name).
func Tagged(d ocispec.Descriptor, tag string) bool {
	for _, k := range []string{ocispec.AnnotationRefName, AnnotationImageName} {
		// A name may end in "@DIGEST" after its tag (repo:tag@sha256:…).
		name, _, _ := strings.Cut(d.Annotations[k], "@")
		if name == tag || strings.HasSuffix(name, ":"+tag) {
			return true
		}
	}
	return false
}

// EntryName returns the name index.json entry d carries, for messages: its
// org.opencontainers.image.ref.name, else its io.containerd.image.name,
// else "".
func EntryName(d ocispec.Descriptor) string {
	if n := d.Annotations[ocispec.AnnotationRefName]; n != "" {
		return n
	}
	return d.Annotations[AnnotationImageName]
}
