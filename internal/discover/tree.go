package discover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/printable"
)

// The kinds of Node.
const (
	// KindIndex is the image index REF names.
	KindIndex = "index"
	// KindManifest is an image manifest: REF's, or a platform's.
	KindManifest = "manifest"
	// KindReferrer is a referrer of its parent.
	KindReferrer = "referrer"
	// KindAttestation is a BuildKit attestation manifest of the index.
	KindAttestation = "attestation"
	// KindCosignTag is a manifest stored under one of cosign's tag
	// schemes for its parent: no referrer.
	KindCosignTag = "cosign-tag"
)

// ReadTree reads the tree of st's image (buildTree), named by st.Name();
// from a TagStore, with cosign's tags of the index and each platform
// manifest (addCosignTags). A node whose referrers could not be read,
// and a cosign tag that could not be, are warnings (warn), and the rest
// of the tree is read; debug, when not nil, says how the tags were found.
func ReadTree(ctx context.Context, st Store, warn, debug func(format string, args ...any)) (*Tree, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ts, _ := st.(TagStore)
	tree, tags, err := buildTree(ctx, st, ts)
	if err != nil {
		return nil, err
	}
	tree.Reference = st.Name()
	if tags != nil {
		if err := addCosignTags(ctx, ts, tags, tree, warn, debug); err != nil {
			return nil, err
		}
	}
	tree.linkAliases()
	warnUnread(warn, tree)
	return tree, nil
}

// MaxReferrerDepth bounds how deep ls follows referrers of referrers (a
// subject cycle cannot be built with content addressing, but a registry
// can lie).
const MaxReferrerDepth = 8

// Node is one node of the tree `affix ls` prints.
type Node struct {
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
	Error    string  `json:"error,omitempty"`
	Children []*Node `json:"children,omitempty"`
}

// Tree is the tree `affix ls` prints: an image, its platform manifests,
// their referrers and attestations, and how the referrers were read.
type Tree struct {
	Reference string `json:"reference"`
	// ReferrersMode is how referrers were read: api, tag-schema, or
	// oci-layout (index.json of a local layout).
	ReferrersMode exporter.Mode `json:"referrersMode,omitempty"`
	Root          *Node         `json:"root"`

	// aliases are the platform manifest nodes of a manifest the index
	// lists under more than one platform, each with the node that holds
	// its children (linkAliases).
	aliases []alias
}

// alias is a node (of) showing the children of another (first).
type alias struct{ of, first *Node }

// linkAliases gives every alias the children and error of its first
// node. The tree is built on the first nodes alone (attestations and
// cosign tags added to them), so that no two nodes grow one slice.
func (t *Tree) linkAliases() {
	for _, a := range t.aliases {
		a.of.Children, a.of.Error = a.first.Children, a.first.Error
	}
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
func buildTree(ctx context.Context, st Store, ts TagStore) (*Tree, *tagList, error) {
	rootDesc, err := st.Root(ctx)
	if err != nil {
		return nil, nil, err
	}
	var tags *tagList
	if ts != nil {
		tags = startTagList(ctx, ts)
	}
	b := &treeBuilder{st: st, tags: tags, tree: &Tree{}, read: map[digest.Digest]bool{}, sem: make(chan struct{}, lsConcurrency)}
	root := &Node{Kind: KindManifest, MediaType: rootDesc.MediaType, Digest: rootDesc.Digest, Size: rootDesc.Size}
	b.tree.Root = root
	if !oci.IsIndex(rootDesc.MediaType) {
		root.Children, err = b.referrers(ctx, root, rootDesc)
		return b.tree, tags, err
	}
	root.Kind = KindIndex
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
	b.tree.linkAliases()
	return b.tree, tags, nil
}

// lsConcurrency bounds the referrers reads ls has in flight: the
// referrers of one manifest's referrers (200 signatures and attestations
// of one SBOM, say) are read concurrently, not one round trip after
// another.
const lsConcurrency = 8

// treeBuilder builds the tree of buildTree from st.
type treeBuilder struct {
	st   Store
	tags *tagList // nil: not listed
	tree *Tree
	sem  chan struct{} // one slot per referrers read in flight

	mu sync.Mutex // guards read and tree.ReferrersMode
	// read are the referrers whose own referrers were read, each once.
	read map[digest.Digest]bool
}

// referrers reads the referrers of n's manifest d, and theirs in turn
// (a signature on an SBOM), as oras discover does, at most
// MaxReferrerDepth deep, each referrer's once (a registry that does not
// filter by subject cannot make ls read without end). A referrers tag
// that holds something else is n's Error, not the tree's; so is any
// failure to read the referrers of a referrer, which the image's own tree
// does not need.
//
// The referrers of d's referrers are read concurrently, after d's own:
// the first read has taught the store whether the registry has a
// referrers API, so none of them asks again.
func (b *treeBuilder) referrers(ctx context.Context, n *Node, d ocispec.Descriptor) ([]*Node, error) {
	return b.referrersAt(ctx, n, d, 1)
}

// referrersAt is referrers at depth (1: the referrers of an image's
// manifest).
func (b *treeBuilder) referrersAt(ctx context.Context, n *Node, d ocispec.Descriptor, depth int) ([]*Node, error) {
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
	out := make([]*Node, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	for i, r := range refs {
		rn := &Node{Kind: KindReferrer, MediaType: r.MediaType, Digest: r.Digest, Size: r.Size,
			ArtifactType: r.ArtifactType, Created: r.Annotations[ocispec.AnnotationCreated],
			Generator: r.Annotations[oci.AnnotationGenerator], Annotations: r.Annotations}
		if pt := statementPredicateType(r); pt != "" {
			rn.PredicateTypes = []string{pt}
		}
		out[i] = rn
		if err := EntryError(r); err != nil {
			// Shown as listed, flagged: its referrers are not read.
			rn.Error = err.Error()
			continue
		}
		if depth < MaxReferrerDepth && b.claim(r.Digest) {
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
func (b *treeBuilder) addPlatforms(ctx context.Context, root *Node, images []oci.Image) (map[digest.Digest]*Node, error) {
	byDigest := map[digest.Digest]*Node{}
	var err error
	for _, img := range images {
		if img.Attestation {
			continue
		}
		d := img.Descriptor
		n := &Node{Kind: KindManifest, MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, Platform: img.String()}
		if same := byDigest[d.Digest]; same != nil {
			// One manifest the index lists under two platforms: its
			// referrers are read once, its children are same's.
			b.tree.aliases = append(b.tree.aliases, alias{of: n, first: same})
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
func (b *treeBuilder) addAttestations(ctx context.Context, root *Node, images []oci.Image, byDigest map[digest.Digest]*Node) {
	for _, img := range images {
		if !img.Attestation {
			continue
		}
		n := b.attestationNode(ctx, img.Descriptor)
		if parent := byDigest[digest.Digest(img.Descriptor.Annotations[oci.AnnotationDockerReferenceDigest])]; parent != nil {
			// Listed as a referrer too: one node, the attestation's,
			// with the referrer's own referrers.
			if i := slices.IndexFunc(parent.Children, func(c *Node) bool { return c.Kind == KindReferrer && c.Digest == n.Digest }); i >= 0 {
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
func (b *treeBuilder) attestationNode(ctx context.Context, d ocispec.Descriptor) *Node {
	n := &Node{Kind: KindAttestation, MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType}
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
func addCosignTags(ctx context.Context, st TagStore, tags *tagList, t *Tree, warn, debug func(string, ...any)) error {
	// The root and the platform manifests, each once (an alias gets its
	// first node's children: linkAliases).
	nodes := map[digest.Digest]*Node{}
	var order []digest.Digest
	add := func(n *Node) {
		if nodes[n.Digest] == nil {
			order = append(order, n.Digest)
			nodes[n.Digest] = n
		}
	}
	add(t.Root)
	for _, c := range t.Root.Children {
		if c.Kind == KindManifest {
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
			tag, terr := CosignTag(d, suffix)
			if terr != nil {
				warn("%s: %v: not shown", t.Reference, terr)
				break
			}
			if err != nil || have[tag] {
				want = append(want, wanted{d, tag})
			}
		}
	}
	found := make([]*Node, len(want))
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
			n := nodes[w.subject]
			what := n.Platform
			if what == "" {
				what = n.Kind
			}
			warn("%s (%s %s): cosign's tag %s not shown: %s", t.Reference, printable.String(what), w.subject, w.tag, printable.String(failed[i].Error()))
		}
		if found[i] == nil {
			continue
		}
		n := nodes[w.subject]
		n.Children = append(n.Children, found[i])
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
func startTagList(ctx context.Context, st TagStore) *tagList {
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
func cosignNode(tag string, desc ocispec.Descriptor, m *ocispec.Manifest) *Node {
	n := &Node{Kind: KindCosignTag, MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, Tag: tag,
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

// warnUnread warns about each node of t whose referrers could not be
// read, naming the reference, the platform (or the index) and the error,
// which names the referrers tag.
func warnUnread(warn func(format string, args ...any), t *Tree) {
	seen := map[digest.Digest]bool{}
	var walk func(n *Node)
	walk = func(n *Node) {
		if n.Error != "" && !seen[n.Digest] {
			seen[n.Digest] = true
			what := n.Platform
			if what == "" {
				what = n.Kind
			}
			warn("%s (%s %s): referrers not shown: %s", t.Reference, printable.String(what), printable.String(clip(n.Digest.String())), printable.String(n.Error))
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(t.Root)
}
