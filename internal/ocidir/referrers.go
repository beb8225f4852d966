package ocidir

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/printable"
)

// Warnf receives a warning: format and args make one sentence, without a
// prefix or a trailing newline. The caller decides how it is printed
// (affix prints "NAME: warning: TEXT", NAME the command's display name),
// and escapes it: the layout's path and an error may hold control
// characters (a media type another tool wrote comes escaped already). A
// nil Warnf drops warnings.
type Warnf func(format string, args ...any)

// warn calls w, unless it is nil.
func (w Warnf) warn(format string, args ...any) {
	if w != nil {
		w(format, args...)
	}
}

// AddReferrers lists refs in the index.json of the layout at dir in both
// forms readers take: each referrer manifest itself, after the entries it
// has (each once; what oras reads), and, for each subject, the referrers
// tag index (sha256-<hex>; what regctl reads) the layout has gaining those
// it lacks, or a new one listed last (see ReferrersTags). The order is
// fixed, so that the same attach gives the same bytes. It holds the
// directory's lock while it reads and writes: another affix attaching to
// the layout at the same time does not lose its entries to ours. Warnings
// (another tool's damage, left as it is) go to warn (see Warnf; nil drops
// them).
func AddReferrers(ctx context.Context, dir string, refs []exporter.Referrer, warn Warnf) error {
	unlock, err := lock(dir)
	if err != nil {
		return err
	}
	defer unlock()
	// Read as every layout is (oci.Open): an index.json that became a
	// link out of the layout, a FIFO or too big is refused, not read.
	l, err := oci.Open(ctx, oci.Source{Scheme: oci.SchemeLayout, Path: dir})
	if err != nil {
		return err
	}
	defer l.Close()
	idx := l.Index()
	// Every referrer of this attach, and every other referrer the layout
	// has, in either form (oras attach --oci-layout's index.json entries,
	// regctl artifact put's tag indexes, an older affix's): after an
	// attach both forms list them all, so that oras and regctl see the
	// same referrers of every manifest (and regctl image copy --referrers
	// carries what oras attach added). One of the others whose manifest
	// cannot be read stays as it is, with a warning: another tool's damage
	// does not fail the attach, and index.json never lists a missing blob.
	_, listed, _ := oci.ClassifyRoots(ctx, l, idx.Manifests)
	var all []exporter.Referrer
	has := func(d digest.Digest) bool {
		return slices.ContainsFunc(all, func(a exporter.Referrer) bool { return a.Descriptor.Digest == d })
	}
	for _, r := range refs {
		if !has(r.Descriptor.Digest) {
			all = append(all, r)
		}
	}
	var subjects []digest.Digest
	for _, r := range refs {
		if !slices.Contains(subjects, r.Subject) {
			subjects = append(subjects, r.Subject)
		}
	}
	for _, s := range slices.Sorted(maps.Keys(listed)) {
		if !slices.Contains(subjects, s) {
			subjects = append(subjects, s)
		}
	}
	for _, s := range subjects {
		for _, d := range listed[s] {
			if has(d.Digest) {
				continue
			}
			if _, err := referrerDescriptor(ctx, l, d); err != nil {
				warn.warn("referrer %s of %s cannot be read; left where it is listed (oras or regctl still lists it, the other does not): %v", d.Digest, s, err)
				continue
			}
			all = append(all, exporter.Referrer{Subject: s, Descriptor: d})
		}
	}
	slices.SortStableFunc(all, func(a, b exporter.Referrer) int {
		return cmp.Or(strings.Compare(a.Subject.String(), b.Subject.String()), strings.Compare(a.Descriptor.ArtifactType, b.Descriptor.ArtifactType), strings.Compare(a.Descriptor.Digest.String(), b.Descriptor.Digest.String()))
	})
	tags, err := ReferrersTags(ctx, dir, l, idx.Manifests, all, warn)
	if err != nil {
		return err
	}
	// oras's form: the referrer manifests index.json does not list yet.
	var descs []ocispec.Descriptor
	for _, r := range all {
		if !slices.ContainsFunc(idx.Manifests, func(e ocispec.Descriptor) bool { return e.Digest == r.Descriptor.Digest }) {
			descs = append(descs, r.Descriptor)
		}
	}
	if len(descs) == 0 && !tags.Changed && len(tags.Added) == 0 {
		return nil
	}
	return RewriteIndex(dir, idx, tags.Entries, append(descs, tags.Added...))
}

// Tags is index.json's entries with the referrers tag indexes brought up
// to date (see ReferrersTags).
type Tags struct {
	// Entries are the entries index.json had, a tag index that gained
	// referrers replaced in place (as regctl replaces a tag).
	Entries []ocispec.Descriptor
	// Added are the entries of tag indexes the layout had none of, to
	// list after the rest, in the order of refs' subjects.
	Added []ocispec.Descriptor
	// Changed reports whether Entries differs from what index.json has.
	Changed bool
}

// ReferrersTags writes into the layout at dir (read through f), for each
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
// warning on warn (see Warnf; nil drops it): another tool's damage does
// not fail the attach, nor is what that index lists lost. A referrer of
// refs that cannot be read fails (the caller gives only referrers it wrote
// or could read). The same entries and refs always give the same bytes.
// The caller writes index.json (RewriteIndex), and sees that no other
// writer changes the layout meanwhile (AddReferrers holds its lock).
func ReferrersTags(ctx context.Context, dir string, f oci.Fetcher, entries []ocispec.Descriptor, refs []exporter.Referrer, warn Warnf) (Tags, error) {
	out := Tags{Entries: slices.Clone(entries)}
	var subjects []digest.Digest
	bySubject := map[digest.Digest][]ocispec.Descriptor{}
	for _, r := range refs {
		if _, ok := bySubject[r.Subject]; !ok {
			subjects = append(subjects, r.Subject)
		}
		d, err := referrerDescriptor(ctx, f, r.Descriptor)
		if err != nil {
			return Tags{}, fmt.Errorf("oci-layout:%s: referrer %s of %s: %w", dir, r.Descriptor.Digest, r.Subject, err)
		}
		bySubject[r.Subject] = append(bySubject[r.Subject], d)
	}
	for _, s := range subjects {
		tag := exporter.ReferrersTag(s)
		i := oci.FindTagEntry(out.Entries, tag)
		var old *ocispec.Index
		if i >= 0 {
			e := out.Entries[i]
			if !oci.IsIndex(e.MediaType) {
				warn.warn("oci-layout:%s: index.json tags %s %s as %s, not as the referrers index of %s: left as it is, regctl will not list the new referrers", dir, e.Digest, tag, printable.String(e.MediaType), s)
				continue
			}
			old = &ocispec.Index{}
			if _, err := oci.ReadJSON(ctx, f, e, old); err != nil {
				warn.warn("oci-layout:%s: the referrers index %s of %s cannot be read, left as it is (regctl will not list the new referrers): %v", dir, tag, s, err)
				continue
			}
		}
		idx, added := oci.ReferrersTagIndex(old, bySubject[s])
		if !added {
			continue
		}
		b, desc, err := oci.EncodeReferrersTagIndex(idx)
		if err != nil {
			return Tags{}, err
		}
		if err := writeBlob(dir, desc, b); err != nil {
			return Tags{}, fmt.Errorf("oci-layout:%s: referrers index %s of %s: %w", dir, tag, s, err)
		}
		entry := oci.ReferrersTagEntry(desc, tag)
		if i < 0 {
			out.Added = append(out.Added, entry)
			continue
		}
		// As regctl moves a tag: the entry in place, and any other entry
		// of the same tag (which it would never read) dropped.
		out.Entries[i] = entry
		out.Entries = slices.Concat(out.Entries[:i+1], slices.DeleteFunc(slices.Clone(out.Entries[i+1:]), func(d ocispec.Descriptor) bool {
			return d.Annotations[ocispec.AnnotationRefName] == tag
		}))
		out.Changed = true
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
