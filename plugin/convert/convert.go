package convert

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/printable"
	"github.com/affix-oci/affix/sbomgen"
)

// MaxStatementSize bounds an attestation layer convert reads: twice the
// 80 MiB BuildKit bounds a scanner's statement file with when it reads it
// (exporter/attestation maxAttestationBytes). That bound is not one on
// the layer BuildKit stores: for the final image's SBOM it then adds a
// "layerID: sha256:..." comment to every file without one and encodes
// the document again (containerimage supplementSBOM), and it re-marshals
// every statement with encoding/json's HTML escaping (<, > and & become
// six bytes each), so a statement read just under 80 MiB is stored
// larger. The headroom takes those; the bound keeps a hostile layer from
// costing unbounded memory.
const MaxStatementSize = 160 << 20

// Format is the dev.affix.sbom.format annotation of the referrers convert
// writes: the document is SPDX JSON, bare or wrapped.
const Format = "spdx-json"

// Repository is where convert reads the image and writes the referrers
// (exporter.Remote, exporter.Layout).
type Repository interface {
	exporter.Target
	oci.Fetcher
}

// Options configure Convert. The zero value converts every platform's
// SBOM to an application/spdx+json referrer and leaves the index alone.
type Options struct {
	// KeepInToto publishes the in-toto statement (artifactType
	// application/vnd.in-toto+json) instead of the bare SPDX document.
	KeepInToto bool
	// StripAttestations re-pushes the index without its attestation
	// manifests under the tag Convert was given, after the referrers are
	// written. The index gets a new digest. An attestation manifest holds
	// every attestation of its platform (SBOMs, SLSA provenance, ...), so
	// when one holds statements Convert does not publish as referrers
	// (Platform.Unconverted, Result.Unmatched) Convert refuses with an
	// *UnconvertedError before writing anything, unless DropUnconverted.
	StripAttestations bool
	// DropUnconverted lets StripAttestations drop attestation manifests
	// that hold statements not published as referrers: they are then
	// gone from the index (consumers of in-index attestations, such as
	// docker buildx imagetools inspect's .Provenance, no longer see them).
	DropUnconverted bool
	// Raw publishes the SPDX document as BuildKit stored it, without
	// making it name the image.
	Raw bool
	// Name is the image name the documents are made to name
	// (registry/repository; a tag or digest is ignored, see
	// sbomgen.ImageName). Empty means the repository Convert was given.
	Name string
	// Digest, when set, is the digest the index must have: reference is
	// then a tag, verified to name this index (a tag@digest reference),
	// and a tag naming another index is ErrTagMoved.
	Digest digest.Digest
	// MaxRead bounds the bytes of statement layers Convert reads in all
	// (each digest once, however many attestation manifests list it);
	// past it Convert fails with ErrReadLimit before writing anything.
	// 0 means MaxRead for each attestation manifest of the index.
	MaxRead int64
	// MaxConcurrency bounds concurrent work (platforms, uploads); 0 means 4.
	// It bounds the SBOM documents held in memory too: those prepared
	// wait for the write in files of a temporary directory (in
	// os.TempDir), removed when Convert returns.
	MaxConcurrency int
	// Logf, if set, receives progress messages, from several goroutines
	// at once.
	Logf func(format string, args ...any)
	// Warnf, if set, receives the warnings: Convert's own (a referrer its
	// referrers tag lists whose manifest is gone) and the push's
	// (exporter.Options.Warnf: a dangling referrers tag entry dropped); nil
	// sends them to Logf. It is called from several goroutines at once
	// (platforms are prepared concurrently, beside the push), as Logf is:
	// both must be safe for concurrent use.
	Warnf func(format string, args ...any)
}

// Result is what Convert found and did.
type Result struct {
	// Index is the index as read.
	Index ocispec.Descriptor
	// NewIndex is the index the tag names afterwards: Index unless
	// attestations were stripped.
	NewIndex ocispec.Descriptor
	// Stripped are the attestation manifests left out of NewIndex.
	Stripped []ocispec.Descriptor
	// Unmatched are attestation manifests for no platform manifest of the
	// index; they are not read.
	Unmatched []ocispec.Descriptor
	// UnmatchedFor names, by digest of each of Unmatched that names one,
	// the manifest it is for: its vnd.docker.reference.digest, else its
	// subject.
	UnmatchedFor map[digest.Digest]digest.Digest
	// Platforms are the platform manifests, in index order, each digest
	// once (with the first platform the index lists it under).
	Platforms []Platform
	// Mode is how the repository indexes referrers, "" when no referrer
	// was read or written.
	Mode exporter.Mode
}

// Written counts the referrers Convert wrote.
func (r *Result) Written() int {
	n := 0
	for _, p := range r.Platforms {
		if p.Referrer.Digest != "" && !p.Existed {
			n++
		}
	}
	return n
}

// Platform is one platform manifest of the index.
type Platform struct {
	// Manifest is the platform manifest (Platform set).
	Manifest ocispec.Descriptor
	// Attestation is its BuildKit attestation manifest; zero when it has
	// none.
	Attestation ocispec.Descriptor
	// Referrer is the SBOM referrer (artifactType and annotations set);
	// zero when the attestation holds no SBOM of the image.
	Referrer ocispec.Descriptor
	// Existed is true when the referrer was already there (not written).
	Existed bool
	// Named is true when the document was made to name the image.
	Named bool
	// Extras counts SPDX statements of other targets (stages, build
	// context) left out.
	Extras int
	// SBOMReferrers are the SBOM referrers (SPDX, CycloneDX, in-toto) the
	// platform manifest had when Convert looked, before it wrote any.
	SBOMReferrers []ocispec.Descriptor
	// OtherForms are SBOM referrers of the platform manifest that carry
	// the annotations Convert gives this one (creation time, generator,
	// platform, format) under another digest: the same attestation
	// converted with other options (--raw, --keep-intoto). Consumers that
	// pick the newest SBOM cannot tell them apart.
	OtherForms []ocispec.Descriptor
	// Unconverted are the layers of the attestation manifest that were
	// not published as a referrer: SLSA provenance, SBOMs of other
	// targets (Extras), other predicates.
	Unconverted []Statement
}

// Statement is an attestation layer Convert did not publish.
type Statement struct {
	// Layer is the layer of the attestation manifest.
	Layer ocispec.Descriptor
	// PredicateType is the layer's in-toto.io/predicate-type, "" when it
	// has none.
	PredicateType string
	// What says what it is in words ("SLSA provenance", ...), "" when
	// unknown.
	What string
	// Extra is true for the SPDX statement of another build target (a
	// stage or the build context), one of those Platform.Extras counts.
	Extra bool
	// Reason says why a statement was not published beyond what What
	// says: it is malformed, names another image, could not be read, or
	// which statement is the image's SBOM could not be told. It is ""
	// for a well-formed statement that is simply not the final image's
	// SBOM (a stage's, Extra; provenance), and does not repeat "not
	// published".
	Reason string
}

// String is "WHAT (PREDICATE TYPE) LAYER[: REASON]", one line: the
// predicate type, media type and reason, which the attestation's author
// wrote, have their control and format characters (escape sequences,
// newlines) written as Go escapes (printable.String), so that printed,
// or in an *UnconvertedError, they cannot drive a terminal or forge
// lines.
func (s Statement) String() string {
	if s.Reason != "" {
		return s.kind() + ": " + printable.String(s.Reason)
	}
	return s.kind()
}

func (s Statement) kind() string {
	kind := printable.String(s.PredicateType)
	if kind == "" {
		kind = "media type " + printable.String(s.Layer.MediaType)
	}
	if s.What != "" {
		kind = s.What + " (" + kind + ")"
	}
	return kind + " " + s.Layer.Digest.String()
}

// statementWhat names well-known predicate types.
func statementWhat(pt string) string {
	switch {
	case strings.HasPrefix(pt, "https://slsa.dev/provenance/"):
		return "SLSA provenance"
	case pt == PredicateSPDX:
		return "SPDX SBOM"
	}
	return ""
}

// What of the SPDX statements Convert does not publish.
const (
	// whatExtra: a statement BuildKit did not mark as the final image's
	// (no "Tool: buildkit-" creator) beside one it marked.
	whatExtra = "SBOM of another build stage or the build context"
	// whatCoreAgain: a second statement BuildKit marked as the final
	// image's (it marks every file of the scanner whose name starts with
	// "sbom.": sbom.spdx.json and sbom.extra.spdx.json alike).
	whatCoreAgain = "another SBOM of the final image"
	// whatUnknown: one of several statements none of which BuildKit
	// marked: which one describes the image cannot be told.
	whatUnknown = "SPDX SBOM"
)

// UnconvertedError is StripAttestations refused: attestation manifests
// hold statements not published as referrers, which stripping would drop
// from the index. Nothing was written. It wraps ErrUnconverted.
type UnconvertedError struct {
	// Repository names the repository.
	Repository string
	// Platforms are the platforms whose attestation manifest holds
	// statements not published (Unconverted set).
	Platforms []Platform
	// Unmatched are attestation manifests for no platform of the index.
	Unmatched []ocispec.Descriptor
	// UnmatchedFor names the manifest each of Unmatched is for, as
	// Result.UnmatchedFor.
	UnmatchedFor map[digest.Digest]digest.Digest
}

func (e *UnconvertedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v: stripping the attestation manifests would drop them from the index:", e.Repository, ErrUnconverted)
	for _, p := range e.Platforms {
		fmt.Fprintf(&b, "\n  %s attestation %s:", oci.FormatPlatform(*p.Manifest.Platform), p.Attestation.Digest)
		for _, st := range p.Unconverted {
			fmt.Fprintf(&b, "\n    %s", st)
		}
	}
	for _, d := range e.Unmatched {
		sub := cmp.Or(e.UnmatchedFor[d.Digest], digest.Digest(d.Annotations[oci.AnnotationDockerReferenceDigest]))
		fmt.Fprintf(&b, "\n  attestation %s for %s, not a platform manifest of the index: not read", d.Digest, describeSubject(d, sub))
	}
	return b.String()
}

func (e *UnconvertedError) Unwrap() error { return ErrUnconverted }

// Convert converts the BuildKit attestations of the index that reference
// (a tag or digest) names in repo. Referrers are written through one
// exporter.Push; with StripAttestations that push also writes the index
// without attestation manifests by digest, and Convert then writes it
// under reference, last, unless the tag no longer names the index it read
// (ErrTagMoved).
func Convert(ctx context.Context, repo Repository, reference string, opts Options) (*Result, error) {
	manifests := oci.NewManifestCache(repo)
	root, images, err := resolveIndex(ctx, repo, manifests, reference, opts)
	if err != nil {
		return nil, err
	}
	// The documents name the repository, not the tag: converting another
	// tag of the same index makes the same referrers, so writes nothing.
	name := opts.Name
	if name == "" {
		name = repo.Name()
	}
	c := &converter{repo: repo, manifests: manifests, opts: opts, repository: sbomgen.ImageName(name), root: root, finder: exporter.NewFinder(repo), spool: &spool{}}
	// The documents prepared wait in files for the write: gone when
	// Convert returns, whether it wrote them or not.
	defer func() {
		if err := c.spool.remove(); err != nil {
			c.warnf("removing the temporary files of the documents: %v", err)
		}
	}()
	c.statements = newStatements(repo, opts.MaxRead, imageRef(repo.Name(), reference))

	index := root
	index.Data = nil
	res := &Result{Index: index, NewIndex: index}
	if !oci.IsIndex(root.MediaType) {
		return c.single(ctx, res, images)
	}
	attestations, err := c.pair(ctx, res, images)
	if err != nil {
		return nil, err
	}
	if opts.MaxRead <= 0 {
		c.statements.perPlatform(len(attestations))
	}
	arts, err := c.prepare(ctx, res.Platforms)
	if err != nil {
		return nil, err
	}
	var strip []ocispec.Descriptor
	if opts.StripAttestations {
		strip = attestations
	}
	if len(strip) > 0 && !opts.DropUnconverted {
		if err := unconverted(repo.Name(), res); err != nil {
			return nil, err
		}
	}
	pending := slices.ContainsFunc(arts, func(a *prepared) bool { return a != nil })
	if len(strip) == 0 && !pending {
		res.Mode = c.mode
		c.logf("nothing to write")
		return res, nil
	}
	if err := c.write(ctx, res, reference, arts, strip); err != nil {
		return nil, err
	}
	return res, nil
}

// single is Convert of a root that is a single manifest, not an index:
// BuildKit writes attestation manifests into an index only, so there is
// nothing to convert and nothing is written, whatever the manifest is
// (an attestation manifest named by its own tag is not paired, converted
// or stripped). A platform image's SBOM referrers are listed, as for the
// platforms of an index without attestations.
func (c *converter) single(ctx context.Context, res *Result, images []oci.Image) (*Result, error) {
	for _, img := range images {
		if !img.Attestation {
			res.Platforms = append(res.Platforms, Platform{Manifest: img.Descriptor})
		}
	}
	if _, err := c.prepare(ctx, res.Platforms); err != nil {
		return nil, err
	}
	res.Mode = c.mode
	c.logf("nothing to convert: %s is a single manifest, not an index", res.Index.Digest)
	return res, nil
}

// moveTag points tag at the stripped index next (written by digest
// already, by push's Commit, and now written again under tag by
// push.TagIfMatch), provided tag still names old, the index Convert read: a build
// pushed to the tag since must not be rolled back to the old image. It
// re-reads the tag right before the write, and sends If-Match on the
// write with the ETag of that read, for registries that honour it
// (distribution does not: there the re-read is the only guard, and a push
// between the two requests is still overwritten). Only a strong ETag the
// registry gave is sent (see exporter.StrongETag): If-Match compares strongly, so
// a weak or made-up one would fail every time, a 412 taken for a moved
// tag. Without one, the re-read is the guard.
// Like the exporter's own tag write, an interrupt does not cut the write
// short for exporter.CommitGrace.
func moveTag(ctx context.Context, repo Repository, push *exporter.Push, tag string, old, next ocispec.Descriptor) error {
	kept := fmt.Sprintf("the tag was not moved; the stripped index %s is in the repository by digest", next.Digest)
	cur, _, etag, err := repo.FetchManifest(ctx, tag)
	if err != nil {
		return fmt.Errorf("%s: re-reading %s before moving it: %w (%s)", repo.Name(), tag, err, kept)
	}
	if cur.Digest == next.Digest {
		// Another convert of the same index moved it already: the same
		// stripped index, as this one would write.
		return nil
	}
	if cur.Digest != old.Digest {
		return fmt.Errorf("%s: %s moved during the convert: it names %s now, not the index %s convert read (pushed meanwhile?): %w; %s, and the referrers are written: convert the tag again to adopt its new index", repo.Name(), tag, cur.Digest, old.Digest, ErrTagMoved, kept)
	}
	if err := push.TagIfMatch(ctx, tag, exporter.StrongETag(etag)); err != nil {
		if errors.Is(err, exporter.ErrPreconditionFailed) {
			return fmt.Errorf("%s: %s moved during the convert: another push wrote it after convert re-read it, and the registry refused the write (412, If-Match): %w; %s", repo.Name(), tag, ErrTagMoved, kept)
		}
		return fmt.Errorf("%s: %w", repo.Name(), err)
	}
	return nil
}

// sbomReferrers returns the referrers in refs that hold an SBOM: SPDX or
// CycloneDX, bare or as an in-toto statement.
func sbomReferrers(refs []ocispec.Descriptor) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, r := range refs {
		if oci.IsSBOMReferrer(r) {
			out = append(out, r)
		}
	}
	return out
}

// otherForms returns the referrers in refs that are not desc but carry
// the same creation time, generator, platform and format annotations: an
// SBOM converted from the same statement in another form.
func otherForms(refs []ocispec.Descriptor, desc ocispec.Descriptor) []ocispec.Descriptor {
	keys := []string{ocispec.AnnotationCreated, oci.AnnotationGenerator, oci.AnnotationPlatform, oci.AnnotationFormat}
	var out []ocispec.Descriptor
	for _, r := range refs {
		if r.Digest == desc.Digest {
			continue
		}
		if !slices.ContainsFunc(keys, func(k string) bool { return r.Annotations[k] != desc.Annotations[k] }) {
			out = append(out, r)
		}
	}
	return out
}

// converter holds what one Convert call shares between platforms.
type converter struct {
	repo       Repository
	manifests  *oci.ManifestCache // repo's manifests, each read once
	opts       Options
	repository string             // what the documents name (sbomgen.ImageName)
	root       ocispec.Descriptor // the index read, its bytes in Data
	finder     *exporter.Finder
	statements *statements // the statement layers, each read once
	spool      *spool      // the documents prepared, until written

	mu   sync.Mutex
	mode exporter.Mode
}

func (c *converter) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}

func (c *converter) warnf(format string, args ...any) {
	switch {
	case c.opts.Warnf != nil:
		c.opts.Warnf(format, args...)
	case c.opts.Logf != nil:
		c.opts.Logf(format, args...)
	}
}

func (c *converter) concurrency() int {
	if c.opts.MaxConcurrency > 0 {
		return c.opts.MaxConcurrency
	}
	return 4
}

func (c *converter) setMode(m exporter.Mode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m != "" {
		c.mode = m
	}
}

// sbomLayer is one SPDX statement of an attestation manifest.
type sbomLayer struct {
	desc ocispec.Descriptor
	data []byte // the statement; nil once it cannot be the core one
	stmt *oci.Statement
	info spdxInfo
	// bad says why the statement cannot be published: not a valid SPDX
	// statement, or one that does not name the platform manifest.
	bad error
	// unread is true when bad says it could not be read: then whether
	// BuildKit marked it as the final image's is unknown.
	unread bool
}

// drop forgets the statement's bytes: it is not the one published.
func (l *sbomLayer) drop() { l.data, l.stmt = nil, nil }

// artifact reads p's attestation manifest and returns the referrer of the
// final image's SBOM, nil when there is none.
func (c *converter) artifact(ctx context.Context, p *Platform) (*exporter.Artifact, error) {
	m, err := c.readAttestation(ctx, p)
	if err != nil {
		return nil, err
	}
	layers, err := c.sbomLayers(ctx, p, m.Layers)
	if err != nil {
		return nil, err
	}
	if len(layers) == 0 {
		c.logf("%s: attestation %s holds no SPDX SBOM", oci.FormatPlatform(*p.Manifest.Platform), p.Attestation.Digest)
		return nil, nil
	}
	l, ok, err := c.coreSBOM(p, layers)
	if err != nil || !ok {
		return nil, err
	}
	doc, err := c.document(p, l)
	if err != nil {
		return nil, err
	}
	return c.sbomArtifact(p, l, doc)
}

// readAttestation reads p's attestation manifest and checks that its
// subject, when it has one, is p's platform manifest (ErrBadAttestation
// otherwise).
func (c *converter) readAttestation(ctx context.Context, p *Platform) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if _, err := oci.ReadJSON(ctx, c.manifests, p.Attestation, &m); err != nil {
		return ocispec.Manifest{}, err
	}
	if m.Subject != nil && m.Subject.Digest != p.Manifest.Digest {
		return ocispec.Manifest{}, fmt.Errorf("subject %s is not the platform manifest %s: %w", m.Subject.Digest, p.Manifest.Digest, ErrBadAttestation)
	}
	return m, nil
}

// sbomLayers reads the SPDX statements among layers, those of p's
// attestation manifest, in order; every other layer is added to
// p.Unconverted. Only a statement that can still be the final image's
// (coreIndex: the first BuildKit marked, or a lone one) keeps its bytes,
// so a platform holds at most two statements in memory, not every
// stage's.
func (c *converter) sbomLayers(ctx context.Context, p *Platform, layers []ocispec.Descriptor) ([]sbomLayer, error) {
	var out []sbomLayer
	marked := -1
	// A digest listed again is not read again: it is what it was the
	// first time (a statement's bytes are its digest's), and never the
	// one published, which is the first.
	seen := map[digest.Digest]readResult{}
	for _, l := range layers {
		r, ok := seen[l.Digest]
		if !ok {
			var err error
			if r.sl, r.other, err = c.readLayer(ctx, p, l); err != nil {
				return nil, err
			}
			kept := r
			kept.sl.drop() // the bytes stay with out's copy only
			seen[l.Digest] = kept
		}
		sl, other := r.sl, r.other
		if ok {
			sl.desc = l
			sl.drop()
			if other != nil {
				o := *other
				o.Layer = l
				other = &o
			}
		}
		if other != nil {
			p.Unconverted = append(p.Unconverted, *other)
			continue
		}
		// Only the first statement BuildKit marked, or a lone one, can
		// be published (coreIndex).
		switch {
		case marked >= 0:
			sl.drop()
		case sl.info.buildkit:
			marked = len(out)
			for i := range out {
				out[i].drop()
			}
		case len(out) > 0:
			sl.drop()
			out[0].drop()
		}
		out = append(out, sl)
	}
	return out, nil
}

// readResult is what readLayer returned for a digest.
type readResult struct {
	sl    sbomLayer
	other *Statement
}

// readsLayer reports whether readLayer reads l: an in-toto layer not
// annotated with another predicate type than SPDX's.
func readsLayer(l ocispec.Descriptor) bool {
	pt, annotated := l.Annotations[AnnotationPredicateType]
	return !(annotated && pt != PredicateSPDX) && l.MediaType == oci.MediaTypeInToto
}

// readLayer reads l, a layer of p's attestation manifest: an SPDX
// statement of p's platform manifest, or else (provenance, another
// predicate, not a statement) other, the Statement it is. A layer
// annotated as SPDX that is not a valid SPDX statement of the platform
// manifest, or cannot be read (unreadable), is returned with bad set: an
// error only if it is the one to publish (coreSBOM). An unreadable layer
// not annotated as SPDX is another statement, with its Reason.
func (c *converter) readLayer(ctx context.Context, p *Platform, l ocispec.Descriptor) (_ sbomLayer, other *Statement, _ error) {
	pt, annotated := l.Annotations[AnnotationPredicateType]
	if !readsLayer(l) {
		// provenance, or another predicate
		return sbomLayer{}, &Statement{Layer: l, PredicateType: pt, What: statementWhat(pt)}, nil
	}
	b, err := c.statements.get(ctx, l)
	if err != nil {
		if !unreadable(err) {
			// A failure a rerun may not meet (a 5xx, a lost
			// connection) ends the convert.
			return sbomLayer{}, nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		bad := fmt.Errorf("not read: %w", err)
		if !annotated {
			// Not known to be SPDX: another statement, not read.
			return sbomLayer{}, &Statement{Layer: l, Reason: bad.Error()}, nil
		}
		// An error only if it may be the one to publish (coreSBOM).
		return sbomLayer{desc: l, bad: bad, unread: true}, nil, nil
	}
	stmt, err := parseStatement(b)
	if err != nil {
		if !annotated {
			// not an SPDX statement after all
			st := Statement{Layer: l}
			if stmt != nil { // a statement, of another predicate
				st.PredicateType, st.What = stmt.PredicateType, statementWhat(stmt.PredicateType)
			}
			return sbomLayer{}, &st, nil
		}
		return sbomLayer{desc: l, bad: err}, nil, nil
	}
	info, err := readSPDX(stmt.Predicate)
	if err != nil {
		return sbomLayer{desc: l, bad: err}, nil, nil
	}
	sl := sbomLayer{desc: l, data: b, stmt: stmt, info: info}
	if len(stmt.Subject) > 0 && !stmt.Names(p.Manifest.Digest) {
		sl.bad = fmt.Errorf("statement does not name the platform manifest %s: %w", p.Manifest.Digest, ErrBadAttestation)
		sl.drop()
	}
	return sl, nil, nil
}

// unreadable reports whether err, reading a statement, says the layer
// itself cannot be read (over MaxStatementSize, not what its descriptor
// says, absent from the repository) rather than that reading it failed
// this time: only then is it a Statement.Reason of a statement that is
// not published.
func unreadable(err error) bool {
	return errors.Is(err, oci.ErrTooLarge) || errors.Is(err, oci.ErrDigestMismatch) || errors.Is(err, oci.ErrBlobNotFound)
}

// coreSBOM returns the SBOM of the final image among layers (coreIndex),
// ok false when there is none to tell, and records the others in
// p.Unconverted (those of other build stages or of the build context in
// p.Extras too). The final image's statement must be valid: one that is
// not is an error (ErrBadAttestation); any other that is not is recorded
// with its Reason, as BuildKit itself takes any scanner output. One that
// could not be read is recorded so only after the final image's; before
// it, or with none marked, it may be the final image's, and is an error.
func (c *converter) coreSBOM(p *Platform, layers []sbomLayer) (sbomLayer, bool, error) {
	infos := make([]spdxInfo, len(layers))
	for i, l := range layers {
		infos[i] = l.info
	}
	core := coreIndex(infos)
	if core >= 0 && layers[core].bad != nil {
		return sbomLayer{}, false, fmt.Errorf("layer %s, the final image's SBOM: %w", layers[core].desc.Digest, layers[core].bad)
	}
	// A statement not read may be the one BuildKit marked, unless a
	// marked one comes before it: the first marked is the image's.
	for i, l := range layers {
		if l.unread && (core < 0 || i < core) {
			return sbomLayer{}, false, fmt.Errorf("layer %s, which may be the final image's SBOM: %w", l.desc.Digest, l.bad)
		}
	}
	marked := slices.ContainsFunc(infos, func(d spdxInfo) bool { return d.buildkit })
	for i, x := range layers {
		if i == core {
			continue
		}
		st := Statement{Layer: x.desc, PredicateType: PredicateSPDX}
		switch {
		case core < 0:
			st.What, st.Reason = whatUnknown, fmt.Sprintf("none of the %d SPDX statements has BuildKit's creator %q, which marks the final image's, so which one describes the image is unknown", len(layers), buildkitCreator+"<version>")
		case x.info.buildkit:
			st.What = whatCoreAgain
		default:
			st.What, st.Extra = whatExtra, true
			p.Extras++
		}
		if x.bad != nil {
			st.Reason = x.bad.Error()
		}
		p.Unconverted = append(p.Unconverted, st)
	}
	if core < 0 {
		c.logf("%s: attestation %s holds %d SPDX statements, none marked by BuildKit as the final image's; none published", oci.FormatPlatform(*p.Manifest.Platform), p.Attestation.Digest, len(layers))
		return sbomLayer{}, false, nil
	}
	if marked && slices.ContainsFunc(layers, func(l sbomLayer) bool { return l.info.buildkit && l.desc.Digest != layers[core].desc.Digest }) {
		c.logf("%s: attestation %s holds several SPDX statements BuildKit marked as the final image's; the first is published", oci.FormatPlatform(*p.Manifest.Platform), p.Attestation.Digest)
	}
	return layers[core], true, nil
}

// document returns the SPDX document of l to publish: as BuildKit stored
// it with Raw, else made to name the image (p.Named) when it describes
// exactly one package, else as it is, said in a log message.
func (c *converter) document(p *Platform, l sbomLayer) ([]byte, error) {
	doc := []byte(l.stmt.Predicate)
	if c.opts.Raw {
		return doc, nil
	}
	named, ok, err := nameImage(doc, p.Manifest.Digest, c.repository, *p.Manifest.Platform)
	if err != nil {
		return nil, err
	}
	doc, p.Named = named, ok
	if !ok {
		c.logf("%s: the SBOM does not describe exactly one package (as affix get --verify reads it); published without naming the image", oci.FormatPlatform(*p.Manifest.Platform))
	}
	return doc, nil
}

// sbomArtifact returns the referrer of p's platform manifest that
// publishes doc, the document of l: the bare SPDX document, or with
// KeepInToto the statement of l (with doc as its predicate when doc names
// the image).
func (c *converter) sbomArtifact(p *Platform, l sbomLayer, doc []byte) (*exporter.Artifact, error) {
	subject := ocispec.Descriptor{MediaType: p.Manifest.MediaType, Digest: p.Manifest.Digest, Size: p.Manifest.Size}
	ann := map[string]string{
		oci.AnnotationPlatform: oci.FormatPlatform(*p.Manifest.Platform),
		oci.AnnotationFormat:   Format,
	}
	if l.info.generator != "" {
		ann[oci.AnnotationGenerator] = l.info.generator
	}
	if !c.opts.KeepInToto {
		a := exporter.SBOM(subject, oci.MediaTypeSPDX, doc, l.info.created, ann)
		return &a, nil
	}
	data := l.data
	if p.Named {
		var err error
		if data, err = withPredicate(l.data, doc); err != nil {
			return nil, err
		}
	}
	a := exporter.InToto(subject, PredicateSPDX, data, l.info.created, ann)
	return &a, nil
}
