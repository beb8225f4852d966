package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocidir/ocidirtest"
	"github.com/affix-oci/affix/internal/registrytest"
)

// orasAttachLayout adds to the layout dir a referrer of subject as oras
// attach --oci-layout writes it (artifactType, the empty config, one
// layer) and lists it in index.json by digest only.
func orasAttachLayout(t *testing.T, dir string, subject ocispec.Descriptor, artifactType, content string) ocispec.Descriptor {
	t.Helper()
	blob := func(mt string, b []byte) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cfg := blob(ocispec.DescriptorEmptyJSON.MediaType, ocispec.DescriptorEmptyJSON.Data)
	layer := blob("application/octet-stream", []byte(content))
	layer.Annotations = map[string]string{ocispec.AnnotationTitle: "file"}
	mb, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType, Config: cfg, Layers: []ocispec.Descriptor{layer},
		Subject:     &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: map[string]string{ocispec.AnnotationCreated: "2026-01-02T03:04:05Z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := blob(ocispec.MediaTypeImageManifest, mb)
	listInLayout(t, dir, m)
	return m
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

// layoutTarFile writes the layout dir as a tar file and returns its path.
func layoutTarFile(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := writeLayoutTar(t.Context(), f, dir); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPushLayoutReferrers: what else a layout holds for its image (a VEX
// document on a platform manifest, a signature on the index, a signature
// on an SBOM, as oras attach --oci-layout adds them) is pushed with it,
// before the tag, on registries with and without the referrers API; a
// referrer whose subject the push does not write is left out with a
// warning naming it.
func TestPushLayoutReferrers(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs registries")
	}
	cliEnv(t)
	dir, sboms := layoutWithSBOMs(t, "example.com/built:v1")
	l, err := oci.OpenLayout(t.Context(), oci.SchemeLayout+":"+dir)
	if err != nil {
		t.Fatal(err)
	}
	root, _, err := layoutRoot(t.Context(), l, "push", nil)
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "blobs", "sha256", root.Digest.Encoded()), &idx)
	plat := idx.Manifests[0]
	sbom := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: sboms[plat.Digest]}
	fi, err := os.Stat(filepath.Join(dir, "blobs", "sha256", sbom.Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	sbom.Size = fi.Size()
	vex := orasAttachLayout(t, dir, plat, "application/vnd.example.vex+json", "vex")
	idxSig := orasAttachLayout(t, dir, root, "application/vnd.example.sig", "index signature")
	sbomSig := orasAttachLayout(t, dir, sbom, "application/vnd.example.sig", "sbom signature")
	// Another tool's SPDX SBOMs, beside affix's: one on a platform, one on
	// the index. They are the user's and go as they are, unless a new scan
	// replaces the SBOMs of that kind on that platform, or --no-sbom.
	otherSBOM := orasAttachLayout(t, dir, plat, oci.MediaTypeSPDX, `{"spdxVersion":"SPDX-2.3"}`)
	idxSBOM := orasAttachLayout(t, dir, root, oci.MediaTypeSPDX, `{"spdxVersion":"SPDX-2.3","name":"whole"}`)

	for _, c := range []struct {
		kind   registrytest.Kind
		extra  []string
		pushed []ocispec.Descriptor
		warned []ocispec.Descriptor
	}{
		{registrytest.OlaregAPI, nil, []ocispec.Descriptor{vex, idxSig, sbomSig, otherSBOM, idxSBOM}, nil},
		{registrytest.OlaregNoAPI, nil, []ocispec.Descriptor{vex, idxSig, sbomSig, otherSBOM, idxSBOM}, nil},
		// A new scan replaces affix's SPDX SBOMs in the layout (another
		// tool's stay, beside it): the signature of one has no subject in
		// the registry.
		{registrytest.OlaregNoAPI, []string{"--no-cache"}, []ocispec.Descriptor{vex, idxSig, idxSBOM, otherSBOM}, []ocispec.Descriptor{sbomSig}},
		// A format the layout lacks is scanned; the SPDX SBOMs the layout
		// has are reused, so the signature of one goes too.
		{registrytest.OlaregNoAPI, []string{"--sbom-format", "spdx-json", "--sbom-format", "cyclonedx-json"}, []ocispec.Descriptor{vex, idxSig, sbomSig, otherSBOM, idxSBOM}, nil},
		// Another format is another artifact.
		{registrytest.OlaregAPI, []string{"--no-cache", "--sbom-format", "cyclonedx-json"}, []ocispec.Descriptor{vex, idxSig, sbomSig, otherSBOM, idxSBOM}, nil},
		// No SBOM is pushed, so neither is the signature of one.
		{registrytest.OlaregAPI, []string{"--no-sbom"}, []ocispec.Descriptor{vex, idxSig}, []ocispec.Descriptor{sbomSig, otherSBOM, idxSBOM}},
		// The index gets a new digest: its referrers do not fit it.
		{registrytest.OlaregAPI, []string{"--strip-attestations"}, []ocispec.Descriptor{vex, sbomSig, otherSBOM}, []ocispec.Descriptor{idxSig, idxSBOM}},
	} {
		t.Run(string(c.kind)+strings.Join(c.extra, ""), func(t *testing.T) {
			reg := registrytest.Start(t, c.kind, registrytest.Options{})
			meta := filepath.Join(t.TempDir(), "meta.json")
			args := append([]string{"push", "--insecure-registry", reg.Host, "--metadata-file", meta}, c.extra...)
			out, errs, code := affix(t, append(args, "oci-layout:"+dir, reg.Ref("app")+":v1")...)
			if code != 0 {
				t.Fatalf("push: exit %d\n%s%s", code, out, errs)
			}
			m := readMeta(t, meta)
			if !slices.Contains(c.extra, "--no-cache") {
				// affix's SPDX SBOM of the layout is reused, not scanned again.
				for _, pm := range m.Platforms {
					if !slices.ContainsFunc(pm.Referrers, func(r referrerMeta) bool { return r.Digest == sboms[pm.Digest] }) && !slices.Contains(c.extra, "--no-sbom") {
						t.Errorf("%s: referrers %+v, want the layout's SBOM %s", pm.Platform, pm.Referrers, sboms[pm.Digest])
					}
				}
			}
			var got []digest.Digest
			for _, r := range m.LayoutReferrers {
				got = append(got, r.Digest)
			}
			for _, w := range c.pushed {
				if !slices.Contains(got, w.Digest) {
					t.Errorf("metadata layoutReferrers %v lack %s", got, w.Digest)
				}
			}
			for _, w := range c.warned {
				if slices.Contains(got, w.Digest) || !strings.Contains(errs, "referrer "+w.Digest.String()) || !strings.Contains(errs, "not pushed") {
					t.Errorf("%s: pushed or not warned about; stderr:\n%s", w.Digest, errs)
				}
			}
			if len(c.warned) == 0 && strings.Contains(errs, "warning") {
				t.Errorf("stderr:\n%s", errs)
			}
			// oras-go reads them back from their subjects.
			repo := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: "app"}, PlainHTTP: true}
			for _, w := range c.pushed {
				var subject ocispec.Manifest
				ocidirtest.ReadJSON(t, filepath.Join(dir, "blobs", "sha256", w.Digest.Encoded()), &subject)
				refs, err := registryReferrers(t, repo, subject.Subject.Digest.String())
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(refs, func(d ocispec.Descriptor) bool { return d.Digest == w.Digest }) {
					t.Errorf("referrers of %s: %v, want %s", subject.Subject.Digest, refs, w.Digest)
				}
			}
		})
	}
}

// TestPushLayoutReferrersEdges: --strip-attestations keeps the referrers
// of an index it does not change; a referrer that is an index is left out
// with a warning, not a failed push; a referrer whose blob is missing
// fails the push before the tag, and ls and get of the layout skip it
// with a warning.
func TestPushLayoutReferrersEdges(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	sig := orasAttachLayout(t, dir, res.Index, "application/vnd.example.sig", "index signature")
	// An index with a subject, as a referrer.
	ib, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		ArtifactType: "application/vnd.example.bundle", Manifests: []ocispec.Descriptor{},
		Subject: &ocispec.Descriptor{MediaType: res.Index.MediaType, Digest: res.Index.Digest, Size: res.Index.Size}})
	bundle := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(ib), Size: int64(len(ib))}
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", bundle.Digest.Encoded()), ib, 0o644); err != nil {
		t.Fatal(err)
	}
	listInLayout(t, dir, bundle)

	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	meta := filepath.Join(t.TempDir(), "meta.json")
	out, errs, code := affix(t, "push", "--insecure-registry", reg.Host, "--strip-attestations", "--no-sbom", "--metadata-file", meta, "oci-layout:"+dir, reg.Ref("app")+":v1")
	if code != 0 {
		t.Fatalf("push: exit %d\n%s%s", code, out, errs)
	}
	if m := readMeta(t, meta); m.Index.Digest != res.Index.Digest || len(m.LayoutReferrers) != 1 || m.LayoutReferrers[0].Digest != sig.Digest {
		t.Errorf("metadata: index %s (source %s), layout referrers %+v; want the signature pushed", m.Index.Digest, res.Index.Digest, m.LayoutReferrers)
	}
	if !strings.Contains(errs, "referrer "+bundle.Digest.String()) || !strings.Contains(errs, "affix pushes referrers that are image manifests") {
		t.Errorf("no warning about the index referrer:\n%s", errs)
	}

	// A referrer whose manifest is gone.
	if err := os.Remove(filepath.Join(dir, "blobs", "sha256", sig.Digest.Encoded())); err != nil {
		t.Fatal(err)
	}
	_, errs, code = affix(t, "push", "--insecure-registry", reg.Host, "--no-sbom", "oci-layout:"+dir, reg.Ref("app")+":v2")
	if code == 0 || !strings.Contains(errs, sig.Digest.String()) || !strings.Contains(errs, "oci-layout:"+dir) {
		t.Errorf("push with a missing referrer: exit %d\n%s", code, errs)
	}
	if d := resolveTag(t, reg, "app", "v2"); d != "" {
		t.Errorf("tag v2 written: %s", d)
	}
	out, errs, code = affix(t, "ls", "oci-layout:"+dir)
	if code != 0 || !strings.Contains(errs, "cannot be read; skipped") || !strings.Contains(out, "linux/amd64") {
		t.Errorf("ls with a missing referrer: exit %d\n%s%s", code, out, errs)
	}
}

// resolveTag returns the digest repo:tag names in reg, "" when none.
func resolveTag(t *testing.T, reg *registrytest.Registry, repo, tag string) digest.Digest {
	t.Helper()
	r, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: repo}, exporter.RemoteOptions{Client: exporter.NewClient(nil, nil), PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	d, _, _, err := r.FetchManifest(t.Context(), tag)
	if err != nil {
		return ""
	}
	return d.Digest
}

// TestPushWrapsReusedSPDX: a push asking for spdx-json and spdx-intoto of
// a layout that holds affix's bare SPDX SBOMs reuses them and wraps the
// same documents in the in-toto statements, rather than scanning again
// for a document of its own (which would name the pushed repository).
func TestPushWrapsReusedSPDX(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs a registry")
	}
	cliEnv(t)
	dir, sboms := layoutWithSBOMs(t, "example.com/built:v1")
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	meta := filepath.Join(t.TempDir(), "meta.json")
	if _, errs, code := affix(t, "push", "--insecure-registry", reg.Host, "--metadata-file", meta,
		"--sbom-format", "spdx-json", "--sbom-format", "spdx-intoto", "oci-layout:"+dir, reg.Ref("app")+":v1"); code != 0 {
		t.Fatalf("push: exit %d\n%s", code, errs)
	}
	ctx := t.Context()
	repo := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: "app"}, PlainHTTP: true}
	layer := func(d digest.Digest) []byte {
		t.Helper()
		desc, err := repo.Resolve(ctx, d.String())
		if err != nil {
			t.Fatal(err)
		}
		var m ocispec.Manifest
		if _, err := oci.ReadJSON(ctx, repo, desc, &m); err != nil {
			t.Fatal(err)
		}
		b, err := oci.ReadBlob(ctx, repo, m.Layers[0], 0)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	m := readMeta(t, meta)
	for _, pm := range m.Platforms {
		var bare, wrapped digest.Digest
		for _, r := range pm.Referrers {
			switch r.Format {
			case "spdx-json":
				bare = r.Digest
			case "spdx-intoto":
				wrapped = r.Digest
			}
		}
		if bare != sboms[pm.Digest] || wrapped == "" {
			t.Fatalf("%s: referrers %+v, want the layout's SBOM %s and a statement", pm.Platform, pm.Referrers, sboms[pm.Digest])
		}
		var stmt oci.Statement
		if err := json.Unmarshal(layer(wrapped), &stmt); err != nil {
			t.Fatal(err)
		}
		var doc bytes.Buffer
		if err := json.Compact(&doc, layer(bare)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(stmt.Predicate, doc.Bytes()) {
			t.Errorf("%s: the statement's predicate is not the layout's document", pm.Platform)
		}
		if len(stmt.Subject) != 1 || stmt.Subject[0].Digest["sha256"] != pm.Digest.Encoded() {
			t.Errorf("%s: statement subject %+v", pm.Platform, stmt.Subject)
		}
	}
}
