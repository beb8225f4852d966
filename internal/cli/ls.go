package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/oci"
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

// maxReferrerDepth bounds how deep ls follows referrers of referrers (a
// subject cycle cannot be built with content addressing, but a registry
// can lie).
const maxReferrerDepth = 8

// lsNode is one node of the tree `affix ls` prints.
type lsNode struct {
	// Kind is index, manifest, referrer, attestation or cosign-tag (a
	// manifest stored under one of cosign's tag schemes for its parent,
	// sha256-<hex>.sbom, .att or .sig: no referrer).
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
	// PredicateTypes are the in-toto predicate types of an attestation,
	// or of an in-toto or Sigstore bundle referrer (cosign attest) as its
	// annotations name it.
	PredicateTypes []string `json:"predicateTypes,omitempty"`
	// AlsoReferrer is set on a BuildKit attestation manifest of the index
	// that the referrers of its platform manifest list too (BuildKit
	// v0.32+ gives it a subject): it is shown once, as the attestation.
	AlsoReferrer bool `json:"alsoReferrer,omitempty"`
	// Tag is the tag of a cosign-tag node.
	Tag string `json:"tag,omitempty"`
	// LayerTypes are the media types of a cosign-tag manifest's layers:
	// the document's (text/spdx+json) for .sbom, one DSSE envelope per
	// attestation for .att, one per signature for .sig.
	LayerTypes  []string          `json:"layerTypes,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Error says why the node's referrers could not be read (its
	// referrers tag holds no referrers index); the rest of the tree is
	// shown.
	Error    string    `json:"error,omitempty"`
	Children []*lsNode `json:"children,omitempty"`
}

type lsTree struct {
	Reference string `json:"reference"`
	// ReferrersMode is how referrers were read: api, tag-schema, or
	// oci-layout (index.json of a local layout).
	ReferrersMode exporter.Mode `json:"referrersMode,omitempty"`
	Root          *lsNode       `json:"root"`
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ts, _ := st.(discover.TagStore)
	tree, tags, err := buildTree(ctx, st, ts)
	if err != nil {
		return err
	}
	tree.Reference = st.Name()
	if tags != nil {
		if err := addCosignTags(ctx, ts, tags, tree, warn, debugf(g, cmd.ErrOrStderr())); err != nil {
			return err
		}
	}
	warnUnread(warn, tree)
	if o.asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(tree)
	}
	printTree(cmd.OutOrStdout(), tree)
	return nil
}

// buildTree reads the tree of st's image: the root, and for an index its
// platform manifests, its attestation manifests and its own referrers;
// each manifest with its referrers (see treeBuilder.referrers). With ts
// (nil for none), the repository's tags are listed in the background once
// the root is read, and returned (nil without ts): a push writes the
// referrers tags of an image before its tag, so a list taken after the
// tag was read holds them. On a registry without the referrers API, a
// referrers tag of a referrer (a signature of an SBOM) that the list
// does not hold is not read; those of the index and its platform
// manifests, where SBOMs are, always are.
func buildTree(ctx context.Context, st discover.Store, ts discover.TagStore) (*lsTree, *tagList, error) {
	rootDesc, err := st.Root(ctx)
	if err != nil {
		return nil, nil, err
	}
	var tags *tagList
	if ts != nil {
		tags = startTagList(ctx, ts)
	}
	b := &treeBuilder{st: st, tags: tags, tree: &lsTree{}, read: map[digest.Digest]bool{}, sem: make(chan struct{}, lsConcurrency)}
	root := &lsNode{Kind: "manifest", MediaType: rootDesc.MediaType, Digest: rootDesc.Digest, Size: rootDesc.Size}
	b.tree.Root = root
	if !oci.IsIndex(rootDesc.MediaType) {
		root.Children, err = b.referrers(ctx, root, rootDesc)
		return b.tree, tags, err
	}
	root.Kind = "index"
	images, err := oci.Walk(ctx, st, rootDesc)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", st.Name(), err)
	}
	byDigest, err := b.addPlatforms(ctx, root, images)
	if err != nil {
		return nil, nil, err
	}
	b.addAttestations(ctx, root, images, byDigest)
	// Referrers of the index itself (signatures, for example).
	idxRefs, err := b.referrers(ctx, root, rootDesc)
	if err != nil {
		return nil, nil, err
	}
	root.Children = append(root.Children, idxRefs...)
	return b.tree, tags, nil
}

// lsConcurrency bounds the referrers reads ls has in flight: the
// referrers of one manifest's referrers (200 signatures and attestations
// of one SBOM, say) are read concurrently, not one round trip after
// another.
const lsConcurrency = 8

// treeBuilder builds the tree of buildTree from st.
type treeBuilder struct {
	st   discover.Store
	tags *tagList // nil: not listed
	tree *lsTree
	sem  chan struct{} // one slot per referrers read in flight

	mu sync.Mutex // guards read and tree.ReferrersMode
	// read are the referrers whose own referrers were read, each once.
	read map[digest.Digest]bool
}

// referrers reads the referrers of n's manifest d, and theirs in turn
// (a signature on an SBOM), as oras discover does, at most
// maxReferrerDepth deep, each referrer's once (a registry that does not
// filter by subject cannot make ls read without end). A referrers tag
// that holds something else is n's Error, not the tree's; so is any
// failure to read the referrers of a referrer, which the image's own tree
// does not need.
//
// The referrers of d's referrers are read concurrently, after d's own:
// the first read has taught the store whether the registry has a
// referrers API, so none of them asks again.
func (b *treeBuilder) referrers(ctx context.Context, n *lsNode, d ocispec.Descriptor) ([]*lsNode, error) {
	return b.referrersAt(ctx, n, d, 1)
}

// referrersAt is referrers at depth (1: the referrers of an image's
// manifest).
func (b *treeBuilder) referrersAt(ctx context.Context, n *lsNode, d ocispec.Descriptor, depth int) ([]*lsNode, error) {
	refs, mode, err := b.readReferrers(ctx, d, depth)
	if errors.Is(err, exporter.ErrReferrersTagConflict) || err != nil && depth > 1 && ctx.Err() == nil {
		// Most failures come with no mode: the one learnt stays.
		if mode != "" {
			b.setMode(mode)
		}
		n.Error = err.Error()
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b.setMode(mode)
	out := make([]*lsNode, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	for i, r := range refs {
		rn := &lsNode{Kind: "referrer", MediaType: r.MediaType, Digest: r.Digest, Size: r.Size,
			ArtifactType: r.ArtifactType, Created: r.Annotations[ocispec.AnnotationCreated],
			Generator: r.Annotations[oci.AnnotationGenerator], Annotations: r.Annotations}
		if pt := discover.StatementPredicateType(r); pt != "" {
			rn.PredicateTypes = []string{pt}
		}
		out[i] = rn
		if depth < maxReferrerDepth && b.claim(r.Digest) {
			g.Go(func() error {
				var err error
				rn.Children, err = b.referrersAt(gctx, rn, r, depth+1)
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// readReferrers reads the referrers of d, at depth (see referrersAt),
// from the store, holding one of b's slots.
func (b *treeBuilder) readReferrers(ctx context.Context, d ocispec.Descriptor, depth int) ([]ocispec.Descriptor, exporter.Mode, error) {
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	defer func() { <-b.sem }()
	if depth > 1 && b.mode() == exporter.ModeTagSchema && b.tags != nil {
		// The registry has no referrers API (learnt from an earlier
		// read): a referrers tag the repository does not list has none.
		// Only for referrers of referrers: a registry whose list lags
		// behind its writes must not hide an image's SBOMs.
		if have, err := b.tags.wait(ctx); err == nil && !have[exporter.ReferrersTag(d.Digest)] {
			return nil, exporter.ModeTagSchema, nil
		}
	}
	return b.st.Referrers(ctx, d.Digest)
}

// mode returns the referrers mode learnt so far ("" for none yet).
func (b *treeBuilder) mode() exporter.Mode {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tree.ReferrersMode
}

// claim reports whether the referrers of d are still to be read, and
// marks them read.
func (b *treeBuilder) claim(d digest.Digest) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.read[d] {
		return false
	}
	b.read[d] = true
	return true
}

func (b *treeBuilder) setMode(m exporter.Mode) {
	b.mu.Lock()
	b.tree.ReferrersMode = m
	b.mu.Unlock()
}

// addPlatforms adds the platform manifests of images (all but the
// attestations) to root, in order, each with its referrers, and returns
// their nodes by digest.
func (b *treeBuilder) addPlatforms(ctx context.Context, root *lsNode, images []oci.Image) (map[digest.Digest]*lsNode, error) {
	byDigest := map[digest.Digest]*lsNode{}
	var err error
	for _, img := range images {
		if img.Attestation {
			continue
		}
		d := img.Descriptor
		n := &lsNode{Kind: "manifest", MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, Platform: img.String()}
		if same := byDigest[d.Digest]; same != nil {
			// One manifest the index lists under two platforms: its
			// referrers are read once.
			n.Children, n.Error = same.Children, same.Error
		} else if n.Children, err = b.referrers(ctx, n, d); err != nil {
			return nil, err
		} else {
			byDigest[d.Digest] = n
		}
		root.Children = append(root.Children, n)
	}
	return byDigest, nil
}

// addAttestations adds the attestation manifests of images under the
// platform manifest (byDigest) each is about, else under root.
func (b *treeBuilder) addAttestations(ctx context.Context, root *lsNode, images []oci.Image, byDigest map[digest.Digest]*lsNode) {
	for _, img := range images {
		if !img.Attestation {
			continue
		}
		n := b.attestationNode(ctx, img.Descriptor)
		if parent := byDigest[digest.Digest(img.Descriptor.Annotations[oci.AnnotationDockerReferenceDigest])]; parent != nil {
			// Listed as a referrer too: one node, the attestation's,
			// with the referrer's own referrers.
			if i := slices.IndexFunc(parent.Children, func(c *lsNode) bool { return c.Kind == "referrer" && c.Digest == n.Digest }); i >= 0 {
				n.AlsoReferrer, n.Children, n.Error = true, parent.Children[i].Children, parent.Children[i].Error
				parent.Children = slices.Delete(parent.Children, i, i+1)
			}
			parent.Children = append(parent.Children, n)
		} else {
			root.Children = append(root.Children, n)
		}
	}
}

// attestationNode returns the node of the attestation manifest d, with
// its artifact type and in-toto predicate types when the manifest can be
// read.
func (b *treeBuilder) attestationNode(ctx context.Context, d ocispec.Descriptor) *lsNode {
	n := &lsNode{Kind: "attestation", MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType}
	var m ocispec.Manifest
	if _, err := oci.ReadJSON(ctx, b.st, d, &m); err == nil {
		if n.ArtifactType == "" {
			n.ArtifactType = m.ArtifactType
		}
		for _, l := range m.Layers {
			if pt := l.Annotations[oci.AnnotationPredicateType]; pt != "" {
				n.PredicateTypes = append(n.PredicateTypes, pt)
			}
		}
	}
	return n
}

// cosignSuffixes are the suffixes of the tags cosign's tag schemes give
// what they store for a manifest (sha256-<hex>.SUFFIX): cosign attach
// sbom's document, cosign attest's attestations and cosign sign's
// signatures before cosign v3 (and with --registry-referrers-mode unset
// since).
var cosignSuffixes = []string{"sbom", "att", "sig"}

// addCosignTags adds to t, under its root and each platform manifest, a
// cosign-tag node for each of cosign's tags of it (cosignSuffixes) that
// st holds: no referrers list shows them. Which exist is learnt from one
// listing of the repository's tags, so that an image without them costs
// one request; when the registry does not list tags (refused, failing,
// more than maxTagPages pages), debug says so and each manifest's tags
// are read instead, three per manifest, a 404 meaning none. Each tag
// found is read (its manifest is the node); one that cannot be read is a
// warning naming it, and the rest of the tree is shown.
func addCosignTags(ctx context.Context, st discover.TagStore, tags *tagList, t *lsTree, warn, debug func(string, ...any)) error {
	nodes := map[digest.Digest][]*lsNode{}
	var order []digest.Digest
	add := func(n *lsNode) {
		if len(nodes[n.Digest]) == 0 {
			order = append(order, n.Digest)
		}
		nodes[n.Digest] = append(nodes[n.Digest], n)
	}
	add(t.Root)
	for _, c := range t.Root.Children {
		if c.Kind == "manifest" {
			add(c)
		}
	}
	have, err := tags.wait(ctx)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && debug != nil {
		debug("%v; reading cosign's tags (%s) of each manifest instead", err, strings.Join(cosignSuffixes, ", "))
	}
	type wanted struct {
		subject digest.Digest
		tag     string
	}
	var want []wanted
	for _, d := range order {
		for _, suffix := range cosignSuffixes {
			if tag := discover.CosignTag(d, suffix); err != nil || have[tag] {
				want = append(want, wanted{d, tag})
			}
		}
	}
	found := make([]*lsNode, len(want))
	failed := make([]error, len(want))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(lsConcurrency)
	for i, w := range want {
		g.Go(func() error {
			desc, b, _, err := st.FetchManifest(gctx, w.tag)
			switch {
			case errors.Is(err, exporter.ErrNotFound):
				return nil // none (or deleted since it was listed)
			case err != nil && gctx.Err() != nil:
				return err
			case err != nil:
				failed[i] = err
				return nil
			}
			var m ocispec.Manifest
			if err := json.Unmarshal(b, &m); err != nil {
				failed[i] = fmt.Errorf("manifest %s: %w", desc.Digest, err)
				return nil
			}
			found[i] = cosignNode(w.tag, desc, &m)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, w := range want {
		if failed[i] != nil {
			n := nodes[w.subject][0]
			what := n.Platform
			if what == "" {
				what = n.Kind
			}
			warn("%s (%s %s): cosign's tag %s not shown: %s", t.Reference, printable.String(what), w.subject, w.tag, printable.String(failed[i].Error()))
		}
		if found[i] == nil {
			continue
		}
		for _, n := range nodes[w.subject] {
			n.Children = append(n.Children, found[i])
		}
	}
	return nil
}

// tagList is a repository's tags, listed once, in the background, while
// ls reads the tree (startTagList): which cosign tags and referrers tags
// of referrers exist, so that those that do not cost no request.
type tagList struct {
	done chan struct{}
	tags map[string]bool
	err  error
}

// startTagList lists the tags of st in the background, until ctx ends.
func startTagList(ctx context.Context, st discover.TagStore) *tagList {
	l := &tagList{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		listed, err := st.ListTags(ctx)
		if err != nil {
			l.err = err
			return
		}
		l.tags = make(map[string]bool, len(listed))
		for _, t := range listed {
			l.tags[t] = true
		}
	}()
	return l
}

// wait returns the tags once listed, or why they could not be.
func (l *tagList) wait(ctx context.Context) (map[string]bool, error) {
	select {
	case <-l.done:
		return l.tags, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// cosignNode returns the node of m, the manifest (desc) of cosign's tag.
func cosignNode(tag string, desc ocispec.Descriptor, m *ocispec.Manifest) *lsNode {
	n := &lsNode{Kind: "cosign-tag", MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, Tag: tag,
		ArtifactType: m.ArtifactType, Created: m.Annotations[ocispec.AnnotationCreated], Annotations: m.Annotations}
	for _, l := range m.Layers {
		n.LayerTypes = append(n.LayerTypes, l.MediaType)
		// cosign names each attestation's predicate type on its layer.
		if pt := l.Annotations["predicateType"]; pt != "" {
			n.PredicateTypes = append(n.PredicateTypes, pt)
		}
	}
	return n
}

// warnUnread warns (see NewWarnf) about each node of t whose referrers could not be
// read, naming the reference, the platform (or the index) and the error,
// which names the referrers tag.
func warnUnread(warn func(format string, args ...any), t *lsTree) {
	seen := map[digest.Digest]bool{}
	var walk func(n *lsNode)
	walk = func(n *lsNode) {
		if n.Error != "" && !seen[n.Digest] {
			seen[n.Digest] = true
			what := n.Platform
			if what == "" {
				what = n.Kind
			}
			warn("%s (%s %s): referrers not shown: %s", t.Reference, printable.String(what), n.Digest, printable.String(n.Error))
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(t.Root)
}

// printTree prints t as a text tree on w, then how its referrers were
// found.
func printTree(w io.Writer, t *lsTree) {
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
func printChildren(w io.Writer, nodes []*lsNode, indent string) {
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
func unread(n *lsNode) string {
	if n.Error == "" {
		return ""
	}
	return "  (referrers not shown: see the warning)"
}

// describeNode is the line of n in the tree.
func describeNode(n *lsNode) string {
	switch n.Kind {
	case "manifest":
		return fmt.Sprintf("%-14s %s", n.Platform, n.Digest) + unread(n)
	case "referrer":
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
	case "cosign-tag":
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
	case "attestation":
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
