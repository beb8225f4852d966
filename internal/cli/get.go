package cli

import (
	"encoding/json"
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
multi-platform index) in --format. With several, the newest by
org.opencontainers.image.created wins (of equal times, the one listed last). An SBOM referrer must hold exactly
one layer whose media type is its artifact type (application/spdx+json or
application/vnd.cyclonedx+json); one that does not (oras attach gives a file
application/vnd.oci.image.layer.v1.tar unless told FILE:TYPE; two files make
two layers), or one still listed whose manifest or SBOM blob is gone
(deleted; a registry without the referrers API keeps the referrers-tag
entry), is skipped with a note on stderr naming its digest and why, and the
next newest is taken. When none fits, the error lists each. Without an SBOM referrer, an SPDX in-toto referrer (--sbom-format
spdx-intoto, affix convert --keep-intoto), else a BuildKit in-index SPDX
attestation is used (the statement's predicate is printed).

--all-platforms -o DIR writes the SBOM of every platform image (BuildKit
attestation manifests aside) to DIR/<os>-<arch>[-<variant>]<ext>, named as
affix sbom names them (.spdx.json, .cdx.json), and a line per file to
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
	f.StringArrayVar(&o.formats, "format", nil, "SBOM format: spdx-json (default) or cyclonedx-json; once")
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
	// The formats a referrer holds, not every one sbomgen writes.
	format, err := sbomgen.ParseFormat(name)
	if err != nil || !oci.IsSBOMType(format.MediaType()) {
		return usageError(fmt.Errorf("--format %q: want spdx-json or cyclonedx-json", name))
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
	for i, img := range picked {
		if srcs[i], err = platformSBOM(cmd, tgt, refStr, images, img, format, o.verify); err != nil {
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

// platformSBOM returns the SBOM of img (chooseSBOM), verified with --verify
// (the "verified" line goes to stderr).
func platformSBOM(cmd *cobra.Command, tgt imageStore, refStr string, images []oci.Image, img oci.Image, format sbomgen.Format, verify bool) (*sbomSource, error) {
	refs, _, err := tgt.Referrers(cmd.Context(), img.Descriptor.Digest)
	if errors.Is(err, exporter.ErrReferrersTagConflict) {
		// A registry that resolves the referrers tag to the subject
		// (GitLab): no referrer can be listed there, but a BuildKit
		// attestation in the index still can be read, as ls shows it.
		notef(cmd)("%s (%s): %v; reading no referrers", refStr, img, err)
		refs, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", refStr, img, err)
	}
	src, err := chooseSBOM(cmd, tgt, images, img.Descriptor.Digest, refs, format)
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

// chooseSBOM returns the SBOM of subject in format: the newest SBOM
// referrer whose manifest names subject as its subject and has the SBOM
// referrer shape (sbomShape; the others are skipped with a note on
// stderr, and when none is left the error lists them), else
// (SPDX) the newest SPDX in-toto referrer, else a BuildKit in-index
// attestation.
func chooseSBOM(cmd *cobra.Command, tgt oci.Fetcher, images []oci.Image, subject digest.Digest, refs []ocispec.Descriptor, format sbomgen.Format) (*sbomSource, error) {
	if cands := exporter.NewestFirst(refs, format.MediaType()); len(cands) > 0 {
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
				return nil, err
			}
			if m.Subject == nil || m.Subject.Digest != subject {
				// Listed under subject by a referrers tag (or a
				// registry) that is wrong: not an SBOM of subject.
				skipped = append(skipped, fmt.Sprintf("%s: listed, but its manifest's subject is %s, not %s", d.Digest, subjectOf(*m), subject))
				continue
			}
			if err := sbomShape(m, d.ArtifactType); err != nil {
				skipped = append(skipped, fmt.Sprintf("%s: %v", d.Digest, err))
				continue
			}
			src, err := readSBOM(cmd, tgt, d, m)
			if gone(err) {
				skipped = append(skipped, fmt.Sprintf("%s: its SBOM blob is gone: %v", d.Digest, err))
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, s := range skipped {
				notef(cmd)("skipped %s SBOM referrer %s; taking the next newest", format, s)
			}
			return src, nil
		}
		return nil, fmt.Errorf("no usable %s SBOM referrer of %s: %s", format, subject, strings.Join(skipped, "; "))
	}
	if format == sbomgen.SPDXJSON {
		var stmts []ocispec.Descriptor
		for _, r := range refs {
			if r.ArtifactType == oci.MediaTypeInToto && oci.IsSPDX2Predicate(r.Annotations[oci.AnnotationPredicateType]) {
				stmts = append(stmts, r)
			}
		}
		if src, err := inTotoSBOM(cmd, tgt, subject, stmts); src != nil || err != nil {
			return src, err
		}
	}
	return attestationSBOM(cmd, tgt, images, subject, refs, format)
}

// inTotoSBOM returns the SPDX document of the newest usable SPDX in-toto
// referrer of subject among stmts, nil when there is none: one that is
// gone, or whose manifest or statement is not what it claims (another
// tool's DSSE envelope under the same artifact type, another predicate),
// is skipped with a note on stderr, as an SBOM referrer of the wrong shape
// is.
func inTotoSBOM(cmd *cobra.Command, tgt oci.Fetcher, subject digest.Digest, stmts []ocispec.Descriptor) (*sbomSource, error) {
	for _, d := range exporter.NewestFirst(stmts, oci.MediaTypeInToto) {
		src, err := readInTotoSBOM(cmd, tgt, d)
		var bad unusableError
		if gone(err) || errors.As(err, &bad) {
			notef(cmd)("skipped %s", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		notef(cmd)("no %s SBOM referrer of %s; taking the predicate of in-toto referrer %s", sbomgen.SPDXJSON, subject, d.Digest)
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

// sbomShape reports why m is not an SBOM referrer of artifactType as
// affix writes and consumers (Trivy, Ratify) read it: exactly one layer,
// whose media type is artifactType.
func sbomShape(m *ocispec.Manifest, artifactType string) error {
	if len(m.Layers) == 1 && m.Layers[0].MediaType == artifactType {
		return nil
	}
	types := make([]string, len(m.Layers))
	for i, l := range m.Layers {
		types[i] = l.MediaType
	}
	has := fmt.Sprintf("%d layers", len(m.Layers))
	if len(m.Layers) == 1 {
		has = "1 layer"
	}
	if len(types) > 0 {
		has += " (" + strings.Join(types, ", ") + ")"
	}
	return fmt.Errorf("has %s, not exactly one %s layer", has, artifactType)
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

// readInTotoSBOM reads the single in-toto statement layer of a referrer
// and returns its SPDX predicate.
func readInTotoSBOM(cmd *cobra.Command, tgt oci.Fetcher, d ocispec.Descriptor) (*sbomSource, error) {
	m, err := readReferrer(cmd, tgt, d)
	if err != nil {
		return nil, err
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != oci.MediaTypeInToto {
		return nil, unusableError{fmt.Errorf("in-toto referrer %s: want exactly one %s layer, has %d layers", d.Digest, oci.MediaTypeInToto, len(m.Layers))}
	}
	stmt, err := readStatement(cmd, tgt, m.Layers[0])
	if err != nil {
		return nil, fmt.Errorf("in-toto referrer %s: %w", d.Digest, err)
	}
	if !oci.IsSPDX2Predicate(stmt.PredicateType) {
		return nil, unusableError{fmt.Errorf("in-toto referrer %s: predicate type %q is not %s (SPDX 2)", d.Digest, stmt.PredicateType, oci.PredicateSPDX)}
	}
	return &sbomSource{Manifest: d, Subject: m.Subject, Annotations: m.Annotations, Statement: stmt, Doc: append(stmt.Predicate, '\n')}, nil
}

// readStatement reads an in-toto statement layer.
func readStatement(cmd *cobra.Command, tgt oci.Fetcher, l ocispec.Descriptor) (*oci.Statement, error) {
	b, err := oci.ReadBlob(cmd.Context(), tgt, l, maxSBOMSize)
	if err != nil {
		return nil, err
	}
	var stmt oci.Statement
	if err := json.Unmarshal(b, &stmt); err != nil {
		return nil, unusableError{fmt.Errorf("in-toto statement %s: %w", l.Digest, err)}
	}
	return &stmt, nil
}

// attestationSBOM returns the SBOM predicate of a BuildKit in-index
// attestation for subject (SPDX only: BuildKit writes SPDX statements).
// When there is none, the error names the SBOM formats subject's
// referrers (refs) do have.
func attestationSBOM(cmd *cobra.Command, tgt oci.Fetcher, images []oci.Image, subject digest.Digest, refs []ocispec.Descriptor, format sbomgen.Format) (*sbomSource, error) {
	for _, img := range images {
		if !img.Attestation || img.Descriptor.Annotations[oci.AnnotationDockerReferenceDigest] != subject.String() || format != sbomgen.SPDXJSON {
			continue
		}
		var m ocispec.Manifest
		if _, err := oci.ReadJSON(cmd.Context(), tgt, img.Descriptor, &m); err != nil {
			return nil, err
		}
		for _, l := range m.Layers {
			if !oci.IsSPDX2Predicate(l.Annotations[oci.AnnotationPredicateType]) {
				continue
			}
			stmt, err := readStatement(cmd, tgt, l)
			if err != nil {
				return nil, fmt.Errorf("attestation layer %s: %w", l.Digest, err)
			}
			notef(cmd)("no SBOM referrer of %s; taking BuildKit attestation %s", subject, img.Descriptor.Digest)
			return &sbomSource{Manifest: img.Descriptor, InIndex: true, Subject: m.Subject, Annotations: m.Annotations, Statement: stmt,
				Doc: append(stmt.Predicate, '\n')}, nil
		}
	}
	msg := fmt.Sprintf("no %s SBOM referrer of %s", format, subject)
	if format == sbomgen.SPDXJSON {
		msg += " (nor an SPDX in-toto referrer or BuildKit SPDX attestation)"
	}
	if other := otherSBOMFormats(refs, format); len(other) > 0 {
		msg += "; it has " + strings.Join(other, " and ") + " SBOM referrers: --format " + other[0]
	}
	return nil, errors.New(msg)
}

// gone reports whether err means listed content no longer exists: a
// registry's 404, a layout's missing blob.
func gone(err error) bool {
	return errors.Is(err, exporter.ErrNotFound) || errors.Is(err, oci.ErrBlobNotFound)
}

// otherSBOMFormats returns the SBOM formats other than format that refs
// has referrers of, in the order sbomgen lists its formats.
func otherSBOMFormats(refs []ocispec.Descriptor, format sbomgen.Format) []string {
	var out []string
	for _, f := range sbomgen.Formats() {
		if f == format || !oci.IsSBOMType(f.MediaType()) {
			continue
		}
		if slices.ContainsFunc(refs, func(r ocispec.Descriptor) bool { return r.ArtifactType == f.MediaType() }) {
			out = append(out, f.String())
		}
	}
	return out
}
