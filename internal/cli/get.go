package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/fsutil"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

func init() { extraCommands = append(extraCommands, newGetCmd) }

type getOptions struct {
	registryOptions
	platform string
	formats  []string
	output   string
	verify   bool
	all      bool
	// referrer is --referrer: the digest of the one SBOM manifest to
	// take.
	referrer string
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
application/vnd.oci.image.layer.v1.tar unless told FILE:TYPE), or of
application/vnd.cyclonedx (which says neither JSON nor XML), is taken,
with a note, when it holds a document of the format (CycloneDX XML is
not cyclonedx-json: it is skipped, saying so). One that is neither
(two files make two layers), or one still listed whose manifest or SBOM
blob is gone (deleted; a registry without the referrers API keeps the
referrers-tag entry), is skipped with a note on stderr naming its digest
and why, and the next newest is taken. When none fits, the error lists
each. Without an SBOM referrer, an in-toto referrer whose predicate is a
document of the format (--sbom-format spdx-intoto, affix convert
--keep-intoto), or a Sigstore bundle referrer holding one (cosign attest;
its signature is not checked), else a BuildKit SPDX attestation (in the
index, or only a referrer) is used: the statement's predicate is printed.
Any of these whose document describes another image (its pkg:oci purl,
or when it names none the subject of the in-toto statement it came in,
names neither the platform manifest nor the index) is no SBOM of this
platform when the index lists that image (another platform's SBOM
attached to this one): it is skipped, with or without --verify, with a
note naming it and the image it describes, and the next newest taken;
when every one is, the error names them (--referrer DIGEST prints one
anyway). One that names an image the index does not list (a scan of a
local image, such as syft docker:app, names a manifest digest of its
own) is taken, with a note, only when none names the platform manifest
(--verify refuses it). One that names no image is not skipped (--verify
fails it).
Then (registries only) cosign's tag schemes, which no referrers list
shows: the document of the sha256-<hex>.sbom tag (cosign attach sbom),
else the newest attestation of the format in the sha256-<hex>.att tag
(cosign attest before v3); a tag the registry does not have holds
nothing, while any other failure to read one is an error naming it.
When the platform manifest has none of these, an SBOM attached to the
index that lists it (oras attach REF:TAG) is taken, with a note saying
what its document names: the platform manifest, the index (the whole
image), or no image (it may describe another platform). One that names
another image (another platform's manifest) is skipped, with or without
--verify; with --all-platforms, so is one that names no image. --verify
takes it only when the document names the platform manifest. The notes
on skipped SBOM referrers are printed whichever of these decides.

--referrer DIGEST takes the SBOM in that one manifest instead of choosing
(even one that describes another image, which --verify then fails):
its full digest as affix ls prints it (sha256:<64 hex>; anything else is a
usage error). It is looked for among the referrers (and the BuildKit
attestation manifests of the index) of the --platform manifest, or
without --platform of every platform manifest in turn, then of the
index; only when none is it, among cosign's .sbom and .att tags of those.
It is read in the format it holds unless --format names one (which it
must then hold). A digest not found is an error listing what each of
those manifests has; one found that holds no SBOM (a signature,
provenance) is an error saying why. An SBOM of the index is taken for
--platform's image as above (not one naming another platform's
manifest); without --platform, that of an index of several platforms is
the index's own, and --verify checks it against the index (an index of
one platform: that platform's, as with --platform). Not with
--all-platforms.

--all-platforms -o DIR writes the SBOM of every platform image (BuildKit
attestation manifests aside) to DIR/<os>-<arch>[-<variant>]<ext>, named as
affix sbom names them (.spdx.json, .cdx.json, .syft.json), and a line per file to
stderr; so does -o DIR for one platform when DIR is a directory (or ends
in a slash). -o is checked before anything is fetched. Files are written only once every platform's SBOM was found (and,
with --verify, verified): the error names every platform without one (a
line each), and nothing is written.

REF may be a local OCI layout instead, oci-layout:PATH[:TAG][@DIGEST] or
oci-archive:PATH for a tar, as affix build --output writes it: the
manifests with a subject that its index.json lists are its referrers.

--verify checks, before printing anything, that the chosen SBOM describes
the platform manifest it was found for (an SBOM that fails is an error; an
older one is never taken instead: only one describing another image is
skipped, as above, before the check):

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
  affix get --verify --referrer sha256:8b18... registry.example.com/app:1.0
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
	f.StringVar(&o.platform, "platform", "", "platform of a multi-platform image, os/arch[/variant] or an architecture alone")
	f.Var((*everyValue)(&o.formats), "format", "SBOM format: spdx-json (default), cyclonedx-json or syft-json; once")
	f.BoolVar(&o.all, "all-platforms", false, "get the SBOM of every platform image, one file each in -o DIR")
	f.StringVarP(&o.output, "output", "o", "", "write to FILE instead of stdout, or into DIR (a directory that exists, or always with --all-platforms)")
	f.BoolVar(&o.verify, "verify", false, "fail unless the SBOM describes the platform manifest it is attached to (see the command help)")
	f.StringVar(&o.referrer, "referrer", "", "take the SBOM in this manifest (its full digest, as affix ls prints it) instead of choosing the newest; its format unless --format is given")
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
	want, err := parseReferrerFlag(o.referrer)
	if err != nil {
		return err
	}
	if o.all && want != "" {
		return usageError(errors.New("--referrer takes one SBOM, --all-platforms one per platform: use one of them"))
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
	// --referrer without --platform looks under every platform.
	sel := oci.Selector{Platform: o.platform, All: o.all || want != "" && o.platform == ""}
	picked, err := oci.Select(images, sel)
	if err != nil {
		if o.platform == "" && !o.all && errors.Is(err, oci.ErrAmbiguous) {
			return fmt.Errorf("%s: %w; name one with --platform, or get them all with --all-platforms -o DIR", refStr, err)
		}
		return fmt.Errorf("%s: %w", refStr, err)
	}
	r := discover.NewSearch(tgt, refStr, images, format, discover.Options{Verify: o.verify, All: o.all, Notef: notef(cmd), Stderr: cmd.ErrOrStderr()})
	var srcs []*discover.Source
	if want != "" {
		formats := sbomgen.Formats()
		if len(o.formats) == 1 {
			formats = []sbomgen.Format{format}
		}
		img, src, err := r.DigestSBOM(ctx, picked, root, want, formats, len(o.formats) == 1)
		if err != nil {
			return err
		}
		picked, srcs, format = []oci.Image{img}, []*discover.Source{src}, r.Format()
	} else {
		// --all-platforms (a release gate) names every platform image
		// without a usable SBOM, not only the first; a registry that
		// cannot be read stops it at once.
		srcs = make([]*discover.Source, len(picked))
		var missing []error
		for i, img := range picked {
			if srcs[i], err = r.PlatformSBOM(ctx, img); err != nil {
				if !o.all || !errors.Is(err, discover.ErrNoSBOM) && !errors.Is(err, discover.ErrNotVerified) {
					return err
				}
				missing = append(missing, err)
			}
		}
		if len(missing) > 0 {
			return errors.Join(missing...)
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

// parseReferrerFlag checks a --referrer value (empty: none) before any
// request: a full digest, as affix ls prints it; anything else is a usage
// error naming the flag and the value.
func parseReferrerFlag(s string) (digest.Digest, error) {
	if s == "" {
		return "", nil
	}
	d, err := digest.Parse(s)
	if err != nil {
		return "", usageError(fmt.Errorf("--referrer %q: want the full digest of a referrer manifest, as affix ls prints it (sha256:<64 hex digits>): %w", s, err))
	}
	return d, nil
}

// writeSBOMs writes --all-platforms' documents, one per platform image, to
// dir/<os>-<arch>[-<variant>]<ext> as affix sbom names them, and a line
// per file to stderr. They are written only once every platform's SBOM
// was found (and verified), each whole or not at all (fsutil.WriteFile).
func writeSBOMs(cmd *cobra.Command, dir string, images []oci.Image, srcs []*discover.Source, format sbomgen.Format) error {
	stems := outputStems(len(images), func(i int) (ocispec.Platform, digest.Digest) {
		return images[i].Platform(), images[i].Descriptor.Digest
	})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, src := range srcs {
		if oci.IsIndex(images[i].Descriptor.MediaType) {
			// get --referrer of an SBOM of the index itself.
			stems[i] = "index"
		}
		p := filepath.Join(dir, stems[i]+format.Ext())
		if err := fsutil.WriteFileContext(cmd.Context(), p, src.Doc); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%-16s %s  %s\n", discover.ImageName(images[i]), src.Describe(), p)
	}
	return nil
}

// everyValue is a string flag that keeps every value it is given, so that
// a repeat is refused by name rather than the last one silently winning;
// help shows it as the string it is.
type everyValue []string

// String returns the values given, joined by commas (none: "", which
// help leaves out as the default).
func (v *everyValue) String() string { return strings.Join(*v, ",") }

// Set keeps s beside the values given before.
func (v *everyValue) Set(s string) error {
	*v = append(*v, s)
	return nil
}

// Type names the value in help: a string, as given once.
func (v *everyValue) Type() string { return "string" }
