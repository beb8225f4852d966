package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
)

func init() { extraCommands = append(extraCommands, newLsCmd) }

type lsOptions struct {
	registryOptions
	asJSON bool
}

func newLsCmd(g *globalOptions) *cobra.Command {
	var o lsOptions
	cmd := &cobra.Command{
		Use:   "ls [flags] REF",
		Short: "Show an image's index, platform manifests and each manifest's referrers",
		Long: `Show the tree of REF: the index, its platform manifests and, for each
platform manifest, its referrers (artifact type, digest, created and, for
SBOMs, the generator that made them: "by TOOL-VERSION") read from
the referrers API, else the referrers tag schema, plus BuildKit's in-index
attestation manifests.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(fmt.Errorf("want one REF, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runLs(cmd, g, args[0], o) },
	}
	o.registryOptions.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print the tree as JSON")
	return cmd
}

// lsNode is one node of the tree `affix ls` prints.
type lsNode struct {
	// Kind is index, manifest, referrer or attestation.
	Kind         string        `json:"kind"`
	MediaType    string        `json:"mediaType"`
	Digest       digest.Digest `json:"digest"`
	Size         int64         `json:"size"`
	Platform     string        `json:"platform,omitempty"`
	ArtifactType string        `json:"artifactType,omitempty"`
	// Created is org.opencontainers.image.created.
	Created string `json:"created,omitempty"`
	// Generator is the dev.affix.sbom.generator annotation of a referrer:
	// the tool and version that made an SBOM.
	Generator string `json:"generator,omitempty"`
	// PredicateTypes are the in-toto predicate types of an attestation.
	PredicateTypes []string          `json:"predicateTypes,omitempty"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	Children       []*lsNode         `json:"children,omitempty"`
}

type lsTree struct {
	Reference string `json:"reference"`
	// ReferrersMode is how referrers were read: api or tag-schema.
	ReferrersMode exporter.Mode `json:"referrersMode,omitempty"`
	Root          *lsNode       `json:"root"`
}

func runLs(cmd *cobra.Command, g *globalOptions, refStr string, o lsOptions) error {
	return hintHTTP(ls(cmd, g, refStr, o), hostOf(refStr))
}

func ls(cmd *cobra.Command, g *globalOptions, refStr string, o lsOptions) error {
	ctx := cmd.Context()
	ref, err := parseRef(refStr)
	if err != nil {
		return err
	}
	tgt, err := o.connect(g, ref, nil)
	if err != nil {
		return err
	}
	tree, err := buildTree(ctx, tgt, ref.ReferenceOrDefault())
	if err != nil {
		return err
	}
	tree.Reference = refName(ref, ref.ReferenceOrDefault())
	if o.asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(tree)
	}
	printTree(cmd.OutOrStdout(), tree)
	return nil
}

func buildTree(ctx context.Context, tgt *exporter.Remote, reference string) (*lsTree, error) {
	rootDesc, _, _, err := tgt.FetchManifest(ctx, reference)
	if err != nil {
		return nil, err
	}
	finder := exporter.NewFinder(tgt)
	tree := &lsTree{}
	referrers := func(d ocispec.Descriptor) ([]*lsNode, error) {
		refs, mode, err := finder.Referrers(ctx, d.Digest)
		if err != nil {
			return nil, err
		}
		tree.ReferrersMode = mode
		var out []*lsNode
		for _, r := range refs {
			out = append(out, &lsNode{Kind: "referrer", MediaType: r.MediaType, Digest: r.Digest, Size: r.Size,
				ArtifactType: r.ArtifactType, Created: r.Annotations[ocispec.AnnotationCreated],
				Generator: r.Annotations[oci.AnnotationGenerator], Annotations: r.Annotations})
		}
		return out, nil
	}
	root := &lsNode{Kind: "manifest", MediaType: rootDesc.MediaType, Digest: rootDesc.Digest, Size: rootDesc.Size}
	tree.Root = root
	if !oci.IsIndex(rootDesc.MediaType) {
		root.Children, err = referrers(rootDesc)
		return tree, err
	}
	root.Kind = "index"
	images, err := oci.Walk(ctx, tgt, rootDesc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", reference, err)
	}
	byDigest := map[digest.Digest]*lsNode{}
	for _, img := range images {
		if img.Attestation {
			continue
		}
		d := img.Descriptor
		n := &lsNode{Kind: "manifest", MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, Platform: img.String()}
		if same := byDigest[d.Digest]; same != nil {
			// One manifest the index lists under two platforms: its
			// referrers are read once.
			n.Children = same.Children
		} else if n.Children, err = referrers(d); err != nil {
			return nil, err
		} else {
			byDigest[d.Digest] = n
		}
		root.Children = append(root.Children, n)
	}
	for _, img := range images {
		if !img.Attestation {
			continue
		}
		d := img.Descriptor
		n := &lsNode{Kind: "attestation", MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType}
		var m ocispec.Manifest
		if _, err := oci.ReadJSON(ctx, tgt, d, &m); err == nil {
			if n.ArtifactType == "" {
				n.ArtifactType = m.ArtifactType
			}
			for _, l := range m.Layers {
				if pt := l.Annotations[oci.AnnotationPredicateType]; pt != "" {
					n.PredicateTypes = append(n.PredicateTypes, pt)
				}
			}
		}
		if parent := byDigest[digest.Digest(d.Annotations[oci.AnnotationDockerReferenceDigest])]; parent != nil {
			parent.Children = append(parent.Children, n)
		} else {
			root.Children = append(root.Children, n)
		}
	}
	// Referrers of the index itself (signatures, for example).
	idxRefs, err := referrers(rootDesc)
	if err != nil {
		return nil, err
	}
	root.Children = append(root.Children, idxRefs...)
	return tree, nil
}

func printTree(w io.Writer, t *lsTree) {
	r := t.Root
	fmt.Fprintf(w, "%s  %s  %s\n", t.Reference, r.Digest, r.Kind)
	printChildren(w, r.Children, "")
	if t.ReferrersMode != "" {
		fmt.Fprintf(w, "referrers read through: %s\n", t.ReferrersMode)
	}
}

func printChildren(w io.Writer, nodes []*lsNode, indent string) {
	for i, n := range nodes {
		branch, next := "├── ", "│   "
		if i == len(nodes)-1 {
			branch, next = "└── ", "    "
		}
		fmt.Fprintf(w, "%s%s%s\n", indent, branch, describeNode(n))
		printChildren(w, n.Children, indent+next)
	}
}

func describeNode(n *lsNode) string {
	switch n.Kind {
	case "manifest":
		return fmt.Sprintf("%-14s %s", n.Platform, n.Digest)
	case "referrer":
		s := fmt.Sprintf("%s  %s", n.ArtifactType, n.Digest)
		if n.Created != "" {
			s += "  " + n.Created
		}
		if n.Generator != "" {
			s += "  by " + n.Generator
		}
		return s
	case "attestation":
		s := "attestation (in index)  " + n.Digest.String()
		if len(n.PredicateTypes) > 0 {
			s += "  " + strings.Join(n.PredicateTypes, ", ")
		}
		return s
	}
	return n.Kind + " " + n.Digest.String()
}
