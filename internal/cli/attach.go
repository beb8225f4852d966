package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/epoch"
	"github.com/affix-oci/affix/internal/fsutil"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

func init() { extraCommands = append(extraCommands, newAttachCmd) }

type attachOptions struct {
	registryOptions
	formats      []string
	artifactType string
	annotations  []string
	platform     string
	metadataFile string
	name         string
	noCache      bool
}

// newAttachCmd returns the attach command: SBOMs of an image already
// published, or FILEs as one artifact, attached as referrers.
func newAttachCmd(g *globalOptions) *cobra.Command {
	var o attachOptions
	cmd := &cobra.Command{
		Use:   "attach [flags] REF|oci-layout:DIR [FILE[:MEDIATYPE]...]",
		Short: "Attach SBOMs (or any artifact) to an image already in a registry, as OCI referrers",
		Long: `Without FILE arguments, scan every platform image of REF (or the one
--platform names) through the registry and attach its SBOM(s) as referrers
of the platform manifest. The index and its tags are not touched.

With --artifact-type and FILE arguments, attach those files (a signature, a
license report, a VEX document, ...) as one referrer of REF, or with
--platform of that platform's manifest (of an index, or of a single-platform
image when its config names that platform), and print the referrer's digest.
Each file is a layer whose media type is MEDIATYPE, else the artifact type
for a single file, else application/octet-stream, titled with the file's
base name (names must differ, in more than case). --artifact-type and each
MEDIATYPE are RFC 6838 media types (type/subtype); an SBOM artifact type
(application/spdx+json, application/vnd.cyclonedx+json) takes exactly one
FILE, whose layer has that media type (what SBOM consumers read); an
org.opencontainers.image.created annotation must be RFC 3339 (default:
SOURCE_DATE_EPOCH, else now). These are usage errors (exit 2), reported
before any request. An SBOM file whose document describes another image
(its pkg:oci/NAME@DIGEST) than the manifest it is attached to is attached
with a warning naming both digests.

Referrers go through the registry's referrers API when it has one, else
through the referrers tag schema, merged with concurrent writers.

REF may be a local OCI layout directory instead, oci-layout:DIR[:TAG][@DIGEST]
(what buildctl --output type=oci,tar=false writes): the referrers are
written into it and listed in its index.json after the entries it had, as
oras attach --oci-layout does, and in each subject's sha256-<hex> referrers
tag index, as regctl artifact put does; affix push of the layout then
publishes them with the image. A layout tar (oci-archive:) cannot take them in place.`,
		Example: `  affix attach registry.example.com/app:1.0
  affix attach oci-layout:./out
  affix attach --artifact-type application/vnd.example.vex+json --platform linux/amd64 registry.example.com/app:1.0 vex.json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 1 {
				return usageError(fmt.Errorf("want REF [FILE...]"))
			}
			if len(args) > 1 && o.artifactType == "" {
				return usageError(fmt.Errorf("attaching files needs --artifact-type"))
			}
			if len(args) == 1 && o.artifactType != "" {
				return usageError(fmt.Errorf("--artifact-type %s: no FILE to attach", o.artifactType))
			}
			return nil
		},
		PreRunE: func(cmd *cobra.Command, args []string) error {
			// A flag of the other mode would be ignored: refused.
			scanOnly, filesOnly := []string{"sbom-format", "name", "no-cache", "no-sbom-cache"}, []string{"annotation"}
			if len(args) > 1 {
				if f := changedFlag(cmd, scanOnly); f != "" {
					return usageError(fmt.Errorf("--%s applies when attach scans REF for SBOMs, not to FILEs", f))
				}
			} else if f := changedFlag(cmd, filesOnly); f != "" {
				return usageError(fmt.Errorf("--%s applies to FILEs attached with --artifact-type; the SBOM referrers attach makes get affix's annotations", f))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPlatformFlag(o.platform); err != nil {
				return err
			}
			if err := checkName(o.name); err != nil {
				return err
			}
			for _, file := range args[1:] {
				if o.metadataFile != "" && samePath(o.metadataFile, file) {
					return usageError(fmt.Errorf("--metadata-file %s is a FILE to attach", o.metadataFile))
				}
			}
			if err := prepareMetadataFile(cmd.Context(), o.metadataFile); err != nil {
				return err
			}
			if len(args) > 1 {
				return runAttachFiles(cmd, g, args[0], args[1:], o)
			}
			return runAttachScan(cmd, g, args[0], o)
		},
	}
	f := cmd.Flags()
	o.registryOptions.addFlags(f)
	f.StringArrayVar(&o.formats, "sbom-format", nil, "SBOM referrer format when scanning: spdx-json (default), cyclonedx-json, spdx-intoto (SPDX in an in-toto statement); repeatable")
	f.StringVar(&o.artifactType, "artifact-type", "", "artifact type of the FILEs")
	f.StringArrayVar(&o.annotations, "annotation", nil, "manifest annotation KEY=VALUE (repeatable)")
	f.StringVar(&o.platform, "platform", "", "attach to this platform's manifest, os/arch[/variant] or an architecture alone")
	f.StringVar(&o.metadataFile, "metadata-file", "", "write the referrers, referrers mode and request counts as JSON to FILE")
	f.StringVar(&o.name, "name", "", "image name the SBOMs use (default: REF; for a layout, the image name its index.json records)")
	f.BoolVar(&o.noCache, "no-cache", false, "neither read nor write the SBOM cache")
	f.BoolVar(&o.noCache, "no-sbom-cache", false, "same as --no-cache, as affix build spells it")
	return cmd
}

// changedFlag returns the first of names set on cmd's command line, "".
func changedFlag(cmd *cobra.Command, names []string) string {
	for _, n := range names {
		if cmd.Flags().Changed(n) {
			return n
		}
	}
	return ""
}

// runAttachScan scans platform images through the registry and attaches
// their SBOMs.
func runAttachScan(cmd *cobra.Command, g *globalOptions, refStr string, o attachOptions) error {
	if err := checkRegistryRef(refStr); err != nil {
		return err
	}
	return hintHTTP(attachScan(cmd, g, refStr, o), hostOf(refStr))
}

// attachScan scans the platform images of REF (refStr), or the one
// --platform names, and attaches their SBOMs to their manifests.
func attachScan(cmd *cobra.Command, g *globalOptions, refStr string, o attachOptions) error {
	ctx := cmd.Context()
	if err := checkScanEnv(sbomgen.Options{}); err != nil {
		return err
	}
	formats, err := sbomFormats(o.formats)
	if err != nil {
		return err
	}
	counter := &exporter.Counter{}
	warn := warnf(cmd)
	at, err := o.openAttachTarget(ctx, g, refStr, counter, warn)
	if err != nil {
		return sourceUsage(err)
	}
	defer at.close()
	picked, err := at.platforms(ctx, o.platform)
	if err != nil {
		return err
	}
	name := cmp.Or(o.name, at.name)
	gen, err := sbomgen.New(sbomgen.Options{Formats: docFormats(formats), Name: name, NoCache: o.noCache, Logf: debugf(g, cmd.ErrOrStderr())})
	if err != nil {
		return err
	}
	attached := &referrerLog{}
	res, err := at.publish(ctx, debugf(g, cmd.ErrOrStderr()), warn, func(p *exporter.Push) error {
		// The platform --platform names fails when it is no container
		// image; among all platforms, such a one is skipped.
		sp := &sbomPusher{p: p, gen: gen, src: at.src, formats: formats, name: name, failNotImage: o.platform != "", warn: warn, attached: attached}
		return sp.attachEach(ctx, picked)
	})
	if err != nil {
		return err
	}
	meta := newMetadata(res, "", picked, attached, counter)
	printPush(cmd.OutOrStdout(), meta, res)
	return attachedMetadata(ctx, o.metadataFile, refStr, meta)
}

// attachedMetadata writes meta, the --metadata-file document (path;
// empty: none) of an attach to REF (refStr) that succeeded; the error of
// a write that fails says the referrers were attached, so that a CI
// script does not take it for a failed attach.
func attachedMetadata(ctx context.Context, path, refStr string, meta *pushMetadata) error {
	if err := writeMetadataFile(ctx, path, meta); err != nil {
		return fmt.Errorf("attach to %s succeeded (referrers attached), but --metadata-file was not written: %w", refStr, err)
	}
	return nil
}

// runAttachFiles attaches files as one referrer and prints its digest.
func runAttachFiles(cmd *cobra.Command, g *globalOptions, refStr string, files []string, o attachOptions) error {
	if err := checkRegistryRef(refStr); err != nil {
		return swappedHint(err, refStr, files)
	}
	return hintHTTP(attachFiles(cmd, g, refStr, files, o), hostOf(refStr))
}

// attachFiles attaches files, FILE[:MEDIATYPE] arguments, as one referrer
// of REF (refStr) or of its --platform manifest, and prints its digest.
func attachFiles(cmd *cobra.Command, g *globalOptions, refStr string, files []string, o attachOptions) error {
	ctx := cmd.Context()
	if !isLayoutSource(refStr) {
		if _, err := parseRef(refStr); err != nil {
			return err
		}
	}
	a, err := o.fileArtifact(files)
	if err != nil {
		return err
	}
	counter := &exporter.Counter{}
	at, err := o.openAttachTarget(ctx, g, refStr, counter, warnf(cmd))
	if err != nil {
		return sourceUsage(err)
	}
	defer at.close()
	img, err := at.subject(ctx, o.platform)
	if err != nil {
		return err
	}
	subject := img.Descriptor
	a.Subject = ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	if err := a.Validate(); err != nil {
		return usageError(err)
	}
	if w := describedElsewhere(a, files, img); w != "" {
		warnf(cmd)("%s", w)
	}
	var d ocispec.Descriptor
	res, err := at.publish(ctx, debugf(g, cmd.ErrOrStderr()), warnf(cmd), func(p *exporter.Push) (err error) {
		d, err = p.Attach(ctx, a)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), d.Digest)
	if o.metadataFile == "" {
		return nil
	}
	attached := &referrerLog{}
	attached.add(subject.Digest, "", d, "")
	return attachedMetadata(cmd.Context(), o.metadataFile, refStr, newMetadata(res, "", []oci.Image{img}, attached, counter))
}

// describedElsewhere returns the warning for an SBOM file (an SPDX,
// CycloneDX or syft JSON artifact, by its artifact type, of one FILE
// argument) that describes another image than subject, the manifest it
// is attached to (sbomgen.DescribedDigest): affix get, Trivy and the like
// would take it for subject's SBOM. It is "" when the document describes
// subject, and when which image it describes cannot be told (a document
// of another tool naming the image by name only, one that does not
// parse, a digest of another algorithm than subject's): attaching is
// the user's call, so this warns and never refuses.
func describedElsewhere(a exporter.Artifact, files []string, subject oci.Image) string {
	f, ok := describedFormat(a.ArtifactType)
	if !ok || len(a.Blobs) != 1 || len(files) != 1 {
		return ""
	}
	d, err := sbomgen.DescribedDigest(f, a.Blobs[0].Data)
	want := subject.Descriptor.Digest
	if err != nil || d == want || d.Algorithm() != want.Algorithm() {
		return ""
	}
	path, _ := splitFileArg(files[0])
	of := ""
	if p := subject.Platform(); p.OS != "" || p.Architecture != "" {
		// A single image's manifest read by reference has no platform.
		of = " (" + subject.String() + ")"
	}
	return fmt.Sprintf("%s describes the image %s, not the manifest it is attached to, %s%s: tools that read the referrers without checking (Trivy) will take it for that manifest's SBOM (affix get skips it when the image it names is another of the index)", path, d, want, of)
}

// describedFormat returns the SBOM format whose documents an artifact
// type carries, for DescribedDigest: the formats' own media types and
// the older names oci.IsSBOMType knows.
func describedFormat(artifactType string) (sbomgen.Format, bool) {
	switch artifactType {
	case oci.MediaTypeSPDX, "text/spdx+json":
		return sbomgen.SPDXJSON, true
	case oci.MediaTypeCycloneDX, "application/vnd.cyclonedx":
		return sbomgen.CycloneDXJSON, true
	case oci.MediaTypeSyftJSON:
		return sbomgen.SyftJSON, true
	}
	return "", false
}

// fileArtifact returns the artifact of --artifact-type that attach makes
// of files (fileBlobs), annotated with --annotation and a creation time
// (creationTime, unless an annotation gives one). Bad annotations, a bad
// creation time and content that does not fit the artifact type are
// usage errors.
func (o *attachOptions) fileArtifact(files []string) (exporter.Artifact, error) {
	ann, err := parseAnnotations(o.annotations)
	if err != nil {
		return exporter.Artifact{}, err
	}
	if _, ok := ann[ocispec.AnnotationCreated]; !ok {
		created, err := creationTime()
		if err != nil {
			return exporter.Artifact{}, usageError(err)
		}
		ann[ocispec.AnnotationCreated] = created.Format(time.RFC3339)
	}
	blobs, err := fileBlobs(files)
	if err != nil {
		return exporter.Artifact{}, err
	}
	a := exporter.Artifact{ArtifactType: o.artifactType, Blobs: blobs, Annotations: ann}
	if err := a.CheckContent(); err != nil {
		return exporter.Artifact{}, usageError(err)
	}
	return a, nil
}

// fileBlobs reads files, FILE[:MEDIATYPE] arguments, as the layers of one
// artifact, each titled by its base name: of media type MEDIATYPE, else
// none (the artifact's type) for a single file, else
// application/octet-stream. A FILE that is missing or cannot be opened
// (a symbolic link loop, no permission), and a directory, FIFO, socket
// or device, found before it is opened, are usage errors naming it.
func fileBlobs(files []string) ([]exporter.Blob, error) {
	var blobs []exporter.Blob
	titled := map[string]string{}
	for _, f := range files {
		path, mt := splitFileArg(f)
		title := filepath.Base(path)
		// Consumers (oras pull) write each layer to its title: two
		// layers of one title, or of titles one case-insensitive file
		// system (macOS, Windows) takes for one, would overwrite each
		// other.
		if other, ok := titled[strings.ToLower(title)]; ok {
			if otherTitle := filepath.Base(other); otherTitle != title {
				return nil, usageError(fmt.Errorf("FILE %q and FILE %q have names that differ only in case, %q and %q: each layer is titled by its FILE's base name, and a case-insensitive file system takes them for one", other, path, otherTitle, title))
			}
			return nil, usageError(fmt.Errorf("FILE %q and FILE %q have the same name %q: each layer is titled by its FILE's base name, which must differ", other, path, title))
		}
		titled[strings.ToLower(title)] = path
		if mt == "" && len(files) > 1 {
			mt = "application/octet-stream"
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, usageError(fileError(path, err))
		}
		if fi.IsDir() {
			return nil, usageError(fmt.Errorf("%s is a directory: attach takes files", path))
		}
		// Not os.ReadFile: a FIFO would block it in open(2) for ever.
		f, err := fsutil.OpenRegular(path)
		if errors.Is(err, fsutil.ErrNotRegular) {
			return nil, usageError(fmt.Errorf("%w: attach takes regular files", err))
		}
		if err != nil {
			return nil, usageError(fileError(path, err))
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading FILE %q: %w", path, err)
		}
		blobs = append(blobs, exporter.Blob{MediaType: mt, Data: data, Annotations: map[string]string{ocispec.AnnotationTitle: title}})
	}
	return blobs, nil
}

// swappedHint is err, attach's error for its REF argument (refStr),
// told that REF comes first when the arguments look swapped: REF names a
// regular file and a FILE argument, not a file, names a registry host.
func swappedHint(err error, refStr string, files []string) error {
	if fi, serr := os.Stat(refStr); serr != nil || !fi.Mode().IsRegular() {
		return err
	}
	for _, f := range files {
		if _, serr := os.Lstat(f); serr == nil {
			continue
		}
		if _, _, host := splitHost(f); host && validRef(f) {
			return usageError(fmt.Errorf("reference %q is a file and FILE %q a reference: REF comes first (attach [flags] REF FILE...)", refStr, f))
		}
	}
	return err
}

// fileError is err, of stat(2) or open(2) on the FILE argument path, as
// an error naming FILE: quoted, so that an empty argument shows.
func fileError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("FILE %q: %w", path, err)
}

// splitFileArg splits a FILE[:MEDIATYPE] argument, as oras attach reads
// FILE:TYPE: at its last colon when what follows looks like a media type
// (it has a slash; one that is not valid is refused later, named),
// unless the whole argument names a file (out/10:00/vex.json).
func splitFileArg(arg string) (path, mediaType string) {
	i := strings.LastIndex(arg, ":")
	if i <= 0 || !strings.Contains(arg[i+1:], "/") {
		return arg, ""
	}
	if _, err := os.Lstat(arg); err == nil {
		return arg, ""
	}
	return arg[:i], arg[i+1:]
}

// parseAnnotations parses KEY=VALUE pairs.
func parseAnnotations(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError(fmt.Errorf("--annotation %q: want KEY=VALUE", kv))
		}
		out[k] = v
	}
	return out, nil
}

// creationTime is SOURCE_DATE_EPOCH when set (not empty), parsed by
// epoch.Parse as the other commands and the engines parse it, else now
// (UTC, seconds).
func creationTime() (time.Time, error) {
	t, err := epoch.ParseVar(sbomgen.EnvSourceDateEpoch, os.Getenv(sbomgen.EnvSourceDateEpoch))
	if err != nil || !t.IsZero() {
		return t, err
	}
	return time.Now().UTC().Truncate(time.Second), nil
}
