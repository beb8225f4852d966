package exporter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// writeBlob stores b in the layout at dir and returns its descriptor.
func writeBlob(t *testing.T, dir, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// writeReferrer stores, in the layout at dir, a referrer manifest of
// subject with one layer and the given config (oras attach's shape when
// artifactType is empty: the config media type is the artifact type).
func writeReferrer(t *testing.T, dir string, subject, config ocispec.Descriptor, artifactType string, layer []byte, annotations map[string]string) ocispec.Descriptor {
	t.Helper()
	l := writeBlob(t, dir, "application/vnd.example.payload", layer)
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config,
		Layers:       []ocispec.Descriptor{l},
		Subject:      &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations:  annotations,
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return writeBlob(t, dir, ocispec.MediaTypeImageManifest, b)
}

// TestAttachFrom: referrers another tool left in a layout (a VEX document
// on a platform manifest, a signature on an SBOM this push writes) are
// published as they are, in API and tag-schema mode, before the tag, as is
// a signature of the index; a referrer whose subject is not part of the
// push is refused, unless the caller says the target has that subject
// (TargetHas: a referrer already there, as merge finds one).
func TestAttachFrom(t *testing.T) {
	ctx := context.Background()
	for _, reg := range startAll(t) {
		t.Run(string(reg.Kind), func(t *testing.T) {
			dir := t.TempDir()
			res, err := fixture.WriteLayout(dir, twoPlatforms(false))
			if err != nil {
				t.Fatal(err)
			}
			amd, arm := res.Manifests[0], res.Manifests[1]
			sbom := sbomArtifact(amd)
			sbomDesc, _, err := sbom.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			empty := writeBlob(t, dir, ocispec.DescriptorEmptyJSON.MediaType, ocispec.DescriptorEmptyJSON.Data)
			empty.Data = ocispec.DescriptorEmptyJSON.Data
			sigConfig := writeBlob(t, dir, "application/vnd.example.sig.config+json", []byte(`{"sig":1}`))
			vex := writeReferrer(t, dir, arm, empty, "application/vnd.example.vex+json", []byte(`{"vex":true}`), map[string]string{"org.example.note": "vex"})
			sig := writeReferrer(t, dir, sbomDesc, sigConfig, "", []byte("signature"), nil)
			idxSig := writeReferrer(t, dir, res.Index, empty, "application/vnd.example.sig", []byte("index signature"), nil)
			strayRef := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("elsewhere"), Size: 2}
			stray := writeReferrer(t, dir, strayRef, empty, "application/vnd.example.vex+json", []byte("x"), nil)
			l, err := oci.OpenLayout(ctx, "oci-layout:"+dir)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()

			c, _ := client(nil)
			tgt := target(t, reg.Host, "app", c)
			p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1"})
			defer p.Abort()
			imgErr := make(chan error, 1)
			go func() { imgErr <- p.Images(ctx) }()
			if _, err := p.AttachFrom(ctx, l, stray); !errors.Is(err, exporter.ErrInvalidArtifact) {
				t.Errorf("AttachFrom(stray) = %v, want ErrInvalidArtifact", err)
			}
			p.TargetHas(strayRef.Digest)
			gotStray, err := p.AttachFrom(ctx, l, stray)
			if err != nil {
				t.Fatalf("AttachFrom(stray) after TargetHas(its subject): %v", err)
			}
			if _, err := p.Attach(ctx, sbom); err != nil {
				t.Fatal(err)
			}
			gotVEX, err := p.AttachFrom(ctx, l, vex)
			if err != nil {
				t.Fatal(err)
			}
			if gotVEX.ArtifactType != "application/vnd.example.vex+json" || gotVEX.Annotations["org.example.note"] != "vex" {
				t.Errorf("AttachFrom(vex) = %+v, want the manifest's artifactType and annotations", gotVEX)
			}
			gotSig, err := p.AttachFrom(ctx, l, sig)
			if err != nil {
				t.Fatal(err)
			}
			if gotSig.ArtifactType != "application/vnd.example.sig.config+json" {
				t.Errorf("AttachFrom(sig) artifactType %q, want the config media type", gotSig.ArtifactType)
			}
			// A referrer of the index: the index is written by digest
			// first, by tag only at Commit.
			gotIdxSig, err := p.AttachFrom(ctx, l, idxSig)
			if err != nil {
				t.Fatal(err)
			}
			if d := resolve(t, reg.Host, "app", "v1"); d != "" {
				t.Errorf("tag v1 written before Commit: %s", d)
			}
			if err := <-imgErr; err != nil {
				t.Fatal(err)
			}
			if _, err := p.Commit(ctx); err != nil {
				t.Fatal(err)
			}

			f := exporter.NewFinder(target(t, reg.Host, "app", c))
			for _, w := range []struct {
				subject digest.Digest
				want    ocispec.Descriptor
			}{{arm.Digest, gotVEX}, {sbomDesc.Digest, gotSig}, {res.Index.Digest, gotIdxSig}, {strayRef.Digest, gotStray}} {
				refs, _, err := f.Referrers(ctx, w.subject)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(refs, func(d ocispec.Descriptor) bool {
					return d.Digest == w.want.Digest && d.ArtifactType == w.want.ArtifactType
				}) {
					t.Errorf("referrers of %s = %v, want %s (%s)", w.subject, refs, w.want.Digest, w.want.ArtifactType)
				}
			}
			// The registry holds the manifest as the layout has it.
			if _, b, _, err := tgt.FetchManifest(ctx, sig.Digest.String()); err != nil || digest.FromBytes(b) != sig.Digest {
				t.Errorf("signature manifest in the registry: %v", err)
			}
		})
	}
}

// TestAttachFromManifestRoot: a referrer of a root that is a single
// manifest needs no extra write of it (step 2 wrote it by digest); only
// an index root is written by digest before its referrers.
func TestAttachFromManifestRoot(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, twoPlatforms(false))
	if err != nil {
		t.Fatal(err)
	}
	root := res.Manifests[0]
	empty := writeBlob(t, dir, ocispec.DescriptorEmptyJSON.MediaType, ocispec.DescriptorEmptyJSON.Data)
	sig := writeReferrer(t, dir, root, empty, "application/vnd.example.sig", []byte("sig"), nil)
	l, err := oci.OpenLayout(ctx, "oci-layout:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, counter := client(nil)
	p := exporter.New(target(t, reg.Host, "app", c), &exporter.Image{Source: l, Root: root}, exporter.Options{Tag: "v1"})
	defer p.Abort()
	if err := p.Images(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AttachFrom(ctx, l, sig); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range counter.Log() {
		if strings.Contains(line, "PUT") && strings.Contains(line, "/manifests/"+root.Digest.String()) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the root manifest was PUT by digest %d times, want 1:\n%s", n, strings.Join(counter.Log(), "\n"))
	}
}

// TestPushed: what Pushed reports, with and without StripAttestations.
func TestPushed(t *testing.T) {
	ctx := context.Background()
	l, res := source(t, twoPlatforms(true))
	for _, strip := range []bool{false, true} {
		p := exporter.New(newMemTarget(), &exporter.Image{Source: l, Root: res.Index}, exporter.Options{StripAttestations: strip})
		if _, err := p.Pushed(ctx); !errors.Is(err, exporter.ErrImagesNotStarted) {
			t.Errorf("Pushed before Images: %v, want ErrImagesNotStarted", err)
		}
		if err := p.Images(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := p.Pushed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Manifests {
			if got[m.Digest] != m.Digest {
				t.Errorf("strip=%v: %s pushed as %q", strip, m.Digest, got[m.Digest])
			}
		}
		for _, a := range res.Attestations {
			if d, ok := got[a.Digest]; ok == strip || ok && d != a.Digest {
				t.Errorf("strip=%v: attestation %s pushed as %q", strip, a.Digest, d)
			}
		}
		if changed := got[res.Index.Digest] != res.Index.Digest; changed != strip || got[res.Index.Digest] == "" {
			t.Errorf("strip=%v: index %s pushed as %s", strip, res.Index.Digest, got[res.Index.Digest])
		}
		p.Abort()
	}
}

// TestAttachOneSubjectConcurrently: referrers of one subject attached at
// once by one push all end up listed, through the referrers API too
// (olareg v0.1.2 loses entries to concurrent PUTs for one subject; the
// push sends them one at a time).
func TestAttachOneSubjectConcurrently(t *testing.T) {
	ctx := context.Background()
	for _, reg := range startAll(t) {
		t.Run(string(reg.Kind), func(t *testing.T) {
			l, res := source(t, twoPlatforms(false))
			c, _ := client(nil)
			tgt := target(t, reg.Host, "app", c)
			p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1"})
			defer p.Abort()
			go p.Images(ctx)
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					a := exporter.Artifact{Subject: res.Manifests[0], ArtifactType: "application/vnd.example.note",
						Blobs: []exporter.Blob{{Data: fmt.Appendf(nil, "note %d", i)}}}
					if _, err := p.Attach(ctx, a); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if _, err := p.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			refs, _, err := exporter.NewFinder(tgt).Referrers(ctx, res.Manifests[0].Digest)
			if err != nil {
				t.Fatal(err)
			}
			if len(refs) != 8 {
				t.Errorf("%d referrers listed, want 8", len(refs))
			}
		})
	}
}
