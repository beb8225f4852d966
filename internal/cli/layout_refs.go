package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
)

// layoutTags is index.json's entries with the referrers tag indexes
// brought up to date (see referrersTags).
type layoutTags struct {
	// entries are the entries index.json had, a tag index that gained
	// referrers replaced in place (as regctl replaces a tag).
	entries []ocispec.Descriptor
	// added are the entries of tag indexes the layout had none of, to
	// list after the rest, in the order of refs' subjects.
	added []ocispec.Descriptor
	// changed reports whether entries differs from what index.json has.
	changed bool
}

// referrersTags writes into the layout at dir (read through f), for each
// subject of refs, the referrers tag schema index regctl reads (and
// writes) in a layout: an image index tagged sha256-<hex> of the subject
// in index.json, listing the referrers' descriptors (artifactType and
// annotations of each manifest). oras reads the other form, the referrer
// manifests listed in index.json themselves, which the caller writes: a
// layout with both is read the same by both tools (the tag index has no
// subject, so oras does not take it for a referrer). A tag index the
// layout has (affix's or regctl's) keeps its entries and gains the
// missing ones after them. A subject whose tag names something else than
// an index, or an index that cannot be read, keeps it as it is, with a
// warning on warn: another tool's damage does not fail the attach, nor is
// what that index lists lost. A referrer of refs that cannot be read
// fails (the caller gives only referrers it wrote or could read). The
// same entries and refs always give the same bytes. The caller holds the
// layout's lock and writes index.json.
func referrersTags(ctx context.Context, dir string, f oci.Fetcher, entries []ocispec.Descriptor, refs []exporter.Referrer, warn io.Writer) (layoutTags, error) {
	out := layoutTags{entries: slices.Clone(entries)}
	var subjects []digest.Digest
	bySubject := map[digest.Digest][]ocispec.Descriptor{}
	for _, r := range refs {
		if _, ok := bySubject[r.Subject]; !ok {
			subjects = append(subjects, r.Subject)
		}
		d, err := referrerDescriptor(ctx, f, r.Descriptor)
		if err != nil {
			return layoutTags{}, fmt.Errorf("oci-layout:%s: referrer %s of %s: %w", dir, r.Descriptor.Digest, r.Subject, err)
		}
		bySubject[r.Subject] = append(bySubject[r.Subject], d)
	}
	for _, s := range subjects {
		tag := exporter.ReferrersTag(s)
		i := oci.FindTagEntry(out.entries, tag)
		var old *ocispec.Index
		if i >= 0 {
			e := out.entries[i]
			if !oci.IsIndex(e.MediaType) {
				fmt.Fprintf(warn, "affix: warning: oci-layout:%s: index.json tags %s %s as %s, not as the referrers index of %s: left as it is, regctl will not list the new referrers\n", dir, e.Digest, tag, printable(e.MediaType), s)
				continue
			}
			old = &ocispec.Index{}
			if _, err := oci.ReadJSON(ctx, f, e, old); err != nil {
				fmt.Fprintf(warn, "affix: warning: oci-layout:%s: the referrers index %s of %s cannot be read, left as it is (regctl will not list the new referrers): %v\n", dir, tag, s, err)
				continue
			}
		}
		idx, added := oci.ReferrersTagIndex(old, bySubject[s])
		if !added {
			continue
		}
		b, desc, err := oci.EncodeReferrersTagIndex(idx)
		if err != nil {
			return layoutTags{}, err
		}
		if err := writeLayoutBlob(dir, desc, b); err != nil {
			return layoutTags{}, fmt.Errorf("oci-layout:%s: referrers index %s of %s: %w", dir, tag, s, err)
		}
		entry := oci.ReferrersTagEntry(desc, tag)
		if i < 0 {
			out.added = append(out.added, entry)
			continue
		}
		// As regctl moves a tag: the entry in place, and any other entry
		// of the same tag (which it would never read) dropped.
		out.entries[i] = entry
		out.entries = slices.Concat(out.entries[:i+1], slices.DeleteFunc(slices.Clone(out.entries[i+1:]), func(d ocispec.Descriptor) bool {
			return d.Annotations[ocispec.AnnotationRefName] == tag
		}))
		out.changed = true
	}
	return out, nil
}

// referrerDescriptor returns the referrer manifest d as the referrers tag
// index lists it: its media type, digest and size, and the artifactType
// (else config media type) and annotations of the manifest itself, read
// through f, as regctl copies them (not what a descriptor of it says).
func referrerDescriptor(ctx context.Context, f oci.Fetcher, d ocispec.Descriptor) (ocispec.Descriptor, error) {
	d = ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	var m ocispec.Manifest
	if _, err := oci.ReadJSON(ctx, f, d, &m); err != nil {
		return ocispec.Descriptor{}, err
	}
	return oci.ReferrerDescriptor(d, m), nil
}

// writeLayoutBlob stores b, which desc describes, as a blob of the layout
// at dir, unless it holds it already; through writeFileAtomic, so that a
// reader never sees part of it.
func writeLayoutBlob(dir string, desc ocispec.Descriptor, b []byte) error {
	p := filepath.Join(dir, ocispec.ImageBlobsDir, desc.Digest.Algorithm().String(), desc.Digest.Encoded())
	// Only a regular file is read: not a FIFO, nor a link out of dir.
	if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && fi.Size() == desc.Size {
		if have, err := os.ReadFile(p); err == nil && bytes.Equal(have, b) {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(p, func(w io.Writer) error { _, err := w.Write(b); return err })
}
