package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/internal/sbomtest"
)

// foreignLayer is one layer of a foreignReferrer.
type foreignLayer struct {
	mediaType   string
	data        []byte
	annotations map[string]string
}

// foreignReferrer is a referrer as another tool writes it.
type foreignReferrer struct {
	// artifactType is the manifest's artifactType; "" leaves it out
	// (cosign attach sbom: the config's media type stands for it).
	artifactType string
	// configType is the config's media type; "" is the empty config.
	configType  string
	layers      []foreignLayer
	annotations map[string]string
	// tag, when set, stores the manifest under that tag without a
	// subject, as cosign's tag schemes do.
	tag string
}

// attachForeign pushes f to repo of reg as a referrer of subject, as
// oras-go does (the referrers tag where reg has no API), and returns its
// descriptor.
func attachForeign(t *testing.T, reg *registrytest.Registry, repo string, subject ocispec.Descriptor, f foreignReferrer) ocispec.Descriptor {
	t.Helper()
	ctx := t.Context()
	r := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: repo}, PlainHTTP: true, SkipReferrersGC: true}
	cfg := ocispec.DescriptorEmptyJSON
	cfgData := ocispec.DescriptorEmptyJSON.Data
	if f.configType != "" {
		cfgData = []byte(`{"kind":"` + f.configType + `"}`)
		cfg = oci.DescriptorFor(f.configType, cfgData)
	}
	if _, err := oras.PushBytes(ctx, r, cfg.MediaType, cfgData); err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: f.artifactType,
		Config: ocispec.Descriptor{MediaType: cfg.MediaType, Digest: cfg.Digest, Size: cfg.Size}, Annotations: f.annotations}
	if f.tag == "" {
		m.Subject = &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	}
	for _, l := range f.layers {
		d, err := oras.PushBytes(ctx, r, l.mediaType, l.data)
		if err != nil {
			t.Fatal(err)
		}
		d.Annotations = l.annotations
		m.Layers = append(m.Layers, d)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if f.tag != "" {
		d := oci.DescriptorFor(ocispec.MediaTypeImageManifest, b)
		if err := r.PushReference(ctx, d, bytes.NewReader(b), f.tag); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d, err := oras.PushBytes(ctx, r, ocispec.MediaTypeImageManifest, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sigstoreBundle returns a Sigstore bundle (v0.3) around a DSSE envelope
// of stmt, as cosign attest (v3) stores it; the signature is not one.
func sigstoreBundle(t *testing.T, stmt []byte) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": map[string]any{},
		"dsseEnvelope": map[string]any{"payloadType": discover.MediaTypeDSSEPayloadInToto, "payload": base64.StdEncoding.EncodeToString(stmt),
			"signatures": []map[string]string{{"sig": "MEUCIQ=="}}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGetForeignSBOMs: SBOMs other tools attach, in the shapes they give
// them (oras attach without a layer type, cosign attach sbom's and cosign
// attest's referrers, syft JSON, CycloneDX in-toto, a BuildKit attestation
// left only as a referrer, an SBOM attached to the index, referrers
// without a created time), on olareg with and without the referrers API:
// what get prints, its notes, and what --verify says.
func TestGetForeignSBOMs(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs registries")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	amd, arm := res.Manifests[0], res.Manifests[1]
	syftDoc := mustAffix(t, "sbom", "--platform", "linux/amd64", "--format", "syft-json", "oci-layout:"+dir)
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			insecure := []string{"--insecure-registry", reg.Host}
			mustAffix(t, slices.Concat([]string{"push", "--sbom-format", "spdx-json", "--sbom-format", "cyclonedx-json"}, insecure, []string{"oci-layout:" + dir, reg.Ref("src") + ":v1"})...)
			get := func(args ...string) string {
				return mustAffix(t, slices.Concat([]string{"get"}, insecure, args)...)
			}
			spdxDoc := get("--platform", "linux/amd64", reg.Ref("src")+":v1")
			cdxDoc := get("--platform", "linux/amd64", "--format", "cyclonedx-json", reg.Ref("src")+":v1")
			armSPDX := get("--platform", "linux/arm64", reg.Ref("src")+":v1")
			bare := func(repo string) string {
				mustAffix(t, slices.Concat([]string{"push", "--no-sbom"}, insecure, []string{"oci-layout:" + dir, reg.Ref(repo) + ":v1"})...)
				return reg.Ref(repo) + ":v1"
			}
			dated := func(ts string) map[string]string { return map[string]string{ocispec.AnnotationCreated: ts} }

			// oras attach --artifact-type application/spdx+json REF sbom.json
			oras := bare("oras")
			orasSBOM := attachForeign(t, reg, "oras", amd, foreignReferrer{artifactType: oci.MediaTypeSPDX,
				layers: []foreignLayer{{mediaType: ocispec.MediaTypeImageLayer, data: []byte(spdxDoc)}}, annotations: dated("2025-01-01T00:00:00Z")})

			// cosign attach sbom --registry-referrers-mode=oci-1-1, SPDX
			// and (newer) CycloneDX.
			cosign := bare("cosign")
			cosignSPDX := attachForeign(t, reg, "cosign", amd, foreignReferrer{configType: discover.MediaTypeCosignSBOM,
				layers: []foreignLayer{{mediaType: "text/spdx+json", data: []byte(spdxDoc)}}})
			cosignCDX := attachForeign(t, reg, "cosign", amd, foreignReferrer{configType: discover.MediaTypeCosignSBOM,
				layers: []foreignLayer{{mediaType: oci.MediaTypeCycloneDX, data: []byte(cdxDoc)}}})

			// cosign attest --type spdxjson (v3: a Sigstore bundle).
			attest := bare("attest")
			bundleType := "application/vnd.dev.sigstore.bundle.v0.3+json"
			bundle := attachForeign(t, reg, "attest", amd, foreignReferrer{artifactType: bundleType,
				layers:      []foreignLayer{{mediaType: bundleType, data: sigstoreBundle(t, sbomtest.Statement(t, oci.PredicateSPDX, amd.Digest, spdxDoc))}},
				annotations: map[string]string{discover.AnnotationBundlePredicateType: oci.PredicateSPDX, "dev.sigstore.bundle.content": "dsse-envelope"}})

			// cosign's tag schemes: cosign attach sbom (.sbom), and
			// cosign attest before v3 (.att: DSSE envelopes, one layer
			// per attestation, the newest last).
			cosignTags := bare("cosign-tags")
			hex := amd.Digest.Encoded()
			attach := attachForeign(t, reg, "cosign-tags", amd, foreignReferrer{tag: "sha256-" + hex + ".sbom", configType: ocispec.MediaTypeImageConfig,
				layers: []foreignLayer{{mediaType: "text/spdx+json", data: []byte(spdxDoc)}}})
			dsse := func(doc string) []byte {
				b, _ := json.Marshal(map[string]any{"payloadType": discover.MediaTypeDSSEPayloadInToto,
					"payload": base64.StdEncoding.EncodeToString(sbomtest.Statement(t, "https://cyclonedx.org/bom", amd.Digest, doc)), "signatures": []any{}})
				return b
			}
			pt := func(p string) map[string]string { return map[string]string{"predicateType": p} }
			att := attachForeign(t, reg, "cosign-tags", amd, foreignReferrer{tag: "sha256-" + hex + ".att", configType: ocispec.MediaTypeImageConfig,
				layers: []foreignLayer{
					{mediaType: discover.MediaTypeDSSE, data: dsse(`{"bomFormat":"CycloneDX","old":true}`), annotations: pt("https://cyclonedx.org/bom")},
					{mediaType: discover.MediaTypeDSSE, data: dsse(cdxDoc), annotations: pt("https://cyclonedx.org/bom")},
					{mediaType: discover.MediaTypeDSSE, data: []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30="}`), annotations: pt("https://slsa.dev/provenance/v1")},
				}})

			// a syft JSON document, and a CycloneDX in-toto statement.
			syft := bare("syft")
			syftSBOM := attachForeign(t, reg, "syft", amd, foreignReferrer{artifactType: oci.MediaTypeSyftJSON,
				layers: []foreignLayer{{mediaType: oci.MediaTypeSyftJSON, data: []byte(syftDoc)}}})
			cdxStmt := attachForeign(t, reg, "syft", amd, foreignReferrer{artifactType: oci.MediaTypeInToto,
				layers:      []foreignLayer{{mediaType: oci.MediaTypeInToto, data: sbomtest.Statement(t, "https://cyclonedx.org/bom/v1.6", amd.Digest, cdxDoc)}},
				annotations: map[string]string{oci.AnnotationPredicateType: "https://cyclonedx.org/bom/v1.6"}})

			// an SBOM of linux/amd64 attached to the index (oras attach
			// REF:TAG).
			index := bare("index")
			indexSBOM := attachForeign(t, reg, "index", res.Index, foreignReferrer{artifactType: oci.MediaTypeSPDX,
				layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: []byte(spdxDoc)}}})

			// a BuildKit attestation (with a subject, v0.32+) that the
			// index does not list: a referrer only.
			bk := bare("bk")
			bkStmt := sbomtest.Statement(t, oci.PredicateSPDX, amd.Digest, sbomtest.DirectorySPDX)
			bkAtt := attachForeign(t, reg, "bk", amd, foreignReferrer{artifactType: oci.ArtifactTypeBuildKitAttestation, configType: ocispec.MediaTypeImageConfig,
				layers: []foreignLayer{{mediaType: oci.MediaTypeInToto, data: bkStmt, annotations: map[string]string{oci.AnnotationPredicateType: oci.PredicateSPDX}}}})

			// undated: regctl artifact put writes no created time; the
			// dated SBOM is taken, and the note says why.
			undated := bare("undated")
			datedSBOM := attachForeign(t, reg, "undated", amd, foreignReferrer{artifactType: oci.MediaTypeSPDX,
				layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: []byte(spdxDoc)}}, annotations: dated("2020-01-01T00:00:00Z")})
			undatedSBOM := attachForeign(t, reg, "undated", amd, foreignReferrer{artifactType: oci.MediaTypeSPDX,
				layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: []byte(armSPDX)}}})

			for _, tt := range []struct {
				name   string
				args   []string
				code   int
				stdout string // "" with code 0: any JSON document
				stderr []string
			}{
				{"oras attach without a layer type", []string{"--verify", "--platform", "linux/amd64", oras}, 0, spdxDoc,
					[]string{"SBOM referrer " + orasSBOM.Digest.String() + ": its layer's media type is application/vnd.oci.image.layer.v1.tar", "holds a spdx-json document: taken", "verified: SBOM " + orasSBOM.Digest.String()}},
				{"cosign attach sbom, SPDX", []string{"--verify", "--platform", "linux/amd64", cosign}, 0, spdxDoc,
					[]string{"verified: SBOM " + cosignSPDX.Digest.String()}},
				{"cosign attach sbom, CycloneDX", []string{"--verify", "--platform", "linux/amd64", "--format", "cyclonedx-json", cosign}, 0, cdxDoc,
					[]string{"verified: SBOM " + cosignCDX.Digest.String()}},
				{"cosign attest bundle", []string{"--verify", "--platform", "linux/amd64", attest}, 0, "",
					[]string{"taking the predicate of Sigstore bundle referrer (cosign attest; its signature is not checked) " + bundle.Digest.String(), "verified: SBOM " + bundle.Digest.String()}},
				{"syft JSON", []string{"--verify", "--platform", "linux/amd64", "--format", "syft-json", syft}, 0, syftDoc,
					[]string{"verified: SBOM " + syftSBOM.Digest.String()}},
				{"syft JSON named when SPDX is asked for", []string{"--platform", "linux/amd64", syft}, 1, "",
					[]string{"no spdx-json SBOM referrer of " + amd.Digest.String(), "it has syft-json SBOM referrers: --format syft-json"}},
				{"CycloneDX in-toto", []string{"--verify", "--platform", "linux/amd64", "--format", "cyclonedx-json", syft}, 0, "",
					[]string{"taking the predicate of in-toto referrer " + cdxStmt.Digest.String(), "verified: SBOM " + cdxStmt.Digest.String()}},
				{"SBOM of the index", []string{"--verify", "--platform", "linux/amd64", index}, 0, spdxDoc,
					[]string{"taking SBOM referrer " + indexSBOM.Digest.String() + " of the index " + res.Index.Digest.String() + ", attached to the whole image", "verified: SBOM " + indexSBOM.Digest.String()}},
				{"SBOM of the index is not arm64's", []string{"--verify", "--platform", "linux/arm64", index}, 1, "",
					[]string{"none of the spdx-json SBOM referrers of the index " + res.Index.Digest.String() + " fits: " + indexSBOM.Digest.String() +
						": it describes image " + amd.Digest.String() + ", not linux/arm64/v8's manifest " + arm.Digest.String() + " nor the index"}},
				{"SBOM of the index is not arm64's, unverified", []string{"--platform", "linux/arm64", index}, 1, "",
					[]string{"it describes image " + amd.Digest.String() + ", not linux/arm64/v8's manifest "}},
				{"BuildKit attestation only a referrer", []string{"--verify", "--platform", "linux/amd64", bk}, 0, sbomtest.DirectorySPDX + "\n",
					[]string{"taking BuildKit attestation " + bkAtt.Digest.String() + " (a referrer, not in the index)", "verified: SBOM " + bkAtt.Digest.String()}},
				{"cosign attach sbom tag", []string{"--verify", "--platform", "linux/amd64", cosignTags}, 0, spdxDoc,
					[]string{"taking the SBOM of cosign's tag sha256-" + hex + ".sbom", "verified: SBOM " + attach.Digest.String()}},
				{"cosign attest tag, newest of its layers", []string{"--verify", "--platform", "linux/amd64", "--format", "cyclonedx-json", cosignTags}, 0, "",
					[]string{"of cosign's tag sha256-" + hex + ".att (its signature is not checked)", "verified: SBOM " + att.Digest.String()}},
				{"undated", []string{"--platform", "linux/amd64", undated}, 0, spdxDoc,
					[]string{"took " + datedSBOM.Digest.String() + " of 2 spdx-json SBOM referrers", "1 of them (" + undatedSBOM.Digest.String() + ") carry no valid org.opencontainers.image.created"}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					out, errs, code := affix(t, slices.Concat([]string{"get"}, insecure, tt.args)...)
					wantOut := tt.stdout == "" && (code != 0 || json.Valid([]byte(out))) || out == tt.stdout
					if code != tt.code || !wantOut {
						t.Fatalf("exit %d, want %d; stdout %.200q, want %.200q\nstderr: %s", code, tt.code, out, tt.stdout, errs)
					}
					for _, s := range tt.stderr {
						if !strings.Contains(errs, s) {
							t.Errorf("stderr lacks %q:\n%s", s, errs)
						}
					}
				})
			}
			// The .att tag's newest CycloneDX attestation, not the first.
			if out := get("--platform", "linux/amd64", "--format", "cyclonedx-json", cosignTags); strings.Contains(out, `"old":true`) {
				t.Errorf("get took the older attestation of the .att tag: %.200s", out)
			}
		})
	}
}

// TestGetCosignTagErrors: a cosign tag the registry does not have (404)
// holds no SBOM; any other failure to read one (a refusal, a registry
// that still fails after retries, a manifest that is no JSON) is an error
// naming the tag, not taken for "no tag".
func TestGetCosignTagErrors(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	amd := res.Manifests[0].Digest
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	mustAffix(t, "push", "--no-sbom", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref("bare")+":v1")
	proxy := registrytest.StartProxy(t, reg.Host)
	sbomTag, attTag := cosignTag(t, amd, "sbom"), cosignTag(t, amd, "att")
	for _, tt := range []struct {
		name   string
		fault  *registrytest.Fault
		stderr []string
	}{
		{"no tags", nil, []string{"no spdx-json SBOM referrer of " + amd.String()}},
		{".sbom refused", &registrytest.Fault{Path: "/manifests/" + sbomTag + "$", Action: registrytest.Status, Code: http.StatusForbidden},
			[]string{"reading cosign's tag " + sbomTag + ": ", "403 Forbidden"}},
		{".sbom unauthorized", &registrytest.Fault{Path: "/manifests/" + sbomTag + "$", Action: registrytest.Status, Code: http.StatusUnauthorized},
			[]string{"reading cosign's tag " + sbomTag + ": ", "401 Unauthorized"}},
		{".att fails", &registrytest.Fault{Path: "/manifests/" + attTag + "$", Action: registrytest.Status, Code: http.StatusNotImplemented},
			[]string{"reading cosign's tag " + attTag + ": ", "501 Not Implemented"}},
		{".sbom is no JSON", &registrytest.Fault{Path: "/manifests/" + sbomTag + "$", Action: registrytest.Status, Code: http.StatusOK, Body: "not json"},
			[]string{"reading cosign's tag " + sbomTag + ": manifest sha256:", "invalid character"}},
		{".att is no JSON", &registrytest.Fault{Path: "/manifests/" + attTag + "$", Action: registrytest.Status, Code: http.StatusOK, Body: "[1,"},
			[]string{"reading cosign's tag " + attTag + ": manifest sha256:"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proxy.Clear()
			if tt.fault != nil {
				tt.fault.Method = "GET"
				proxy.Inject(*tt.fault)
			}
			out, errs, code := affix(t, "get", "--insecure-registry", proxy.Host, "--platform", "linux/amd64", proxy.Host+"/bare:v1")
			if code != 1 || out != "" {
				t.Fatalf("exit %d, stdout %.200q; want 1 and nothing\nstderr: %s", code, out, errs)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errs)
				}
			}
			if tt.fault != nil && proxy.Injected() == 0 {
				t.Error("the fault was not injected")
			}
		})
	}
}

// TestGetCycloneDXTypes: a referrer of the CycloneDX type without a
// suffix (artifact or layer type) is read by its content: CycloneDX JSON
// is taken with a note, XML is refused saying so; cosign's SBOM
// referrers count among the formats a missing one names.
func TestGetCycloneDXTypes(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs a registry")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	amd := res.Manifests[0]
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	insecure := []string{"--insecure-registry", reg.Host}
	mustAffix(t, slices.Concat([]string{"push", "--sbom-format", "cyclonedx-json"}, insecure, []string{"oci-layout:" + dir, reg.Ref("src") + ":v1"})...)
	cdxDoc := mustAffix(t, slices.Concat([]string{"get", "--format", "cyclonedx-json", "--platform", "linux/amd64"}, insecure, []string{reg.Ref("src") + ":v1"})...)
	const xml = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<bom xmlns="http://cyclonedx.org/schema/bom/1.5" version="1"/>`
	repo := func(name, artifactType, configType, layerType, doc string) (string, digest.Digest) {
		mustAffix(t, slices.Concat([]string{"push", "--no-sbom"}, insecure, []string{"oci-layout:" + dir, reg.Ref(name) + ":v1"})...)
		d := attachForeign(t, reg, name, amd, foreignReferrer{artifactType: artifactType, configType: configType,
			layers: []foreignLayer{{mediaType: layerType, data: []byte(doc)}}})
		return reg.Ref(name) + ":v1", d.Digest
	}
	untypedXML, xmlRef := repo("xml", discover.MediaTypeCycloneDXUntyped, "", discover.MediaTypeCycloneDXUntyped, xml)
	untypedJSON, jsonRef := repo("json", discover.MediaTypeCycloneDXUntyped, "", discover.MediaTypeCycloneDXUntyped, cdxDoc)
	typedXML, typedRef := repo("typedxml", oci.MediaTypeCycloneDX, "", discover.MediaTypeCycloneDXUntyped, xml)
	cosignCDX, cosignRef := repo("cosigncdx", "", discover.MediaTypeCosignSBOM, oci.MediaTypeCycloneDX, cdxDoc)
	cosignXML, _ := repo("cosignxml", "", discover.MediaTypeCosignSBOM, "application/vnd.cyclonedx+xml", xml)
	refusedXML := "its one layer (application/vnd.cyclonedx) holds XML, not a cyclonedx-json document (get reads JSON documents only)"
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr []string
	}{
		{"untyped XML", []string{"--format", "cyclonedx-json", untypedXML}, 1, "",
			[]string{"no usable cyclonedx-json SBOM referrer of " + amd.Digest.String() + ": " + xmlRef.String() + ": " + refusedXML}},
		{"untyped JSON", []string{"--verify", "--format", "cyclonedx-json", untypedJSON}, 0, cdxDoc,
			[]string{"SBOM referrer " + jsonRef.String() + ": its layer's media type is application/vnd.cyclonedx (which says neither JSON nor XML), not application/vnd.cyclonedx+json, but it holds a cyclonedx-json document: taken",
				"verified: SBOM " + jsonRef.String()}},
		{"JSON-typed referrer of an XML layer", []string{"--format", "cyclonedx-json", typedXML}, 1, "",
			[]string{typedRef.String() + ": " + refusedXML}},
		{"cosign CycloneDX named when SPDX is asked for", []string{cosignCDX}, 1, "",
			[]string{"no spdx-json SBOM referrer of " + amd.Digest.String(), "it has cyclonedx-json SBOM referrers: --format cyclonedx-json"}},
		{"cosign CycloneDX", []string{"--verify", "--format", "cyclonedx-json", cosignCDX}, 0, cdxDoc,
			[]string{"verified: SBOM " + cosignRef.String()}},
		{"cosign CycloneDX XML", []string{"--format", "cyclonedx-json", cosignXML}, 1, "",
			[]string{"no cyclonedx-json SBOM referrer of " + amd.Digest.String()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkGetAMD64(t, insecure, tt.args, tt.code, tt.stdout, tt.stderr)
		})
	}
}

// TestGetAttestationLayers: a layer of a BuildKit attestation whose
// statement is not what its predicate-type annotation says is skipped
// with a note, as a statement referrer's or a .att tag's is, and the
// next layer or fallback tried.
func TestGetAttestationLayers(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	amd := res.Manifests[0]
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	spdx := map[string]string{oci.AnnotationPredicateType: oci.PredicateSPDX}
	bad := foreignLayer{mediaType: oci.MediaTypeInToto, data: sbomtest.Statement(t, "https://slsa.dev/provenance/v1", amd.Digest, `{}`), annotations: spdx}
	good := foreignLayer{mediaType: oci.MediaTypeInToto, data: sbomtest.Statement(t, oci.PredicateSPDX, amd.Digest, sbomtest.DirectorySPDX), annotations: spdx}
	badDigest := oci.DescriptorFor(bad.mediaType, bad.data).Digest
	for _, tt := range []struct {
		name   string
		layers []foreignLayer
		code   int
		stdout string
	}{
		{"a good layer after it", []foreignLayer{bad, good}, 0, sbomtest.DirectorySPDX + "\n"},
		{"no other layer", []foreignLayer{bad}, 1, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			repo := strings.ReplaceAll(tt.name, " ", "-")
			mustAffix(t, "push", "--no-sbom", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref(repo)+":v1")
			att := attachForeign(t, reg, repo, amd, foreignReferrer{artifactType: oci.ArtifactTypeBuildKitAttestation, configType: ocispec.MediaTypeImageConfig, layers: tt.layers})
			out, errs, code := affix(t, "get", "--insecure-registry", reg.Host, "--platform", "linux/amd64", reg.Ref(repo)+":v1")
			if code != tt.code || out != tt.stdout {
				t.Fatalf("exit %d, want %d; stdout %.200q, want %.200q\nstderr: %s", code, tt.code, out, tt.stdout, errs)
			}
			want := "skipped layer " + badDigest.String() + " of BuildKit attestation " + att.Digest.String() + `: predicate type "https://slsa.dev/provenance/v1" is not`
			if !strings.Contains(errs, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errs)
			}
		})
	}
}
