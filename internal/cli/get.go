package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fsutil"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

func init() { extraCommands = append(extraCommands, newGetCmd) }

// maxSBOMSize bounds an SBOM document read from a registry.
const maxSBOMSize = 512 << 20

type getOptions struct {
	registryOptions
	platform string
	formats  []string
	output   string
	verify   bool
	all      bool
}

// newGetCmd returns the get command: the SBOM of one platform (or of
// every platform, into a directory).
func newGetCmd(g *globalOptions) *cobra.Command {
	var o getOptions
	cmd := &cobra.Command{
		Use:   "get [flags] REF|oci-layout:PATH|oci-archive:PATH",
		Short: "Print the SBOM of one platform of an image",
		Long: `Print the SBOM referrer of REF's platform manifest (--platform when REF is a
multi-platform index) in --format (spdx-json, cyclonedx-json, syft-json).
With several, the newest by org.opencontainers.image.created wins; one
without that annotation (regctl artifact put and cosign write none) counts
as older than any that has one, and among such the one listed last wins
(the registry's or the referrers tag's order, not a time): a note says so
when that decided. An SBOM referrer holds exactly one layer whose media type is its
artifact type (application/spdx+json, application/vnd.cyclonedx+json,
application/vnd.syft+json; cosign's text/spdx+json and cosign attach
sbom's application/vnd.dev.cosign.artifact.sbom.v1+json referrers too);
a layer of a generic type (oras attach gives a FILE
application/vnd.oci.image.layer.v1.tar unless told FILE:TYPE) is taken,
with a note, when it holds a document of the format. One that is neither
(two files make two layers), or one still listed whose manifest or SBOM
blob is gone (deleted; a registry without the referrers API keeps the
referrers-tag entry), is skipped with a note on stderr naming its digest
and why, and the next newest is taken. When none fits, the error lists
each. Without an SBOM referrer, an in-toto referrer whose predicate is a
document of the format (--sbom-format spdx-intoto, affix convert
--keep-intoto), or a Sigstore bundle referrer holding one (cosign attest;
its signature is not checked), else a BuildKit SPDX attestation (in the
index, or only a referrer) is used: the statement's predicate is printed.
Then (registries only) cosign's tag schemes, which no referrers list
shows: the document of the sha256-<hex>.sbom tag (cosign attach sbom),
else the newest attestation of the format in the sha256-<hex>.att tag
(cosign attest before v3). When the platform manifest has none of these,
an SBOM attached to the index that lists it (oras attach REF:TAG) is
taken, with a note: it may describe another platform, and --verify takes
it only when the document names the platform manifest.

--all-platforms -o DIR writes the SBOM of every platform image (BuildKit
attestation manifests aside) to DIR/<os>-<arch>[-<variant>]<ext>, named as
affix sbom names them (.spdx.json, .cdx.json, .syft.json), and a line per file to
stderr; so does -o DIR for one platform when DIR is a directory (or ends
in a slash). -o is checked before anything is fetched. Files are written only once every platform's SBOM was found (and,
with --verify, verified): a platform without one is an error naming it, and
nothing is written.

REF may be a local OCI layout instead, oci-layout:PATH[:TAG][@DIGEST] or
oci-archive:PATH for a tar, as affix build --output writes it: the
manifests with a subject that its index.json lists are its referrers.

--verify checks, before printing anything, that the chosen SBOM describes
the platform manifest it was found for (an SBOM that fails is an error; an
older one is never taken instead):

  - the manifest holding the SBOM is read (and digest-checked), not taken
    from the referrers list: its subject must be the platform manifest
    (BuildKit in-index attestations may omit it);
  - the image the document names must be that manifest's digest: for SPDX
    the described package's pkg:oci purl (and its checksum), for CycloneDX
    metadata.component's purl (and its hashes);
  - a document that names no image (a BuildKit scanner's, for example: it
    scans a directory, not an image) is accepted only inside an in-toto
    statement whose subjects all carry the platform manifest's digest. The
    subject is the binding the statement's producer (BuildKit, for its
    attestations) made between document and image; comparing it with the
    artifact's digest is the check in-toto verifiers do. A bare document
    that names no image fails: nothing ties it to the image. affix convert
    names the image in the documents it publishes where it can, and
    --keep-intoto keeps the statement.

On success a "verified: ..." line goes to stderr and the document to
stdout (or --output). On failure the document is not printed; the error
names REF, the platform, the digest of the manifest holding the SBOM, the
digest the SBOM describes and the expected one; the exit code is 1. This
is a consistency check (a stale, misplaced or mixed-up SBOM), not an
authenticity check: nothing in it is signed; verify signatures for that.`,
		Example: `  affix get --platform linux/arm64 registry.example.com/app:1.0
  affix get --verify --platform linux/amd64 --format cyclonedx-json -o app.cdx.json registry.example.com/app:1.0
  affix get --platform linux/amd64 oci-archive:app.tar
  affix get --all-platforms --verify -o sboms/ registry.example.com/app:1.0`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(fmt.Errorf("want one REF or layout, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runGet(cmd, g, args[0], o) },
	}
	f := cmd.Flags()
	o.registryOptions.addFlags(f)
	f.StringVar(&o.platform, "platform", "", "platform of a multi-platform image, os/arch[/variant]")
	f.Var((*everyValue)(&o.formats), "format", "SBOM format: spdx-json (default), cyclonedx-json or syft-json; once")
	f.BoolVar(&o.all, "all-platforms", false, "get the SBOM of every platform image, one file each in -o DIR")
	f.StringVarP(&o.output, "output", "o", "", "write to FILE instead of stdout, or into DIR (a directory that exists, or always with --all-platforms)")
	f.BoolVar(&o.verify, "verify", false, "fail unless the SBOM describes the platform manifest it is attached to (see the command help)")
	return cmd
}

// runGet runs get and adds the hints for plain HTTP and layout paths to
// its error.
func runGet(cmd *cobra.Command, g *globalOptions, refStr string, o getOptions) error {
	if err := checkRegistryRef(refStr); err != nil {
		return err
	}
	return hintLayout(hintHTTP(get(cmd, g, refStr, o), hostOf(refStr)), refStr)
}

// get prints the SBOM of the platform o names, or writes the SBOMs o asks
// for (-o, --all-platforms).
func get(cmd *cobra.Command, g *globalOptions, refStr string, o getOptions) error {
	ctx := cmd.Context()
	// One document is printed: a second --format would silently win.
	if len(o.formats) > 1 {
		return usageError(fmt.Errorf("--format given %d times (%s): get prints one SBOM; run it once per format", len(o.formats), strings.Join(o.formats, ", ")))
	}
	name := sbomgen.SPDXJSON.String()
	if len(o.formats) == 1 {
		name = o.formats[0]
	}
	format, err := sbomgen.ParseFormat(name)
	if err != nil {
		return usageError(fmt.Errorf("--format %q: want spdx-json, cyclonedx-json or syft-json", name))
	}
	if err := checkPlatformFlag(o.platform); err != nil {
		return err
	}
	if o.all && o.platform != "" {
		return usageError(errors.New("use one of --platform and --all-platforms"))
	}
	if o.all && o.output == "" {
		return usageError(errors.New("--all-platforms writes one file per platform: name a directory with -o DIR"))
	}
	// -o is checked before anything is fetched, as --metadata-file is: a
	// typo fails now, not after the SBOMs were read. An existing
	// directory takes the documents by platform, as with affix sbom.
	toDir := o.all || o.output != "" && namesDir(o.output)
	if err := checkOutput(o.output, toDir); err != nil {
		return err
	}
	tgt, err := o.openStore(ctx, g, refStr, warnf(cmd))
	if err != nil {
		return sourceUsage(err)
	}
	defer tgt.Close()
	root, err := tgt.Root(ctx)
	if err != nil {
		return err
	}
	images, err := oci.Walk(ctx, tgt, root)
	if err != nil {
		return fmt.Errorf("%s: %w", refStr, err)
	}
	picked, err := oci.Select(images, oci.Selector{Platform: o.platform, All: o.all})
	if err != nil {
		if o.platform == "" && !o.all && errors.Is(err, oci.ErrAmbiguous) {
			return fmt.Errorf("%s: %w; name one with --platform, or get them all with --all-platforms -o DIR", refStr, err)
		}
		return fmt.Errorf("%s: %w", refStr, err)
	}
	srcs := make([]*sbomSource, len(picked))
	parents := map[digest.Digest][]ocispec.Descriptor{}
	for i, img := range picked {
		if srcs[i], err = platformSBOM(cmd, tgt, refStr, images, img, format, o.verify, parents); err != nil {
			return err
		}
	}
	switch {
	case toDir:
		return writeSBOMs(cmd, o.output, picked, srcs, format)
	case o.output != "":
		return fsutil.WriteFileContext(cmd.Context(), o.output, srcs[0].Doc)
	}
	_, err = cmd.OutOrStdout().Write(srcs[0].Doc)
	return err
}

// platformSBOM returns the SBOM of img (chooseSBOM), else one cosign
// stored under its tag scheme (cosignTagSBOM), else one attached to the
// index that lists img (indexSBOM), verified with --verify (the
// "verified" line goes to stderr). parents caches the referrers of
// indexes read for an earlier platform.
func platformSBOM(cmd *cobra.Command, tgt imageStore, refStr string, images []oci.Image, img oci.Image, format sbomgen.Format, verify bool,
	parents map[digest.Digest][]ocispec.Descriptor) (*sbomSource, error) {
	refs, err := readReferrers(cmd, tgt, refStr, img.String(), img.Descriptor.Digest)
	if err != nil {
		return nil, err
	}
	src, err := chooseSBOM(cmd, tgt, images, img.Descriptor.Digest, refs, format)
	var missing *missingSBOMError
	if errors.As(err, &missing) {
		if s, terr := cosignTagSBOM(cmd, tgt, img.Descriptor.Digest, format); s != nil || terr != nil {
			src, err = s, terr
		}
	}
	if errors.As(err, &missing) && oci.IsIndex(img.Parent.MediaType) {
		src, err = indexSBOM(cmd, tgt, refStr, img, format, missing, parents)
	}
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", refStr, img, err)
	}
	if verify {
		line, err := verifySBOM(refStr, img, format, src)
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(cmd.ErrOrStderr(), line)
	}
	return src, nil
}

// readReferrers returns the referrers of subject, what (the platform, or
// "index") naming it in messages. A registry that resolves the referrers
// tag to the subject (GitLab) lists none, with a note: a BuildKit
// attestation in the index still can be read, as ls shows it.
func readReferrers(cmd *cobra.Command, tgt imageStore, refStr, what string, subject digest.Digest) ([]ocispec.Descriptor, error) {
	refs, _, err := tgt.Referrers(cmd.Context(), subject)
	if errors.Is(err, exporter.ErrReferrersTagConflict) {
		notef(cmd)("%s (%s): %v; reading no referrers", refStr, what, err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", refStr, what, err)
	}
	return refs, nil
}

// indexSBOM returns, for the platform image img that has no SBOM of
// format (missing says why), the SBOM of format attached to the index
// that lists it, with a note: some tools attach an image's SBOM to the
// tag (oras attach REF:TAG, cosign attest REF:TAG), and so to the index.
// Such a document may describe another platform, or all of them; --verify
// takes it only when it names img's manifest. When the index has none
// either, missing is returned, saying so.
func indexSBOM(cmd *cobra.Command, tgt imageStore, refStr string, img oci.Image, format sbomgen.Format, missing *missingSBOMError,
	parents map[digest.Digest][]ocispec.Descriptor) (*sbomSource, error) {
	index := img.Parent.Digest
	refs, ok := parents[index]
	if !ok {
		var err error
		if refs, err = readReferrers(cmd, tgt, refStr, "index", index); err != nil {
			return nil, err
		}
		parents[index] = refs
	}
	src, _, err := referrerSBOM(cmd, tgt, index, refs, format)
	if err != nil {
		return nil, err
	}
	if src == nil {
		msg := missing.msg
		if other := otherSBOMFormats(refs, format); len(other) > 0 {
			msg += "; the index " + index.String() + " has " + strings.Join(other, " and ") + " SBOM referrers"
		}
		return nil, &missingSBOMError{msg}
	}
	src.OfIndex = index
	notef(cmd)("%s (%s): %s; taking %s, attached to the whole image: it may describe another platform (--verify takes it only if it names %s)",
		refStr, img, missing.msg, src.describe(), img.Descriptor.Digest)
	return src, nil
}

// writeSBOMs writes --all-platforms' documents, one per platform image, to
// dir/<os>-<arch>[-<variant>]<ext> as affix sbom names them, and a line
// per file to stderr. They are written only once every platform's SBOM
// was found (and verified), each whole or not at all (fsutil.WriteFile).
func writeSBOMs(cmd *cobra.Command, dir string, images []oci.Image, srcs []*sbomSource, format sbomgen.Format) error {
	stems := outputStems(len(images), func(i int) (ocispec.Platform, digest.Digest) {
		return *images[i].Descriptor.Platform, images[i].Descriptor.Digest
	})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, src := range srcs {
		p := filepath.Join(dir, stems[i]+format.Ext())
		if err := fsutil.WriteFileContext(cmd.Context(), p, src.Doc); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%-16s %s  %s\n", oci.FormatPlatform(*images[i].Descriptor.Platform), src.describe(), p)
	}
	return nil
}

// missingSBOMError means no usable SBOM of the format was found for a subject;
// it says what was skipped and which SBOMs of other formats there are.
type missingSBOMError struct{ msg string }

func (e *missingSBOMError) Error() string { return e.msg }

// chooseSBOM returns the SBOM of subject in format, from the first of these
// that has one:
//
//  1. the newest bare SBOM referrer (bareSBOM): affix's, oras's, regctl's,
//     cosign attach sbom's;
//  2. the newest in-toto statement referrer whose predicate is a document
//     of format (statementSBOM): affix convert --keep-intoto, cosign
//     attest's Sigstore bundles;
//  3. a BuildKit attestation manifest (attestationSBOM).
//
// Referrers that cannot be used are skipped with a note on stderr; when
// none is left the error (a *missingSBOMError) lists them.
func chooseSBOM(cmd *cobra.Command, tgt oci.Fetcher, images []oci.Image, subject digest.Digest, refs []ocispec.Descriptor, format sbomgen.Format) (*sbomSource, error) {
	src, skipped, err := referrerSBOM(cmd, tgt, subject, refs, format)
	if src != nil || err != nil {
		return src, err
	}
	if src, err := attestationSBOM(cmd, tgt, images, subject, refs, format); src != nil || err != nil {
		return src, err
	}
	if len(skipped) > 0 {
		return nil, &missingSBOMError{fmt.Sprintf("no usable %s SBOM referrer of %s: %s", format, subject, strings.Join(skipped, "; "))}
	}
	msg := fmt.Sprintf("no %s SBOM referrer of %s", format, subject)
	switch format {
	case sbomgen.SPDXJSON:
		msg += " (nor an SPDX in-toto referrer or BuildKit SPDX attestation)"
	case sbomgen.CycloneDXJSON:
		msg += " (nor a CycloneDX in-toto referrer)"
	}
	if other := otherSBOMFormats(refs, format); len(other) > 0 {
		msg += "; it has " + strings.Join(other, " and ") + " SBOM referrers: --format " + other[0]
	}
	return nil, &missingSBOMError{msg}
}

// referrerSBOM returns the SBOM of subject in format among its referrers
// refs: a bare one (bareSBOM), else one in an in-toto statement
// (statementSBOM); nil when there is none, with why each candidate was
// skipped (the notes for those were not printed).
func referrerSBOM(cmd *cobra.Command, tgt oci.Fetcher, subject digest.Digest, refs []ocispec.Descriptor, format sbomgen.Format) (*sbomSource, []string, error) {
	src, skipped, err := bareSBOM(cmd, tgt, subject, refs, format)
	if src != nil || err != nil {
		return src, nil, err
	}
	src, err = statementSBOM(cmd, tgt, subject, refs, format, len(skipped) == 0)
	if src != nil || err != nil {
		for _, s := range skipped {
			notef(cmd)("skipped %s SBOM referrer %s", format, s)
		}
	}
	return src, skipped, err
}

// bareSBOM returns the newest bare SBOM referrer of subject in format:
// one whose artifact type is a document type of format (docTypes), or
// cosign's SBOM artifact type with a layer of one (another format's is
// passed over), whose manifest names subject and holds exactly one layer
// of that type (sbomShape) or of a generic type whose content is a
// document of format (oras attach FILE without :TYPE). The others are
// returned as skipped, each with why; their notes are printed only when
// one is taken.
func bareSBOM(cmd *cobra.Command, tgt oci.Fetcher, subject digest.Digest, refs []ocispec.Descriptor, format sbomgen.Format) (*sbomSource, []string, error) {
	types := append(docTypes(format), mediaTypeCosignSBOM)
	cands := exporter.NewestFirst(withAnnotations(cmd, tgt, refs, types), types...)
	var skipped []string
	for _, d := range cands {
		m, err := readReferrer(cmd, tgt, d)
		if gone(err) {
			// Deleted, while the referrers tag still lists it (a
			// registry without the API keeps the entry).
			skipped = append(skipped, fmt.Sprintf("%s: listed, but its manifest is gone: %v", d.Digest, err))
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if d.ArtifactType == mediaTypeCosignSBOM && len(m.Layers) == 1 && !slices.Contains(docTypes(format), m.Layers[0].MediaType) {
			continue // cosign's SBOM of another format
		}
		if m.Subject == nil || m.Subject.Digest != subject {
			// Listed under subject by a referrers tag (or a
			// registry) that is wrong: not an SBOM of subject.
			skipped = append(skipped, fmt.Sprintf("%s: listed, but its manifest's subject is %s, not %s", d.Digest, subjectOf(*m), subject))
			continue
		}
		generic := len(m.Layers) == 1 && slices.Contains(genericLayerTypes, m.Layers[0].MediaType)
		if err := sbomShape(m, docTypes(format)); err != nil && !generic {
			skipped = append(skipped, fmt.Sprintf("%s: %v", d.Digest, err))
			continue
		}
		src, err := readSBOM(cmd, tgt, d, m)
		if gone(err) {
			skipped = append(skipped, fmt.Sprintf("%s: its SBOM blob is gone: %v", d.Digest, err))
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if generic {
			if f, ok := sniffFormat(src.Doc); !ok || f != format {
				what := "no SBOM document"
				if ok {
					what = "a " + f.String() + " document"
				}
				skipped = append(skipped, fmt.Sprintf("%s: its one layer (%s) holds %s, not a %s one", d.Digest, m.Layers[0].MediaType, what, format))
				continue
			}
		}
		for _, s := range skipped {
			notef(cmd)("skipped %s SBOM referrer %s; taking the next newest", format, s)
		}
		if generic {
			notef(cmd)("SBOM referrer %s: its layer's media type is %s (oras attach gives a FILE without :TYPE that one), not %s, but it holds a %s document: taken (Trivy and Ratify skip such a referrer; attach FILE:%s)",
				d.Digest, m.Layers[0].MediaType, format.MediaType(), format, format.MediaType())
		}
		undatedNote(cmd, cands, fmt.Sprintf("%s SBOM referrers of %s", format, subject), d)
		return src, nil, nil
	}
	return nil, skipped, nil
}

// withAnnotations returns refs with the annotations of those of types that
// list none taken from their manifests: the referrers-tag entries some
// tools write (cosign) carry none, while the predicate type of an
// attestation and the created time that orders SBOMs are manifest
// annotations that the referrers API copies into its list. A manifest
// that cannot be read is left as listed (its reader reports why).
func withAnnotations(cmd *cobra.Command, tgt oci.Fetcher, refs []ocispec.Descriptor, types []string) []ocispec.Descriptor {
	out := slices.Clone(refs)
	for i, r := range out {
		if len(r.Annotations) > 0 || !slices.Contains(types, r.ArtifactType) {
			continue
		}
		if m, err := readReferrer(cmd, tgt, r); err == nil {
			out[i].Annotations = m.Annotations
		}
	}
	return out
}

// undatedNote notes, when taking chosen of several candidates (newest
// first, as exporter.NewestFirst orders them) some of which carry no
// org.opencontainers.image.created (regctl artifact put, cosign and hand-
// made manifests write none), that the choice among those is no choice by
// time.
func undatedNote(cmd *cobra.Command, cands []ocispec.Descriptor, what string, chosen ocispec.Descriptor) {
	if len(cands) < 2 {
		return
	}
	var undated []string
	for _, c := range cands {
		if exporter.Created(c).IsZero() {
			undated = append(undated, c.Digest.String())
		}
	}
	if len(undated) == 0 {
		return
	}
	notef(cmd)("took %s of %d %s, but %d of them (%s) carry no valid %s annotation: those count as older than any that has one, "+
		"and among themselves the one listed last counts as newest, which is the registry's (or referrers tag's) order, not a time",
		chosen.Digest, len(cands), what, len(undated), strings.Join(undated, ", "), ocispec.AnnotationCreated)
}

// statementSBOM returns the document of format in the newest usable
// in-toto statement referrer of subject whose predicate is one: an in-toto
// referrer (affix's --sbom-format spdx-intoto, affix convert
// --keep-intoto) or a Sigstore bundle referrer (cosign attest), nil when
// there is none. One that is gone, or whose manifest or statement is not
// what it claims (another tool's DSSE envelope under the same artifact
// type, another predicate, another subject), is skipped with a note, as a
// bare SBOM referrer of the wrong shape is. first says whether no bare
// SBOM referrer was even listed (the note then says so).
func statementSBOM(cmd *cobra.Command, tgt oci.Fetcher, subject digest.Digest, refs []ocispec.Descriptor, format sbomgen.Format, first bool) (*sbomSource, error) {
	var stmts []ocispec.Descriptor
	var types []string
	for _, r := range refs {
		if r.ArtifactType == oci.MediaTypeInToto || isBundleType(r.ArtifactType) {
			types = append(types, r.ArtifactType)
		}
	}
	refs, types = withAnnotations(cmd, tgt, refs, types), nil
	for _, r := range refs {
		if isPredicateOf(format, statementPredicateType(r)) {
			stmts = append(stmts, r)
			types = append(types, r.ArtifactType)
		}
	}
	cands := exporter.NewestFirst(stmts, types...)
	for _, d := range cands {
		src, err := readStatementSBOM(cmd, tgt, subject, d, format)
		var bad unusableError
		if gone(err) || errors.As(err, &bad) {
			notef(cmd)("skipped %s", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		what := statementKind(d)
		if isBundleType(d.ArtifactType) {
			what += " (cosign attest; its signature is not checked)"
		}
		none := "no usable"
		if first {
			none = "no"
		}
		notef(cmd)("%s %s SBOM referrer of %s; taking the predicate of %s %s", none, format, subject, what, d.Digest)
		undatedNote(cmd, cands, fmt.Sprintf("%s statement referrers of %s", format, subject), d)
		return src, nil
	}
	return nil, nil
}

// unusableError is why a referrer that was read is no SBOM: its content
// is not what its artifact type and annotations say.
type unusableError struct{ error }

func (e unusableError) Unwrap() error { return e.error }

// readReferrer reads a referrer manifest, digest-verified: what --verify
// checks is the manifest, not the referrers list's copy of it.
func readReferrer(cmd *cobra.Command, tgt oci.Fetcher, d ocispec.Descriptor) (*ocispec.Manifest, error) {
	var m ocispec.Manifest
	if _, err := oci.ReadJSON(cmd.Context(), tgt, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}, &m); err != nil {
		return nil, fmt.Errorf("reading referrer %s: %w", d.Digest, err)
	}
	return &m, nil
}

// sbomShape reports why m is not an SBOM referrer as affix writes and
// consumers (Trivy, Ratify) read it: exactly one layer, whose media type
// is one of types (docTypes: the format's media type, named in the error,
// or cosign's spelling of it).
func sbomShape(m *ocispec.Manifest, types []string) error {
	if len(m.Layers) == 1 && slices.Contains(types, m.Layers[0].MediaType) {
		return nil
	}
	layerTypes := make([]string, len(m.Layers))
	for i, l := range m.Layers {
		layerTypes[i] = l.MediaType
	}
	has := fmt.Sprintf("%d layers", len(m.Layers))
	if len(m.Layers) == 1 {
		has = "1 layer"
	}
	if len(layerTypes) > 0 {
		has += " (" + strings.Join(layerTypes, ", ") + ")"
	}
	return fmt.Errorf("has %s, not exactly one %s layer", has, types[0])
}

// readSBOM reads the single layer of the SBOM referrer d, whose manifest
// m passed sbomShape.
func readSBOM(cmd *cobra.Command, tgt oci.Fetcher, d ocispec.Descriptor, m *ocispec.Manifest) (*sbomSource, error) {
	b, err := oci.ReadBlob(cmd.Context(), tgt, m.Layers[0], maxSBOMSize)
	if err != nil {
		return nil, fmt.Errorf("reading SBOM %s of referrer %s: %w", m.Layers[0].Digest, d.Digest, err)
	}
	return &sbomSource{Manifest: d, Subject: m.Subject, Annotations: m.Annotations, Doc: b}, nil
}

// readStatementSBOM reads the single statement layer of the statement
// referrer d of subject (an in-toto statement, or a Sigstore bundle
// around one) and returns its predicate, a document of format.
func readStatementSBOM(cmd *cobra.Command, tgt oci.Fetcher, subject digest.Digest, d ocispec.Descriptor, format sbomgen.Format) (*sbomSource, error) {
	m, err := readReferrer(cmd, tgt, d)
	if err != nil {
		return nil, err
	}
	kind := statementKind(d)
	if m.Subject == nil || m.Subject.Digest != subject {
		return nil, unusableError{fmt.Errorf("%s %s: listed, but its manifest's subject is %s, not %s", kind, d.Digest, subjectOf(*m), subject)}
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != d.ArtifactType {
		return nil, unusableError{fmt.Errorf("%s %s: want exactly one %s layer, has %d layers", kind, d.Digest, d.ArtifactType, len(m.Layers))}
	}
	stmt, err := readStatement(cmd, tgt, m.Layers[0])
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, d.Digest, err)
	}
	if !isPredicateOf(format, stmt.PredicateType) {
		return nil, unusableError{fmt.Errorf("%s %s: predicate type %q is not %s", kind, d.Digest, stmt.PredicateType, predicateName(format))}
	}
	return &sbomSource{Manifest: d, Subject: m.Subject, Annotations: m.Annotations, Statement: stmt, Doc: append(stmt.Predicate, '\n')}, nil
}

// statementKind names the statement referrer d in messages.
func statementKind(d ocispec.Descriptor) string {
	if isBundleType(d.ArtifactType) {
		return "Sigstore bundle referrer"
	}
	return "in-toto referrer"
}

// readStatement reads an in-toto statement layer: the statement itself, or
// a DSSE envelope or Sigstore bundle around it (decodeStatement).
func readStatement(cmd *cobra.Command, tgt oci.Fetcher, l ocispec.Descriptor) (*oci.Statement, error) {
	b, err := oci.ReadBlob(cmd.Context(), tgt, l, maxSBOMSize)
	if err != nil {
		return nil, err
	}
	stmt, err := decodeStatement(l.MediaType, b)
	if err != nil {
		return nil, unusableError{fmt.Errorf("in-toto statement %s: %w", l.Digest, err)}
	}
	return stmt, nil
}

// attestationSBOM returns the predicate of format (SPDX, as BuildKit
// writes it; or CycloneDX, from a generator that writes that) of a
// BuildKit attestation manifest for subject: one the index lists, else one
// that is only a referrer of subject (BuildKit v0.32+ gives them a
// subject; a registry with the referrers API lists them, also after the
// index dropped them). nil when there is none.
func attestationSBOM(cmd *cobra.Command, tgt oci.Fetcher, images []oci.Image, subject digest.Digest, refs []ocispec.Descriptor, format sbomgen.Format) (*sbomSource, error) {
	var cands []ocispec.Descriptor
	inIndex := map[digest.Digest]bool{}
	for _, img := range images {
		if img.Attestation && img.Descriptor.Annotations[oci.AnnotationDockerReferenceDigest] == subject.String() {
			cands = append(cands, img.Descriptor)
			inIndex[img.Descriptor.Digest] = true
		}
	}
	for _, r := range refs {
		if r.ArtifactType == oci.ArtifactTypeBuildKitAttestation && !inIndex[r.Digest] {
			cands = append(cands, r)
		}
	}
	for _, d := range cands {
		var m ocispec.Manifest
		_, err := oci.ReadJSON(cmd.Context(), tgt, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}, &m)
		if !inIndex[d.Digest] && gone(err) {
			continue // deleted; a referrers tag still lists it
		}
		if err != nil {
			return nil, err
		}
		if !inIndex[d.Digest] && (m.Subject == nil || m.Subject.Digest != subject) {
			continue // a referrers list that is wrong
		}
		for _, l := range m.Layers {
			if !isPredicateOf(format, l.Annotations[oci.AnnotationPredicateType]) {
				continue
			}
			stmt, err := readStatement(cmd, tgt, l)
			if err != nil {
				return nil, fmt.Errorf("attestation layer %s: %w", l.Digest, err)
			}
			where := ""
			if !inIndex[d.Digest] {
				where = " (a referrer, not in the index)"
			}
			notef(cmd)("no %s SBOM referrer of %s; taking BuildKit attestation %s%s", format, subject, d.Digest, where)
			return &sbomSource{Manifest: d, InIndex: inIndex[d.Digest], Subject: m.Subject, Annotations: m.Annotations, Statement: stmt,
				Doc: append(stmt.Predicate, '\n')}, nil
		}
	}
	return nil, nil
}

// gone reports whether err means listed content no longer exists: a
// registry's 404, a layout's missing blob.
func gone(err error) bool {
	return errors.Is(err, exporter.ErrNotFound) || errors.Is(err, oci.ErrBlobNotFound)
}

// otherSBOMFormats returns the SBOM formats other than format that refs
// has bare referrers of, in the order sbomgen lists its formats.
func otherSBOMFormats(refs []ocispec.Descriptor, format sbomgen.Format) []string {
	var out []string
	for _, f := range sbomgen.Formats() {
		if f == format {
			continue
		}
		if slices.ContainsFunc(refs, func(r ocispec.Descriptor) bool { return slices.Contains(docTypes(f), r.ArtifactType) }) {
			out = append(out, f.String())
		}
	}
	return out
}

// everyValue is a string flag that keeps every value it is given, so that
// a repeat is refused by name rather than the last one silently winning;
// help shows it as the string it is.
type everyValue []string

func (v *everyValue) String() string { return strings.Join(*v, ",") }

func (v *everyValue) Set(s string) error {
	*v = append(*v, s)
	return nil
}

func (v *everyValue) Type() string { return "string" }
