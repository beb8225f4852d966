package convert_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/plugin/convert"
	"github.com/affix-oci/affix/sbomgen"
)

// referrer returns the one referrer of subject with artifactType, its
// manifest and its single layer, checking the referrer's shape.
func referrer(t *testing.T, r *exporter.Remote, subject ocispec.Descriptor, artifactType string) (ocispec.Descriptor, ocispec.Manifest, []byte) {
	t.Helper()
	ctx := context.Background()
	refs, _, err := exporter.NewFinder(r).Referrers(ctx, subject.Digest)
	if err != nil {
		t.Fatal(err)
	}
	var found []ocispec.Descriptor
	for _, d := range refs {
		if d.ArtifactType == artifactType {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d referrers of type %s, want 1: %+v", oci.FormatPlatform(*subject.Platform), len(found), artifactType, refs)
	}
	var m ocispec.Manifest
	if _, err := oci.ReadJSON(ctx, r, found[0], &m); err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != artifactType || m.Config.MediaType != ocispec.MediaTypeEmptyJSON || len(m.Layers) != 1 || m.Layers[0].MediaType != artifactType {
		t.Errorf("referrer manifest %+v", m)
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest {
		t.Errorf("referrer subject %+v, want %s", m.Subject, subject.Digest)
	}
	for k, v := range m.Annotations {
		if found[0].Annotations[k] != v {
			t.Errorf("referrers index entry lacks annotation %s=%s", k, v)
		}
	}
	b, err := oci.ReadBlob(ctx, r, m.Layers[0], convert.MaxStatementSize)
	if err != nil {
		t.Fatal(err)
	}
	return found[0], m, b
}

// TestConvertRegistries converts the fixture's BuildKit-style attestations
// on olareg with and without the referrers API and on docker-registry:
// one SPDX referrer per platform, a rerun writes nothing, stripping moves
// the tag to an index without attestations, and a rerun of that writes
// nothing either.
func TestConvertRegistries(t *testing.T) {
	ctx := context.Background()
	spec := fixture.Variants()
	spec.Attestations = true
	src, fres := fixtureLayout(t, spec)
	for _, reg := range registries(t) {
		t.Run(string(reg.Kind), func(t *testing.T) {
			r, counter := remote(t, reg.Host, "app")
			push(t, r, src, fres.Index, "v1")
			counter.Reset()

			res, err := convert.Convert(ctx, r, "v1", convert.Options{})
			if err != nil {
				t.Fatal(err)
			}
			wantMode := exporter.ModeTagSchema
			if reg.Referrers {
				wantMode = exporter.ModeAPI
			}
			if res.Mode != wantMode {
				t.Errorf("mode %s, want %s", res.Mode, wantMode)
			}
			if res.Index.Digest != fres.Index.Digest || res.NewIndex.Digest != fres.Index.Digest || len(res.Stripped) != 0 {
				t.Errorf("index %s -> %s, stripped %d; want %s unchanged", res.Index.Digest, res.NewIndex.Digest, len(res.Stripped), fres.Index.Digest)
			}
			if len(res.Platforms) != len(fres.Manifests) || res.Written() != len(fres.Manifests) {
				t.Fatalf("%d platforms, %d written, want %d", len(res.Platforms), res.Written(), len(fres.Manifests))
			}
			for i, p := range res.Platforms {
				m := fres.Manifests[i]
				if p.Manifest.Digest != m.Digest || p.Attestation.Digest != fres.Attestations[i].Digest || p.Existed || p.Extras != 0 {
					t.Errorf("platform %d: %+v", i, p)
				}
				d, man, doc := referrer(t, r, m, oci.MediaTypeSPDX)
				if d.Digest != p.Referrer.Digest {
					t.Errorf("%s: referrer %s, result says %s", oci.FormatPlatform(*m.Platform), d.Digest, p.Referrer.Digest)
				}
				want := map[string]string{
					ocispec.AnnotationCreated: "2024-01-02T03:04:05Z", // the fixture's creationInfo.created
					oci.AnnotationGenerator:   "fixture",
					oci.AnnotationPlatform:    oci.FormatPlatform(*m.Platform),
					oci.AnnotationFormat:      "spdx-json",
				}
				if !equalMaps(man.Annotations, want) {
					t.Errorf("annotations %v, want %v", man.Annotations, want)
				}
				var v struct {
					SPDXVersion string `json:"spdxVersion"`
				}
				if err := json.Unmarshal(doc, &v); err != nil || v.SPDXVersion != "SPDX-2.3" {
					t.Errorf("layer is not the SPDX document: %.200s", doc)
				}
			}

			// A second run writes nothing.
			counter.Reset()
			again, err := convert.Convert(ctx, r, "v1", convert.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if again.Written() != 0 || writes(counter) != 0 {
				t.Errorf("rerun wrote %d referrers, %d write requests: %v", again.Written(), writes(counter), counter.Log())
			}
			for i, p := range again.Platforms {
				if !p.Existed || p.Referrer.Digest != res.Platforms[i].Referrer.Digest {
					t.Errorf("rerun platform %d: %+v", i, p)
				}
			}

			// Strip: the tag moves to an index without attestations.
			stripped, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true})
			if err != nil {
				t.Fatal(err)
			}
			if stripped.Index.Digest != fres.Index.Digest || stripped.NewIndex.Digest == fres.Index.Digest || len(stripped.Stripped) != len(fres.Attestations) || stripped.Written() != 0 {
				t.Errorf("strip: %s -> %s, %d stripped, %d written", stripped.Index.Digest, stripped.NewIndex.Digest, len(stripped.Stripped), stripped.Written())
			}
			tagged, _, _, err := r.FetchManifest(ctx, "v1")
			if err != nil {
				t.Fatal(err)
			}
			if tagged.Digest != stripped.NewIndex.Digest {
				t.Errorf("v1 is %s, want the new index %s", tagged.Digest, stripped.NewIndex.Digest)
			}
			imgs, err := oci.Walk(ctx, r, tagged)
			if err != nil {
				t.Fatal(err)
			}
			if len(imgs) != len(fres.Manifests) {
				t.Errorf("new index lists %d manifests, want %d", len(imgs), len(fres.Manifests))
			}
			for _, img := range imgs {
				if img.Attestation {
					t.Errorf("new index lists attestation %s", img.Descriptor.Digest)
				}
				referrer(t, r, img.Descriptor, oci.MediaTypeSPDX)
			}

			// Nothing left to do.
			counter.Reset()
			last, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true})
			if err != nil {
				t.Fatal(err)
			}
			if last.NewIndex.Digest != stripped.NewIndex.Digest || last.Index.Digest != stripped.NewIndex.Digest || writes(counter) != 0 {
				t.Errorf("rerun of strip: %s -> %s, %d write requests", last.Index.Digest, last.NewIndex.Digest, writes(counter))
			}
			for _, p := range last.Platforms {
				if p.Attestation.Digest != "" || len(p.SBOMReferrers) != 1 || p.SBOMReferrers[0].ArtifactType != oci.MediaTypeSPDX {
					t.Errorf("rerun of strip, %s: attestation %s, SBOM referrers %+v", oci.FormatPlatform(*p.Manifest.Platform), p.Attestation.Digest, p.SBOMReferrers)
				}
			}
		})
	}
}

// TestConvertBuildKitAttestations converts attestation manifests as
// BuildKit v0.34 writes them, with an extra stage's SBOM and provenance:
// only the image's SBOM is published, and it names the platform manifest.
func TestConvertBuildKitAttestations(t *testing.T) {
	ctx := context.Background()
	src, root, manifests := buildkitLayout(t, crafted{extras: true, provenance: true})
	for _, reg := range registries(t) {
		t.Run(string(reg.Kind), func(t *testing.T) {
			r, counter := remote(t, reg.Host, "example/app")
			push(t, r, src, root, "v1")
			// Stripping would drop the provenance and the stage SBOMs:
			// refused, nothing written.
			counter.Reset()
			_, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true})
			var ue *convert.UnconvertedError
			if !errors.As(err, &ue) || !errors.Is(err, convert.ErrUnconverted) || len(ue.Platforms) != 2 {
				t.Fatalf("strip: %v, want an UnconvertedError for 2 platforms", err)
			}
			for _, p := range ue.Platforms {
				var what []string
				for _, st := range p.Unconverted {
					what = append(what, st.What+" "+st.PredicateType)
					if st.Extra != (st.What == "SBOM of another build stage or the build context") {
						t.Errorf("%s: Extra %v", st, st.Extra)
					}
				}
				want := []string{"SLSA provenance https://slsa.dev/provenance/v0.2", "SBOM of another build stage or the build context " + convert.PredicateSPDX, "SBOM of another build stage or the build context " + convert.PredicateSPDX}
				if !slices.Equal(what, want) {
					t.Errorf("%s: unconverted %q, want %q", oci.FormatPlatform(*p.Manifest.Platform), what, want)
				}
			}
			if msg := err.Error(); !strings.Contains(msg, "https://slsa.dev/provenance/v0.2") || strings.Count(msg, "SBOM of another build stage") != 4 {
				t.Errorf("message does not name the statements:\n%s", msg)
			}
			if writes(counter) != 0 {
				t.Errorf("refused strip wrote: %v", counter.Log())
			}
			res, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true, DropUnconverted: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Written() != 2 || len(res.Stripped) != 2 {
				t.Fatalf("written %d, stripped %d", res.Written(), len(res.Stripped))
			}
			for i, p := range res.Platforms {
				m := manifests[i]
				if !p.Named || p.Extras != 2 {
					t.Errorf("%s: named %v, extras %d", oci.FormatPlatform(*m.Platform), p.Named, p.Extras)
				}
				_, man, doc := referrer(t, r, m, oci.MediaTypeSPDX)
				if got := man.Annotations[ocispec.AnnotationCreated]; got != created {
					t.Errorf("created %q, want %s", got, created)
				}
				if got := man.Annotations[oci.AnnotationGenerator]; got != "affix-test+syft-v1" {
					t.Errorf("generator %q: want the first Tool creator", got)
				}
				d, err := sbomgen.DescribedDigest(sbomgen.SPDXJSON, doc)
				if err != nil || d != m.Digest {
					t.Errorf("DescribedDigest = %s, %v; want %s", d, err, m.Digest)
				}
				var v struct {
					Name     string `json:"name"`
					Packages []struct {
						Name         string              `json:"name"`
						Size         json.RawMessage     `json:"size"`
						ExternalRefs []map[string]string `json:"externalRefs"`
					} `json:"packages"`
				}
				if err := json.Unmarshal(doc, &v); err != nil {
					t.Fatal(err)
				}
				if v.Name != "sbom" || len(v.Packages) != 2 || string(v.Packages[1].Size) != "1234567890123" {
					t.Errorf("document changed beyond the root package: %.300s", doc)
				}
				purl := v.Packages[0].ExternalRefs[0]["referenceLocator"]
				wantPurl := "pkg:oci/app@sha256%3A" + m.Digest.Encoded() + "?arch=" + m.Platform.Architecture + "&repository_url=" + strings.ReplaceAll(reg.Host, ":", "%3A") + "%2Fexample%2Fapp"
				if purl != wantPurl {
					t.Errorf("purl %s, want %s", purl, wantPurl)
				}
			}
		})
	}
}

// TestConvertOtherTag converts two tags of one index: the documents name
// the repository, not the tag, so the second run finds the referrers the
// first wrote and writes nothing.
func TestConvertOtherTag(t *testing.T) {
	ctx := context.Background()
	src, root, _ := buildkitLayout(t, crafted{})
	for _, reg := range registries(t) {
		t.Run(string(reg.Kind), func(t *testing.T) {
			r, counter := remote(t, reg.Host, "example/app")
			push(t, r, src, root, "1.2")
			push(t, r, src, root, "latest")
			first, err := convert.Convert(ctx, r, "1.2", convert.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if first.Written() != 2 {
				t.Fatalf("first tag: %d written, want 2", first.Written())
			}
			for _, opts := range []convert.Options{{}, {Name: reg.Host + "/example/app:other"}} {
				counter.Reset()
				second, err := convert.Convert(ctx, r, "latest", opts)
				if err != nil {
					t.Fatal(err)
				}
				if second.Written() != 0 || writes(counter) != 0 {
					t.Errorf("name %q: second tag wrote %d referrers, %d write requests: %v", opts.Name, second.Written(), writes(counter), counter.Log())
				}
				for i, p := range second.Platforms {
					if !p.Existed || p.Referrer.Digest != first.Platforms[i].Referrer.Digest {
						t.Errorf("name %q: platform %d: referrer %s existed %v, want %s", opts.Name, i, p.Referrer.Digest, p.Existed, first.Platforms[i].Referrer.Digest)
					}
				}
			}
		})
	}
}

// TestConvertCoreNamedLikeExtra converts attestations whose image SBOM
// was named "sbom-app" with the scanner's NAME parameter, the prefix of
// the extra targets' names: BuildKit's order and creator still tell it.
func TestConvertCoreNamedLikeExtra(t *testing.T) {
	ctx := context.Background()
	src, root, manifests := buildkitLayout(t, crafted{extras: true, coreName: "sbom-app"})
	reg := registries(t)[0]
	r, _ := remote(t, reg.Host, "app")
	push(t, r, src, root, "v1")
	res, err := convert.Convert(ctx, r, "v1", convert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Written() != len(manifests) {
		t.Fatalf("written %d, want %d", res.Written(), len(manifests))
	}
	for i, m := range manifests {
		if p := res.Platforms[i]; !p.Named || p.Extras != 2 {
			t.Errorf("%s: named %v, extras %d", oci.FormatPlatform(*m.Platform), p.Named, p.Extras)
		}
		_, _, doc := referrer(t, r, m, oci.MediaTypeSPDX)
		var v struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(doc, &v); err != nil || v.Name != "sbom-app" {
			t.Errorf("published %q (%v), want the image's SBOM sbom-app", v.Name, err)
		}
	}
}

func TestConvertKeepInToto(t *testing.T) {
	ctx := context.Background()
	src, root, manifests := buildkitLayout(t, crafted{})
	reg := registries(t)[1] // olareg without the referrers API
	r, _ := remote(t, reg.Host, "app")
	push(t, r, src, root, "v1")
	res, err := convert.Convert(ctx, r, "v1", convert.Options{KeepInToto: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Written() != 2 {
		t.Fatalf("written %d", res.Written())
	}
	for _, m := range manifests {
		d, man, b := referrer(t, r, m, oci.MediaTypeInToto)
		if man.Layers[0].Annotations[convert.AnnotationPredicateType] != convert.PredicateSPDX || d.Annotations[convert.AnnotationPredicateType] != convert.PredicateSPDX {
			t.Errorf("predicate type annotations: layer %v, manifest %v", man.Layers[0].Annotations, d.Annotations)
		}
		if d.Annotations[ocispec.AnnotationCreated] != created || d.Annotations[oci.AnnotationPlatform] != oci.FormatPlatform(*m.Platform) {
			t.Errorf("annotations %v", d.Annotations)
		}
		var stmt struct {
			Type          string          `json:"_type"`
			PredicateType string          `json:"predicateType"`
			Subject       []any           `json:"subject"`
			Predicate     json.RawMessage `json:"predicate"`
		}
		if err := json.Unmarshal(b, &stmt); err != nil {
			t.Fatal(err)
		}
		if stmt.Type != "https://in-toto.io/Statement/v1" || stmt.PredicateType != convert.PredicateSPDX || len(stmt.Subject) != 1 {
			t.Errorf("statement %.300s", b)
		}
		if dd, err := sbomgen.DescribedDigest(sbomgen.SPDXJSON, stmt.Predicate); err != nil || dd != m.Digest {
			t.Errorf("predicate describes %s, %v", dd, err)
		}
		// No bare SPDX referrer besides.
		refs, _, _ := exporter.NewFinder(r).Referrers(ctx, m.Digest)
		for _, x := range refs {
			if x.ArtifactType == oci.MediaTypeSPDX {
				t.Errorf("SPDX referrer %s with --keep-intoto", x.Digest)
			}
		}
	}
}

func TestConvertRaw(t *testing.T) {
	ctx := context.Background()
	src, root, manifests := buildkitLayout(t, crafted{})
	reg := registries(t)[0]
	r, _ := remote(t, reg.Host, "app")
	push(t, r, src, root, "v1")
	res, err := convert.Convert(ctx, r, "v1", convert.Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range manifests {
		if res.Platforms[i].Named {
			t.Error("named with Raw")
		}
		_, _, doc := referrer(t, r, m, oci.MediaTypeSPDX)
		want, _ := json.Marshal(spdxDoc("sbom"))
		if !bytes.Equal(doc, want) {
			t.Errorf("raw document\n%s\nwant the predicate as stored\n%s", doc, want)
		}
		if _, err := sbomgen.DescribedDigest(sbomgen.SPDXJSON, doc); !errors.Is(err, sbomgen.ErrNoSubject) {
			t.Errorf("raw document names an image: %v", err)
		}
	}
}

func TestConvertErrors(t *testing.T) {
	ctx := context.Background()
	reg := registries(t)[0]

	// A single manifest has no attestations to convert.
	single := fixture.Variants()
	single.Images = single.Images[:1]
	single.Flat = true
	src, fres := fixtureLayout(t, single)
	r, _ := remote(t, reg.Host, "single")
	push(t, r, src, fres.Manifests[0], "v1")
	for _, strip := range []bool{false, true} {
		res, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: strip})
		if err != nil || res.Index.Digest != fres.Manifests[0].Digest || len(res.Platforms) != 1 || res.Platforms[0].Attestation.Digest != "" || res.NewIndex.Digest != res.Index.Digest {
			t.Errorf("single manifest, strip %v: %+v, %v; want nothing to convert", strip, res, err)
		}
	}

	// Stripping needs a tag.
	spec := fixture.Variants()
	spec.Attestations = true
	src, fres = fixtureLayout(t, spec)
	r, counter := remote(t, reg.Host, "bydigest")
	push(t, r, src, fres.Index, "v1")
	counter.Reset()
	if _, err := convert.Convert(ctx, r, fres.Index.Digest.String(), convert.Options{StripAttestations: true}); !errors.Is(err, convert.ErrNeedTag) {
		t.Errorf("strip by digest: %v, want ErrNeedTag", err)
	}
	if writes(counter) != 0 {
		t.Errorf("failed convert wrote: %v", counter.Log())
	}
	// By digest without stripping works.
	if res, err := convert.Convert(ctx, r, fres.Index.Digest.String(), convert.Options{}); err != nil || res.Written() != len(fres.Manifests) {
		t.Errorf("by digest: %v", err)
	}

	// A digest with stripping is refused whatever it names, before any
	// request: a platform manifest, an attestation manifest.
	for _, d := range []ocispec.Descriptor{fres.Manifests[0], fres.Attestations[0]} {
		counter.Reset()
		if _, err := convert.Convert(ctx, r, d.Digest.String(), convert.Options{StripAttestations: true, DropUnconverted: true}); !errors.Is(err, convert.ErrNeedTag) {
			t.Errorf("strip by the digest of manifest %s: %v, want ErrNeedTag", d.Digest, err)
		}
		if counter.Total() != 0 {
			t.Errorf("strip by digest: requests %v", counter.Log())
		}
	}
	// An attestation manifest under a tag of its own is a single
	// manifest: nothing to convert, nothing written, never "stripped".
	push(t, r, src, fres.Attestations[0], "att")
	counter.Reset()
	res, err := convert.Convert(ctx, r, "att", convert.Options{StripAttestations: true, DropUnconverted: true})
	if err != nil || res.Index.Digest != fres.Attestations[0].Digest || len(res.Platforms) != 0 || len(res.Stripped) != 0 || res.NewIndex.Digest != res.Index.Digest {
		t.Errorf("attestation manifest by tag: %+v, %v; want nothing to convert", res, err)
	}
	if writes(counter) != 0 {
		t.Errorf("nothing to convert, but wrote: %v", counter.Log())
	}

	// A tag verified against a digest it does not name is refused, and
	// nothing is written.
	counter.Reset()
	other := digest.FromString("another index")
	if _, err := convert.Convert(ctx, r, "v1", convert.Options{Digest: other, StripAttestations: true}); !errors.Is(err, convert.ErrTagMoved) || !strings.Contains(err.Error(), "the digest asked for") || strings.Contains(err.Error(), "moved during") {
		t.Errorf("tag names another digest: %v, want ErrTagMoved naming the digest asked for", err)
	}
	if writes(counter) != 0 {
		t.Errorf("failed convert wrote: %v", counter.Log())
	}
	if _, err := convert.Convert(ctx, r, "v1", convert.Options{Digest: fres.Index.Digest}); err != nil {
		t.Errorf("tag names the digest: %v", err)
	}

	// A statement about another image is refused, and nothing is written.
	src2, root, _ := buildkitLayout(t, crafted{wrongSubject: true})
	r, counter = remote(t, reg.Host, "wrong")
	push(t, r, src2, root, "v1")
	counter.Reset()
	_, err = convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true})
	if !errors.Is(err, convert.ErrBadAttestation) || !strings.Contains(err.Error(), "does not name the platform manifest") {
		t.Errorf("wrong subject: %v", err)
	}
	if writes(counter) != 0 {
		t.Errorf("failed convert wrote: %v", counter.Log())
	}

	// Missing tag.
	if _, err := convert.Convert(ctx, r, "nope", convert.Options{}); !errors.Is(err, exporter.ErrNotFound) {
		t.Errorf("missing tag: %v", err)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// racing is a repository where another push moves the tag while Convert
// writes the stripped index by digest, and which records the If-Match of
// every tag write.
type racing struct {
	*exporter.Remote
	tag  string
	move func(desc ocispec.Descriptor, data []byte) // run before the stripped index is written by digest
	// fail answers the tag write with this error instead of writing.
	fail error
	// etag, when set, is the ETag reads of the tag give instead of the
	// registry's: "" for a registry that sends none, or a weak one.
	etag    *string
	ifMatch []string
}

func (r *racing) FetchManifest(ctx context.Context, ref string) (ocispec.Descriptor, []byte, string, error) {
	desc, data, etag, err := r.Remote.FetchManifest(ctx, ref)
	if ref == r.tag && r.etag != nil {
		etag = *r.etag
	}
	return desc, data, etag, err
}

func (r *racing) PushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, ref, ifMatch string) (digest.Digest, error) {
	if ref == r.tag {
		r.ifMatch = append(r.ifMatch, ifMatch)
		if r.fail != nil {
			return "", r.fail
		}
	}
	if oci.IsIndex(desc.MediaType) && ref == desc.Digest.String() && r.move != nil {
		r.move(desc, data)
		r.move = nil
	}
	return r.Remote.PushManifest(ctx, desc, data, ref, ifMatch)
}

// TestConvertStripTagMoved: --strip-attestations never rolls the tag back.
// A push that moves the tag while convert works makes it refuse to write
// the tag (ErrTagMoved), the stripped index stays by digest; a normal strip
// sends If-Match with the strong ETag the registry gave for the index it
// read, and none when the registry gave none or a weak one (If-Match
// compares strongly: a weak or made-up one would fail on a registry that
// honours it); a lost condition is ErrTagMoved. A tag that another
// convert of the same index moved to the same stripped index meanwhile is
// success.
func TestConvertStripTagMoved(t *testing.T) {
	ctx := context.Background()
	src, root, manifests := buildkitLayout(t, crafted{})
	reg := registries(t)[1] // olareg without the referrers API
	// olareg sends no ETag and ignores If-Match: the wrapper gives the
	// ETags, and the test checks the If-Match sent.
	strong, none, weak := `"v1-etag-from-the-registry"`, "", `W/"`+root.Digest.String()+`"`
	tests := []struct {
		name string
		// moved: another push moves the tag to the first platform manifest.
		moved bool
		// converted: another convert moves it to the stripped index.
		converted bool
		fail      error
		etag      *string // the ETag the tag's reads give; nil: olareg's (none)
		want      string  // the If-Match of the tag write
	}{
		{name: "unchanged", etag: &strong, want: strong},
		{name: "moved", moved: true},
		{name: "converted meanwhile", converted: true, etag: &strong},
		{name: "precondition failed", etag: &strong, fail: fmt.Errorf("PUT: 412: %w", exporter.ErrPreconditionFailed)},
		{name: "registry sends no ETag", etag: &none, want: ""},
		{name: "olareg", want: ""},
		{name: "weak ETag", etag: &weak, want: ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rem, _ := remote(t, reg.Host, fmt.Sprintf("race%d", i))
			push(t, rem, src, root, "v1")
			r := &racing{Remote: rem, tag: "v1", fail: tt.fail, etag: tt.etag}
			if tt.converted {
				r.move = func(desc ocispec.Descriptor, data []byte) {
					if _, err := rem.PushManifest(ctx, desc, data, desc.Digest.String(), ""); err != nil {
						t.Fatal(err)
					}
					if _, err := rem.PushManifest(ctx, desc, data, "v1", ""); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tt.moved {
				r.move = func(ocispec.Descriptor, []byte) {
					d, data, _, err := rem.FetchManifest(ctx, manifests[0].Digest.String())
					if err != nil {
						t.Fatal(err)
					}
					if _, err := rem.PushManifest(ctx, d, data, "v1", ""); err != nil {
						t.Fatal(err)
					}
				}
			}
			res, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true})
			tagged, _, _, terr := rem.FetchManifest(ctx, "v1")
			if terr != nil {
				t.Fatal(terr)
			}
			if tt.moved || tt.fail != nil {
				if !errors.Is(err, convert.ErrTagMoved) || !strings.Contains(err.Error(), "by digest") || !strings.Contains(err.Error(), "moved during the convert") {
					t.Fatalf("err %v, want ErrTagMoved saying the stripped index is there by digest", err)
				}
				if tt.fail != nil && !strings.Contains(err.Error(), "another push wrote it after convert re-read it, and the registry refused the write") {
					t.Errorf("err %v, want it to say plainly why the write was refused", err)
				}
				want := root.Digest
				if tt.moved {
					want = manifests[0].Digest
				}
				if tagged.Digest != want {
					t.Errorf("v1 is %s, want %s (not rolled back)", tagged.Digest, want)
				}
				if tt.moved && len(r.ifMatch) != 0 {
					t.Errorf("tag written after it moved: %v", r.ifMatch)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tagged.Digest != res.NewIndex.Digest {
				t.Errorf("v1 is %s, want the stripped index %s", tagged.Digest, res.NewIndex.Digest)
			}
			if tt.converted {
				if len(r.ifMatch) != 0 {
					t.Errorf("the tag, moved to the stripped index already, written again: %v", r.ifMatch)
				}
				return
			}
			if len(r.ifMatch) != 1 || r.ifMatch[0] != tt.want {
				t.Errorf("tag writes with If-Match %q, want one write with %q", r.ifMatch, tt.want)
			}
		})
	}
}

// TestConvertStripUnconverted: --strip-attestations never drops what it
// did not publish unless asked: a provenance-only image (nothing to
// convert) and an image whose attestations hold an SBOM and provenance are
// refused, nothing written; DropUnconverted strips them; an attestation
// holding only the SBOM is stripped without it.
func TestConvertStripUnconverted(t *testing.T) {
	ctx := context.Background()
	reg := registries(t)[1]
	tests := []struct {
		name    string
		c       crafted
		refused bool
		written int
	}{
		{"provenance only", crafted{noSBOM: true, provenance: true}, true, 0},
		{"sbom and provenance", crafted{provenance: true}, true, 2},
		{"stage sboms", crafted{extras: true}, true, 2},
		{"sbom only", crafted{}, false, 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, root, _ := buildkitLayout(t, tt.c)
			r, counter := remote(t, reg.Host, fmt.Sprintf("unconverted%d", i))
			push(t, r, src, root, "v1")
			counter.Reset()
			res, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true})
			if tt.refused {
				if !errors.Is(err, convert.ErrUnconverted) || writes(counter) != 0 {
					t.Fatalf("err %v, %d writes; want ErrUnconverted and none", err, writes(counter))
				}
				if res, err = convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true, DropUnconverted: true}); err != nil {
					t.Fatal(err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if res.Written() != tt.written || len(res.Stripped) != 2 || res.NewIndex.Digest == root.Digest {
				t.Errorf("written %d, stripped %d, new index %s", res.Written(), len(res.Stripped), res.NewIndex.Digest)
			}
		})
	}
}

// TestConvertOtherForms: converting with other options stacks a second
// SBOM referrer with the same annotations; Convert reports the first as
// another form of the same SBOM, each way round, and none on a rerun of
// one form alone.
func TestConvertOtherForms(t *testing.T) {
	ctx := context.Background()
	src, root, _ := buildkitLayout(t, crafted{})
	reg := registries(t)[1]
	r, _ := remote(t, reg.Host, "forms")
	push(t, r, src, root, "v1")
	tests := []struct {
		name  string
		opts  convert.Options
		other int
	}{
		{"named", convert.Options{}, 0},
		{"named again", convert.Options{}, 0},
		{"raw after named", convert.Options{Raw: true}, 1},
		{"in-toto after both", convert.Options{KeepInToto: true}, 2},
	}
	for _, tt := range tests {
		res, err := convert.Convert(ctx, r, "v1", tt.opts)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, p := range res.Platforms {
			if len(p.OtherForms) != tt.other {
				t.Errorf("%s: %s: %d other forms %+v, want %d", tt.name, oci.FormatPlatform(*p.Manifest.Platform), len(p.OtherForms), p.OtherForms, tt.other)
			}
			for _, o := range p.OtherForms {
				if o.Digest == p.Referrer.Digest {
					t.Errorf("%s: its own referrer listed as another form", tt.name)
				}
			}
		}
	}
}
