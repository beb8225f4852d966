package oci_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocidir/ocidirtest"
)

// layoutEditor adds blobs to a fixture layout and rewrites its index.json.
type layoutEditor struct {
	t   *testing.T
	dir string
}

func (e layoutEditor) put(mt string, b []byte) ocispec.Descriptor {
	e.t.Helper()
	d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := os.WriteFile(filepath.Join(e.dir, "blobs", "sha256", d.Digest.Encoded()), b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e layoutEditor) putJSON(mt string, v any) ocispec.Descriptor {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.put(mt, b)
}

// index writes an image index listing ds and returns its descriptor.
func (e layoutEditor) index(ds ...ocispec.Descriptor) ocispec.Descriptor {
	return e.putJSON(ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: ds})
}

// roots makes index.json list ds.
func (e layoutEditor) roots(ds ...ocispec.Descriptor) {
	e.t.Helper()
	b, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: ds})
	if err := os.WriteFile(filepath.Join(e.dir, ocispec.ImageIndexFile), b, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// sbomReferrer writes an SPDX referrer of subject as affix pushes it: an
// OCI artifact with the empty config. The descriptor has no platform and,
// when withType, the artifactType an image-spec 1.1 index entry carries.
func (e layoutEditor) sbomReferrer(subject ocispec.Descriptor, withType bool) ocispec.Descriptor {
	empty := e.put(ocispec.MediaTypeEmptyJSON, []byte("{}"))
	doc := e.put(oci.MediaTypeSPDX, []byte(`{"spdxVersion":"SPDX-2.3"}`))
	subj := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	d := e.putJSON(ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: oci.MediaTypeSPDX, Config: empty, Layers: []ocispec.Descriptor{doc}, Subject: &subj})
	if withType {
		d.ArtifactType = oci.MediaTypeSPDX
	}
	return d
}

// buildkitAttestation writes an attestation manifest of subject in
// BuildKit's OCI-artifact form (v0.32+: artifactType, empty config,
// subject) and returns its descriptor without BuildKit's index hints.
func (e layoutEditor) buildkitAttestation(subject ocispec.Descriptor) ocispec.Descriptor {
	empty := e.put(ocispec.MediaTypeEmptyJSON, []byte("{}"))
	stmt := e.put(oci.MediaTypeInToto, []byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","subject":[],"predicate":{}}`))
	subj := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	return e.putJSON(ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: oci.ArtifactTypeBuildKitAttestation, Config: empty, Layers: []ocispec.Descriptor{stmt}, Subject: &subj})
}

// dockerImage writes a Docker schema 2 manifest with a Docker config of
// platform p and no layers.
func (e layoutEditor) dockerImage(p ocispec.Platform) ocispec.Descriptor {
	cfg := e.putJSON(oci.MediaTypeDockerConfig, map[string]any{"os": p.OS, "architecture": p.Architecture, "rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}})
	return e.putJSON(oci.MediaTypeDockerManifest, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeDockerManifest, "config": cfg, "layers": []any{}})
}

func stripHints(d ocispec.Descriptor) ocispec.Descriptor {
	d.Platform, d.Annotations = nil, nil
	return d
}

type walked struct {
	platform    string
	digest      digest.Digest
	attestation bool
}

// pairLayout writes the two-platform fixture, flat, with attestation
// manifests, and returns an editor of it.
func pairLayout(t *testing.T) (layoutEditor, *fixture.Result) {
	t.Helper()
	spec := fixture.VariantsPair()
	spec.Flat = true
	spec.Attestations = true
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	return layoutEditor{t, dir}, res
}

// TestWalkWhatIsAnImage checks which manifests Walk returns and how:
// artifacts (config not an image config) never, attestation manifests
// marked even without their index hints, one manifest once per platform
// it is listed under.
func TestWalkWhatIsAnImage(t *testing.T) {
	e, res := pairLayout(t)
	amd, arm := res.Manifests[0], res.Manifests[1]
	amdAtt := res.Attestations[0]
	armV7 := arm
	armV7.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	docker := e.dockerImage(ocispec.Platform{OS: "linux", Architecture: "s390x"})

	tests := []struct {
		name  string
		roots []ocispec.Descriptor
		want  []walked
	}{
		{
			name:  "SBOM referrer in an index, artifactType in the entry",
			roots: []ocispec.Descriptor{e.index(amd, e.sbomReferrer(amd, true))},
			want:  []walked{{"linux/amd64", amd.Digest, false}},
		},
		{
			name:  "SBOM referrer in an index, bare entry",
			roots: []ocispec.Descriptor{e.index(amd, e.sbomReferrer(amd, false))},
			want:  []walked{{"linux/amd64", amd.Digest, false}},
		},
		{
			name:  "affix build -o type=oci layout: referrers beside the index",
			roots: []ocispec.Descriptor{e.index(amd, arm), e.sbomReferrer(amd, false), e.sbomReferrer(arm, false)},
			want:  []walked{{"linux/amd64", amd.Digest, false}, {"linux/arm64/v8", arm.Digest, false}},
		},
		{
			name:  "attestation manifest without platform or annotations",
			roots: []ocispec.Descriptor{e.index(amd, stripHints(amdAtt))},
			want:  []walked{{"linux/amd64", amd.Digest, false}, {"unknown/unknown", amdAtt.Digest, true}},
		},
		{
			name:  "BuildKit artifact-form attestation without platform or annotations",
			roots: []ocispec.Descriptor{e.index(amd, e.buildkitAttestation(amd))},
			want:  []walked{{"linux/amd64", amd.Digest, false}, {"unknown/unknown", e.buildkitAttestation(amd).Digest, true}},
		},
		{
			name:  "platform read from the config",
			roots: []ocispec.Descriptor{e.index(stripHints(amd))},
			want:  []walked{{"linux/amd64", amd.Digest, false}},
		},
		{
			name:  "Docker schema 2 image",
			roots: []ocispec.Descriptor{e.index(docker)},
			want:  []walked{{"linux/s390x", docker.Digest, false}},
		},
		{
			name:  "one manifest under two platforms",
			roots: []ocispec.Descriptor{e.index(arm, armV7)},
			want:  []walked{{"linux/arm64/v8", arm.Digest, false}, {"linux/arm/v7", arm.Digest, false}},
		},
		{
			name:  "one manifest twice under one platform, and in two indexes",
			roots: []ocispec.Descriptor{e.index(amd, amd), e.index(amd)},
			want:  []walked{{"linux/amd64", amd.Digest, false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.roots(tt.roots...)
			var got []walked
			for _, i := range walk(t, e.dir) {
				got = append(got, walked{i.String(), i.Descriptor.Digest, i.Attestation})
				if i.Attestation {
					got[len(got)-1].platform = oci.FormatPlatform(i.Platform())
				}
			}
			if !equal(got, tt.want) {
				t.Errorf("walk = %v\nwant   %v", got, tt.want)
			}
		})
	}
}

// TestSelectAfterWalk checks what Select offers from the layouts that
// made Walk return non-images or one manifest twice.
func TestSelectAfterWalk(t *testing.T) {
	e, res := pairLayout(t)
	amd, arm := res.Manifests[0], res.Manifests[1]
	armV7 := arm
	armV7.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	armNoVariant := arm
	armNoVariant.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	withArtifact := []ocispec.Descriptor{e.index(amd, e.sbomReferrer(amd, false))}
	twoPlatforms := []ocispec.Descriptor{e.index(arm, armV7)}
	bothArm64 := []ocispec.Descriptor{e.index(armNoVariant, arm, amd)}
	hintless := []ocispec.Descriptor{e.index(amd, stripHints(res.Attestations[0]))}

	tests := []struct {
		name    string
		roots   []ocispec.Descriptor
		sel     oci.Selector
		want    []string // platform of each image picked
		wantErr error
	}{
		{"artifact: zero selector picks the image", withArtifact, oci.Selector{}, []string{"linux/amd64"}, nil},
		{"artifact: all", withArtifact, oci.Selector{All: true}, []string{"linux/amd64"}, nil},
		{"artifact: never by digest", withArtifact, oci.Selector{Digest: e.sbomReferrer(amd, false).Digest}, nil, oci.ErrNoMatch},
		{"hintless attestation: zero selector", hintless, oci.Selector{}, []string{"linux/amd64"}, nil},
		{"hintless attestation: all", hintless, oci.Selector{All: true}, []string{"linux/amd64"}, nil},
		{"hintless attestation: by digest", hintless, oci.Selector{Digest: res.Attestations[0].Digest}, nil, oci.ErrNoMatch},
		{"two platforms: the second", twoPlatforms, oci.Selector{Platform: "linux/arm/v7"}, []string{"linux/arm/v7"}, nil},
		{"two platforms: the first", twoPlatforms, oci.Selector{Platform: "linux/arm64"}, []string{"linux/arm64/v8"}, nil},
		{"two platforms: all scans the manifest once", twoPlatforms, oci.Selector{All: true}, []string{"linux/arm64/v8"}, nil},
		{"two platforms: one image for the zero selector", twoPlatforms, oci.Selector{}, []string{"linux/arm64/v8"}, nil},
		{"two platforms: by digest", twoPlatforms, oci.Selector{Digest: arm.Digest}, []string{"linux/arm64/v8"}, nil},
		{"one manifest matched twice is not ambiguous", bothArm64, oci.Selector{Platform: "linux/arm64"}, []string{"linux/arm64"}, nil},
		{"one manifest twice among others", bothArm64, oci.Selector{All: true}, []string{"linux/arm64", "linux/amd64"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.roots(tt.roots...)
			got, err := oci.Select(walk(t, e.dir), tt.sel)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var plats []string
			for _, g := range got {
				plats = append(plats, g.String())
			}
			if !equal(plats, tt.want) {
				t.Errorf("selected %v, want %v", plats, tt.want)
			}
		})
	}
}

// TestWalkRefusesOddPlatforms: a platform field holding a control
// character or a slash, in an index entry or an image config, is an error
// naming the manifest and the value (quoted), never a platform to print
// or to name files after.
func TestWalkRefusesOddPlatforms(t *testing.T) {
	e, res := pairLayout(t)
	amd := res.Manifests[0]
	withPlatform := func(p ocispec.Platform) ocispec.Descriptor {
		d := amd
		d.Platform = &p
		return d
	}
	for _, tt := range []struct {
		name string
		root ocispec.Descriptor
		want string
	}{
		{"escape in a config's architecture", e.index(e.dockerImage(ocispec.Platform{OS: "linux", Architecture: "amd64\x1b[2J"})), `platform architecture "amd64\x1b[2J"`},
		{"newline in an entry's variant", e.index(withPlatform(ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7\n"})), `platform variant "v7\n"`},
		{"slash in an entry's os", e.index(withPlatform(ocispec.Platform{OS: "linux/../x", Architecture: "amd64"})), `platform os "linux/../x"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.roots(tt.root)
			ctx := t.Context()
			l, err := oci.OpenLayout(ctx, e.dir)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			_, err = oci.Walk(ctx, l, l.Roots()...)
			if !errors.Is(err, oci.ErrInvalidPlatform) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "manifest sha256:") {
				t.Errorf("Walk: %v, want ErrInvalidPlatform naming the manifest and %s", err, tt.want)
			}
		})
	}
}

// TestWalkRefusesWrongKind: an index entry whose media type says index
// while its content is a manifest, or the reverse, is an error naming
// the entry, whether the content names its own media type or not;
// read as listed, its image would be left out without a word (a
// manifest read as an index lists nothing; an index read as a manifest
// has no image config, so it looks like an artifact).
func TestWalkRefusesWrongKind(t *testing.T) {
	e, res := pairLayout(t)
	amd, arm := res.Manifests[0], res.Manifests[1]
	relabel := func(d ocispec.Descriptor, mt string) ocispec.Descriptor {
		d.MediaType = mt
		return d
	}
	// The same manifest and index without their mediaType fields.
	var m map[string]any
	ocidirtest.ReadJSON(t, filepath.Join(e.dir, "blobs", "sha256", arm.Digest.Encoded()), &m)
	delete(m, "mediaType")
	bareManifest := e.putJSON(ocispec.MediaTypeImageManifest, m)
	bareIndex := e.putJSON(ocispec.MediaTypeImageIndex, map[string]any{"schemaVersion": 2, "manifests": []ocispec.Descriptor{arm}})
	nested := e.index(arm)
	for _, tt := range []struct {
		name  string
		entry ocispec.Descriptor
		want  string
	}{
		{"manifest listed as an index", relabel(arm, ocispec.MediaTypeImageIndex), "the content is a manifest"},
		{"manifest listed as a Docker manifest list", relabel(arm, oci.MediaTypeDockerManifestList), "the content is a manifest"},
		{"manifest without mediaType listed as an index", relabel(bareManifest, ocispec.MediaTypeImageIndex), "the content is a manifest"},
		{"index listed as a manifest", relabel(nested, ocispec.MediaTypeImageManifest), "the content is an index"},
		{"index without mediaType listed as a manifest", relabel(stripHints(bareIndex), ocispec.MediaTypeImageManifest), "the content is an index"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.roots(e.index(amd, tt.entry))
			ctx := t.Context()
			l, err := oci.OpenLayout(ctx, e.dir)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			_, err = oci.Walk(ctx, l, l.Roots()...)
			if !errors.Is(err, oci.ErrWrongKind) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.entry.Digest.String()) {
				t.Errorf("Walk: %v, want ErrWrongKind naming %s and saying %q", err, tt.entry.Digest, tt.want)
			}
		})
	}
	// Listed as what they are, the same contents walk: amd64, the bare
	// manifest (arm64, from its config), arm64 through the bare index.
	e.roots(e.index(amd, stripHints(bareManifest), bareIndex))
	if got := walk(t, e.dir); len(got) != 3 || got[1].Descriptor.Digest != bareManifest.Digest || got[2].Descriptor.Digest != arm.Digest {
		t.Errorf("walk of the well-labelled entries = %v, want amd64, the bare manifest, arm64", got)
	}
}

// TestCheckKind covers the media types ReadJSON checks, and those it
// leaves alone.
func TestCheckKind(t *testing.T) {
	for _, tt := range []struct {
		mt, body string
		ok       bool
	}{
		{ocispec.MediaTypeImageIndex, `{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`, true},
		{ocispec.MediaTypeImageIndex, `{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}`, true},
		{ocispec.MediaTypeImageIndex, `{"manifests":[]}`, true},
		{ocispec.MediaTypeImageIndex, `{}`, true},
		{ocispec.MediaTypeImageIndex, `{"mediaType":"application/vnd.oci.image.manifest.v1+json"}`, false},
		{ocispec.MediaTypeImageIndex, `{"config":{},"layers":[]}`, false},
		{ocispec.MediaTypeImageIndex, `{"mediaType":"application/x-other","manifests":[]}`, false},
		{ocispec.MediaTypeImageManifest, `{"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{}}`, true},
		{ocispec.MediaTypeImageManifest, `{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{}}`, true},
		{ocispec.MediaTypeImageManifest, `{"config":{},"layers":[]}`, true},
		{ocispec.MediaTypeImageManifest, `{"mediaType":"application/vnd.oci.image.index.v1+json"}`, false},
		{ocispec.MediaTypeImageManifest, `{"manifests":[]}`, false},
		{ocispec.MediaTypeImageConfig, `{"manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json"}`, true},
		{oci.MediaTypeSPDX, `{"layers":[]}`, true},
	} {
		d := digest.FromString(tt.body)
		f := oci.FetcherFunc(func(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(tt.body)), nil
		})
		var v any
		_, err := oci.ReadJSON(t.Context(), f, ocispec.Descriptor{MediaType: tt.mt, Digest: d, Size: int64(len(tt.body))}, &v)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, oci.ErrWrongKind)) {
			t.Errorf("ReadJSON(%s, %s) = %v, want ok %v", tt.mt, tt.body, err, tt.ok)
		}
	}
}

// TestWalkEntries: WalkEntries returns every entry, one attestation
// manifest listed for two platforms twice, each with its own annotations,
// where Walk returns it once; an index listed twice is walked once.
func TestWalkEntries(t *testing.T) {
	ctx := context.Background()
	e, res := pairLayout(t)
	a := res.Attestations[0]
	again := a
	again.Annotations = map[string]string{oci.AnnotationDockerReferenceType: oci.DockerReferenceTypeAttestation, oci.AnnotationDockerReferenceDigest: res.Manifests[1].Digest.String()}
	inner := e.index(res.Manifests[0], res.Manifests[1], a, again)
	root := e.index(inner, inner)
	l, err := oci.OpenLayout(ctx, "oci-layout:"+e.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tt := range []struct {
		name string
		walk func(context.Context, oci.Fetcher, ...ocispec.Descriptor) ([]oci.Image, error)
		want []string // reference digest of each attestation returned
	}{
		{"Walk", oci.Walk, []string{res.Manifests[0].Digest.String()}},
		{"WalkEntries", oci.WalkEntries, []string{a.Annotations[oci.AnnotationDockerReferenceDigest], res.Manifests[1].Digest.String()}},
	} {
		images, err := tt.walk(ctx, l, root)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, img := range images {
			if img.Attestation {
				got = append(got, img.Descriptor.Annotations[oci.AnnotationDockerReferenceDigest])
			}
		}
		if len(images) != 2+len(tt.want) || strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%s: %d images, attestations for %v; want %d, %v", tt.name, len(images), got, 2+len(tt.want), tt.want)
		}
	}
}
