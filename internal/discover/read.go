package discover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/printable"
	"github.com/affix-oci/affix/sbomgen"
)

// MaxSBOMSize bounds an SBOM document read from a registry.
const MaxSBOMSize = 512 << 20

// annotateConcurrency bounds the manifests withAnnotations reads at once.
const annotateConcurrency = 4

// Search is one run of affix get: where it reads, the SBOM it looks for,
// and what it read already. Its methods run on one goroutine, except the
// manifest reads of withAnnotations.
type Search struct {
	// store lists the referrers; tgt reads from it (the same store).
	store  Store
	tgt    oci.Fetcher
	refStr string
	images []oci.Image
	format sbomgen.Format
	verify bool
	// all is --all-platforms: an SBOM of the index is taken for a
	// platform only when it names that platform or the index.
	all bool
	// note prints a note; stderr takes the "verified" lines.
	note   func(format string, args ...any)
	stderr io.Writer

	// indexRefs are the referrers of the indexes read for an earlier
	// platform.
	indexRefs map[digest.Digest]referrerList

	mu sync.Mutex
	// manifests are the manifests read so far, by digest and size, and
	// the definitive errors reading them gave (definitive): a manifest
	// read to order the candidates is not fetched again to read its
	// SBOM, nor one the registry refused or does not have fetched again
	// to fail the same way. A read that failed for a while (a 5xx, a
	// 429, a dropped connection, after the transport's retries) is not
	// kept: the next reader asks again.
	manifests map[manifestKey]manifestRead

	// pending are the notes on SBOM referrers that were skipped before
	// a fallback (an attestation, cosign's tags, the index) was tried:
	// printed before the next note, or at the end, unless the error
	// (a *missingSBOMError) lists them. The first few are kept, the
	// others counted.
	pending namedList
}

// manifestKey names a manifest read: a descriptor of another size is
// another read (which fails), whatever its digest.
type manifestKey struct {
	digest digest.Digest
	size   int64
}

// manifestRead is the outcome of reading a manifest: what get keeps of
// it (keep), or the error.
type manifestRead struct {
	m   *ocispec.Manifest
	err error
}

// keptAnnotations are the annotations get reads of a referrer manifest
// and its layers, all it keeps of them: the created time that orders
// SBOMs, the generator --verify names, the predicate types of in-toto
// and Sigstore bundle referrers, BuildKit's attestation layers and
// cosign's .att layers.
var keptAnnotations = []string{ocispec.AnnotationCreated, oci.AnnotationGenerator, AnnotationBundlePredicateType, oci.AnnotationPredicateType, "predicateType"}

// maxKept bounds a string keep keeps whole: a longer annotation value is
// dropped (no time or predicate type is that long), a longer media type
// or digest cut (it then matches none get knows, as it did not before).
const maxKept = 1024

// keep returns what get keeps of m, a referrer manifest it read, for the
// run (Search.manifests): its media and artifact types, and its config,
// layers and subject, each's media and artifact types, digest, size and
// kept annotations; of its own annotations, those get reads
// (keptAnnotations). A manifest is up to 4 MiB of JSON, annotations
// mostly in the worst case, which decoded take 8 times that: kept whole
// for every candidate read, a registry's list of them held gigabytes.
func keep(m *ocispec.Manifest) *ocispec.Manifest {
	out := &ocispec.Manifest{Versioned: m.Versioned, MediaType: keptString(m.MediaType), ArtifactType: keptString(m.ArtifactType),
		Config: keepDescriptor(m.Config), Annotations: keepAnnotations(m.Annotations)}
	if len(m.Layers) > 0 {
		out.Layers = make([]ocispec.Descriptor, len(m.Layers))
		for i, l := range m.Layers {
			out.Layers[i] = keepDescriptor(l)
		}
	}
	if m.Subject != nil {
		s := keepDescriptor(*m.Subject)
		out.Subject = &s
	}
	return out
}

// keepDescriptor returns what keep keeps of d.
func keepDescriptor(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: keptString(d.MediaType), Digest: digest.Digest(keptString(string(d.Digest))), Size: d.Size,
		ArtifactType: keptString(d.ArtifactType), Annotations: keepAnnotations(d.Annotations)}
}

// keepAnnotations returns the keptAnnotations of a that are at most
// maxKept bytes long; nil when there are none.
func keepAnnotations(a map[string]string) map[string]string {
	var out map[string]string
	for _, k := range keptAnnotations {
		if v, ok := a[k]; ok && len(v) <= maxKept {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// keptString returns s, or a copy of its first maxKept bytes and "..."
// when it is longer (a copy: a slice would keep all of s).
func keptString(s string) string {
	if len(s) <= maxKept {
		return s
	}
	return strings.Clone(s[:maxKept]) + "..."
}

// Options are what a Search takes besides the store and the format: how
// it chooses (get's flags) and where it says what it did.
type Options struct {
	// Verify is get --verify: each SBOM taken is checked against the
	// image it was found for (VerifySBOM), and an SBOM of the index is
	// taken for a platform only when it names the platform's manifest.
	Verify bool
	// All is --all-platforms: an SBOM of the index is taken for a
	// platform only when it names that platform or the index.
	All bool
	// Notef prints a note (an SBOM skipped, another taken instead): a
	// line on stderr. nil prints none.
	Notef func(format string, args ...any)
	// Stderr takes the "verified: ..." line of each SBOM verified; nil
	// discards it.
	Stderr io.Writer
}

// NewSearch returns a search for SBOMs in format of images (the images
// of store's root, as oci.Walk lists them) in store, ref naming it in
// messages.
func NewSearch(store Store, ref string, images []oci.Image, format sbomgen.Format, o Options) *Search {
	r := &Search{store: store, tgt: store, refStr: ref, images: images, format: format, verify: o.Verify, all: o.All,
		note: o.Notef, stderr: o.Stderr,
		indexRefs: map[digest.Digest]referrerList{}, manifests: map[manifestKey]manifestRead{}}
	if r.note == nil {
		r.note = func(string, ...any) {}
	}
	if r.stderr == nil {
		r.stderr = io.Discard
	}
	return r
}

// Format returns the format of the SBOM searched for: after DigestSBOM,
// the format of the one it took.
func (r *Search) Format() sbomgen.Format { return r.format }

// notef prints a note on stderr, after the pending ones.
func (r *Search) notef(format string, args ...any) {
	r.flushNotes()
	r.note(format, args...)
}

// quietly runs fn with r's notes dropped, those it leaves pending too,
// and r's earlier pending notes kept.
func (r *Search) quietly(fn func()) {
	note, pending := r.note, r.pending
	r.note, r.pending = func(string, ...any) {}, namedList{}
	defer func() { r.note, r.pending = note, pending }()
	fn()
}

// flushNotes prints the pending notes, and how many more there were.
func (r *Search) flushNotes() {
	for _, s := range r.pending.named {
		r.note("%s", s)
	}
	if n := r.pending.more; n > 0 {
		r.note("skipped %d more (the first %d are named above)", n, len(r.pending.named))
	}
	r.pending = namedList{}
}

// referrerList is the referrers of a subject as its store listed them.
type referrerList struct {
	refs []ocispec.Descriptor
	// annotated means the list carries each manifest's annotations, as
	// the referrers API copies them. A referrers tag's entries (a
	// registry's, or one regctl wrote into a layout) carry what the
	// tool that wrote them put there: cosign puts none.
	annotated bool
}

// readReferrers returns the referrers of subject, what (the platform, or
// "index") naming it in the notes below. A registry that resolves the
// referrers tag to the subject (GitLab) lists none, with a note: a
// BuildKit attestation in the index still can be read, as ls shows it.
// Entries without a valid digest are dropped, with a note (ValidEntries).
func (r *Search) readReferrers(ctx context.Context, what string, subject digest.Digest) (referrerList, error) {
	refs, mode, err := r.store.Referrers(ctx, subject)
	if errors.Is(err, exporter.ErrReferrersTagConflict) {
		r.notef("%s (%s): %v; reading no referrers", r.refStr, what, err)
		return referrerList{}, nil
	}
	if err != nil {
		return referrerList{}, err
	}
	refs, err = ValidEntries(refs)
	if err != nil {
		r.notef("%s (%s): referrers of %s: %v: skipped", r.refStr, what, subject, err)
	}
	return referrerList{refs: refs, annotated: mode == exporter.ModeAPI}, nil
}

// readReferrer reads a referrer manifest, digest-verified: what --verify
// checks is the manifest, not the referrers list's copy of it. It
// returns what get keeps of it (keep). A manifest read before is not read
// again.
func (r *Search) readReferrer(ctx context.Context, d ocispec.Descriptor) (*ocispec.Manifest, error) {
	key := manifestKey{d.Digest, d.Size}
	r.mu.Lock()
	got, ok := r.manifests[key]
	r.mu.Unlock()
	if ok {
		return got.m, got.err
	}
	var m ocispec.Manifest
	if err := EntryError(d); err != nil {
		// Not read: a registry would take what it names for a tag.
		return nil, fmt.Errorf("reading referrer: %w", err)
	}
	if _, err := oci.ReadJSON(ctx, r.tgt, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}, &m); err != nil {
		got = manifestRead{err: fmt.Errorf("reading referrer %s: %w", d.Digest, err)}
	} else {
		got = manifestRead{m: keep(&m)}
	}
	if ctx.Err() == nil && definitive(got.err) {
		r.mu.Lock()
		r.manifests[key] = got
		r.mu.Unlock()
	}
	return got.m, got.err
}

// definitive reports whether err, the outcome of reading content, is an
// answer that reading again would get again, and so may be kept for the
// run: success (nil); a 4xx the registry chose to give (404, 401, 403,
// 400), but 408 and 429; content that is missing from a layout, larger
// than allowed, or read whole and verified but no JSON. A 5xx, a 408 or
// 429, a connection that failed or a body cut short or corrupted on the
// way (all after the transport's retries), or any other error is not: it
// says nothing about the content, and a later read may succeed.
func definitive(err error) bool {
	if err == nil {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if s := httpStatus(err); s != 0 {
		return s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.Is(err, oci.ErrBlobNotFound) || errors.Is(err, oci.ErrTooLarge) ||
		errors.As(err, &syntax) || errors.As(err, &typ)
}

// httpStatus returns the HTTP status of the registry answer err carries
// (affix's own requests' or oras-go's), 0 when it carries none.
func httpStatus(err error) int {
	var re *exporter.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	var er *errcode.ErrorResponse
	if errors.As(err, &er) {
		return er.StatusCode
	}
	return 0
}

// withAnnotations returns the referrers of list, those of types that
// carry no annotations given their manifests': the predicate type of an
// attestation and the created time that orders SBOMs are manifest
// annotations, which the referrers API copies into its list but the
// referrers-tag entries some tools write (cosign) lack. A list the
// referrers API gave is taken as it is: a manifest that has no
// annotations there has none (regctl artifact put writes none). The
// manifests are read concurrently, and kept for the readers that follow;
// one that cannot be read is left as listed (its reader reports why).
func (r *Search) withAnnotations(ctx context.Context, list referrerList, types []string) []ocispec.Descriptor {
	out := slices.Clone(list.refs)
	if list.annotated {
		return out
	}
	var g errgroup.Group
	g.SetLimit(annotateConcurrency)
	for i, d := range out {
		if len(d.Annotations) > 0 || !slices.Contains(types, d.ArtifactType) {
			continue
		}
		g.Go(func() error {
			if m, err := r.readReferrer(ctx, d); err == nil {
				out[i].Annotations = m.Annotations
			}
			return nil
		})
	}
	g.Wait()
	return out
}

// readSBOM reads the single layer of the SBOM referrer d, whose manifest
// m passed sbomShape.
func (r *Search) readSBOM(ctx context.Context, d ocispec.Descriptor, m *ocispec.Manifest) (*Source, error) {
	b, err := oci.ReadBlob(ctx, r.tgt, m.Layers[0], MaxSBOMSize)
	if err != nil {
		return nil, fmt.Errorf("reading SBOM %s of referrer %s: %w", m.Layers[0].Digest, d.Digest, err)
	}
	return &Source{Manifest: d, Subject: m.Subject, Annotations: m.Annotations, Doc: b}, nil
}

// readStatementSBOM reads the single statement layer of the statement
// referrer d of subject (an in-toto statement, or a Sigstore bundle
// around one) and returns its predicate, a document of the format.
func (r *Search) readStatementSBOM(ctx context.Context, subject digest.Digest, d ocispec.Descriptor) (*Source, error) {
	m, err := r.readReferrer(ctx, d)
	if err != nil {
		return nil, err
	}
	kind := statementKind(d)
	if m.Subject == nil || m.Subject.Digest != subject {
		return nil, unusableError{fmt.Errorf("%s %s: listed, but its manifest's subject is %s, not %s", kind, d.Digest, SubjectOf(*m), subject)}
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != d.ArtifactType {
		return nil, unusableError{fmt.Errorf("%s %s: want exactly one %s layer, has %d layers", kind, d.Digest, d.ArtifactType, len(m.Layers))}
	}
	stmt, err := r.readPredicate(ctx, m.Layers[0])
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, d.Digest, err)
	}
	return &Source{Manifest: d, Subject: m.Subject, Annotations: m.Annotations, Statement: stmt, Doc: append(stmt.Predicate, '\n')}, nil
}

// readPredicate reads the in-toto statement layer l (decodeStatement)
// whose predicate is a document of the format: a statement of another
// predicate type is an unusableError, whatever the layer's annotations
// said.
func (r *Search) readPredicate(ctx context.Context, l ocispec.Descriptor) (*oci.Statement, error) {
	b, err := oci.ReadBlob(ctx, r.tgt, l, MaxSBOMSize)
	if err != nil {
		return nil, err
	}
	stmt, err := decodeStatement(l.MediaType, b)
	if err != nil {
		return nil, unusableError{fmt.Errorf("in-toto statement %s: %w", l.Digest, err)}
	}
	if !isPredicateOf(r.format, stmt.PredicateType) {
		return nil, unusableError{fmt.Errorf("predicate type %q is not %s", stmt.PredicateType, predicateName(r.format))}
	}
	return stmt, nil
}

// SubjectOf names the subject of m, "none" when it has none.
func SubjectOf(m ocispec.Manifest) string {
	if m.Subject == nil {
		return "none"
	}
	return m.Subject.Digest.String()
}

// statementKind names the statement referrer d in messages.
func statementKind(d ocispec.Descriptor) string {
	if isBundleType(d.ArtifactType) {
		return "Sigstore bundle referrer"
	}
	return "in-toto referrer"
}

// sbomShape reports why m is not an SBOM referrer as affix writes and
// consumers (Trivy, Ratify) read it: exactly one layer, whose media type
// is one of types (docTypes: the format's media type, named in the error,
// or cosign's spelling of it).
func sbomShape(m *ocispec.Manifest, types []string) error {
	if len(m.Layers) == 1 && slices.Contains(types, m.Layers[0].MediaType) {
		return nil
	}
	var layerTypes namedList
	for _, l := range m.Layers {
		layerTypes.add(printable.String(clip(l.MediaType)))
	}
	has := fmt.Sprintf("%d layers", len(m.Layers))
	if len(m.Layers) == 1 {
		has = "1 layer"
	}
	if layerTypes.len() > 0 {
		has += " (" + layerTypes.join(", ") + ")"
	}
	return fmt.Errorf("has %s, not exactly one %s layer", has, types[0])
}

// unusableError is why a referrer that was read is no SBOM: its content
// is not what its artifact type and annotations say.
type unusableError struct{ error }

func (e unusableError) Unwrap() error { return e.error }

// gone reports whether err means listed content no longer exists: a
// registry's 404, a layout's missing blob.
func gone(err error) bool {
	return errors.Is(err, exporter.ErrNotFound) || errors.Is(err, oci.ErrBlobNotFound)
}

// broken reports whether err means listed content cannot be used, what
// ever the registry answers next: the entry names no valid digest, or the
// content does not match its descriptor (digest or size: another tool's
// entry that is wrong, or a registry that serves other bytes), is larger
// than get reads, or was verified but is no JSON of the shape expected.
// A registry that fails (a 5xx, a dropped connection, after the
// transport's retries) is not broken content.
func broken(err error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.Is(err, oci.ErrDigestMismatch) || errors.Is(err, oci.ErrTooLarge) ||
		errors.Is(err, digest.ErrDigestInvalidFormat) || errors.Is(err, digest.ErrDigestInvalidLength) || errors.Is(err, digest.ErrDigestUnsupported) ||
		errors.As(err, &syntax) || errors.As(err, &typ)
}

// skippable reports whether err means that a candidate is to be skipped
// with a note, the next one tried: its content is gone, broken, or not
// what it claims (unusableError). Any other error ends the search.
func skippable(err error) bool {
	var bad unusableError
	return gone(err) || broken(err) || errors.As(err, &bad)
}
