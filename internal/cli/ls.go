package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/printable"
)

func init() { extraCommands = append(extraCommands, newLsCmd) }

type lsOptions struct {
	registryOptions
	asJSON bool
}

// newLsCmd returns the ls command: the tree of an image and its
// referrers.
func newLsCmd(g *globalOptions) *cobra.Command {
	var o lsOptions
	cmd := &cobra.Command{
		Use:   "ls [flags] REF|oci-layout:PATH|oci-archive:PATH",
		Short: "Show an image's index, platform manifests and each manifest's referrers",
		Long: `Show the tree of REF: the index, its platform manifests and, for each
platform manifest, its referrers (artifact type, digest, created and, for
SBOMs, the generator that made them: "by TOOL-VERSION") read from
the referrers API, else the referrers tag schema, and their referrers in
turn (a signature of an SBOM), plus BuildKit's in-index attestation
manifests (one that is also a referrer of its platform manifest, as
BuildKit v0.32+ writes them, is shown once, "in index, also a referrer").
An attestation referrer (in-toto, or cosign attest's Sigstore bundle) shows
the predicate type its annotations name.

From a registry, cosign's tag-based attachments, which no referrers list
shows, are shown under the index or platform manifest they belong to,
marked "(cosign tag sha256-<hex>.sbom)" (.att, .sig likewise; kind
"cosign-tag" in --json). Which exist is learnt from one listing of the
repository's tags, which also spares a registry without the referrers
API the reads of the referrers tags of referrers that it does not hold;
a registry that does not list tags costs three reads per manifest
instead (--debug says so).
A tag that cannot be read is a warning naming it.

A local OCI layout (oci-layout:PATH[:TAG][@DIGEST], or oci-archive:PATH
for a tar), as affix build --output writes it, is read the same way: its
referrers are the manifests with a subject that index.json lists (affix
build's SBOMs, oras attach --oci-layout's artifacts).

A manifest whose referrers tag holds no referrers index (some registries
resolve the tag to the manifest itself; or another tool wrote something else
there) is shown without referrers: a warning on stderr names REF, the
platform and the tag, the --json node carries it as "error", and the rest
of the tree is shown; the exit code stays 0, as oras discover users expect.
The same holds for a referrer whose own referrers cannot be read.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(fmt.Errorf("want one REF or layout, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runLs(cmd, g, args[0], o) },
	}
	o.registryOptions.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print the tree as JSON")
	return cmd
}

// runLs runs ls and adds the hints for plain HTTP and layout paths to its
// error.
func runLs(cmd *cobra.Command, g *globalOptions, refStr string, o lsOptions) error {
	if err := checkRegistryRef(refStr); err != nil {
		return err
	}
	return hintLayout(hintHTTP(ls(cmd, g, refStr, o), hostOf(refStr)), refStr)
}

// checkRegistryRef refuses as a usage error, before any request, a REF of
// ls, get or attach that is surely no registry reference: one with affix
// sbom's registry: prefix, and one without a registry host that names a
// local file or directory (Docker would read t1.tar as Docker Hub's
// library/t1.tar), with hintLayout's hint of the prefix it takes.
func checkRegistryRef(s string) error {
	if isLayoutSource(s) {
		return nil
	}
	// registry:HOST/REPO is the prefix, and so is registry:REF when only
	// REF is a reference (registry:bitnami/nginx); registry:5000/app is
	// the host "registry" (a compose service name), registry:latest
	// Docker Hub's registry image.
	if ref, ok := strings.CutPrefix(s, schemeRegistry+":"); ok {
		if _, _, host := splitHost(ref); host || !validRef(s) && validRef(ref) {
			return usageError(fmt.Errorf("reference %q: the registry: prefix is for affix sbom's SOURCE; write %s", s, ref))
		}
	}
	if _, _, ok := splitHost(s); ok {
		return nil
	}
	if !isLocalImage(s) {
		return nil
	}
	return usageError(hintLayout(fmt.Errorf("reference %q names no registry host and is a local path", s), s))
}

// validRef reports whether s parses as a registry reference.
func validRef(s string) bool {
	_, err := reference.ParseNormalizedNamed(s)
	return err == nil
}

// isLocalImage reports whether p names what can only be a local image: a
// regular file (an archive: t1.tar) or a directory holding an oci-layout
// file. Any other directory (nginx/ beside its Docker Hub image nginx)
// leaves REF to the registry.
func isLocalImage(p string) bool {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return false
	case fi.Mode().IsRegular():
		return true
	case fi.IsDir():
		_, err := os.Stat(filepath.Join(p, ocispec.ImageLayoutFile))
		return err == nil
	}
	return false
}

// ls prints the tree of the image refStr names, as text or JSON.
func ls(cmd *cobra.Command, g *globalOptions, refStr string, o lsOptions) error {
	ctx := cmd.Context()
	warn := warnf(cmd)
	st, err := o.openStore(ctx, g, refStr, warn)
	if err != nil {
		return sourceUsage(err)
	}
	defer st.Close()
	tree, err := discover.ReadTree(ctx, st, warn, debugf(g, cmd.ErrOrStderr()))
	if err != nil {
		return err
	}
	if o.asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(tree)
	}
	printTree(cmd.OutOrStdout(), tree)
	return nil
}

// printTree prints t as a text tree on w, then how its referrers were
// found.
func printTree(w io.Writer, t *discover.Tree) {
	r := t.Root
	fmt.Fprintf(w, "%s  %s  %s%s\n", t.Reference, r.Digest, r.Kind, unread(r))
	printChildren(w, r.Children, "")
	switch t.ReferrersMode {
	case "":
	case modeLayout:
		fmt.Fprintf(w, "referrers read from: the layout's index.json\n")
	default:
		fmt.Fprintf(w, "referrers read through: %s\n", t.ReferrersMode)
	}
}

// printChildren prints nodes and their children below indent, with
// tree branches.
func printChildren(w io.Writer, nodes []*discover.Node, indent string) {
	for i, n := range nodes {
		branch, next := "├── ", "│   "
		if i == len(nodes)-1 {
			branch, next = "└── ", "    "
		}
		fmt.Fprintf(w, "%s%s%s\n", indent, branch, printable.String(describeNode(n)))
		printChildren(w, n.Children, indent+next)
	}
}

// unread marks a node whose referrers could not be read.
func unread(n *discover.Node) string {
	if n.Error == "" {
		return ""
	}
	return "  (referrers not shown: see the warning)"
}

// describeNode is the line of n in the tree.
func describeNode(n *discover.Node) string {
	switch n.Kind {
	case discover.KindManifest:
		return fmt.Sprintf("%-14s %s", n.Platform, n.Digest) + unread(n)
	case discover.KindReferrer:
		s := fmt.Sprintf("%s  %s", n.ArtifactType, n.Digest)
		if n.Created != "" {
			s += "  " + n.Created
		}
		if n.Generator != "" {
			s += "  by " + n.Generator
		}
		if len(n.PredicateTypes) > 0 {
			s += "  " + countedList(n.PredicateTypes)
		}
		return s + unread(n)
	case discover.KindCosignTag:
		// What it holds: its artifact type, else its layers' types
		// (text/spdx+json, a DSSE envelope per attestation).
		what := n.ArtifactType
		if what == "" {
			what = countedList(n.LayerTypes)
		}
		if what == "" {
			what = n.MediaType
		}
		s := what + "  " + n.Digest.String()
		if n.Created != "" {
			s += "  " + n.Created
		}
		if len(n.PredicateTypes) > 0 {
			s += "  " + countedList(n.PredicateTypes)
		}
		return s + "  (cosign tag " + n.Tag + ")"
	case discover.KindAttestation:
		where := "in index"
		if n.AlsoReferrer {
			where = "in index, also a referrer"
		}
		s := "attestation (" + where + ")  " + n.Digest.String()
		if len(n.PredicateTypes) > 0 {
			s += "  " + countedList(n.PredicateTypes)
		}
		return s
	}
	return n.Kind + " " + n.Digest.String()
}

// countedList joins items in first-seen order, each once, with "×N" after
// those that occur N>1 times: a BuildKit attestation manifest holds one
// SPDX statement per scanned stage.
func countedList(items []string) string {
	counts := map[string]int{}
	var order []string
	for _, it := range items {
		if counts[it] == 0 {
			order = append(order, it)
		}
		counts[it]++
	}
	for i, it := range order {
		if n := counts[it]; n > 1 {
			order[i] = fmt.Sprintf("%s ×%d", it, n)
		}
	}
	return strings.Join(order, ", ")
}
