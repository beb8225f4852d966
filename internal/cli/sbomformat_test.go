package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocidir/ocidirtest"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/sbomgen"
)

func TestSBOMFormats(t *testing.T) {
	spdx, cdx, intoto := referrerFormat{doc: sbomgen.SPDXJSON}, referrerFormat{doc: sbomgen.CycloneDXJSON}, referrerFormat{doc: sbomgen.SPDXJSON, inToto: true}
	for _, c := range []struct {
		in      []string
		want    []referrerFormat
		docs    []sbomgen.Format
		wantErr string
	}{
		{nil, []referrerFormat{spdx}, []sbomgen.Format{sbomgen.SPDXJSON}, ""},
		{[]string{"cyclonedx-json", "spdx-json", "cyclonedx-json"}, []referrerFormat{cdx, spdx}, []sbomgen.Format{sbomgen.CycloneDXJSON, sbomgen.SPDXJSON}, ""},
		{[]string{"spdx-intoto"}, []referrerFormat{intoto}, []sbomgen.Format{sbomgen.SPDXJSON}, ""},
		// Both SPDX forms come from one document.
		{[]string{"spdx-json", "SPDX-INTOTO"}, []referrerFormat{spdx, intoto}, []sbomgen.Format{sbomgen.SPDXJSON}, ""},
		{[]string{"syft-json"}, nil, nil, `--sbom-format "syft-json": want spdx-json, cyclonedx-json or spdx-intoto`},
		{[]string{"spdx-xml"}, nil, nil, `--sbom-format "spdx-xml": want spdx-json, cyclonedx-json or spdx-intoto`},
	} {
		got, err := sbomFormats(c.in)
		if c.wantErr != "" {
			var ue *exitError
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.As(err, &ue) || ue.code != 2 {
				t.Errorf("sbomFormats(%q) = %v, %v; want a usage error containing %q", c.in, got, err, c.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) || !slices.Equal(docFormats(got), c.docs) {
			t.Errorf("sbomFormats(%q) = %v (documents %v), %v; want %v (documents %v)", c.in, got, docFormats(got), err, c.want, c.docs)
		}
	}
	if spdx.String() != "spdx-json" || intoto.String() != "spdx-intoto" || intoto.artifactType() != oci.MediaTypeInToto || cdx.artifactType() != oci.MediaTypeCycloneDX {
		t.Errorf("names %s %s, artifact types %s %s", spdx, intoto, intoto.artifactType(), cdx.artifactType())
	}
}

// TestPushInToto pushes SPDX bare and wrapped in an in-toto statement
// (--sbom-format spdx-json --sbom-format spdx-intoto), with and without
// the referrers API: each platform gets both referrers; the statement's
// only subject is the platform manifest (named by the image name) and its
// predicate is the bare document, byte for byte; a rerun adds nothing;
// and with spdx-intoto alone, get --verify reads and checks the statement.
func TestPushInToto(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs registries")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			ref := reg.Ref("app") + ":v1"
			metaPath := filepath.Join(t.TempDir(), "meta.json")
			push := []string{"push", "--insecure-registry", reg.Host, "--sbom-format", "spdx-json", "--sbom-format", "spdx-intoto", "--metadata-file", metaPath, "oci-layout:" + dir, ref}
			mustAffix(t, push...)
			meta := readMeta(t, metaPath)
			repo, err := remote.NewRepository(reg.Ref("app"))
			if err != nil {
				t.Fatal(err)
			}
			repo.PlainHTTP = true
			for i, pm := range meta.Platforms {
				if pm.Digest != res.Manifests[i].Digest || len(pm.Referrers) != 2 ||
					pm.Referrers[0].Format != "spdx-intoto" || pm.Referrers[0].ArtifactType != oci.MediaTypeInToto ||
					pm.Referrers[1].Format != "spdx-json" || pm.Referrers[1].ArtifactType != oci.MediaTypeSPDX {
					t.Fatalf("metadata platform %+v", pm)
				}
				bare := []byte(mustAffix(t, "get", "--verify", "--insecure-registry", reg.Host, "--platform", pm.Platform, ref))
				stmt := fetchStatement(t, repo, pm.Referrers[0].Digest.String())
				if stmt.Type != oci.InTotoStatementType || stmt.PredicateType != oci.PredicateSPDX || len(stmt.Subject) != 1 ||
					stmt.Subject[0].Name != reg.Ref("app") || stmt.Subject[0].Digest["sha256"] != pm.Digest.Encoded() {
					t.Errorf("%s: statement %s subjects %+v", pm.Platform, stmt.Type, stmt.Subject)
				}
				if !bytes.Equal(stmt.Predicate, bytes.TrimSpace(bare)) {
					t.Errorf("%s: the statement's predicate is not the bare SPDX document", pm.Platform)
				}
			}
			// A rerun publishes the same referrers.
			mustAffix(t, push...)
			if again := readMeta(t, metaPath); !slices.EqualFunc(again.Platforms, meta.Platforms, func(a, b platformMeta) bool {
				return reflect.DeepEqual(a.Referrers, b.Referrers)
			}) {
				t.Errorf("rerun: %+v, first push %+v", again.Platforms, meta.Platforms)
			}
			for _, pm := range meta.Platforms {
				refs, err := registryReferrers(t, repo, pm.Digest.String())
				if err != nil || len(refs) != 2 {
					t.Errorf("%s: after a rerun, referrers %v, %v; want 2", pm.Platform, refs, err)
				}
			}

			// The statement alone (in another repository, whose platform
			// manifests have no bare SBOM): get falls back to it and
			// verifies its subjects.
			only := reg.Ref("intoto") + ":v1"
			mustAffix(t, "push", "--insecure-registry", reg.Host, "--sbom-format", "spdx-intoto", "--name", ref, "oci-layout:"+dir, only)
			out, errs, code := affix(t, "get", "--verify", "--insecure-registry", reg.Host, "--platform", meta.Platforms[0].Platform, only)
			want := mustAffix(t, "get", "--insecure-registry", reg.Host, "--platform", meta.Platforms[0].Platform, ref)
			if code != 0 || !strings.Contains(errs, "in-toto") || !strings.Contains(errs, "verified") || strings.TrimSpace(out) != strings.TrimSpace(want) {
				t.Errorf("get --verify of an in-toto SBOM: exit %d\n%s", code, errs)
			}
		})
	}
}

// fetchStatement reads the in-toto statement layer of referrer dgst.
func fetchStatement(t *testing.T, repo *remote.Repository, dgst string) *oci.Statement {
	t.Helper()
	ctx := context.Background()
	d, err := repo.Resolve(ctx, dgst)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if _, err := oci.ReadJSON(ctx, repo, d, &m); err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != oci.MediaTypeInToto || len(m.Layers) != 1 || m.Layers[0].MediaType != oci.MediaTypeInToto ||
		m.Annotations[oci.AnnotationPredicateType] != oci.PredicateSPDX || m.Layers[0].Annotations[oci.AnnotationPredicateType] != oci.PredicateSPDX {
		t.Fatalf("in-toto referrer %s: %+v", dgst, m)
	}
	b, err := oci.ReadBlob(ctx, repo, m.Layers[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := oci.ParseStatement(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// registryReferrers lists the referrers of dgst with oras-go (the API,
// else the referrers tag).
func registryReferrers(t *testing.T, repo *remote.Repository, dgst string) ([]ocispec.Descriptor, error) {
	t.Helper()
	d, err := repo.Resolve(context.Background(), dgst)
	if err != nil {
		return nil, err
	}
	var out []ocispec.Descriptor
	err = repo.Referrers(context.Background(), d, "", func(refs []ocispec.Descriptor) error {
		out = append(out, refs...)
		return nil
	})
	return out, err
}

// withWasmArtifact adds to the layout dir's (nested) image index an OCI
// artifact listed under the platform wasip1/wasm, as wasm tooling
// publishes: a manifest whose config is no image config. It returns the
// artifact's digest.
func withWasmArtifact(t *testing.T, dir string) digest.Digest {
	t.Helper()
	blob := func(b []byte) ocispec.Descriptor {
		d := digest.FromBytes(b)
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
	}
	cfg := blob([]byte(`{}`))
	cfg.MediaType = "application/vnd.wasm.config.v0+json"
	layer := blob([]byte("\x00asm\x01\x00\x00\x00"))
	layer.MediaType = "application/wasm"
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}})
	m := blob(mb)
	m.MediaType = ocispec.MediaTypeImageManifest
	m.Platform = &ocispec.Platform{OS: "wasip1", Architecture: "wasm"}

	var top ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &top)
	var idx ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "blobs", "sha256", top.Manifests[0].Digest.Encoded()), &idx)
	idx.Manifests = append(idx.Manifests, m)
	ib, _ := json.Marshal(idx)
	nd := blob(ib)
	top.Manifests[0].Digest, top.Manifests[0].Size = nd.Digest, nd.Size
	tb, _ := json.Marshal(top)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), tb, 0o644); err != nil {
		t.Fatal(err)
	}
	return m.Digest
}

// TestPushSkipsNonImages: a platform manifest that is no container image
// (a wasm artifact in a multi-platform index) is warned about and gets no
// SBOM; the other platforms get theirs and the tag is written. attach
// does the same for all platforms, and fails when that platform is asked
// for.
func TestPushSkipsNonImages(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	wasm := withWasmArtifact(t, dir)
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	ref := reg.Ref("wasm") + ":v1"
	meta := filepath.Join(t.TempDir(), "meta.json")
	_, errs, code := affix(t, "push", "--insecure-registry", reg.Host, "--metadata-file", meta, "oci-layout:"+dir, ref)
	if code != 0 || !strings.Contains(errs, "affix: warning: wasip1/wasm ("+wasm.String()+") is not a container image, so it gets no SBOM") {
		t.Fatalf("push: exit %d\n%s", code, errs)
	}
	var m pushMetadata
	ocidirtest.ReadJSON(t, meta, &m)
	if len(m.Platforms) != 3 || len(m.Platforms[0].Referrers) != 1 || len(m.Platforms[1].Referrers) != 1 || len(m.Platforms[2].Referrers) != 0 || m.Platforms[0].Digest != res.Manifests[0].Digest {
		t.Errorf("metadata platforms %+v", m.Platforms)
	}
	if _, errs, code := affix(t, "attach", "--insecure-registry", reg.Host, ref); code != 0 || !strings.Contains(errs, "wasip1/wasm") {
		t.Errorf("attach: exit %d\n%s", code, errs)
	}
	if _, errs, code := affix(t, "attach", "--insecure-registry", reg.Host, "--platform", "wasip1/wasm", ref); code != 1 || !strings.Contains(errs, "not an image") {
		t.Errorf("attach --platform wasip1/wasm: exit %d\n%s", code, errs)
	}
}

// TestSBOMSkipsNonImages: affix sbom --all-platforms writes the SBOMs of
// the container images and warns about a platform manifest that is none
// (a wasm artifact); naming that platform fails.
func TestSBOMSkipsNonImages(t *testing.T) {
	cliEnv(t)
	dir, _ := variantsPair(t)
	wasm := withWasmArtifact(t, dir)
	out := t.TempDir()
	_, errs, code := affix(t, "sbom", "--all-platforms", "-o", out, "oci-layout:"+dir)
	if code != 0 || !strings.Contains(errs, "affix: warning: wasip1/wasm ("+wasm.String()+") is not a container image, so it gets no SBOM") {
		t.Fatalf("sbom --all-platforms: exit %d\n%s", code, errs)
	}
	files, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Errorf("%d documents written, want 2: %v", len(files), files)
	}
	if _, errs, code := affix(t, "sbom", "--platform", "wasip1/wasm", "oci-layout:"+dir); code != 1 || !strings.Contains(errs, "not an image") {
		t.Errorf("sbom --platform wasip1/wasm: exit %d\n%s", code, errs)
	}
}

// TestUnreadableWarned: push and attach warn when a platform's scan found
// files it could not read (a corrupt rpmdb): its SBOM lacks their
// packages. affix sbom says it on its summary line.
func TestUnreadableWarned(t *testing.T) {
	cliEnv(t)
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, fixture.Spec{Images: []fixture.Image{{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers: []fixture.Layer{{
			{Path: "etc/os-release", Data: []byte("ID=fedora\nVERSION_ID=40\n")},
			{Path: "var/lib/rpm/rpmdb.sqlite", Data: bytes.Repeat([]byte("not sqlite "), 512)},
		}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "affix: warning: linux/amd64 (" + res.Manifests[0].Digest.String() + "): the SBOM lacks what the scan could not read: 1 unreadable, first \"/var/lib/rpm/rpmdb.sqlite: rpm-db-cataloger"
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	ref := reg.Ref("app") + ":v1"
	for _, args := range [][]string{
		{"push", "--insecure-registry", reg.Host, "oci-layout:" + dir, ref},
		{"attach", "--no-cache", "--insecure-registry", reg.Host, ref},
	} {
		_, errs, code := affix(t, args...)
		if code != 0 || !strings.Contains(errs, want) {
			t.Errorf("affix %s: exit %d, want 0 and %q in:\n%s", args[0], code, want, errs)
		}
	}
	if _, errs, _ := affix(t, "sbom", "oci-layout:"+dir); !strings.Contains(errs, "; 1 unreadable, first") {
		t.Errorf("affix sbom summary:\n%s", errs)
	}
}
