package convert_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocitest"
	"github.com/affix-oci/affix/internal/registrytest"
)

// created is the creation time of the crafted SPDX documents.
const created = "2024-05-06T07:08:09Z"

// spdxDoc is an SPDX document as affix-scanner writes it for a directory
// (one described root package, the directory), after BuildKit added its
// own creator, as it does to the final image's document.
func spdxDoc(name string) map[string]any {
	d := extraDoc(name)
	d["creationInfo"] = map[string]any{"created": created, "creators": []string{"Tool: affix-test+syft-v1", "Tool: buildkit-v0.34.2"}}
	return d
}

// extraDoc is spdxDoc of an extra target (a stage, the context), which
// BuildKit stores as the scanner wrote it.
func extraDoc(name string) map[string]any {
	return map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": name,
		"documentNamespace": "https://example.invalid/" + name,
		"creationInfo":      map[string]any{"created": created, "creators": []string{"Tool: affix-test+syft-v1"}},
		"packages": []any{
			map[string]any{"SPDXID": "SPDXRef-DocumentRoot-Directory-" + name, "name": name, "primaryPackagePurpose": "FILE"},
			map[string]any{"SPDXID": "SPDXRef-Package-apk-musl", "name": "musl", "versionInfo": "1.2.5-r0", "size": 1234567890123,
				"externalRefs": []any{map[string]any{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:apk/alpine/musl@1.2.5-r0"}}},
		},
		"relationships": []any{map[string]any{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-DocumentRoot-Directory-" + name}},
	}
}

// crafted configures buildkitLayout.
type crafted struct {
	// extras adds an SBOM of a stage "build" and one of the build context
	// after the image's.
	extras bool
	// coreName is the name of the image's SBOM (the scanner's NAME
	// parameter); empty means "sbom".
	coreName string
	// provenance adds an SLSA provenance statement.
	provenance bool
	// wrongSubject makes the statements name another digest.
	wrongSubject bool
	// noSBOM leaves out the image's SBOM.
	noSBOM bool
	// noHints lists the attestation manifests without platform and
	// annotations: only their artifactType (and subject) say what they are.
	noHints bool
	// noSubject leaves the subject out of the attestation manifests.
	noSubject bool
	// badExtra adds, after the extras, a stage's SBOM that is "spdx": no
	// SPDX 2.x document, or "subject": a statement about another image.
	badExtra string
	// secondCore adds a second document BuildKit marked as the final
	// image's (the scanner wrote sbom.spdx.json and sbom.extra.spdx.json).
	secondCore bool
	// odd writes the index indented, with a vendor field on each entry,
	// Docker's platform.features on the platform manifests, an empty
	// annotations object where an entry has none, and unsorted top-level
	// fields with characters encoding/json escapes (ocitest.OddIndex).
	odd bool
}

// buildkitLayout writes a two-platform layout whose index holds attestation
// manifests as BuildKit v0.34 writes them (OCI artifact form: subject set,
// empty config, in-toto layers annotated with their predicate type), and
// returns the layout and its platform manifests.
func buildkitLayout(t *testing.T, c crafted) (*oci.Layout, ocispec.Descriptor, []ocispec.Descriptor) {
	t.Helper()
	s := fixture.VariantsPair()
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	put := func(mt string, v any) ocispec.Descriptor {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		d := oci.DescriptorFor(mt, b)
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	entries := append([]ocispec.Descriptor{}, res.Manifests...)
	for _, m := range res.Manifests {
		named := m.Digest
		if c.wrongSubject {
			named = digest.FromString("another image")
		}
		subj := []any{map[string]any{"name": "pkg:docker/example/app@v1?platform=" + oci.FormatPlatform(*m.Platform), "digest": map[string]string{"sha256": named.Encoded()}}}
		stmt := func(pt string, pred any) ocispec.Descriptor {
			d := put(oci.MediaTypeInToto, map[string]any{"_type": "https://in-toto.io/Statement/v1", "predicateType": pt, "subject": subj, "predicate": pred})
			d.Annotations = map[string]string{"in-toto.io/predicate-type": pt}
			return d
		}
		core := c.coreName
		if core == "" {
			core = "sbom"
		}
		var layers []ocispec.Descriptor
		if !c.noSBOM {
			layers = append(layers, stmt("https://spdx.dev/Document", spdxDoc(core)))
		}
		if c.secondCore {
			layers = append(layers, stmt("https://spdx.dev/Document", spdxDoc("sbom.extra")))
		}
		if c.extras {
			layers = append(layers, stmt("https://spdx.dev/Document", extraDoc("sbom-build")), stmt("https://spdx.dev/Document", extraDoc("sbom-context")))
		}
		switch c.badExtra {
		case "spdx":
			d := extraDoc("sbom-odd")
			d["spdxVersion"] = "SPDX-3.0"
			layers = append(layers, stmt("https://spdx.dev/Document", d))
		case "subject":
			keep := subj
			subj = []any{map[string]any{"name": "other", "digest": map[string]string{"sha256": digest.FromString("another image").Encoded()}}}
			layers = append(layers, stmt("https://spdx.dev/Document", extraDoc("sbom-odd")))
			subj = keep
		}
		if c.provenance {
			layers = append(layers, stmt("https://slsa.dev/provenance/v0.2", map[string]any{"builder": map[string]any{"id": ""}}))
		}
		subject := &ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
		if c.noSubject {
			subject = nil
		}
		am := put(ocispec.MediaTypeImageManifest, ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
			ArtifactType: oci.ArtifactTypeBuildKitAttestation, Config: ocispec.DescriptorEmptyJSON,
			Layers: layers, Subject: subject,
		})
		put(ocispec.MediaTypeEmptyJSON, map[string]any{})
		if !c.noHints {
			am.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
			am.Annotations = map[string]string{oci.AnnotationDockerReferenceType: oci.DockerReferenceTypeAttestation, oci.AnnotationDockerReferenceDigest: m.Digest.String()}
		}
		entries = append(entries, am)
	}
	var idx ocispec.Descriptor
	if c.odd {
		all, _ := ocitest.OddIndex(t, entries, func(ocispec.Descriptor) bool { return false })
		idx = oci.DescriptorFor(ocispec.MediaTypeImageIndex, []byte(all))
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", idx.Digest.Encoded()), []byte(all), 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		idx = put(ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: entries})
	}
	top, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{idx}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), top, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := oci.OpenLayout(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, idx, res.Manifests
}

// fixtureLayout writes spec (fixture attestation manifests: image config,
// no subject, as BuildKit wrote them before OCI artifacts) and opens it.
func fixtureLayout(t *testing.T, spec fixture.Spec) (*oci.Layout, *fixture.Result) {
	t.Helper()
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	l, err := oci.OpenLayout(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, res
}

// remote returns a counting Remote for host/repo.
func remote(t testing.TB, host, repo string) (*exporter.Remote, *exporter.Counter) {
	t.Helper()
	c := &exporter.Counter{}
	c.Record()
	r, err := exporter.NewRemote(registry.Reference{Registry: host, Repository: repo}, exporter.RemoteOptions{Client: exporter.NewClient(nil, c), PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	return r, c
}

// push publishes root of src to r under tag, as buildctl would have.
func push(t testing.TB, r *exporter.Remote, src oci.Fetcher, root ocispec.Descriptor, tag string) {
	t.Helper()
	p := exporter.New(r, &exporter.Image{Source: src, Root: root}, exporter.Options{Tag: tag})
	if err := p.Images(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// registries starts olareg with and without the referrers API and Debian's
// docker-registry (skipped, or failed with AFFIX_INTEGRATION=1, when it is
// not installed).
func registries(t *testing.T) []*registrytest.Registry {
	t.Helper()
	var out []*registrytest.Registry
	for _, k := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI, registrytest.Distribution} {
		if k == registrytest.Distribution && testing.Short() {
			continue
		}
		r, err := registrytest.Launch(context.Background(), k, registrytest.Options{})
		if errors.Is(err, registrytest.ErrUnavailable) && os.Getenv("AFFIX_INTEGRATION") != "1" {
			t.Logf("%s: %v; testing without it", k, err)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		t.Cleanup(func() { r.Close() })
		out = append(out, r)
	}
	return out
}

// writes counts the requests that change the registry.
func writes(c *exporter.Counter) int {
	n := c.Counts()
	return n["PUT"] + n["POST"] + n["PATCH"] + n["DELETE"]
}
