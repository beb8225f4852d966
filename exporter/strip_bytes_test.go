package exporter_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocitest"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestStripKeepsEntryBytes: push with StripAttestations writes the index
// as it was read minus the attestation entries, byte for byte.
func TestStripKeepsEntryBytes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, twoPlatforms(true))
	if err != nil {
		t.Fatal(err)
	}
	entries := append(append([]ocispec.Descriptor{}, res.Manifests...), res.Attestations...)
	all, want := ocitest.OddIndex(t, entries, oci.IsAttestation)
	root := oci.DescriptorFor(ocispec.MediaTypeImageIndex, []byte(all))
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", root.Digest.Encoded()), []byte(all), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := oci.OpenLayout(ctx, "oci-layout:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	c, _ := client(nil)
	tgt := target(t, reg.Host, "app", c)
	res.Index = root
	got, err := pushAll(ctx, tgt, l, res, exporter.Options{Tag: "v1", StripAttestations: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Stripped) != len(res.Attestations) {
		t.Fatalf("stripped %d, want %d", len(got.Stripped), len(res.Attestations))
	}
	_, b, _, err := tgt.FetchManifest(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Errorf("pushed index\n%s\nwant the index read minus its attestation entries\n%s", b, want)
	}
}

// TestStripSet: with a StripSet the push strips exactly the entries it
// names, whatever oci.IsAttestation says of the others.
func TestStripSet(t *testing.T) {
	ctx := context.Background()
	l, res := source(t, twoPlatforms(true))
	keep, drop := res.Attestations[0], res.Attestations[1]
	p := exporter.New(newMemTarget(), &exporter.Image{Source: l, Root: res.Index}, exporter.Options{StripAttestations: true, StripSet: map[digest.Digest]bool{drop.Digest: true}})
	if err := p.Images(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := p.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Stripped) != 1 || got.Stripped[0].Digest != drop.Digest {
		t.Fatalf("stripped %v, want only %s", got.Stripped, drop.Digest)
	}
	if len(got.Attestations) != 1 || got.Attestations[0].Digest != keep.Digest {
		t.Errorf("attestations pushed %v, want %s", got.Attestations, keep.Digest)
	}
}

// TestStripWithoutHints: without a StripSet the push strips what oci.Walk
// takes for an attestation manifest, also one listed as a bare
// {mediaType, digest, size} whose config alone says unknown/unknown
// (BuildKit's Docker form without its hints, no artifactType).
func TestStripWithoutHints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, twoPlatforms(true))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", res.Index.Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	for i, m := range idx.Manifests {
		if oci.IsAttestation(m) {
			idx.Manifests[i] = ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
		}
	}
	nb, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	root := oci.DescriptorFor(ocispec.MediaTypeImageIndex, nb)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", root.Digest.Encoded()), nb, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := oci.OpenLayout(ctx, "oci-layout:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := exporter.New(newMemTarget(), &exporter.Image{Source: l, Root: root}, exporter.Options{StripAttestations: true})
	if err := p.Images(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := p.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Stripped) != len(res.Attestations) {
		t.Fatalf("stripped %v, want the %d attestation manifests", got.Stripped, len(res.Attestations))
	}
	for i, s := range got.Stripped {
		if s.Digest != res.Attestations[i].Digest {
			t.Errorf("stripped %s, want %s", s.Digest, res.Attestations[i].Digest)
		}
	}
}

// TestStripKeepsPlatformEntry: an index that lists a platform manifest
// again as an attestation entry (unknown/unknown, for another platform)
// loses the attestation entry only, with or without a StripSet: the strip
// set names digests, and a strip never takes a platform out of the index.
func TestStripKeepsPlatformEntry(t *testing.T) {
	ctx := context.Background()
	for _, set := range []bool{false, true} {
		dir := t.TempDir()
		res, err := fixture.WriteLayout(dir, twoPlatforms(false))
		if err != nil {
			t.Fatal(err)
		}
		m0, m1 := res.Manifests[0], res.Manifests[1]
		att := m1
		att.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
		att.Annotations = map[string]string{oci.AnnotationDockerReferenceType: oci.DockerReferenceTypeAttestation, oci.AnnotationDockerReferenceDigest: m0.Digest.String()}
		b, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{m0, att, m1}})
		if err != nil {
			t.Fatal(err)
		}
		root := oci.DescriptorFor(ocispec.MediaTypeImageIndex, b)
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", root.Digest.Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := oci.OpenLayout(ctx, "oci-layout:"+dir)
		if err != nil {
			t.Fatal(err)
		}
		opts := exporter.Options{StripAttestations: true}
		if set {
			opts.StripSet = map[digest.Digest]bool{m1.Digest: true}
		}
		p := exporter.New(newMemTarget(), &exporter.Image{Source: l, Root: root}, opts)
		if err := p.Images(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := p.Commit(ctx)
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Stripped) != 1 || got.Stripped[0].Platform.OS != "unknown" {
			t.Errorf("StripSet %v: stripped %v, want the attestation entry only", set, got.Stripped)
		}
		pushed, err := p.Pushed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := pushed[m1.Digest]; !ok {
			t.Errorf("StripSet %v: platform manifest %s not pushed", set, m1.Digest)
		}
	}
}
