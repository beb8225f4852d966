package discover

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

// TestSniffFormat: which documents a generic layer (oras attach FILE
// without :TYPE) is taken to hold.
func TestSniffFormat(t *testing.T) {
	for _, tt := range []struct {
		name string
		doc  string
		want sbomgen.Format // "" means none
	}{
		{"SPDX 2.3", `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT"}`, sbomgen.SPDXJSON},
		{"SPDX 3 is not SPDX 2", `{"spdxVersion":"SPDX-3.0"}`, ""},
		{"CycloneDX", `{"bomFormat":"CycloneDX","specVersion":"1.6"}`, sbomgen.CycloneDXJSON},
		{"syft JSON", `{"artifacts":[],"descriptor":{"name":"affix"},"schema":{"url":"https://raw.githubusercontent.com/anchore/syft/main/schema/json/schema-16.1.13.json"}}`, sbomgen.SyftJSON},
		{"syft schema without artifacts", `{"schema":{"url":"https://raw.githubusercontent.com/anchore/syft/main/schema/json/schema-16.1.13.json"}}`, ""},
		{"artifacts of another schema", `{"artifacts":[],"schema":{"url":"https://example.invalid/schema.json"}}`, ""},
		{"other JSON", `{"hello":"world"}`, ""},
		{"a JSON list", `[1,2]`, ""},
		{"a tar", "ustar\x00\x00", ""},
		{"empty", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := sniffFormat([]byte(tt.doc))
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("sniffFormat = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

// TestIsPredicateOf: the in-toto predicate types whose predicate get
// prints for each format.
func TestIsPredicateOf(t *testing.T) {
	for _, tt := range []struct {
		format sbomgen.Format
		pt     string
		want   bool
	}{
		{sbomgen.SPDXJSON, "https://spdx.dev/Document", true},
		{sbomgen.SPDXJSON, "https://spdx.dev/Document/v2.3", true},
		{sbomgen.SPDXJSON, "https://spdx.dev/Document/v3.0", false},
		{sbomgen.SPDXJSON, "https://cyclonedx.org/bom", false},
		{sbomgen.CycloneDXJSON, "https://cyclonedx.org/bom", true},
		{sbomgen.CycloneDXJSON, "https://cyclonedx.org/bom/v1.6", true},
		{sbomgen.CycloneDXJSON, "https://spdx.dev/Document", false},
		{sbomgen.SyftJSON, "https://spdx.dev/Document", false},
		{sbomgen.SPDXJSON, "", false},
	} {
		if got := isPredicateOf(tt.format, tt.pt); got != tt.want {
			t.Errorf("isPredicateOf(%s, %q) = %v, want %v", tt.format, tt.pt, got, tt.want)
		}
	}
}

// TestDecodeStatement: an in-toto statement as affix and BuildKit store
// it, in a DSSE envelope (cosign's .att tags), and in a Sigstore bundle
// (cosign attest v3's referrers); what is none of them is named.
func TestDecodeStatement(t *testing.T) {
	stmt := `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document",` +
		`"subject":[{"name":"app","digest":{"sha256":"` + strings.Repeat("a", 64) + `"}}],"predicate":{"spdxVersion":"SPDX-2.3"}}`
	envelope := func(payloadType string, enc *base64.Encoding) string {
		b, _ := json.Marshal(map[string]any{"payloadType": payloadType, "payload": enc.EncodeToString([]byte(stmt)),
			"signatures": []map[string]string{{"sig": "c2ln"}}})
		return string(b)
	}
	bundle := `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"dsseEnvelope":` +
		envelope(MediaTypeDSSEPayloadInToto, base64.StdEncoding) + `}`
	for _, tt := range []struct {
		name, mt, body string
		err            string // "" means the statement is decoded
	}{
		{"in-toto statement", oci.MediaTypeInToto, stmt, ""},
		{"DSSE envelope", MediaTypeDSSE, envelope(MediaTypeDSSEPayloadInToto, base64.StdEncoding), ""},
		{"DSSE envelope, URL-safe base64 unpadded", MediaTypeDSSE, envelope(MediaTypeDSSEPayloadInToto, base64.RawURLEncoding), ""},
		{"Sigstore bundle", "application/vnd.dev.sigstore.bundle.v0.3+json", bundle, ""},
		{"DSSE of another payload", MediaTypeDSSE, envelope("text/plain", base64.StdEncoding), `DSSE payload type "text/plain" is not application/vnd.in-toto+json`},
		{"bundle of a signature", "application/vnd.dev.sigstore.bundle.v0.3+json", `{"messageSignature":{}}`, "holds no DSSE envelope"},
		{"payload not base64", MediaTypeDSSE, `{"payloadType":"application/vnd.in-toto+json","payload":"*!*"}`, "DSSE payload is not base64"},
		{"another layer type", "application/octet-stream", stmt, "layer media type application/octet-stream holds no in-toto statement"},
		{"not JSON", oci.MediaTypeInToto, "nope", "decoding in-toto statement"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodeStatement(tt.mt, []byte(tt.body))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.PredicateType != oci.PredicateSPDX || string(s.Predicate) != `{"spdxVersion":"SPDX-2.3"}` || len(s.Subject) != 1 {
				t.Errorf("decoded %+v", s)
			}
		})
	}
}

// TestSourceGenerator: the generator get --verify names, from affix's
// annotation, an SPDX creator or a CycloneDX tool of either layout.
func TestSourceGenerator(t *testing.T) {
	for _, tt := range []struct {
		name string
		ann  map[string]string
		doc  string
		want string
	}{
		{"annotation", map[string]string{oci.AnnotationGenerator: "affix-1.0"}, `{}`, "affix-1.0"},
		{"SPDX creator", nil, `{"creationInfo":{"creators":["Organization: x","Tool: trivy-0.60"]}}`, "trivy-0.60"},
		{"CycloneDX 1.5 tools", nil, `{"bomFormat":"CycloneDX","metadata":{"tools":{"components":[{"name":"syft","version":"1.2"}]}}}`, "syft-1.2"},
		{"CycloneDX 1.4 tools", nil, `{"bomFormat":"CycloneDX","metadata":{"tools":[{"vendor":"aquasecurity","name":"trivy","version":"0.50"}]}}`, "trivy-0.50"},
		{"CycloneDX tool without version", nil, `{"metadata":{"tools":[{"name":"scanner"}]}}`, "scanner"},
		{"none", nil, `{"metadata":{}}`, ""},
		{"not JSON", nil, `x`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := (&Source{Annotations: tt.ann, Doc: []byte(tt.doc)}).generator(); got != tt.want {
				t.Errorf("generator() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWithAnnotations: referrers-tag entries without annotations (cosign
// writes them so) get their manifests', each manifest read once for all
// the readers that follow; entries that have some, of other types, or
// whose manifest cannot be read are left as listed; a list the referrers
// API gave is taken as it is, without a read.
func TestWithAnnotations(t *testing.T) {
	const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	manifest := func(ann map[string]string) (ocispec.Descriptor, []byte) {
		b, _ := json.Marshal(ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: bundleType, Annotations: ann})
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b)), ArtifactType: bundleType}, b
	}
	blobs := map[digest.Digest][]byte{}
	bareAnn := map[string]string{AnnotationBundlePredicateType: oci.PredicateSPDX, ocispec.AnnotationCreated: "2025-01-01T00:00:00Z"}
	bare, b := manifest(bareAnn)
	blobs[bare.Digest] = b
	listed, b := manifest(map[string]string{AnnotationBundlePredicateType: "https://slsa.dev/provenance/v1"})
	blobs[listed.Digest] = b
	listed.Annotations = map[string]string{"listed": "yes"}
	missing, _ := manifest(map[string]string{"x": "y"})
	other := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("other"), ArtifactType: oci.MediaTypeSPDX}
	refs := []ocispec.Descriptor{bare, listed, missing, other}
	for _, tt := range []struct {
		name      string
		annotated bool
		want      []map[string]string
		reads     int // fetches, withAnnotations and a readReferrer of each entry of bundleType after it
	}{
		{"referrers tag", false, []map[string]string{bareAnn, {"listed": "yes"}, nil, nil}, 3},
		{"referrers API", true, []map[string]string{nil, {"listed": "yes"}, nil, nil}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			reads := 0
			r := memGetRun(blobs, func() {
				mu.Lock()
				reads++
				mu.Unlock()
			})
			got := r.withAnnotations(t.Context(), referrerList{refs: refs, annotated: tt.annotated}, []string{bundleType})
			for i, want := range tt.want {
				if !maps.Equal(got[i].Annotations, want) {
					t.Errorf("entry %d: annotations %v, want %v", i, got[i].Annotations, want)
				}
			}
			if refs[0].Annotations != nil {
				t.Errorf("withAnnotations changed its argument: %v", refs[0].Annotations)
			}
			for _, d := range refs[:3] {
				if _, err := r.readReferrer(t.Context(), d); (err != nil) != (d.Digest == missing.Digest) {
					t.Errorf("readReferrer(%s): %v", d.Digest, err)
				}
			}
			r.readReferrer(t.Context(), bare)
			if reads != tt.reads {
				t.Errorf("%d fetches, want %d", reads, tt.reads)
			}
		})
	}
}

// TestDocTypes: the media types get takes for a bare document of each
// format; application/vnd.cyclonedx, which says neither JSON nor XML, is
// none of them (its content decides: isGenericLayer).
func TestDocTypes(t *testing.T) {
	for _, tt := range []struct {
		format sbomgen.Format
		want   []string
	}{
		{sbomgen.SPDXJSON, []string{oci.MediaTypeSPDX, "text/spdx+json"}},
		{sbomgen.CycloneDXJSON, []string{oci.MediaTypeCycloneDX}},
		{sbomgen.SyftJSON, []string{oci.MediaTypeSyftJSON}},
	} {
		if got := docTypes(tt.format); !slices.Equal(got, tt.want) {
			t.Errorf("docTypes(%s) = %q, want %q", tt.format, got, tt.want)
		}
	}
	if !isGenericLayer(MediaTypeCycloneDXUntyped) || isGenericLayer(oci.MediaTypeCycloneDX) || isGenericLayer("application/vnd.cyclonedx+xml") {
		t.Error("isGenericLayer: only the CycloneDX type without a suffix is read by its content")
	}
}

// TestContentName: what a note says a generic layer holds when it holds
// no document of the format asked for.
func TestContentName(t *testing.T) {
	for _, tt := range []struct {
		name, doc string
		format    sbomgen.Format
		want      string
	}{
		{"another format", `{"spdxVersion":"SPDX-2.3"}`, sbomgen.CycloneDXJSON, "a spdx-json document, not a cyclonedx-json one"},
		{"CycloneDX XML", "\n <?xml version=\"1.0\"?><bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\"/>", sbomgen.CycloneDXJSON,
			"XML, not a cyclonedx-json document (get reads JSON documents only)"},
		{"a tar", "ustar\x00", sbomgen.SPDXJSON, "no SBOM document, not a spdx-json one"},
		{"empty", "", sbomgen.SPDXJSON, "no SBOM document, not a spdx-json one"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := contentName([]byte(tt.doc), tt.format); got != tt.want {
				t.Errorf("contentName = %q, want %q", got, tt.want)
			}
		})
	}
}
