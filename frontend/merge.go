package frontend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

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
// p.groups[i] built), in p.platforms order:
//
//   - manifest descriptors are copied unchanged (platform, annotations);
//     attestation manifests, if any, follow the platform manifests in node
//     order, as BuildKit orders them;
//   - an index annotation is kept when every node's index has it with the
//     same value, and dropped otherwise; the same holds for the
//     index.json entry's annotations (annotation-index-descriptor), which
//     then gets the tag names as BuildKit's client writes them;
//   - the index is encoded as BuildKit encodes it (two-space indented
//     JSON of the image-spec struct), so its bytes depend only on the
//     manifests and annotations: reproducible builds reproduce its
//     digest, and it equals the index one node would have built;
//   - blobs are hard-linked (copied across file systems), never re-read
//     through a tar.
func merge(ctx context.Context, out string, parts []string, p *plan) (ocispec.Descriptor, []ocispec.Descriptor, error) {
	ps := make([]layoutPart, len(parts))
	for i, dir := range parts {
		lp, err := readPart(ctx, dir)
		if err != nil {
			return ocispec.Descriptor{}, nil, err
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
	for _, w := range p.platforms {
		gi := groupOf(p.groups, w)
		if gi < 0 {
			return ocispec.Descriptor{}, nil, fmt.Errorf("platform %s: %w", platforms.FormatAll(w), ErrNoNode)
		}
		ms, err := platformManifests(ps[gi].index, []ocispec.Platform{w})
		if err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("node %s: %w", p.groups[gi].node, err)
		}
		idx.Manifests = append(idx.Manifests, ms[0])
	}
	manifests := append([]ocispec.Descriptor(nil), idx.Manifests...)
	for _, lp := range ps {
		for _, d := range lp.index.Manifests {
			if oci.IsAttestation(d) {
				idx.Manifests = append(idx.Manifests, d)
			}
		}
	}
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
		return ocispec.Descriptor{}, nil, err
	}
	for _, lp := range ps {
		if err := linkBlobs(ctx, lp.dir, out); err != nil {
			return ocispec.Descriptor{}, nil, err
		}
	}
	root := oci.DescriptorFor(idx.MediaType, b)
	if err := writeBlob(out, root.Digest, b); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	root.Annotations = agreed(rootAnn)
	names := []ociindex.NameOrTag{ociindex.Tag("latest")}
	if len(p.names) > 0 {
		names = names[:0]
		for _, n := range p.names {
			names = append(names, ociindex.Name(n))
		}
	}
	if err := ociindex.NewStoreIndex(out).Put(root, names...); err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("writing %s: %w", filepath.Join(out, ocispec.ImageIndexFile), err)
	}
	// Return the descriptor as index.json lists it.
	rd, _, err := readResult(ctx, out, p.platforms)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if rd.Digest != root.Digest {
		return ocispec.Descriptor{}, nil, fmt.Errorf("merged layout %s: index.json lists %s, want %s", out, rd.Digest, root.Digest)
	}
	return rd, manifests, nil
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

// linkBlobs hard-links every blob of the layout src into the layout dst
// (copying when a link is not possible); blobs dst has are kept.
func linkBlobs(ctx context.Context, src, dst string) error {
	root := filepath.Join(src, ocispec.ImageBlobsDir)
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := os.Link(path, to); err == nil || errors.Is(err, fs.ErrExist) {
			return nil
		}
		return copyFile(path, to)
	})
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
