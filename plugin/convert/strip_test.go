package convert_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/plugin/convert"
)

// TestConvertStripKeepsEntryBytes: the stripped index is the index read
// minus its attestation entries, byte for byte (vendor fields,
// platform.features, empty annotations, top-level order, no HTML
// escaping).
func TestConvertStripKeepsEntryBytes(t *testing.T) {
	ctx := context.Background()
	src, root, _ := buildkitLayout(t, crafted{odd: true})
	all, err := oci.ReadBlob(ctx, src, root, 0)
	if err != nil {
		t.Fatal(err)
	}
	reg := registries(t)[0]
	r, _ := remote(t, reg.Host, "odd")
	push(t, r, src, root, "v1")
	res, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stripped) != 2 {
		t.Fatalf("stripped %d", len(res.Stripped))
	}
	_, got, _, err := r.FetchManifest(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	// The entries as the index lists them, in its order.
	want := string(all)
	for _, s := range res.Stripped {
		i := strings.Index(want, `"digest":"`+s.Digest.String())
		start := strings.LastIndex(want[:i], ",\n    {")
		end := start + 1 + strings.Index(want[start+1:], ",\n    {")
		if end <= start {
			end = strings.LastIndex(want, "\n  ],")
		}
		want = want[:start] + want[end:]
	}
	if string(got) != want {
		t.Errorf("stripped index\n%s\nwant\n%s", got, want)
	}
}

// TestConvertStripNoHints: attestation manifests listed without platform
// and annotations (only their artifactType says what they are) are paired
// through their subject, converted and stripped; without a subject they
// are for no platform, named so, and stripped only with DropUnconverted:
// never a strip that succeeds and strips nothing.
func TestConvertStripNoHints(t *testing.T) {
	ctx := context.Background()
	reg := registries(t)[1]
	for i, tt := range []struct {
		name    string
		c       crafted
		written int
	}{
		{"subject", crafted{noHints: true}, 2},
		{"no subject", crafted{noHints: true, noSubject: true}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src, root, manifests := buildkitLayout(t, tt.c)
			r, counter := remote(t, reg.Host, fmt.Sprintf("nohints%d", i))
			push(t, r, src, root, "v1")
			counter.Reset()
			res, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true})
			if tt.c.noSubject {
				var ue *convert.UnconvertedError
				if !errors.As(err, &ue) || len(ue.Unmatched) != 2 || writes(counter) != 0 {
					t.Fatalf("err %v; want an UnconvertedError with 2 unmatched", err)
				}
				if msg := err.Error(); strings.Count(msg, "for no manifest (no vnd.docker.reference.digest, no subject), not a platform manifest") != 2 {
					t.Errorf("message does not say what the attestations lack:\n%s", msg)
				}
				res, err = convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true, DropUnconverted: true})
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Written() != tt.written || len(res.Stripped) != 2 || res.NewIndex.Digest == root.Digest {
				t.Fatalf("written %d, stripped %d, new index %s (old %s)", res.Written(), len(res.Stripped), res.NewIndex.Digest, root.Digest)
			}
			for j, p := range res.Platforms {
				if tt.written > 0 && (p.Attestation.Digest == "" || p.Referrer.Digest == "") {
					t.Errorf("platform %d: attestation %q, referrer %q", j, p.Attestation.Digest, p.Referrer.Digest)
				}
				if p.Manifest.Digest != manifests[j].Digest {
					t.Errorf("platform %d is %s", j, p.Manifest.Digest)
				}
			}
			_, b, _, err := r.FetchManifest(ctx, "v1")
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range res.Stripped {
				if strings.Contains(string(b), s.Digest.String()) {
					t.Errorf("the stripped index lists %s", s.Digest)
				}
			}
			if res.NewIndex.Digest != oci.DescriptorFor(ocispec.MediaTypeImageIndex, b).Digest {
				t.Errorf("tag names another index than NewIndex")
			}
		})
	}
}

// TestUnconvertedErrorNamesSubject: an attestation manifest for no
// platform of the index is named with the manifest it is for, and how
// that was found: its annotation, its subject (listed without hints), or
// neither.
func TestUnconvertedErrorNamesSubject(t *testing.T) {
	byAnn := ocispec.Descriptor{Digest: digest.FromString("a"), Annotations: map[string]string{oci.AnnotationDockerReferenceDigest: digest.FromString("x").String()}}
	bySubject := ocispec.Descriptor{Digest: digest.FromString("b")}
	none := ocispec.Descriptor{Digest: digest.FromString("c")}
	e := &convert.UnconvertedError{Repository: "r/app", Unmatched: []ocispec.Descriptor{byAnn, bySubject, none},
		UnmatchedFor: map[digest.Digest]digest.Digest{byAnn.Digest: digest.FromString("x"), bySubject.Digest: digest.FromString("y")}}
	msg := e.Error()
	for _, want := range []string{
		fmt.Sprintf("attestation %s for %q, not a platform manifest", byAnn.Digest, digest.FromString("x")),
		fmt.Sprintf("attestation %s for %q (its subject), not a platform manifest", bySubject.Digest, digest.FromString("y")),
		fmt.Sprintf("attestation %s for no manifest (no vnd.docker.reference.digest, no subject), not a platform manifest", none.Digest),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}
