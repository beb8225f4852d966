package frontend

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/ociindex"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layoutPart is one node's exported layout.
type layoutPart struct {
	dir   string
	root  ocispec.Descriptor
	index ocispec.Index
}

// merge writes into out one layout holding one image index made of the
// platform manifests of the layouts in parts (parts[i] is what
// p.groups[i] built), in p.platforms order, and returns its descriptor as
// index.json lists it, as one node's exporter would report it (without
// the names), and the platform manifests:
//
//   - manifest descriptors are copied unchanged (platform, annotations);
//     attestation manifests, if any, follow the platform manifests in the
//     order of their subjects (vnd.docker.reference.digest), as BuildKit
//     orders them in one index;
//   - an index annotation is kept when every node's index has it with the
//     same value, and dropped otherwise; the same holds for the
//     index.json entry's annotations (annotation-index-descriptor), but
//     for org.opencontainers.image.created, which BuildKit sets there: the
//     latest of the nodes' (they differ without an integer
//     SOURCE_DATE_EPOCH); the entry then gets the tag names as BuildKit's
//     client writes them;
//   - the index is encoded as BuildKit encodes it (two-space indented
//     JSON of the image-spec struct), so its bytes depend only on the
//     manifests it lists and the annotations, not on which node built
//     what: reproducible builds reproduce its digest, and it equals the
//     index one node would have built from the same manifests;
//   - the blobs the merged index reaches are hard-linked (copied across
//     file systems), never re-read through a tar; each node's own index,
//     and anything else a node's layout holds, is left out, so the layout
//     holds what one node's would.
func merge(ctx context.Context, out string, parts []string, p *plan) (_, exported ocispec.Descriptor, _ []ocispec.Descriptor, _ error) {
	ps := make([]layoutPart, len(parts))
	for i, dir := range parts {
		lp, err := readPart(ctx, dir)
		if err != nil {
			return ocispec.Descriptor{}, ocispec.Descriptor{}, nil, err
		}
		ps[i] = lp
	}
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ps[0].index.MediaType,
	}
	if idx.MediaType == "" {
		idx.MediaType = ocispec.MediaTypeImageIndex
	}
	// from[i] is the part idx.Manifests[i] comes from.
	var from []int
	for _, w := range p.platforms {
		gi := groupOf(p.groups, w)
		if gi < 0 {
			return ocispec.Descriptor{}, ocispec.Descriptor{}, nil, fmt.Errorf("platform %s: %w", platforms.FormatAll(w), ErrNoNode)
		}
		ms, err := platformManifests(ps[gi].index, []ocispec.Platform{w})
		if err != nil {
			return ocispec.Descriptor{}, ocispec.Descriptor{}, nil, fmt.Errorf("node %s: %w", p.groups[gi].node, err)
		}
		idx.Manifests = append(idx.Manifests, ms[0])
		from = append(from, gi)
	}
	manifests := append([]ocispec.Descriptor(nil), idx.Manifests...)
	atts, attFrom := attestations(ps, manifests)
	idx.Manifests = append(idx.Manifests, atts...)
	from = append(from, attFrom...)
	var idxAnn, rootAnn []map[string]string
	for _, lp := range ps {
		idxAnn = append(idxAnn, lp.index.Annotations)
		ra := map[string]string{}
		for k, v := range lp.root.Annotations {
			if k != oci.AnnotationImageName && k != ocispec.AnnotationRefName {
				ra[k] = v
			}
		}
		rootAnn = append(rootAnn, ra)
	}
	idx.Annotations = agreed(idxAnn)
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return ocispec.Descriptor{}, ocispec.Descriptor{}, nil, err
	}
	// Only what the merged index reaches: a node's own index (and
	// anything else its layout holds) is not part of the image.
	for i, d := range idx.Manifests {
		if err := linkTree(ctx, ps[from[i]].dir, out, d, 0); err != nil {
			return ocispec.Descriptor{}, ocispec.Descriptor{}, nil, fmt.Errorf("node %s: %w", p.groups[from[i]].node, err)
		}
	}
	root := oci.DescriptorFor(idx.MediaType, b)
	if err := writeBlob(out, root.Digest, b); err != nil {
		return ocispec.Descriptor{}, ocispec.Descriptor{}, nil, err
	}
	root.Annotations = agreed(rootAnn)
	if c, ok := latestCreated(rootAnn); ok {
		// BuildKit's oci exporter stamps the entry with the time of its
		// export unless SOURCE_DATE_EPOCH is an integer: nodes disagree
		// by a second or more, and the merged image was complete when the
		// last one was.
		if root.Annotations == nil {
			root.Annotations = map[string]string{}
		}
		root.Annotations[ocispec.AnnotationCreated] = c
	}
	names := []ociindex.NameOrTag{ociindex.Tag("latest")}
	if len(p.names) > 0 {
		names = names[:0]
		for _, n := range p.names {
			names = append(names, ociindex.Name(n))
		}
	}
	if err := ociindex.NewStoreIndex(out).Put(root, names...); err != nil {
		return ocispec.Descriptor{}, ocispec.Descriptor{}, nil, fmt.Errorf("writing %s: %w", filepath.Join(out, ocispec.ImageIndexFile), err)
	}
	// Return the descriptor as index.json lists it.
	rd, _, err := readResult(ctx, out, p.platforms)
	if err != nil {
		return ocispec.Descriptor{}, ocispec.Descriptor{}, nil, err
	}
	if rd.Digest != root.Digest {
		return ocispec.Descriptor{}, ocispec.Descriptor{}, nil, fmt.Errorf("merged layout %s: index.json lists %s, want %s", out, rd.Digest, root.Digest)
	}
	return rd, root, manifests, nil
}

// groupOf returns the index of the group building pl, or -1.
func groupOf(gs []group, pl ocispec.Platform) int {
	for i, g := range gs {
		for _, gp := range g.platforms {
			if platforms.FormatAll(gp) == platforms.FormatAll(pl) {
				return i
			}
		}
	}
	return -1
}

// readPart reads the index one node exported into dir.
func readPart(ctx context.Context, dir string) (layoutPart, error) {
	lp := layoutPart{dir: dir}
	l, err := oci.Open(ctx, oci.Source{Scheme: oci.SchemeLayout, Path: dir})
	if err != nil {
		return lp, fmt.Errorf("reading a node's layout: %w", err)
	}
	defer l.Close()
	if lp.root, err = singleIndex(l.Roots()); err != nil {
		return lp, fmt.Errorf("node layout %s: %w", dir, err)
	}
	if _, err := oci.ReadJSON(ctx, l, lp.root, &lp.index); err != nil {
		return lp, fmt.Errorf("node layout %s: %w", dir, err)
	}
	return lp, nil
}

// attestations returns the attestation manifests of the parts' indexes
// and the part each comes from, ordered as BuildKit orders them in one
// index: by the position in manifests (the platform manifests, in
// platform order) of their subject, vnd.docker.reference.digest. An
// attestation whose subject is none of manifests follows, in node order.
func attestations(ps []layoutPart, manifests []ocispec.Descriptor) ([]ocispec.Descriptor, []int) {
	type att struct {
		d    ocispec.Descriptor
		part int
		pos  int
	}
	var all []att
	for i, lp := range ps {
		for _, d := range lp.index.Manifests {
			if !oci.IsAttestation(d) {
				continue
			}
			pos := len(manifests)
			for j, m := range manifests {
				if d.Annotations[oci.AnnotationDockerReferenceDigest] == m.Digest.String() {
					pos = j
					break
				}
			}
			all = append(all, att{d, i, pos})
		}
	}
	slices.SortStableFunc(all, func(a, b att) int { return cmp.Compare(a.pos, b.pos) })
	out := make([]ocispec.Descriptor, len(all))
	from := make([]int, len(all))
	for i, a := range all {
		out[i], from[i] = a.d, a.part
	}
	return out, from
}

// latestCreated returns the latest org.opencontainers.image.created of
// ms, as it is written there; values that are not RFC 3339 times are
// passed over. ok is false when none is one.
func latestCreated(ms []map[string]string) (string, bool) {
	var latest time.Time
	out := ""
	for _, m := range ms {
		v, has := m[ocispec.AnnotationCreated]
		if !has {
			continue
		}
		t, err := oci.ParseTime(v)
		if err != nil {
			continue
		}
		if out == "" || t.After(latest) {
			latest, out = t, v
		}
	}
	return out, out != ""
}

// agreed returns the entries that every map has with the same value; nil
// when there are none.
func agreed(ms []map[string]string) map[string]string {
	if len(ms) == 0 {
		return nil
	}
	var out map[string]string
	for k, v := range ms[0] {
		same := true
		for _, m := range ms[1:] {
			if w, ok := m[k]; !ok || w != v {
				same = false
				break
			}
		}
		if same {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// maxDepth bounds how deeply linkTree follows nested indexes.
const maxDepth = 8

// linkTree hard-links the blob d of the layout src into the layout dst
// (copying when a link is not possible), and for a manifest or an index
// what it references: config and layers, or the manifests listed, nested.
// A config or layer blob src lacks is skipped, as BuildKit leaves out
// non-distributable layers; a manifest or index it lacks is an error.
// Blobs dst has are kept.
func linkTree(ctx context.Context, src, dst string, d ocispec.Descriptor, depth int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("descriptor %q: %w", d.Digest, err)
	}
	rel := filepath.Join(ocispec.ImageBlobsDir, d.Digest.Algorithm().String(), d.Digest.Encoded())
	from, to := filepath.Join(src, rel), filepath.Join(dst, rel)
	isManifest, isIndex := oci.IsManifest(d.MediaType), oci.IsIndex(d.MediaType)
	if _, err := os.Stat(from); errors.Is(err, fs.ErrNotExist) && !isManifest && !isIndex {
		return nil
	}
	if err := linkFile(from, to); err != nil {
		return err
	}
	if !isManifest && !isIndex {
		return nil
	}
	if depth >= maxDepth {
		return fmt.Errorf("%s: indexes nested more than %d deep", d.Digest, maxDepth)
	}
	b, err := readVerified(from, d)
	if err != nil {
		return err
	}
	var children []ocispec.Descriptor
	if isManifest {
		var m ocispec.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		children = append([]ocispec.Descriptor{m.Config}, m.Layers...)
	} else {
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return fmt.Errorf("index %s: %w", d.Digest, err)
		}
		children = idx.Manifests
	}
	for _, c := range children {
		if err := linkTree(ctx, src, dst, c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// readVerified reads the blob file p, which must hold d.
func readVerified(p string, d ocispec.Descriptor) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, d.Size+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != d.Size || digest.FromBytes(b) != d.Digest {
		return nil, fmt.Errorf("blob %s: %s does not hold it (%d bytes)", d.Digest, p, len(b))
	}
	return b, nil
}

// linkFile hard-links from at to (copying when a link is not possible);
// an existing to is kept.
func linkFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	if err := os.Link(from, to); err == nil || errors.Is(err, fs.ErrExist) {
		return nil
	}
	return copyFile(from, to)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(to), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("copying %s: %w", from, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o444); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), to)
}

// writeBlob writes b as the blob d of the layout dir.
func writeBlob(dir string, d digest.Digest, b []byte) error {
	p := filepath.Join(dir, ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o444)
}
