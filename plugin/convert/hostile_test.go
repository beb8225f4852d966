package convert_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/plugin/convert"
)

// memSource serves blobs put into it, else those of a layout: an index
// crafted in a test on top of buildkitLayout's manifests.
type memSource struct {
	base  oci.Fetcher
	blobs map[string][]byte
}

func (m *memSource) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if b, ok := m.blobs[d.Digest.String()]; ok {
		return io.NopCloser(strings.NewReader(string(b))), nil
	}
	return m.base.Fetch(ctx, d)
}

// put stores v, JSON-encoded, under media type mt.
func (m *memSource) put(t *testing.T, mt string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := oci.DescriptorFor(mt, b)
	m.blobs[d.Digest.String()] = b
	return d
}

// attestationEntry is the index entry of attestation manifest am for the
// platform manifest of digest for, as BuildKit lists it.
func attestationEntry(am ocispec.Descriptor, forDigest string) ocispec.Descriptor {
	am.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	am.Annotations = map[string]string{oci.AnnotationDockerReferenceType: oci.DockerReferenceTypeAttestation, oci.AnnotationDockerReferenceDigest: forDigest}
	return am
}

// attestationOf stores an attestation manifest (OCI artifact form, no
// subject) whose layers are the statements stmts (each with its
// predicate type annotation) and returns its descriptor.
func (m *memSource) attestationOf(t *testing.T, stmts ...map[string]any) ocispec.Descriptor {
	t.Helper()
	var layers []ocispec.Descriptor
	for _, s := range stmts {
		d := m.put(t, oci.MediaTypeInToto, s)
		d.Annotations = map[string]string{"in-toto.io/predicate-type": fmt.Sprint(s["predicateType"])}
		layers = append(layers, d)
	}
	m.put(t, ocispec.MediaTypeEmptyJSON, map[string]any{})
	return m.put(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: oci.ArtifactTypeBuildKitAttestation, Config: ocispec.DescriptorEmptyJSON, Layers: layers,
	})
}

// spdxStatement is an SPDX statement of doc naming subjects (none: a
// subject-less statement, which names any image).
func spdxStatement(doc map[string]any, subjects ...string) map[string]any {
	subj := []any{}
	for _, s := range subjects {
		subj = append(subj, map[string]any{"name": "img", "digest": map[string]string{"sha256": strings.TrimPrefix(s, "sha256:")}})
	}
	return map[string]any{"_type": "https://in-toto.io/Statement/v1", "predicateType": convert.PredicateSPDX, "subject": subj, "predicate": doc}
}

// TestConvertHostileIndexEntries: the index entries a convert strips are
// the attestation entries it paired, entry by entry. A manifest listed
// both as a platform and as an attestation entry is refused before
// anything is written, with or without stripping (a strip by digest would
// take the platform out of the index); one attestation manifest listed
// for two platforms converts for both before both entries are stripped.
func TestConvertHostileIndexEntries(t *testing.T) {
	ctx := context.Background()
	for _, reg := range registries(t) {
		for i, tt := range []struct {
			name string
			// entries returns the index's entries, given the platform
			// manifests.
			entries func(t *testing.T, m *memSource, plats []ocispec.Descriptor) []ocispec.Descriptor
			// refused: Convert fails with ErrBadAttestation, whatever
			// the options, and writes nothing.
			refused bool
		}{
			{"platform listed as an attestation", func(t *testing.T, m *memSource, plats []ocispec.Descriptor) []ocispec.Descriptor {
				return append(plats[:2:2], attestationEntry(plats[1], plats[0].Digest.String()))
			}, true},
			{"platform listed as an attestation, before the platform", func(t *testing.T, m *memSource, plats []ocispec.Descriptor) []ocispec.Descriptor {
				return []ocispec.Descriptor{plats[0], attestationEntry(plats[1], plats[0].Digest.String()), plats[1]}
			}, true},
			{"one attestation for two platforms", func(t *testing.T, m *memSource, plats []ocispec.Descriptor) []ocispec.Descriptor {
				a := m.attestationOf(t, spdxStatement(spdxDoc("sbom")))
				return append(plats[:2:2], attestationEntry(a, plats[0].Digest.String()), attestationEntry(a, plats[1].Digest.String()))
			}, false},
			{"one attestation listed twice for a platform", func(t *testing.T, m *memSource, plats []ocispec.Descriptor) []ocispec.Descriptor {
				a := m.attestationOf(t, spdxStatement(spdxDoc("sbom"), plats[0].Digest.String()))
				b := m.attestationOf(t, spdxStatement(spdxDoc("sbom"), plats[1].Digest.String()))
				return append(plats[:2:2], attestationEntry(a, plats[0].Digest.String()), attestationEntry(b, plats[1].Digest.String()), attestationEntry(a, plats[0].Digest.String()))
			}, false},
		} {
			t.Run(fmt.Sprintf("%s/%s", reg.Kind, tt.name), func(t *testing.T) {
				l, _, plats := buildkitLayout(t, crafted{})
				m := &memSource{base: l, blobs: map[string][]byte{}}
				entries := tt.entries(t, m, plats)
				root := m.put(t, ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: entries})
				r, counter := remote(t, reg.Host, fmt.Sprintf("hostile%d", i))
				push(t, r, m, root, "v1")
				if tt.refused {
					for _, o := range []convert.Options{{}, {StripAttestations: true}, {StripAttestations: true, DropUnconverted: true}} {
						counter.Reset()
						_, err := convert.Convert(ctx, r, "v1", o)
						if !errors.Is(err, convert.ErrBadAttestation) || !strings.Contains(err.Error(), "both as the linux/arm64/v8 platform manifest and as an attestation manifest") {
							t.Errorf("%+v: err %v, want ErrBadAttestation naming both", o, err)
						}
						if n := writes(counter); n != 0 {
							t.Errorf("%+v: %d writes", o, n)
						}
					}
					return
				}
				res, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Platforms) != 2 || res.Written() != 2 {
					t.Fatalf("%d platforms, %d written; want 2 and 2", len(res.Platforms), res.Written())
				}
				for _, p := range res.Platforms {
					if p.Referrer.Digest == "" || len(p.Unconverted) != 0 {
						t.Errorf("%s: referrer %q, unconverted %v", oci.FormatPlatform(*p.Manifest.Platform), p.Referrer.Digest, p.Unconverted)
					}
				}
				_, b, _, err := r.FetchManifest(ctx, "v1")
				if err != nil {
					t.Fatal(err)
				}
				var idx ocispec.Index
				if err := json.Unmarshal(b, &idx); err != nil {
					t.Fatal(err)
				}
				if len(idx.Manifests) != 2 || idx.Manifests[0].Digest != plats[0].Digest || idx.Manifests[1].Digest != plats[1].Digest {
					t.Errorf("stripped index lists %v, want the two platforms", idx.Manifests)
				}
				if len(res.Stripped) != len(entries)-2 {
					t.Errorf("stripped %d entries, want %d", len(res.Stripped), len(entries)-2)
				}
			})
		}
	}
}

// TestConvertHostileStatementText: a predicate type or media type an
// attestation carries (the layer's annotation, the statement's
// predicateType, the layer's media type) with escape sequences or a
// newline is escaped in Statement.String and in the refusal to strip, so
// that it cannot drive a terminal or forge a line of the message.
func TestConvertHostileStatementText(t *testing.T) {
	ctx := context.Background()
	reg := registries(t)[0]
	const bad = "\x1b[2J\x1b[31mPWNED\x1b]0;title\x07\n  forged line\u202e"
	for i, tt := range []struct {
		name string
		// layer returns the odd layer, given the platform manifest.
		layer func(m *memSource, plat ocispec.Descriptor) ocispec.Descriptor
	}{
		{"annotated predicate type", func(m *memSource, plat ocispec.Descriptor) ocispec.Descriptor {
			d := m.put(t, oci.MediaTypeInToto, map[string]any{"_type": "https://in-toto.io/Statement/v0.1"})
			d.Annotations = map[string]string{"in-toto.io/predicate-type": bad}
			return d
		}},
		{"statement predicate type", func(m *memSource, plat ocispec.Descriptor) ocispec.Descriptor {
			s := spdxStatement(map[string]any{}, plat.Digest.String())
			s["predicateType"] = bad
			return m.put(t, oci.MediaTypeInToto, s)
		}},
		{"media type", func(m *memSource, plat ocispec.Descriptor) ocispec.Descriptor {
			d := m.put(t, "text/plain", "x")
			d.MediaType = "text/" + bad
			return d
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, _, plats := buildkitLayout(t, crafted{})
			m := &memSource{base: l, blobs: map[string][]byte{}}
			core := m.put(t, oci.MediaTypeInToto, spdxStatement(spdxDoc("sbom"), plats[0].Digest.String()))
			core.Annotations = map[string]string{"in-toto.io/predicate-type": convert.PredicateSPDX}
			m.put(t, ocispec.MediaTypeEmptyJSON, map[string]any{})
			am := m.put(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{
				Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
				ArtifactType: oci.ArtifactTypeBuildKitAttestation, Config: ocispec.DescriptorEmptyJSON,
				Layers: []ocispec.Descriptor{core, tt.layer(m, plats[0])},
			})
			root := m.put(t, ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
				Manifests: []ocispec.Descriptor{plats[0], attestationEntry(am, plats[0].Digest.String())}})
			r, _ := remote(t, reg.Host, fmt.Sprintf("ctrl%d", i))
			push(t, r, m, root, "v1")
			_, err := convert.Convert(ctx, r, "v1", convert.Options{StripAttestations: true})
			var ue *convert.UnconvertedError
			if !errors.As(err, &ue) || len(ue.Platforms) != 1 || len(ue.Platforms[0].Unconverted) != 1 {
				t.Fatalf("err %v, want an UnconvertedError for the odd layer", err)
			}
			for _, s := range []string{ue.Platforms[0].Unconverted[0].String(), err.Error()} {
				if strings.ContainsAny(s, "\x1b\x07\u202e") || strings.Contains(s, "\n  forged") {
					t.Errorf("unescaped: %q", s)
				}
			}
			if !strings.Contains(ue.Platforms[0].Unconverted[0].String(), `\x1b[2J`) {
				t.Errorf("%q does not show the escaped text", ue.Platforms[0].Unconverted[0].String())
			}
		})
	}
}

// TestConvertReadsEachStatementOnce: a statement layer is read once per
// convert however many times attestation manifests list it (one listing
// a stage's statement many times; platforms sharing one statement), and
// the statements read in all are bounded by Options.MaxRead: past it the
// convert fails with ErrReadLimit, naming the image, and writes nothing.
func TestConvertReadsEachStatementOnce(t *testing.T) {
	ctx := context.Background()
	reg := registries(t)[0]
	for i, tt := range []struct {
		name string
		// entries returns the attestation entries and the statement
		// layer whose reads are counted.
		entries func(m *memSource, plats []ocispec.Descriptor) ([]ocispec.Descriptor, ocispec.Descriptor)
		maxRead int64
		reads   int // GETs of the counted layer
		written int
		extras  int // Platform.Extras of the first platform
	}{
		{"one stage statement listed 30 times", func(m *memSource, plats []ocispec.Descriptor) ([]ocispec.Descriptor, ocispec.Descriptor) {
			stage := spdxStatement(extraDoc("sbom-build"), plats[0].Digest.String())
			stmts := []map[string]any{spdxStatement(spdxDoc("sbom"), plats[0].Digest.String())}
			for range 30 {
				stmts = append(stmts, stage)
			}
			a := m.attestationOf(t, stmts...)
			b := m.attestationOf(t, spdxStatement(spdxDoc("sbom"), plats[1].Digest.String()))
			return []ocispec.Descriptor{attestationEntry(a, plats[0].Digest.String()), attestationEntry(b, plats[1].Digest.String())}, m.put(t, oci.MediaTypeInToto, stage)
		}, 0, 1, 2, 30},
		{"one statement for both platforms", func(m *memSource, plats []ocispec.Descriptor) ([]ocispec.Descriptor, ocispec.Descriptor) {
			shared := spdxStatement(spdxDoc("sbom"))
			a := m.attestationOf(t, shared)
			// Another manifest (a provenance statement too) with the same layer.
			b := m.attestationOf(t, shared, map[string]any{"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://slsa.dev/provenance/v1", "subject": []any{}, "predicate": map[string]any{}})
			return []ocispec.Descriptor{attestationEntry(a, plats[0].Digest.String()), attestationEntry(b, plats[1].Digest.String())}, m.put(t, oci.MediaTypeInToto, shared)
		}, 0, 1, 2, 0},
		{"over MaxRead", func(m *memSource, plats []ocispec.Descriptor) ([]ocispec.Descriptor, ocispec.Descriptor) {
			a := m.attestationOf(t, spdxStatement(spdxDoc("sbom"), plats[0].Digest.String()))
			b := m.attestationOf(t, spdxStatement(spdxDoc("sbom"), plats[1].Digest.String()))
			return []ocispec.Descriptor{attestationEntry(a, plats[0].Digest.String()), attestationEntry(b, plats[1].Digest.String())}, m.put(t, oci.MediaTypeInToto, spdxStatement(spdxDoc("sbom"), plats[0].Digest.String()))
		}, 1500, -1, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, _, plats := buildkitLayout(t, crafted{})
			m := &memSource{base: l, blobs: map[string][]byte{}}
			atts, counted := tt.entries(m, plats)
			root := m.put(t, ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: append(plats[:2:2], atts...)})
			repo := fmt.Sprintf("reads%d", i)
			r, counter := remote(t, reg.Host, repo)
			push(t, r, m, root, "v1")
			counter.Reset()
			res, err := convert.Convert(ctx, r, "v1", convert.Options{MaxRead: tt.maxRead, MaxConcurrency: 1})
			if tt.reads < 0 {
				if !errors.Is(err, convert.ErrReadLimit) || !strings.Contains(err.Error(), reg.Host+"/"+repo+":v1") || writes(counter) != 0 {
					t.Fatalf("err %v (%d writes), want ErrReadLimit naming the image, nothing written", err, writes(counter))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, line := range counter.Log() {
				if strings.HasPrefix(line, "GET ") && strings.Contains(line, "/blobs/"+counted.Digest.String()) {
					n++
				}
			}
			if n != tt.reads || res.Written() != tt.written || res.Platforms[0].Extras != tt.extras {
				t.Errorf("%d reads of %s, %d written, %d extras; want %d, %d, %d", n, counted.Digest, res.Written(), res.Platforms[0].Extras, tt.reads, tt.written, tt.extras)
			}
		})
	}
}
