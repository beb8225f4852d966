package exporter_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocitest"
)

// TestPushValid: every manifest a push sends (platform manifests, the
// index as is or with its attestations stripped, SBOM, in-toto and
// multi-file referrer manifests, the referrers tag indexes) is a valid OCI
// document sent with its own media type as Content-Type
// (ocitest.Recorder), and what the registry holds afterwards reads back
// valid: the tagged index and everything below it (ocitest.Tree), each
// platform's referrers listing (the referrers tag index, or the referrers
// API's answer) as the distribution-spec wants it (ocitest.ReferrersIndex).
func TestPushValid(t *testing.T) {
	for _, api := range []bool{true, false} {
		for _, strip := range []bool{false, true} {
			name := map[bool]string{true: "api", false: "tag-schema"}[api] + map[bool]string{false: "", true: " stripped"}[strip]
			t.Run(name, func(t *testing.T) {
				ctx := t.Context()
				host, rec := ocitest.RecordedOlareg(t, api)
				c, _ := client(nil)
				tgt := target(t, host, "app", c)
				l, res := source(t, twoPlatforms(true))
				p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1", StripAttestations: strip, VerifyDelay: 5 * time.Millisecond})
				defer p.Abort()
				go p.Images(ctx)
				var arts []exporter.Artifact
				for _, m := range res.Manifests {
					arts = append(arts, sbomArtifact(m),
						exporter.InToto(m, oci.PredicateSPDX, []byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`), created, nil),
						exporter.Artifact{Subject: m, ArtifactType: "application/vnd.example.notes", Blobs: []exporter.Blob{
							{MediaType: "text/plain", Data: []byte("one"), Annotations: map[string]string{ocispec.AnnotationTitle: "one.txt"}},
							{Data: []byte("two"), Annotations: map[string]string{ocispec.AnnotationTitle: "two.txt"}},
						}})
				}
				if _, err := p.AttachAll(ctx, arts); err != nil {
					t.Fatal(err)
				}
				// A second attach to a subject that has referrers: the
				// tag index is read, merged and written again.
				if _, err := p.Attach(ctx, exporter.SBOM(res.Manifests[0], oci.MediaTypeCycloneDX, []byte(`{"bomFormat":"CycloneDX"}`), created, nil)); err != nil {
					t.Fatal(err)
				}
				pres, err := p.Commit(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := rec.Check(); err != nil {
					t.Errorf("manifests as pushed:\n%v", err)
				}
				fetch := ocitest.RegistryFetch(host, "app")
				root, _, err := ocitest.GetManifest(ctx, host, "app", "v1")
				if err != nil {
					t.Fatal(err)
				}
				if root.Digest != pres.Root.Digest {
					t.Fatalf("v1 is %s, the push says %s", root.Digest, pres.Root.Digest)
				}
				if err := ocitest.Tree(ctx, fetch, root); err != nil {
					t.Errorf("the image as read back:\n%v", err)
				}
				for _, m := range res.Manifests {
					ref := exporter.ReferrersTag(m.Digest)
					if api {
						ref = ""
					}
					data, err := ocitest.GetReferrersListing(ctx, host, "app", m.Digest, ref)
					if err != nil {
						t.Fatal(err)
					}
					if err := ocitest.ReferrersIndex(ctx, fetch, m.Digest, data); err != nil {
						t.Errorf("referrers of %s as read back:\n%v", m.Digest, err)
					}
				}
			})
		}
	}
}

// TestReferrersTagSpec: the referrers tag is the distribution-spec's
// referrers tag schema: the algorithm truncated to 32 characters, "-",
// the encoded part truncated to 64, characters no tag may hold as "-".
func TestReferrersTagSpec(t *testing.T) {
	sha512 := digest.SHA512.FromString("x")
	for d, want := range map[digest.Digest]string{
		digest.FromString("x"): "sha256-" + digest.FromString("x").Encoded(),
		sha512:                 "sha512-" + sha512.Encoded()[:64],
		digest.Digest("a+b.c_d:" + strings.Repeat("Z", 70)):                    "a-b.c_d-" + strings.Repeat("Z", 64),
		digest.Digest(strings.Repeat("a", 40) + ":" + strings.Repeat("0", 64)): strings.Repeat("a", 32) + "-" + strings.Repeat("0", 64),
	} {
		if got := exporter.ReferrersTag(d); got != want {
			t.Errorf("ReferrersTag(%s) = %s, want %s", d, got, want)
		}
	}
}

// TestCreatedAnnotationRFC3339: an artifact whose
// org.opencontainers.image.created is not an RFC 3339 date-time is
// refused (ErrInvalidArtifact), as CheckContent promises, rather than
// written: image-spec annotations.md wants RFC 3339, whose section 5.6
// has no comma before the fraction and no offset of 24 hours, both of
// which time.Parse(time.RFC3339) takes.
func TestCreatedAnnotationRFC3339(t *testing.T) {
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5}
	for _, v := range []string{"2024-01-02T03:04:05,5Z", "2024-01-02T03:04:05+24:00"} {
		t.Run(v, func(t *testing.T) {
			a := exporter.Artifact{Subject: subject, ArtifactType: "application/vnd.example.note", Blobs: []exporter.Blob{{Data: []byte("x")}},
				Annotations: map[string]string{ocispec.AnnotationCreated: v}}
			_, b, err := a.Manifest()
			if errors.Is(err, exporter.ErrInvalidArtifact) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := ocitest.ValidateDocument(ocispec.MediaTypeImageManifest, b); err != nil {
				t.Fatalf("OCI violation: %v", err)
			}
		})
	}
}

// TestSourceMediaTypeMismatch: a source manifest whose mediaType field
// is not the media type its descriptor gives is refused
// (ErrInvalidSource), not sent with the descriptor's media type as
// Content-Type: distribution-spec Pushing Manifests: if a manifest
// includes a mediaType field, clients MUST set the Content-Type header to
// it (and image-spec manifest.md: an OCI manifest's mediaType, when used,
// MUST be the OCI manifest type).
func TestSourceMediaTypeMismatch(t *testing.T) {
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, fixture.Spec{Images: fixture.VariantsPair().Images[:1]})
	if err != nil {
		t.Fatal(err)
	}
	put := func(b []byte) {
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", digest.FromBytes(b).Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := res.Manifests[0]
	b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", m.Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	fields["mediaType"] = oci.MediaTypeDockerManifest
	mb, _ := json.Marshal(fields)
	put(mb)
	md := oci.DescriptorFor(ocispec.MediaTypeImageManifest, mb)
	md.Platform = m.Platform
	ib, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{md}})
	put(ib)
	l, err := oci.OpenLayout(t.Context(), oci.SchemeLayout+":"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	host, rec := ocitest.RecordedOlareg(t, false)
	c, _ := client(nil)
	p := exporter.New(target(t, host, "app", c), &exporter.Image{Source: l, Root: oci.DescriptorFor(ocispec.MediaTypeImageIndex, ib)}, exporter.Options{Tag: "v1"})
	defer p.Abort()
	if _, err := p.Commit(t.Context()); errors.Is(err, exporter.ErrInvalidSource) {
		return
	} else if err != nil {
		t.Fatal(err)
	}
	if err := rec.Check(); err != nil {
		t.Fatalf("OCI violation: %v", err)
	}
}

// TestForeignReferrersIndexFields: a referrers tag index another tool
// wrote with a subject and an artifactType (which no referrers listing
// has: a reader would take the index for a referrer itself) is rewritten
// without them when a referrer joins it, as ocidir does in a layout
// (oci.ReferrersTagIndex): the distribution-spec's referrers tag SHOULD
// hold what the referrers API would answer.
func TestForeignReferrersIndexFields(t *testing.T) {
	ctx := t.Context()
	host, _ := ocitest.RecordedOlareg(t, false)
	c, _ := client(nil)
	tgt := target(t, host, "app", c)
	l, res := source(t, twoPlatforms(false))
	subject := res.Manifests[0]
	foreign := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		ArtifactType: "application/vnd.example.other", Manifests: []ocispec.Descriptor{},
		Subject: &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}}
	fb, _ := json.Marshal(foreign)
	p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1", VerifyDelay: 5 * time.Millisecond})
	defer p.Abort()
	if err := p.Images(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tgt.PushManifest(ctx, oci.DescriptorFor(ocispec.MediaTypeImageIndex, fb), fb, exporter.ReferrersTag(subject.Digest), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Attach(ctx, sbomArtifact(subject)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_, data, err := ocitest.GetManifest(ctx, host, "app", exporter.ReferrersTag(subject.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if err := ocitest.ReferrersIndex(ctx, ocitest.RegistryFetch(host, "app"), subject.Digest, data); err != nil {
		t.Fatalf("OCI violation: %v", err)
	}
}
