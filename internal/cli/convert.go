package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/printable"
	"github.com/affix-oci/affix/plugin/convert"
)

func init() { extraCommands = append(extraCommands, newConvertCmd) }

type convertOptions struct {
	registryOptions
	keepInToto        bool
	stripAttestations bool
	dropUnconverted   bool
	raw               bool
	name              string
	maxConcurrency    int
	metadataFile      string
}

// newConvertCmd returns the convert command: BuildKit's in-index SBOM
// attestations republished as referrers.
func newConvertCmd(g *globalOptions) *cobra.Command {
	var o convertOptions
	cmd := &cobra.Command{
		Use:   "convert [flags] REF",
		Short: "Publish the SBOMs of BuildKit's in-index attestations as OCI referrers of the platform manifests",
		Long: `Adopt an image BuildKit or buildx already pushed with --attest type=sbom:
for each platform manifest of REF's index that has a BuildKit attestation
manifest, publish the SBOM of the final image as a referrer of the platform
manifest (referrers API, else the referrers tag schema), as affix push does:
artifactType application/spdx+json, one layer with the SPDX document taken
out of the in-toto statement, annotated with its creation time (from the
document) and its generator. The document is made to name the image (a
pkg:oci purl with the platform manifest digest on its root package) unless
--raw is given.

REF is a tag, a digest, or both (REPO:TAG@DIGEST: the tag, verified to
name that index; convert refuses it when the tag names another).

--keep-intoto publishes the in-toto statement instead (artifactType and
layer media type application/vnd.in-toto+json).

--strip-attestations then re-pushes the index without the attestation
manifests under the same tag (the tag is written last, after the
referrers) and prints the old and new index digests. BuildKit keeps all
attestations of a platform in one attestation manifest: when one holds
statements convert does not publish (SLSA provenance, SBOMs of other
stages or the build context, other predicates), stripping would drop them
from the index, where docker buildx imagetools inspect and other readers
of in-index attestations look for them. convert then refuses, names them,
and writes nothing; --drop-unconverted strips them anyway. If the tag
names another index by the time it would be written, convert refuses to
move it back.

SBOMs of other build stages or of the build context
(BUILDKIT_SBOM_SCAN_STAGE, BUILDKIT_SBOM_SCAN_CONTEXT) are not published.
A second run changes nothing.`,
		Example: `  affix convert registry.example.com/app:1.0
  affix convert --strip-attestations --insecure-registry localhost:5000 localhost:5000/app:dev`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(fmt.Errorf("want one REF, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := prepareMetadataFile(cmd.Context(), o.metadataFile); err != nil {
				return err
			}
			return hintHTTP(runConvert(cmd, g, args[0], o), hostOf(args[0]))
		},
	}
	f := cmd.Flags()
	o.registryOptions.addFlags(f)
	f.BoolVar(&o.keepInToto, "keep-intoto", false, "publish the in-toto statement (application/vnd.in-toto+json) instead of the bare SPDX document")
	f.BoolVar(&o.stripAttestations, "strip-attestations", false, "then re-push the index without BuildKit's attestation manifests under the same tag")
	f.BoolVar(&o.dropUnconverted, "drop-unconverted", false, "with --strip-attestations, also strip attestation manifests holding statements not published as referrers (SLSA provenance, SBOMs of other stages): they are lost from the index")
	f.BoolVar(&o.raw, "raw", false, "publish the SPDX document as BuildKit stored it, without naming the image in it (affix get --verify refuses such documents)")
	f.StringVar(&o.name, "name", "", "image name the documents are made to name (default: REF)")
	f.IntVar(&o.maxConcurrency, "max-concurrency", 4, "platforms and uploads at once")
	f.StringVar(&o.metadataFile, "metadata-file", "", "write what was converted (digests, referrers, referrers mode, request counts) as JSON to FILE")
	return cmd
}

// convertMetadata is the --metadata-file document of convert.
type convertMetadata struct {
	Reference string        `json:"reference"`
	Index     digest.Digest `json:"index"`
	// NewIndex is the index the tag names afterwards, when it changed.
	NewIndex             digest.Digest   `json:"newIndex,omitempty"`
	StrippedAttestations []digest.Digest `json:"strippedAttestations,omitempty"`
	// UnmatchedAttestations are attestation manifests for no platform
	// manifest of the index, not read.
	UnmatchedAttestations []digest.Digest `json:"unmatchedAttestations,omitempty"`
	// UnmatchedFor names, by the digest of each of UnmatchedAttestations
	// that names one, the manifest it is for (its
	// vnd.docker.reference.digest, else its subject).
	UnmatchedFor map[digest.Digest]digest.Digest `json:"unmatchedFor,omitempty"`
	Platforms    []convertPlatform               `json:"platforms"`
	// ReferrersMode is "api", "tag-schema" or "oci-layout", by repository, as in the
	// metadata of push, attach and build.
	ReferrersMode map[string]exporter.Mode `json:"referrersMode,omitempty"`
	Written       int                      `json:"written"`
	Requests      map[string]int           `json:"requests"`
	RequestsTotal int                      `json:"requestsTotal"`

	// single is set when REF names a single manifest, not an index.
	single bool
}

type convertPlatform struct {
	Platform    string        `json:"platform"`
	Digest      digest.Digest `json:"digest"`
	Attestation digest.Digest `json:"attestation,omitempty"`
	// Referrer is the SBOM referrer, absent when there was no SBOM.
	Referrer *referrerMeta `json:"referrer,omitempty"`
	// Existed is true when the referrer was already there.
	Existed bool `json:"existed,omitempty"`
	// Named is true when the document was made to name the image.
	Named bool `json:"named,omitempty"`
	// OtherForms are SBOM referrers converted from the same statement in
	// another form (--raw, --keep-intoto): same annotations, other digest.
	OtherForms []referrerMeta `json:"otherForms,omitempty"`
	// SBOMReferrers are the SBOM referrers the platform had before.
	SBOMReferrers []referrerMeta `json:"sbomReferrers,omitempty"`
	// Extras counts SBOMs of other build targets left out.
	Extras int `json:"extras,omitempty"`
	// Unconverted are the attestation's statements not published as
	// referrers (provenance, SBOMs of other targets, ...): left in the
	// index, or dropped with it when the attestation was stripped.
	Unconverted []convertStatement `json:"unconverted,omitempty"`
}

// convertStatement is an attestation layer convert did not publish
// (convert.Statement), as --metadata-file lists it under a platform's
// unconverted.
type convertStatement struct {
	// Layer is the layer's digest.
	Layer digest.Digest `json:"layer"`
	// PredicateType is its in-toto predicate type, if it has one.
	PredicateType string `json:"predicateType,omitempty"`
	// What says what it is in words (convert.Statement.What).
	What string `json:"what,omitempty"`
	// Reason says why an SPDX statement was not published
	// (convert.Statement.Reason): malformed, about another image, or
	// which statement is the image's could not be told.
	Reason string `json:"reason,omitempty"`
	// st is the statement, for the output.
	st convert.Statement
}

// runConvert publishes the SBOMs of the BuildKit attestations of REF
// (refStr) as referrers, then reports what it did.
func runConvert(cmd *cobra.Command, g *globalOptions, refStr string, o convertOptions) error {
	ctx := cmd.Context()
	a, err := o.checkArgs(refStr)
	if err != nil {
		return err
	}
	counter := &exporter.Counter{}
	tgt, err := o.connect(ctx, g, a.ref, counter)
	if err != nil {
		return err
	}
	res, err := convert.Convert(ctx, tgt, a.tagOrDigest, convert.Options{
		KeepInToto:        o.keepInToto,
		StripAttestations: o.stripAttestations,
		DropUnconverted:   o.dropUnconverted,
		Raw:               o.raw,
		Name:              cmp.Or(o.name, refName(a.ref, a.tagOrDigest)),
		Digest:            a.digest,
		MaxConcurrency:    o.maxConcurrency,
		Logf:              debugf(g, cmd.ErrOrStderr()),
		Warnf:             warnf(cmd),
	})
	if errors.Is(err, convert.ErrUnconverted) {
		return fmt.Errorf("%w\nnothing was written: drop --strip-attestations to publish the SBOMs and keep the attestation manifests, or add --drop-unconverted to strip them anyway", err)
	}
	if err != nil {
		return err
	}
	meta := newConvertMetadata(res, refName(a.ref, a.tagOrDigest), tgt.Name(), counter)
	printConvert(cmd.OutOrStdout(), meta)
	if !o.raw {
		warnUnnamed(warnf(cmd), cmd.Root().DisplayName(), meta)
	}
	warnOtherForms(warnf(cmd), cmd.Root().DisplayName(), meta)
	if err := writeMetadataFile(cmd.Context(), o.metadataFile, meta); err != nil {
		// The SBOMs are published: a CI script reading the error must
		// not take it for a failed convert.
		return fmt.Errorf("convert of %s succeeded, but --metadata-file was not written: %w", refName(a.ref, a.tagOrDigest), err)
	}
	return nil
}

// convertArgs are REF and the flags of convert, checked before any
// request.
type convertArgs struct {
	ref registry.Reference
	// tagOrDigest is what convert reads, and writes with
	// --strip-attestations: REF's tag (of REPO:TAG@DIGEST too), else its
	// digest, else "latest".
	tagOrDigest string
	// digest is the digest the tag of REPO:TAG@DIGEST must name ("" for
	// any other REF).
	digest digest.Digest
}

// checkArgs parses REF (refStr) and checks the flags of convert.
func (o *convertOptions) checkArgs(refStr string) (convertArgs, error) {
	ref, err := parseRef(refStr)
	if err != nil {
		return convertArgs{}, err
	}
	if err := checkPositive("--max-concurrency", o.maxConcurrency); err != nil {
		return convertArgs{}, err
	}
	if err := checkName(o.name); err != nil {
		return convertArgs{}, err
	}
	if o.dropUnconverted && !o.stripAttestations {
		return convertArgs{}, usageError(errors.New("--drop-unconverted: only with --strip-attestations"))
	}
	// REPO:TAG@DIGEST is the tag, verified to name that digest: convert
	// reads and writes the tag and refuses it if it names another index.
	tagOrDigest := ref.ReferenceOrDefault()
	tag, want := tagAndDigest(refStr)
	if tag != "" {
		tagOrDigest = tag
	}
	if _, err := digest.Parse(tagOrDigest); err == nil && o.stripAttestations {
		return convertArgs{}, usageError(fmt.Errorf("--strip-attestations: %s names a digest; give the tag to re-push the index under", refStr))
	}
	return convertArgs{ref: ref, tagOrDigest: tagOrDigest, digest: want}, nil
}

// newConvertMetadata describes res, the conversion of the image named name
// in the repository repo whose requests counter counted, for the output
// and --metadata-file.
func newConvertMetadata(res *convert.Result, name, repo string, counter *exporter.Counter) *convertMetadata {
	meta := &convertMetadata{
		Reference:     name,
		Index:         res.Index.Digest,
		single:        !oci.IsIndex(res.Index.MediaType),
		Written:       res.Written(),
		Requests:      counter.Counts(),
		RequestsTotal: counter.Total(),
		Platforms:     []convertPlatform{},
	}
	if res.Mode != "" {
		meta.ReferrersMode = map[string]exporter.Mode{repo: res.Mode}
	}
	if res.NewIndex.Digest != res.Index.Digest {
		meta.NewIndex = res.NewIndex.Digest
	}
	for _, s := range res.Stripped {
		meta.StrippedAttestations = append(meta.StrippedAttestations, s.Digest)
	}
	for _, u := range res.Unmatched {
		meta.UnmatchedAttestations = append(meta.UnmatchedAttestations, u.Digest)
		if sub := res.UnmatchedFor[u.Digest]; sub != "" {
			if meta.UnmatchedFor == nil {
				meta.UnmatchedFor = map[digest.Digest]digest.Digest{}
			}
			meta.UnmatchedFor[u.Digest] = sub
		}
	}
	for _, p := range res.Platforms {
		meta.Platforms = append(meta.Platforms, newConvertPlatform(p))
	}
	return meta
}

// newConvertPlatform describes the conversion of one platform manifest.
func newConvertPlatform(p convert.Platform) convertPlatform {
	cp := convertPlatform{Platform: oci.FormatPlatform(*p.Manifest.Platform), Digest: p.Manifest.Digest, Attestation: p.Attestation.Digest, Existed: p.Existed, Named: p.Named, Extras: p.Extras}
	cp.OtherForms, cp.SBOMReferrers = referrerMetas(p.OtherForms), referrerMetas(p.SBOMReferrers)
	for _, st := range p.Unconverted {
		cp.Unconverted = append(cp.Unconverted, convertStatement{Layer: st.Layer.Digest, PredicateType: st.PredicateType, What: st.What, Reason: st.Reason, st: st})
	}
	if p.Referrer.Digest != "" {
		cp.Referrer = &referrerMeta{Digest: p.Referrer.Digest, ArtifactType: p.Referrer.ArtifactType, Format: convert.Format}
	}
	return cp
}

// tagAndDigest returns the tag and the digest of a REPO:TAG@DIGEST
// reference, "" and "" for any other (parseRef keeps only the digest of
// such a reference).
func tagAndDigest(s string) (string, digest.Digest) {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return "", ""
	}
	t, tagged := n.(reference.Tagged)
	d, digested := n.(reference.Digested)
	if !tagged || !digested {
		return "", ""
	}
	return t.Tag(), d.Digest()
}

// warnOtherForms warns about each platform whose SBOM was converted
// before in another form (--raw, --keep-intoto): the referrers carry the
// same creation time, so a consumer picking the newest SBOM may take
// either, and NAME get --verify fails on a --raw one. The other form's
// artifact type, which the registry gave, is printed escaped.
func warnOtherForms(warn func(format string, args ...any), name string, m *convertMetadata) {
	for _, p := range m.Platforms {
		if p.Referrer == nil {
			continue
		}
		for _, o := range p.OtherForms {
			warn("%s: the SBOM was converted before in another form: referrer %s (%s) carries the same creation time, generator and platform as %s; consumers choosing the newest SBOM cannot tell them apart (%s get --verify fails on a --raw one): delete the one you do not want with the registry's API", p.Platform, o.Digest, printable.String(o.ArtifactType), p.Referrer.Digest, name)
		}
	}
}

// warnUnnamed warns about each SBOM written that could not be made to name
// its image: get --verify will refuse it, which the user should learn now,
// not then.
func warnUnnamed(warn func(format string, args ...any), name string, m *convertMetadata) {
	for _, p := range m.Platforms {
		if p.Referrer != nil && !p.Existed && !p.Named {
			warn("%s: BuildKit's SBOM does not describe exactly one package, so it was published without naming the image, and `%s get --verify` cannot check it against %s", p.Platform, name, p.Digest)
		}
	}
}

// withDigest returns ref (REPO:TAG or REPO@DIGEST) with @d unless it
// names a digest already.
func withDigest(ref string, d digest.Digest) string {
	if strings.Contains(ref, "@") {
		return ref
	}
	return ref + "@" + d.String()
}

// printNothing says that an index without attestation manifests (never
// built with attestations, or stripped already), or a single manifest,
// had nothing to convert, and which SBOM referrers its platforms have.
func printNothing(w io.Writer, m *convertMetadata) {
	what := "the index has"
	if m.single {
		what = "the image is a single manifest, not an index: it has"
	}
	fmt.Fprintf(w, "nothing to convert in %s: %s no BuildKit attestation manifest\n", withDigest(m.Reference, m.Index), what)
	for _, p := range m.Platforms {
		fmt.Fprintf(w, "  %-14s %s\n", p.Platform, p.Digest)
		if len(p.SBOMReferrers) == 0 {
			fmt.Fprintf(w, "    no SBOM referrer\n")
		}
		for _, r := range p.SBOMReferrers {
			fmt.Fprintf(w, "    SBOM referrer  %s %s\n", r.Digest, r.ArtifactType)
		}
	}
	for repo, mode := range m.ReferrersMode {
		fmt.Fprintf(w, "referrers: %s (%s)\n", mode, repo)
	}
	fmt.Fprintf(w, "registry requests: %d (%s)\n", m.RequestsTotal, formatCounts(m.Requests))
}

// printConvert prints the summary of a conversion on w.
func printConvert(w io.Writer, m *convertMetadata) {
	if !slices.ContainsFunc(m.Platforms, func(p convertPlatform) bool { return p.Attestation != "" }) && len(m.UnmatchedAttestations) == 0 {
		printNothing(w, m)
		return
	}
	fmt.Fprintf(w, "converted %s\n", withDigest(m.Reference, m.Index))
	for _, p := range m.Platforms {
		fmt.Fprintf(w, "  %-14s %s\n", p.Platform, p.Digest)
		switch {
		case p.Referrer != nil:
			state := "written"
			if p.Existed {
				state = "already there"
			}
			fmt.Fprintf(w, "    %-14s %s %s (%s)\n", p.Referrer.Format, p.Referrer.Digest, p.Referrer.ArtifactType, state)
		case p.Attestation == "":
			fmt.Fprintf(w, "    no BuildKit attestation\n")
		default:
			fmt.Fprintf(w, "    no SBOM of the image in attestation %s\n", p.Attestation)
		}
		// The stages' SBOMs with a reason get a line of their own below.
		if n := countFunc(p.Unconverted, func(st convertStatement) bool { return st.st.Extra && st.st.Reason == "" }); n > 0 {
			fmt.Fprintf(w, "    %d SBOM(s) of other build stages or the context not published\n", n)
		}
		where := "left in the index"
		if m.NewIndex != "" {
			where = "dropped with the attestation manifest"
		}
		for _, st := range p.Unconverted {
			if st.st.Extra && st.st.Reason == "" {
				continue // counted above
			}
			// Statement.String escapes what the attestation wrote;
			// the line is escaped again here, as ls escapes its tree.
			fmt.Fprintf(w, "    not published, %s: %s\n", where, printable.String(st.st.String()))
		}
	}
	for _, u := range m.UnmatchedAttestations {
		fmt.Fprintf(w, "  attestation manifest %s is for no platform manifest of the index: not read\n", u)
	}
	if m.NewIndex != "" {
		fmt.Fprintf(w, "stripped %d attestation manifest(s)\n", len(m.StrippedAttestations))
		fmt.Fprintf(w, "  old index: %s\n", m.Index)
		fmt.Fprintf(w, "  new index: %s\n", m.NewIndex)
	}
	for repo, mode := range m.ReferrersMode {
		fmt.Fprintf(w, "referrers: %s (%s)\n", mode, repo)
	}
	fmt.Fprintf(w, "referrers written: %d; registry requests: %d (%s)\n", m.Written, m.RequestsTotal, formatCounts(m.Requests))
}

// referrerMetas describes referrers for the metadata file, each format
// read from its dev.affix.sbom.format annotation (nil for none).
func referrerMetas(refs []ocispec.Descriptor) []referrerMeta {
	var out []referrerMeta
	for _, r := range refs {
		out = append(out, referrerMeta{Digest: r.Digest, ArtifactType: r.ArtifactType, Format: r.Annotations[oci.AnnotationFormat]})
	}
	return out
}

// countFunc counts the elements of s f reports true for.
func countFunc[T any](s []T, f func(T) bool) int {
	n := 0
	for _, v := range s {
		if f(v) {
			n++
		}
	}
	return n
}
