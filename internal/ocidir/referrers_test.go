package ocidir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocidir/ocidirtest"
)

// variantsPair writes the Variants fixture's linux/amd64 and linux/arm64/v8
// images (small, nothing compiled).
func variantsPair(t *testing.T) (string, *fixture.Result) {
	t.Helper()
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, fixture.VariantsPair())
	if err != nil {
		t.Fatal(err)
	}
	return dir, res
}

// listInLayout appends entries to the index.json of the layout dir.
func listInLayout(t *testing.T, dir string, entries ...ocispec.Descriptor) {
	t.Helper()
	var top ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &top)
	top.Manifests = append(top.Manifests, entries...)
	tb, _ := json.Marshal(top)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), tb, 0o644); err != nil {
		t.Fatal(err)
	}
}

// putBlob writes v (JSON, unless a []byte) as a blob of the layout in dir.
func putBlob(t *testing.T, dir, mt string, v any) ocispec.Descriptor {
	t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	d := oci.DescriptorFor(mt, b)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// putReferrer writes an artifact manifest of type at about subject into
// the layout in dir, and returns it as exporter.Referrer.
func putReferrer(t *testing.T, dir string, subject ocispec.Descriptor, at, body string) exporter.Referrer {
	t.Helper()
	layer := putBlob(t, dir, at, []byte(body))
	putBlob(t, dir, ocispec.DescriptorEmptyJSON.MediaType, ocispec.DescriptorEmptyJSON.Data)
	d := putBlob(t, dir, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: at,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{layer},
		Subject:      &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations:  map[string]string{"com.example.body": body},
	})
	d.ArtifactType, d.Annotations = at, map[string]string{"com.example.body": body}
	return exporter.Referrer{Subject: subject.Digest, Descriptor: d}
}

// putTagIndex writes the referrers tag index of subject listing refs, as
// regctl writes it, and returns its index.json entry.
func putTagIndex(t *testing.T, dir string, subject ocispec.Descriptor, refs ...exporter.Referrer) ocispec.Descriptor {
	t.Helper()
	var descs []ocispec.Descriptor
	for _, r := range refs {
		descs = append(descs, r.Descriptor)
	}
	idx, _ := oci.ReferrersTagIndex(nil, descs)
	b, desc, err := oci.EncodeReferrersTagIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	putBlob(t, dir, ocispec.MediaTypeImageIndex, b)
	return oci.ReferrersTagEntry(desc, exporter.ReferrersTag(subject.Digest))
}

// TestReferrersTags: ReferrersTags gives each subject regctl's referrers
// tag index, new ones listed after the entries, and one the layout has
// (regctl's, with another's referrer and its own annotations) grows in
// place, keeping what it had; it reads the referrers' own manifests for
// their descriptors; a tag that is no index, or an index it cannot read,
// is left as it is with a warning; a referrer it cannot read fails.
func TestReferrersTags(t *testing.T) {
	ctx := context.Background()
	type layoutCase struct {
		dir     string
		amd     ocispec.Descriptor
		arm     ocispec.Descriptor
		entries []ocispec.Descriptor
		sbomAMD exporter.Referrer
		sbomARM exporter.Referrer
		sig     exporter.Referrer // another's, on amd64
	}
	setup := func(t *testing.T) layoutCase {
		dir, res := variantsPair(t)
		var idx ocispec.Index
		ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &idx)
		c := layoutCase{dir: dir, amd: res.Manifests[0], arm: res.Manifests[1], entries: idx.Manifests}
		c.sbomAMD = putReferrer(t, dir, c.amd, oci.MediaTypeSPDX, "amd")
		c.sbomARM = putReferrer(t, dir, c.arm, oci.MediaTypeSPDX, "arm")
		c.sig = putReferrer(t, dir, c.amd, "application/vnd.example.sig", "sig")
		return c
	}
	// tagIndex writes the referrers tag index of subject listing refs,
	// with an annotation of its own, as another tool would.
	tagIndex := func(t *testing.T, c layoutCase, subject ocispec.Descriptor, refs ...exporter.Referrer) ocispec.Descriptor {
		idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}, Annotations: map[string]string{"com.example.tool": "other"}}
		for _, r := range refs {
			idx.Manifests = append(idx.Manifests, r.Descriptor)
		}
		return oci.ReferrersTagEntry(putBlob(t, c.dir, ocispec.MediaTypeImageIndex, idx), exporter.ReferrersTag(subject.Digest))
	}
	digests := func(rs ...exporter.Referrer) []digest.Digest {
		var out []digest.Digest
		for _, r := range rs {
			out = append(out, r.Descriptor.Digest)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		// prepare returns index.json's entries and the referrers to add.
		prepare func(t *testing.T, c layoutCase) ([]ocispec.Descriptor, []exporter.Referrer)
		// want is what each subject's tag index lists after, by
		// platform ("amd", "arm"), and which are added rather than
		// replaced in place.
		want    func(c layoutCase) map[string][]digest.Digest
		added   []string
		changed bool
		// keeps is an annotation the amd64 tag index keeps.
		keeps bool
		// warning is in what ReferrersTags warns of ("": nothing).
		warning string
		err     string
	}{
		{
			name: "none yet: one per subject, in the referrers' order",
			prepare: func(t *testing.T, c layoutCase) ([]ocispec.Descriptor, []exporter.Referrer) {
				return c.entries, []exporter.Referrer{c.sbomARM, c.sbomAMD, c.sig}
			},
			want: func(c layoutCase) map[string][]digest.Digest {
				return map[string][]digest.Digest{"amd": digests(c.sbomAMD, c.sig), "arm": digests(c.sbomARM)}
			},
			added: []string{"arm", "amd"},
		},
		{
			name: "another's tag index grows in place",
			prepare: func(t *testing.T, c layoutCase) ([]ocispec.Descriptor, []exporter.Referrer) {
				return append(slices.Clone(c.entries), tagIndex(t, c, c.amd, c.sig)), []exporter.Referrer{c.sbomAMD, c.sig, c.sbomARM}
			},
			want: func(c layoutCase) map[string][]digest.Digest {
				return map[string][]digest.Digest{"amd": digests(c.sig, c.sbomAMD), "arm": digests(c.sbomARM)}
			},
			added:   []string{"arm"},
			changed: true,
			keeps:   true,
		},
		{
			name: "complete already: nothing written",
			prepare: func(t *testing.T, c layoutCase) ([]ocispec.Descriptor, []exporter.Referrer) {
				return append(slices.Clone(c.entries), tagIndex(t, c, c.amd, c.sbomAMD, c.sig)), []exporter.Referrer{c.sbomAMD}
			},
			want: func(c layoutCase) map[string][]digest.Digest {
				return map[string][]digest.Digest{"amd": digests(c.sbomAMD, c.sig)}
			},
			keeps: true,
		},
		{
			name: "a second entry of the tag is dropped, as regctl drops it",
			prepare: func(t *testing.T, c layoutCase) ([]ocispec.Descriptor, []exporter.Referrer) {
				return append(slices.Clone(c.entries), tagIndex(t, c, c.amd, c.sig), tagIndex(t, c, c.amd)), []exporter.Referrer{c.sbomAMD}
			},
			want: func(c layoutCase) map[string][]digest.Digest {
				return map[string][]digest.Digest{"amd": digests(c.sig, c.sbomAMD)}
			},
			changed: true,
			keeps:   true,
		},
		{
			name: "the tag names a manifest",
			prepare: func(t *testing.T, c layoutCase) ([]ocispec.Descriptor, []exporter.Referrer) {
				e := c.amd
				e.Annotations = map[string]string{ocispec.AnnotationRefName: exporter.ReferrersTag(c.amd.Digest)}
				return append(slices.Clone(c.entries), e), []exporter.Referrer{c.sbomAMD}
			},
			// Another tool's damage: left as it is, not failing the attach.
			want:    func(c layoutCase) map[string][]digest.Digest { return nil },
			warning: "not as the referrers index of",
		},
		{
			name: "the tag names something with control characters for a type",
			prepare: func(t *testing.T, c layoutCase) ([]ocispec.Descriptor, []exporter.Referrer) {
				e := c.amd
				e.MediaType = "evil\x1b]0;pwned\x07\x1b[2J"
				e.Annotations = map[string]string{ocispec.AnnotationRefName: exporter.ReferrersTag(c.amd.Digest)}
				return append(slices.Clone(c.entries), e), []exporter.Referrer{c.sbomAMD}
			},
			want:    func(c layoutCase) map[string][]digest.Digest { return nil },
			warning: "not as the referrers index of",
		},
		{
			name: "the tag index cannot be read",
			prepare: func(t *testing.T, c layoutCase) ([]ocispec.Descriptor, []exporter.Referrer) {
				e := tagIndex(t, c, c.amd, c.sig)
				if err := os.Remove(filepath.Join(c.dir, "blobs", "sha256", e.Digest.Encoded())); err != nil {
					t.Fatal(err)
				}
				return append(slices.Clone(c.entries), e), []exporter.Referrer{c.sbomAMD}
			},
			want:    func(c layoutCase) map[string][]digest.Digest { return nil },
			warning: "cannot be read, left as it is",
		},
		{
			name: "a referrer manifest cannot be read",
			prepare: func(t *testing.T, c layoutCase) ([]ocispec.Descriptor, []exporter.Referrer) {
				r := c.sbomAMD
				r.Descriptor.Digest = digest.FromString("missing")
				return c.entries, []exporter.Referrer{r}
			},
			err: "referrer " + digest.FromString("missing").String(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := setup(t)
			entries, refs := tc.prepare(t, c)
			l, err := oci.OpenLayout(ctx, c.dir)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			warned, warn := collectWarnings()
			got, err := ReferrersTags(ctx, c.dir, l, entries, refs, warn)
			if tc.warning == "" && len(*warned) != 0 || tc.warning != "" && (len(*warned) != 1 || !strings.Contains((*warned)[0], tc.warning)) {
				t.Errorf("warned %q, want %q", *warned, tc.warning)
			}
			checkWarnings(t, *warned)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Changed != tc.changed {
				t.Errorf("changed = %v, want %v", got.Changed, tc.changed)
			}
			subjects := map[string]ocispec.Descriptor{"amd": c.amd, "arm": c.arm}
			var added []string
			for _, e := range got.Added {
				for n, s := range subjects {
					if e.Annotations[ocispec.AnnotationRefName] == exporter.ReferrersTag(s.Digest) {
						added = append(added, n)
					}
				}
			}
			if !slices.Equal(added, tc.added) {
				t.Errorf("added tag indexes of %v, want %v", added, tc.added)
			}
			// The entries are index.json's, one tag index in place at most.
			if !tc.changed && !slices.EqualFunc(got.Entries, entries, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest }) {
				t.Errorf("entries %v changed, want %v", got.Entries, entries)
			}
			all := append(slices.Clone(got.Entries), got.Added...)
			for n, want := range tc.want(c) {
				tag := exporter.ReferrersTag(subjects[n].Digest)
				var idx ocispec.Index
				var found int
				for _, e := range all {
					if e.Annotations[ocispec.AnnotationRefName] != tag {
						continue
					}
					found++
					if e.MediaType != ocispec.MediaTypeImageIndex || len(e.Annotations) != 1 {
						t.Errorf("%s: entry %+v, want an image index tagged and nothing else", n, e)
					}
					if _, err := oci.ReadJSON(ctx, l, e, &idx); err != nil {
						t.Fatal(err)
					}
				}
				if found != 1 {
					t.Fatalf("%s: %d entries tagged %s, want 1", n, found, tag)
				}
				var have []digest.Digest
				for _, m := range idx.Manifests {
					have = append(have, m.Digest)
					// The manifest's own artifactType and annotations.
					if m.ArtifactType == "" || m.Annotations["com.example.body"] == "" || m.Platform != nil {
						t.Errorf("%s: descriptor %+v, want the manifest's artifactType and annotations", n, m)
					}
				}
				if !slices.Equal(have, want) {
					t.Errorf("%s: tag index lists %v, want %v", n, have, want)
				}
				if n == "amd" && tc.keeps != (idx.Annotations["com.example.tool"] == "other") {
					t.Errorf("%s: tag index annotations %v, kept: want %v", n, idx.Annotations, tc.keeps)
				}
			}
		})
	}
}

// TestAddReferrersDeterministic: the same attach to two copies of a
// layout writes the same bytes (index.json, tag indexes), and again to the
// same layout changes nothing; the readers see each referrer once.
func TestAddReferrersDeterministic(t *testing.T) {
	ctx := context.Background()
	dir, res := variantsPair(t)
	amd, arm := res.Manifests[0], res.Manifests[1]
	refs := []exporter.Referrer{
		putReferrer(t, dir, arm, oci.MediaTypeSPDX, "arm"),
		putReferrer(t, dir, amd, "application/vnd.example.sig", "sig"),
		putReferrer(t, dir, amd, oci.MediaTypeSPDX, "amd"),
	}
	other := t.TempDir()
	if err := os.CopyFS(other, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	// In another order: the same bytes.
	reversed := slices.Clone(refs)
	slices.Reverse(reversed)
	if err := AddReferrers(ctx, dir, refs, nil); err != nil {
		t.Fatal(err)
	}
	if err := AddReferrers(ctx, other, reversed, nil); err != nil {
		t.Fatal(err)
	}
	first := layoutFiles(t, dir)
	if second := layoutFiles(t, other); !maps.Equal(first, second) {
		t.Errorf("the same attach to two copies: files differ\n%v\n%v", first, second)
	}
	if err := AddReferrers(ctx, dir, refs[1:], nil); err != nil {
		t.Fatal(err)
	}
	if again := layoutFiles(t, dir); !maps.Equal(first, again) {
		t.Errorf("attaching again changed the layout")
	}
	var idx ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &idx)
	// The image, 3 referrers, 2 tag indexes.
	if len(idx.Manifests) != 1+3+2 {
		t.Fatalf("index.json lists %d entries, want 6: %+v", len(idx.Manifests), idx.Manifests)
	}
	l, err := oci.OpenLayout(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	images, byLayout, err := oci.SplitRoots(ctx, l, idx.Manifests)
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 1 || images[0].Digest != res.Index.Digest {
		t.Errorf("images %v, want the image %s alone", images, res.Index.Digest)
	}
	if n := len(byLayout[amd.Digest]); n != 2 {
		t.Errorf("%d referrers of %s, want 2 (each once): %+v", n, amd.Digest, byLayout[amd.Digest])
	}
	if n := len(byLayout[arm.Digest]); n != 1 {
		t.Errorf("%d referrers of %s, want 1: %+v", n, arm.Digest, byLayout[arm.Digest])
	}
}

// collectWarnings returns a Warnf that records each warning, and what it
// recorded.
func collectWarnings() (*[]string, Warnf) {
	var got []string
	return &got, func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
}

// checkWarnings checks that each warning is what Warnf takes: one
// sentence, the prefix and the newline left to the caller, and what
// another tool wrote (a media type) escaped.
func checkWarnings(t *testing.T, warnings []string) {
	t.Helper()
	for _, w := range warnings {
		if strings.Contains(w, "warning:") || strings.HasPrefix(w, "affix") || strings.ContainsAny(w, "\n\x1b\x07") {
			t.Errorf("warning %q: want one line, without a prefix, printable", w)
		}
	}
}

// layoutFiles returns the layout in dir as file name to content.
func layoutFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join(dir, p))
		out[p] = string(b)
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// TestAddReferrersBothForms: an attach brings both forms up to date
// with every referrer the layout has: one only oras attach --oci-layout
// recorded (an index.json entry) joins the tag index of its subject, the
// attach's or another (so that regctl image copy --referrers carries it),
// one only regctl artifact put recorded (the tag index) is listed in
// index.json.
func TestAddReferrersBothForms(t *testing.T) {
	ctx := context.Background()
	dir, res := variantsPair(t)
	amd, arm := res.Manifests[0], res.Manifests[1]
	orasRef := putReferrer(t, dir, amd, "application/vnd.example.oras", "oras")
	armRef := putReferrer(t, dir, arm, "application/vnd.example.oras", "oras-arm")
	regctlRef := putReferrer(t, dir, amd, "application/vnd.example.regctl", "regctl")
	listInLayout(t, dir, orasRef.Descriptor, armRef.Descriptor, putTagIndex(t, dir, amd, regctlRef))

	sig := putReferrer(t, dir, amd, "application/vnd.example.sig", "sig")
	if err := AddReferrers(ctx, dir, []exporter.Referrer{sig}, nil); err != nil {
		t.Fatal(err)
	}
	// regctl's entry first (kept in place), then the others by type.
	want := []digest.Digest{regctlRef.Descriptor.Digest, orasRef.Descriptor.Digest, sig.Descriptor.Digest}
	if got := ocidirtest.TagIndex(t, dir, amd.Digest); !slices.Equal(got, want) {
		t.Errorf("referrers tag index of %s lists %v, want %v", amd.Digest, got, want)
	}
	if got := ocidirtest.TagIndex(t, dir, arm.Digest); !slices.Equal(got, []digest.Digest{armRef.Descriptor.Digest}) {
		t.Errorf("referrers tag index of %s (not attached to) lists %v, want oras's referrer %s", arm.Digest, got, armRef.Descriptor.Digest)
	}
	var idx ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &idx)
	var listed []digest.Digest
	for _, e := range idx.Manifests {
		if e.ArtifactType != "" {
			listed = append(listed, e.Digest)
		}
	}
	wantListed := []digest.Digest{orasRef.Descriptor.Digest, armRef.Descriptor.Digest, regctlRef.Descriptor.Digest, sig.Descriptor.Digest}
	if !slices.Equal(listed, wantListed) {
		t.Errorf("index.json lists the referrers %v, want %v (the layout's, then regctl's and the attach's)", listed, wantListed)
	}
	for _, e := range idx.Manifests {
		if e.Digest == regctlRef.Descriptor.Digest && (e.ArtifactType != "application/vnd.example.regctl" || e.Annotations["com.example.body"] != "regctl") {
			t.Errorf("index.json entry of regctl's referrer %+v, want its artifactType and annotations", e)
		}
	}
}

// TestAddReferrersDamaged: a referrer another tool listed in the
// tag index whose manifest is gone does not fail the attach: it is left
// where it is listed (the tag index keeps it), not listed in index.json
// (which never names a missing blob), with a warning naming it.
func TestAddReferrersDamaged(t *testing.T) {
	ctx := context.Background()
	dir, res := variantsPair(t)
	amd := res.Manifests[0]
	gone := putReferrer(t, dir, amd, "application/vnd.example.gone", "gone")
	listInLayout(t, dir, putTagIndex(t, dir, amd, gone))
	if err := os.Remove(filepath.Join(dir, "blobs", "sha256", gone.Descriptor.Digest.Encoded())); err != nil {
		t.Fatal(err)
	}

	// Two referrers of the subject: one warning.
	sig := putReferrer(t, dir, amd, "application/vnd.example.sig", "sig")
	vex := putReferrer(t, dir, amd, "application/vnd.example.vex", "vex")
	// A nil Warnf drops the warning; the attach is the same.
	dropped := t.TempDir()
	if err := os.CopyFS(dropped, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := AddReferrers(ctx, dropped, []exporter.Referrer{sig, vex}, nil); err != nil {
		t.Fatal(err)
	}
	warned, warn := collectWarnings()
	if err := AddReferrers(ctx, dir, []exporter.Referrer{sig, vex}, warn); err != nil {
		t.Fatal(err)
	}
	if len(*warned) != 1 || !strings.Contains((*warned)[0], gone.Descriptor.Digest.String()+" of") {
		t.Errorf("warned %q, want one warning naming the missing referrer %s", *warned, gone.Descriptor.Digest)
	}
	checkWarnings(t, *warned)
	if a, b := layoutFiles(t, dir), layoutFiles(t, dropped); !maps.Equal(a, b) {
		t.Errorf("the attach with warnings dropped wrote another layout")
	}
	if got, want := ocidirtest.TagIndex(t, dir, amd.Digest), []digest.Digest{gone.Descriptor.Digest, sig.Descriptor.Digest, vex.Descriptor.Digest}; !slices.Equal(got, want) {
		t.Errorf("tag index lists %v, want %v (another's entry kept)", got, want)
	}
	var idx ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &idx)
	for _, e := range idx.Manifests {
		if e.Digest == gone.Descriptor.Digest {
			t.Errorf("index.json lists the missing referrer %s", e.Digest)
		}
	}
}
