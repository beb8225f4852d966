package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/printable"
)

// mergeRepo is a repository that merge reads: REF's own, or another one
// (of REF's registry or another) whose images it copies into REF's.
type mergeRepo struct {
	remote *exporter.Remote
	// content reads remote, keeping the manifests read.
	content *oci.ManifestCache
	finder  *exporter.Finder
	// other is set for a repository other than REF's.
	other bool
	// tags lists the repository's tags (cosign's tag schemes); nil for
	// REF's, whose tags merge does not copy.
	tags *remote.Repository
}

// newMergeRepo returns the repository of remote; other says it is not
// REF's.
func newMergeRepo(remote *exporter.Remote, other bool) *mergeRepo {
	return &mergeRepo{remote: remote, content: oci.NewManifestCache(remote), finder: exporter.NewFinder(remote), other: other}
}

// openSources connects to the repository of each source (once per
// repository; dst is REF's), with the registry options of REF and its
// request counter, and resolves the source's root. Errors name the SOURCE.
func (o *registryOptions) openSources(ctx context.Context, g *globalOptions, dst *mergeRepo, sources []mergeSource, counter *exporter.Counter) error {
	repos := map[string]*mergeRepo{repoKey(dst.remote.Reference()): dst}
	for i := range sources {
		s := &sources[i]
		r, ok := repos[repoKey(s.ref)]
		if !ok {
			rem, tags, err := o.connectTags(ctx, g, s.ref, counter)
			if err != nil {
				return fmt.Errorf("SOURCE %s: %w", s.arg, err)
			}
			r = newMergeRepo(rem, true)
			r.tags = tags
			repos[repoKey(s.ref)] = r
		}
		s.repo = r
		root, data, err := resolveData(ctx, r.remote, s.ref)
		if err != nil {
			return fmt.Errorf("SOURCE %s: %w", s.arg, err)
		}
		s.root = root
		r.content.Put(root.Digest, data) // so that the walk reads it no more
	}
	return nil
}

// mergeContent is the content of the merged image, as its push reads it:
// the index from memory, every manifest and blob from the repository of
// the source that lists it (REF's own, or another one to copy from).
type mergeContent struct {
	root ocispec.Descriptor
	data []byte
	// owner is the source of each manifest of the index, of its blobs,
	// and of the blobs of the referrers to copy.
	owner map[digest.Digest]*mergeSource
	// kept is the SOURCE whose index is the merged index (keepIndex),
	// nil for a new index.
	kept *mergeSource
}

// newMergeContent returns the merged index of entries, with annotations,
// and where its parts are: owner, the source of each entry, to which it
// adds the source of each entry's blobs (read from its manifest).
func newMergeContent(ctx context.Context, entries []ocispec.Descriptor, owner map[digest.Digest]*mergeSource, annotations map[string]string) (*mergeContent, error) {
	data, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: entries, Annotations: annotations})
	if err != nil {
		return nil, err
	}
	c := &mergeContent{root: oci.DescriptorFor(ocispec.MediaTypeImageIndex, data), data: data, owner: owner}
	for _, e := range entries {
		if err := c.addBlobs(ctx, owner[e.Digest], e); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// keepIndex makes the merged index the index SOURCE s names itself, byte
// for byte (its digest, its annotations), as buildx imagetools create
// keeps a single source index: a promotion or a retag keeps the digest.
// It does so only when that index lists exactly entries, the manifests
// merge copies (not a nested index), and has no subject (published as
// REF's index, a referrer would be listed as one there); s being a
// manifest changes nothing.
func (c *mergeContent) keepIndex(ctx context.Context, s *mergeSource, entries []ocispec.Descriptor) error {
	if !oci.IsIndex(s.root.MediaType) {
		return nil
	}
	data, err := oci.ReadBlob(ctx, s.repo.content, s.root, oci.MaxManifestSize)
	if err != nil {
		return fmt.Errorf("SOURCE %s: %w", s.arg, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return fmt.Errorf("SOURCE %s: index %s: %w", s.arg, s.root.Digest, err)
	}
	if idx.Subject != nil || !slices.EqualFunc(idx.Manifests, entries, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest }) {
		return nil // a referrer itself, or more than merge copies
	}
	c.root, c.data, c.kept = s.root, data, s
	return nil
}

// addBlobs records s as the source of the config and layers of its
// manifest d (those not there already).
func (c *mergeContent) addBlobs(ctx context.Context, s *mergeSource, d ocispec.Descriptor) error {
	m, err := readManifest(ctx, s, d)
	if err != nil {
		return err
	}
	c.addManifestBlobs(s, m)
	return nil
}

// readManifest reads the manifest d of source s.
func readManifest(ctx context.Context, s *mergeSource, d ocispec.Descriptor) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if _, err := oci.ReadJSON(ctx, s.repo.content, d, &m); err != nil {
		return m, fmt.Errorf("SOURCE %s: manifest %s: %w", s.arg, d.Digest, err)
	}
	return m, nil
}

// addManifestBlobs records s as the source of the config and layers of
// m (those not there already).
func (c *mergeContent) addManifestBlobs(s *mergeSource, m ocispec.Manifest) {
	for _, b := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if c.owner[b.Digest] == nil {
			c.owner[b.Digest] = s
		}
	}
}

// Fetch implements oci.Fetcher for the push: the index from memory, the
// rest from the repository of its source. Errors name the SOURCE, those
// of reading a blob's stream too (sourceReader).
func (c *mergeContent) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if d.Digest == c.root.Digest {
		return io.NopCloser(bytes.NewReader(c.data)), nil
	}
	s := c.owner[d.Digest]
	if s == nil {
		return nil, fmt.Errorf("%s: not in the merged image", d.Digest)
	}
	return s.open(ctx, d)
}

// open streams blob d from s's repository; errors, those of reading the
// stream too (sourceReader), name s.
func (s *mergeSource) open(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := s.repo.content.Fetch(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("SOURCE %s: %w", s.arg, err)
	}
	return &sourceReader{ReadCloser: rc, source: s.arg, digest: d.Digest}, nil
}

// sourceReader is a blob stream of a SOURCE: a failure to read it (the
// connection dropped, content that does not match its digest) names the
// SOURCE and the blob, not only the upload to REF's repository that
// reads it. It wraps the error: errors.Is still finds
// oci.ErrDigestMismatch.
type sourceReader struct {
	io.ReadCloser
	source string
	digest digest.Digest
}

func (r *sourceReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("SOURCE %s: reading blob %s: %w", r.source, r.digest, err)
	}
	return n, err
}

// mountFor returns the exporter's Options.MountFor for a push to dst:
// a blob of a source in another repository of dst's registry is mounted
// from there; every other blob is checked, then uploaded if missing.
func (c *mergeContent) mountFor(dst registry.Reference) func(ocispec.Descriptor) string {
	return func(d ocispec.Descriptor) string {
		s := c.owner[d.Digest]
		if s == nil || !s.repo.other || !exporter.SameRegistry(s.ref.Registry, dst.Registry) {
			return ""
		}
		return s.ref.Repository
	}
}

// referrerCopy is a referrer that merge copies into REF's repository.
type referrerCopy struct {
	source  *mergeSource
	subject oci.Image          // a platform image, the index, or a referrer
	desc    ocispec.Descriptor // as the source's referrers list gives it
	// depth is 1 for a referrer of an image or of the index, 2 for a
	// referrer of that referrer, and so on.
	depth int
}

// referrerPlan is what planReferrers found: the referrers to copy (each
// after its subject, with its depth), and the referrers REF's repository
// lists already that copies refer to (the push must know the target has
// them).
type referrerPlan struct {
	copies []referrerCopy
	held   []digest.Digest
	// other says some image is of another repository, whose referrers
	// are walked; present counts the referrers walked there that REF's
	// repository lists already (not copied again), for the summary.
	other   bool
	present int
	// mode is how REF's repository lists referrers, as reading those of
	// an image it holds learnt it ("" when no such read was made).
	mode exporter.Mode
	// look is the lookup that planned the copy: the check after it reads
	// what it learnt of the referrers REF's repository still has.
	look *dstLookup
	// walked is the source of every referrer walked in another
	// repository (copied or present): cosign's tags of each are copied.
	walked map[digest.Digest]*mergeSource
}

// planReferrers lists the referrers of each platform image in REF's
// repository (dst), recording its SBOMs in log, and, for an image of
// another repository, those its source lists that dst does not, and the
// referrers of those referrers (a signature of an SBOM) down to
// discover.MaxReferrerDepth: the referrers to copy. A referrer dst lists in a
// referrers tag but whose manifest is gone (deleted) is taken as not
// there: no SBOM, and copied again when the source has it (the entries
// that decide so are checked, at most maxConcurrency HEADs at once).
// Unless allowNone, it fails naming every image that would have no SBOM
// after the copy: before anything is written.
func planReferrers(ctx context.Context, dst *mergeRepo, images []oci.Image, c *mergeContent, log *referrerLog, warn func(string, ...any), allowNone bool, maxConcurrency int) (*referrerPlan, error) {
	var missing []string
	// REF's own images first: they tell whether REF's registry has the
	// referrers API (lookup).
	images = slices.Clone(images)
	slices.SortStableFunc(images, func(a, b oci.Image) int {
		return cmpBool(c.owner[a.Descriptor.Digest].repo.other, c.owner[b.Descriptor.Digest].repo.other)
	})
	look := &dstLookup{f: dst.finder, target: dst.remote, limit: maxConcurrency, warn: warn}
	w := &referrerWalk{dst: dst.remote.Name(), c: c, look: look, warn: warn, seen: map[digest.Digest]bool{}, plan: &referrerPlan{look: look}}
	for _, img := range images {
		d := img.Descriptor.Digest
		s := c.owner[d]
		w.plan.other = w.plan.other || s.repo.other
		have, err := w.look.referrers(ctx, d, !s.repo.other)
		if err != nil {
			return nil, fmt.Errorf("referrers of %s (%s): %w", img, d, err)
		}
		// Its SBOMs decide the check, whatever its source lists: the
		// walk checks them with the referrers it would skip, and
		// confirm below those it did not.
		have.decides = oci.IsSBOMReferrer
		added, err := w.walk(ctx, s, img, false, known(have), 1)
		if err != nil {
			return nil, err
		}
		if err := w.look.confirm(ctx, d, have, nil); err != nil {
			return nil, fmt.Errorf("referrers of %s (%s): %w", img, d, err)
		}
		n := logSBOMs(log, img, have.refs)
		if n+added > 0 {
			continue
		}
		// The SOURCE is named wherever it is: in REF's own repository
		// too, ":amd64" says which argument to fix.
		missing = append(missing, missingSBOM(img, s.arg))
	}
	if len(missing) > 0 && !allowNone {
		return nil, noSBOMError(missing)
	}
	if w.look.sure {
		w.plan.mode = w.look.f.Mode()
	}
	if c.kept == nil || !c.kept.repo.other {
		return w.plan, nil
	}
	// The index kept byte for byte keeps its digest: its referrers (a
	// signature of the index) are copied with it.
	have, err := w.look.referrers(ctx, c.root.Digest, false)
	if err != nil {
		return nil, fmt.Errorf("referrers of the index %s: %w", c.root.Digest, err)
	}
	_, err = w.walk(ctx, c.kept, oci.Image{Descriptor: c.root}, false, known(have), 1)
	return w.plan, err
}

// known returns have, the referrers REF's repository lists, as
// referrerWalk.walk asks for them.
func known(have *dstListing) func() (*dstListing, error) {
	return func() (*dstListing, error) { return have, nil }
}

// referrerWalk walks the referrers that a source repository lists for
// the subjects merge copies, and their referrers in turn, to plan which
// to copy into REF's repository.
type referrerWalk struct {
	dst  string // REF's repository, for errors
	c    *mergeContent
	look *dstLookup
	warn func(string, ...any)
	seen map[digest.Digest]bool // referrers walked
	plan *referrerPlan
}

// walk adds to w.plan the referrers of subject that its source s lists
// and REF's repository does not (have, asked only when s lists some; an
// entry of its referrers tag whose manifest is gone does not count),
// when s is another repository, then walks each referrer's own, down to
// discover.MaxReferrerDepth; subjectHeld says subject is a referrer REF's
// repository lists. A manifest of the merged index (a BuildKit
// attestation manifest, which has a subject) is copied with the image,
// not as a referrer; a referrer that is not an image manifest is not
// copied, with a warning, nor are referrers more than discover.MaxReferrerDepth
// levels below the image. Below depth 1, a referrers tag that holds
// something else than a referrers index is a warning too: the image and
// its own referrers do not need those. It returns how many SBOMs it adds
// at depth 1.
func (w *referrerWalk) walk(ctx context.Context, s *mergeSource, subject oci.Image, subjectHeld bool, have func() (*dstListing, error), depth int) (int, error) {
	d := subject.Descriptor.Digest
	if !s.repo.other {
		return 0, nil
	}
	name := fmt.Sprintf("%s (%s)", subject, d)
	if depth > 1 {
		name = fmt.Sprintf("referrer %s (%s)", d, printable.String(subject.Descriptor.ArtifactType))
	}
	refs, _, err := s.repo.finder.Referrers(ctx, d)
	if err != nil {
		return 0, w.nestedErr(depth, fmt.Errorf("SOURCE %s: referrers of %s: %w", s.arg, name, err))
	}
	if refs, err = discover.ValidEntries(refs); err != nil {
		// Nothing names such an entry's manifest: not copied.
		w.warn("SOURCE %s: referrers of %s: %v: not copied", s.arg, name, err)
	}
	if len(refs) == 0 {
		return 0, nil
	}
	if depth > discover.MaxReferrerDepth {
		w.warn("SOURCE %s: the referrers of %s not copied: merge copies %d levels of referrers below an image", s.arg, name, discover.MaxReferrerDepth)
		return 0, nil
	}
	listed, err := have()
	if err != nil {
		return 0, w.nestedErr(depth, fmt.Errorf("REF %s: referrers of %s: %w", w.dst, name, err))
	}
	// The referrers the copy would skip, REF's repository listing them,
	// must still be there: one deleted since is copied again.
	skip := map[digest.Digest]bool{}
	for _, r := range refs {
		if r.MediaType == ocispec.MediaTypeImageManifest && w.c.owner[r.Digest] == nil && !w.seen[r.Digest] {
			skip[r.Digest] = true
		}
	}
	if err := w.look.confirm(ctx, d, listed, func(h ocispec.Descriptor) bool { return skip[h.Digest] }); err != nil {
		return 0, fmt.Errorf("REF %s: referrers of %s: %w", w.dst, name, err)
	}
	sboms := 0
	for _, r := range refs {
		inDst := slices.ContainsFunc(listed.refs, func(h ocispec.Descriptor) bool { return h.Digest == r.Digest })
		if w.c.owner[r.Digest] != nil || w.seen[r.Digest] {
			continue
		}
		if r.MediaType != ocispec.MediaTypeImageManifest {
			if !inDst {
				w.warn("SOURCE %s: referrer %s (%s) of %s not copied: it is a %s; merge copies referrers that are image manifests", s.arg, r.Digest, printable.String(r.ArtifactType), d, printable.String(r.MediaType))
			}
			continue
		}
		if !inDst {
			ok, err := w.add(ctx, referrerCopy{source: s, subject: subject, desc: r, depth: depth}, subjectHeld)
			if err != nil {
				return sboms, err
			}
			if !ok {
				continue // not seen: it may be listed under its own subject too
			}
			if depth == 1 && oci.IsSBOMReferrer(r) {
				sboms++
			}
		} else {
			w.plan.present++
		}
		w.seen[r.Digest] = true
		if w.plan.walked == nil {
			w.plan.walked = map[digest.Digest]*mergeSource{}
		}
		w.plan.walked[r.Digest] = s
		if _, err := w.walk(ctx, s, oci.Image{Descriptor: r}, inDst, w.dstReferrers(ctx, r.Digest, inDst), depth+1); err != nil {
			return sboms, err
		}
	}
	return sboms, nil
}

// nestedErr returns err, a failure to list referrers at depth, or nil
// after a warning when it is about a referrer's referrers (depth > 1)
// and a referrers tag that holds something else than a referrers index
// (some registries resolve that tag to the subject itself). Any other
// failure fails the merge: a signature of an SBOM must not be lost
// because a registry failed once.
func (w *referrerWalk) nestedErr(depth int, err error) error {
	if depth == 1 || !errors.Is(err, exporter.ErrReferrersTagConflict) {
		return err
	}
	w.warn("%v: not copied", err)
	return nil
}

// add plans the copy of r, recording the source of its blobs so that
// they are mounted where they can be; subjectHeld says REF's repository
// lists its subject already. A referrer whose manifest names another
// subject than the one its source listed it under (a registry that does
// not filter referrers by subject) is not planned there, with a warning:
// add reports whether it planned r.
func (w *referrerWalk) add(ctx context.Context, r referrerCopy, subjectHeld bool) (bool, error) {
	m, err := readManifest(ctx, r.source, r.desc)
	if errors.Is(err, exporter.ErrNotFound) {
		// Deleted, while the source's referrers tag still lists it (a
		// registry without the API keeps the entry): nothing to copy.
		w.warn("SOURCE %s: referrer %s (%s) of %s not copied: listed, but its manifest is gone (deleted)", r.source.arg, r.desc.Digest, printable.String(r.desc.ArtifactType), r.subject.Descriptor.Digest)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	subject := r.subject.Descriptor.Digest
	if m.Subject == nil || m.Subject.Digest != subject {
		w.warn("SOURCE %s: referrer %s (%s) not copied as a referrer of %s: its manifest names subject %s", r.source.arg, r.desc.Digest, printable.String(r.desc.ArtifactType), subject, discover.SubjectOf(m))
		return false, nil
	}
	w.c.addManifestBlobs(r.source, m)
	w.plan.copies = append(w.plan.copies, r)
	if subjectHeld && !slices.Contains(w.plan.held, subject) {
		w.plan.held = append(w.plan.held, subject)
	}
	return true, nil
}

// dstReferrers returns what walk asks for the referrers REF's repository
// lists of the referrer d: none when the merge copies d itself (inDst
// false), else read when asked.
func (w *referrerWalk) dstReferrers(ctx context.Context, d digest.Digest, inDst bool) func() (*dstListing, error) {
	if !inDst {
		return known(&dstListing{})
	}
	return func() (*dstListing, error) { return w.look.referrers(ctx, d, true) }
}

// dstListing is what REF's repository lists as the referrers of a
// subject.
type dstListing struct {
	refs []ocispec.Descriptor
	// tag says refs were read from the referrers tag, which keeps
	// listing a referrer whose manifest was deleted (a registry with the
	// referrers API drops it from its answers): an entry that decides
	// something counts once dstLookup.confirm found it there.
	tag bool
	// decides picks the entries that decide something whatever the
	// source lists (the SBOMs of a platform image); nil for none.
	decides func(ocispec.Descriptor) bool
}

// dstLookup lists referrers in REF's repository for planReferrers. Some
// registries with the referrers API answer 404 for the referrers of a
// subject the repository does not hold (yet), which a Finder takes for a
// registry without the API, and would then look for every other
// subject's referrers in the referrers tag only. So a subject REF's
// repository may not hold is looked up with a Finder of its own until
// the mode is sure: learnt from a subject REF's repository holds, or the
// API having answered (after which a Finder takes a 404 for no
// referrers).
//
// It also checks, with a HEAD each, that the referrers a referrers tag
// lists are still there, for those that decide something (confirm).
type dstLookup struct {
	f      *exporter.Finder
	target *exporter.Remote
	sure   bool
	// limit bounds the HEADs of confirm at once (--max-concurrency).
	limit int
	warn  func(string, ...any)

	mu sync.Mutex
	// present holds the referrers checked, or copied (have): true for
	// those REF's repository has, false for those gone.
	present map[digest.Digest]bool
}

// referrers lists the referrers of d; held says REF's repository holds d.
func (l *dstLookup) referrers(ctx context.Context, d digest.Digest, held bool) (*dstListing, error) {
	f := l.f
	if !held && !l.sure {
		f = exporter.NewFinder(l.target)
	}
	refs, mode, err := f.Referrers(ctx, d)
	if err != nil {
		return nil, err
	}
	if held || mode == exporter.ModeAPI {
		l.f, l.sure = f, true
	}
	return &dstListing{refs: l.validEntries(d, refs), tag: mode == exporter.ModeTagSchema}, nil
}

// validEntries returns the entries of refs, the referrers REF's
// repository lists for subject, that have a valid digest, with a
// warning about the others: they name no manifest, and count as no
// referrer (an SBOM listed so is none).
func (l *dstLookup) validEntries(subject digest.Digest, refs []ocispec.Descriptor) []ocispec.Descriptor {
	refs, err := discover.ValidEntries(refs)
	if err != nil {
		l.warn("%s: referrers of %s: %v", l.target.Name(), subject, err)
	}
	return refs
}

// confirm drops from have, the referrers of subject REF's repository
// lists, those whose manifest is gone (deleted), among the entries want
// or have.decides picks (want may be nil). Read from the referrers tag,
// each of those is checked with a HEAD (by digest; 404 is gone), once per
// merge, at most l.limit at once; a gone one is warned about once. Read
// through the referrers API, none is: the registry drops a deleted
// manifest from its answers. Entries nothing picks are kept unchecked:
// they decide nothing.
func (l *dstLookup) confirm(ctx context.Context, subject digest.Digest, have *dstListing, want func(ocispec.Descriptor) bool) error {
	if !have.tag {
		return nil
	}
	picked := func(r ocispec.Descriptor) bool {
		return (want != nil && want(r)) || (have.decides != nil && have.decides(r))
	}
	var check []ocispec.Descriptor
	l.mu.Lock()
	for _, r := range have.refs {
		if _, ok := l.present[r.Digest]; !ok && picked(r) && !slices.ContainsFunc(check, func(c ocispec.Descriptor) bool { return c.Digest == r.Digest }) {
			check = append(check, r)
		}
	}
	l.mu.Unlock()
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(max(l.limit, 1))
	for _, r := range check {
		eg.Go(func() error {
			ok, err := l.exists(ectx, r)
			if err != nil {
				return fmt.Errorf("checking referrer %s, listed in the referrers tag %s: %w", r.Digest, exporter.ReferrersTag(subject), err)
			}
			if !ok {
				l.warn("%s lists referrer %s (%s) of %s in its referrers tag %s, but its manifest is gone (deleted)", l.target.Name(), r.Digest, printable.String(r.ArtifactType), subject, exporter.ReferrersTag(subject))
			}
			l.have(r.Digest, ok)
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	have.refs = slices.DeleteFunc(slices.Clone(have.refs), func(r ocispec.Descriptor) bool {
		present, checked := l.present[r.Digest]
		return checked && !present
	})
	return nil
}

// exists reports whether REF's repository has the manifest r
// (exporter.HasManifest: a HEAD by digest, or a GET when the registry
// refuses the HEAD).
func (l *dstLookup) exists(ctx context.Context, r ocispec.Descriptor) (bool, error) {
	return exporter.HasManifest(ctx, l.target, r)
}

// have records whether REF's repository has the referrer d.
func (l *dstLookup) have(d digest.Digest, present bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.present == nil {
		l.present = map[digest.Digest]bool{}
	}
	l.present[d] = present
}

// copy writes the merged image to p but its index: the manifests and
// blobs (Images), then the referrers to copy, byte for byte (AttachFrom:
// the referrers API, else the referrers tag), one depth after another so
// that a referrer's subject is in place before it. When it copied
// referrers, it waits for them to be verified (Ready) and checks again,
// in REF's repository, that each image they refer to has an SBOM, unless
// allowNone.
//
// Then it copies cosign's tags of what it copied (copyCosignTags): all
// before REF's tag moves.
func (m *mergePlan) copy(ctx context.Context, p *exporter.Push, allowNone bool) error {
	if err := p.Images(ctx); err != nil {
		return err
	}
	if len(m.referrers.copies) > 0 {
		if err := m.copyAllReferrers(ctx, p, allowNone); err != nil {
			return err
		}
	}
	return m.copyCosignTags(ctx)
}

// copyAllReferrers is copy's part for the referrers, when there are some.
func (m *mergePlan) copyAllReferrers(ctx context.Context, p *exporter.Push, allowNone bool) error {
	for _, d := range m.referrers.held {
		p.TargetHas(d)
	}
	for depth := 1; depth <= discover.MaxReferrerDepth; depth++ {
		if err := copyReferrers(ctx, p, m.referrers.copies, depth); err != nil {
			return err
		}
	}
	if err := p.Ready(ctx); err != nil {
		return err
	}
	var copied []oci.Image
	for _, r := range m.referrers.copies {
		if r.depth > 1 || r.subject.Descriptor.Digest == m.content.root.Digest {
			continue // the index's own referrers and nested ones: no SBOM needed
		}
		if !slices.ContainsFunc(copied, func(i oci.Image) bool { return i.Descriptor.Digest == r.subject.Descriptor.Digest }) {
			copied = append(copied, r.subject)
		}
	}
	// What the copy wrote REF's repository has: no HEAD for those.
	for _, r := range m.referrers.copies {
		m.referrers.look.have(r.desc.Digest, true)
	}
	source := func(img oci.Image) string { return m.content.owner[img.Descriptor.Digest].arg }
	// A new Finder: the planning one may have learnt the referrers tag
	// from a registry that answers 404 for a subject it does not hold.
	return checkSBOMs(ctx, exporter.NewFinder(m.dst.remote), m.referrers.look, copied, source, m.attached, allowNone)
}

// copyReferrers copies, concurrently, the referrers of copies at depth.
func copyReferrers(ctx context.Context, p *exporter.Push, copies []referrerCopy, depth int) error {
	eg, ectx := errgroup.WithContext(ctx)
	for _, r := range copies {
		if r.depth != depth {
			continue
		}
		eg.Go(func() error {
			if _, err := p.AttachFrom(ectx, r.source.repo.content, r.desc); err != nil {
				// Reading the source or writing REF's repository:
				// err's request says which; both are named.
				return fmt.Errorf("copying referrer %s (%s) of %s from SOURCE %s into REF's repository: %w", r.desc.Digest, printable.String(r.desc.ArtifactType), r.subject.Descriptor.Digest, r.source.arg, err)
			}
			return nil
		})
	}
	return eg.Wait()
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
