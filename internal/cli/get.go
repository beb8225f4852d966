package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

func init() { extraCommands = append(extraCommands, newGetCmd) }

// maxSBOMSize bounds an SBOM document read from a registry.
const maxSBOMSize = 512 << 20

type getOptions struct {
	registryOptions
	platform string
	format   string
	output   string
}

func newGetCmd(g *globalOptions) *cobra.Command {
	var o getOptions
	cmd := &cobra.Command{
		Use:   "get [flags] REF",
		Short: "Print the SBOM of one platform of an image",
		Long: `Print the SBOM referrer of REF's platform manifest (--platform when REF is a
multi-platform index) in --format. With several, the newest by
org.opencontainers.image.created wins. Without an SBOM referrer, a BuildKit
in-index SPDX attestation is used (its in-toto predicate is printed).`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(fmt.Errorf("want one REF, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runGet(cmd, g, args[0], o) },
	}
	f := cmd.Flags()
	o.registryOptions.addFlags(f)
	f.StringVar(&o.platform, "platform", "", "platform of a multi-platform image, os/arch[/variant]")
	f.StringVar(&o.format, "format", "spdx-json", "SBOM format: spdx-json or cyclonedx-json")
	f.StringVarP(&o.output, "output", "o", "", "write to FILE instead of stdout")
	return cmd
}

func runGet(cmd *cobra.Command, g *globalOptions, refStr string, o getOptions) error {
	return hintHTTP(get(cmd, g, refStr, o), hostOf(refStr))
}

func get(cmd *cobra.Command, g *globalOptions, refStr string, o getOptions) error {
	ctx := cmd.Context()
	ref, err := parseRef(refStr)
	if err != nil {
		return err
	}
	format, err := sbomgen.ParseFormat(o.format)
	if err != nil {
		return usageError(err)
	}
	if !exporter.IsSBOMType(format.MediaType()) {
		return usageError(fmt.Errorf("--format %s: want spdx-json or cyclonedx-json", o.format))
	}
	tgt, err := o.connect(g, ref, nil)
	if err != nil {
		return err
	}
	root, err := resolve(ctx, tgt, ref)
	if err != nil {
		return err
	}
	images, err := oci.Walk(ctx, tgt, root)
	if err != nil {
		return fmt.Errorf("%s: %w", refStr, err)
	}
	picked, err := oci.Select(images, oci.Selector{Platform: o.platform})
	if err != nil {
		return fmt.Errorf("%s: %w", refStr, err)
	}
	img := picked[0]
	refs, _, err := exporter.NewFinder(tgt).Referrers(ctx, img.Descriptor.Digest)
	if err != nil {
		return err
	}
	var doc []byte
	if d, ok := exporter.Newest(refs, format.MediaType()); ok {
		if doc, err = readSBOM(cmd, tgt, d); err != nil {
			return err
		}
	} else if doc, err = attestationSBOM(cmd, tgt, images, img.Descriptor.Digest, format); err != nil {
		return err
	}
	if o.output != "" {
		return os.WriteFile(o.output, doc, 0o644)
	}
	_, err = cmd.OutOrStdout().Write(doc)
	return err
}

// readSBOM reads the single layer of an SBOM referrer.
func readSBOM(cmd *cobra.Command, tgt *exporter.Remote, d ocispec.Descriptor) ([]byte, error) {
	var m ocispec.Manifest
	if _, err := oci.ReadJSON(cmd.Context(), tgt, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}, &m); err != nil {
		return nil, fmt.Errorf("reading SBOM referrer %s: %w", d.Digest, err)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != d.ArtifactType {
		return nil, fmt.Errorf("SBOM referrer %s: want exactly one %s layer, has %d layers", d.Digest, d.ArtifactType, len(m.Layers))
	}
	b, err := oci.ReadBlob(cmd.Context(), tgt, m.Layers[0], maxSBOMSize)
	if err != nil {
		return nil, fmt.Errorf("reading SBOM %s of referrer %s: %w", m.Layers[0].Digest, d.Digest, err)
	}
	return b, nil
}

// attestationSBOM returns the SBOM predicate of a BuildKit in-index
// attestation for subject (SPDX only: BuildKit writes SPDX statements).
func attestationSBOM(cmd *cobra.Command, tgt *exporter.Remote, images []oci.Image, subject digest.Digest, format sbomgen.Format) ([]byte, error) {
	for _, img := range images {
		if !img.Attestation || img.Descriptor.Annotations[oci.AnnotationDockerReferenceDigest] != subject.String() || format != sbomgen.SPDXJSON {
			continue
		}
		var m ocispec.Manifest
		if _, err := oci.ReadJSON(cmd.Context(), tgt, img.Descriptor, &m); err != nil {
			return nil, err
		}
		for _, l := range m.Layers {
			if l.Annotations[annotationPredicateType] != "https://spdx.dev/Document" {
				continue
			}
			b, err := oci.ReadBlob(cmd.Context(), tgt, l, maxSBOMSize)
			if err != nil {
				return nil, err
			}
			var stmt struct {
				Predicate json.RawMessage `json:"predicate"`
			}
			if err := json.Unmarshal(b, &stmt); err != nil {
				return nil, fmt.Errorf("attestation layer %s: %w", l.Digest, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "affix: no SBOM referrer of %s; printing BuildKit attestation %s\n", subject, img.Descriptor.Digest)
			return append(stmt.Predicate, '\n'), nil
		}
	}
	return nil, fmt.Errorf("no %s SBOM referrer of %s (and no BuildKit SPDX attestation): %w", format, subject, oci.ErrNoMatch)
}
