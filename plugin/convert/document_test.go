package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/sbomgen"
)

func TestCoreIndex(t *testing.T) {
	// The names are what the scanner would call each document; convert
	// does not read them (a NAME may start with "sbom-" too).
	doc := func(_ string, buildkit bool) spdxInfo { return spdxInfo{buildkit: buildkit} }
	tests := []struct {
		name string
		docs []spdxInfo
		want int
	}{
		{"none", nil, -1},
		{"one", []spdxInfo{doc("sbom", true)}, 0},
		{"a lone statement is the image's", []spdxInfo{doc("sbom-build", false)}, 0},
		{"BuildKit's order: the core first", []spdxInfo{doc("sbom", true), doc("sbom-build", false)}, 0},
		{"NAME starting with sbom-", []spdxInfo{doc("sbom-app", true), doc("sbom-build", false), doc("sbom-context", false)}, 0},
		{"NAME starting with sbom-, no BuildKit creator: cannot tell", []spdxInfo{doc("sbom-app", false), doc("sbom-context", false)}, -1},
		{"BuildKit's creator wins over the order", []spdxInfo{doc("sbom-build", false), doc("sbom", true)}, 1},
		{"full reference as NAME", []spdxInfo{doc("registry.example.com/app:1", true), doc("sbom-context", false)}, 0},
		{"no creator, other names: cannot tell", []spdxInfo{doc("/run/src/core/sbom", false), doc("sbom-x", false)}, -1},
		{"two core documents (sbom.spdx.json, sbom.extra.spdx.json): the first", []spdxInfo{doc("sbom", true), doc("sbom.extra", true), doc("sbom-build", false)}, 0},
	}
	for _, tt := range tests {
		if got := coreIndex(tt.docs); got != tt.want {
			t.Errorf("%s: coreIndex(%v) = %d, want %d", tt.name, tt.docs, got, tt.want)
		}
	}
}

func TestReadSPDX(t *testing.T) {
	tests := []struct {
		doc     string
		want    spdxInfo
		wantErr bool
	}{
		{`{"spdxVersion":"SPDX-2.3","name":"sbom","creationInfo":{"created":"2024-05-06T07:08:09+02:00","creators":["Organization: x","Tool: affix-1+syft-v1","Tool: buildkit-v0.34.2"]}}`,
			spdxInfo{created: time.Date(2024, 5, 6, 5, 8, 9, 0, time.UTC), generator: "affix-1+syft-v1", buildkit: true}, false},
		{`{"spdxVersion":"SPDX-2.3","name":"sbom-build","creationInfo":{"creators":["Tool: affix-1+syft-v1"]}}`,
			spdxInfo{generator: "affix-1+syft-v1"}, false},
		{`{"spdxVersion":"SPDX-2.2","name":"n","creationInfo":{"created":"yesterday","creators":["Tool:   "]}}`, spdxInfo{}, false},
		{`{"spdxVersion":"SPDX-3.0"}`, spdxInfo{}, true},
		{`{"bomFormat":"CycloneDX"}`, spdxInfo{}, true},
		{`[`, spdxInfo{}, true},
	}
	for _, tt := range tests {
		got, err := readSPDX([]byte(tt.doc))
		if (err != nil) != tt.wantErr {
			t.Errorf("readSPDX(%s): err %v", tt.doc, err)
			continue
		}
		if err != nil && !errors.Is(err, ErrBadAttestation) {
			t.Errorf("readSPDX(%s): err %v, want ErrBadAttestation", tt.doc, err)
		}
		if got != tt.want {
			t.Errorf("readSPDX(%s) = %+v, want %+v", tt.doc, got, tt.want)
		}
	}
}

func TestParseStatement(t *testing.T) {
	for _, bad := range []string{
		`{"_type":"x","predicateType":"https://spdx.dev/Document","predicate":{}}`,
		`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`,
		`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","predicate":"text"}`,
		`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document"}`,
		`not json`,
	} {
		if _, err := parseStatement([]byte(bad)); !errors.Is(err, ErrBadAttestation) {
			t.Errorf("parseStatement(%s): %v", bad, err)
		}
	}
	d := digest.FromString("image")
	s, err := parseStatement([]byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[{"name":"x","digest":{"sha256":"` + d.Encoded() + `"}}],"predicate":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Names(d) || s.Names(digest.FromString("other")) {
		t.Error("names")
	}
}

func TestNameImage(t *testing.T) {
	d := digest.FromString("platform manifest")
	img := "registry.example.com/team/App:1.0@sha256:" + d.Encoded()
	amd64 := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	root := `{"SPDXID":"SPDXRef-Root","name":"sbom","checksums":[{"algorithm":"SHA256","checksumValue":"00"},{"algorithm":"SHA1","checksumValue":"11"}],"externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:generic/sbom"},{"referenceCategory":"SECURITY","referenceType":"cpe23Type","referenceLocator":"cpe:2.3:a:x:x:1:*:*:*:*:*:*:*"}]}`
	other := `{"SPDXID":"SPDXRef-Other","name":"musl","versionInfo":"1"}`
	tests := []struct {
		name  string
		doc   string
		named bool
	}{
		{"DESCRIBES", `{"spdxVersion":"SPDX-2.3","packages":[` + root + `,` + other + `],"relationships":[{"spdxElementId":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBES","relatedSpdxElement":"SPDXRef-Root"}]}`, true},
		{"documentDescribes", `{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-Root"],"packages":[` + other + `,` + root + `]}`, true},
		{"DESCRIBED_BY", `{"spdxVersion":"SPDX-2.3","packages":[` + root + `],"relationships":[{"spdxElementId":"SPDXRef-Root","relationshipType":"DESCRIBED_BY","relatedSpdxElement":"SPDXRef-DOCUMENT"}]}`, true},
		{"nothing described", `{"spdxVersion":"SPDX-2.3","packages":[` + root + `]}`, false},
		{"two described", `{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-Root","SPDXRef-Other"],"packages":[` + root + `,` + other + `]}`, false},
		{"described file", `{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-File"],"packages":[` + root + `]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok, err := nameImage([]byte(tt.doc), d, img, amd64)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.named {
				t.Fatalf("named = %v, want %v", ok, tt.named)
			}
			if !ok {
				if !bytes.Equal(out, []byte(tt.doc)) {
					t.Error("document changed although not named")
				}
				if _, err := sbomgen.DescribedDigest(sbomgen.SPDXJSON, out); !errors.Is(err, sbomgen.ErrNoSubject) {
					t.Errorf("DescribedDigest: %v", err)
				}
				return
			}
			got, err := sbomgen.DescribedDigest(sbomgen.SPDXJSON, out)
			if err != nil || got != d {
				t.Fatalf("DescribedDigest = %s, %v; want %s", got, err, d)
			}
			var v struct {
				Packages []struct {
					ID        string              `json:"SPDXID"`
					Checksums []map[string]string `json:"checksums"`
					Refs      []map[string]string `json:"externalRefs"`
				} `json:"packages"`
			}
			json.Unmarshal(out, &v)
			for _, p := range v.Packages {
				if p.ID != "SPDXRef-Root" {
					if p.Checksums != nil || p.Refs != nil {
						t.Errorf("package %s changed", p.ID)
					}
					continue
				}
				wantPurl := "pkg:oci/app@sha256%3A" + d.Encoded() + "?arch=amd64&repository_url=registry.example.com%2Fteam%2FApp"
				if len(p.Refs) != 2 || p.Refs[0]["referenceType"] != "cpe23Type" || p.Refs[1]["referenceLocator"] != wantPurl {
					t.Errorf("external refs %v, want the cpe kept and the purl %s", p.Refs, wantPurl)
				}
				if len(p.Checksums) != 2 || p.Checksums[0]["algorithm"] != "SHA1" || p.Checksums[1]["checksumValue"] != d.Encoded() {
					t.Errorf("checksums %v", p.Checksums)
				}
			}
			again, _, _ := nameImage(out, d, img, amd64)
			if !bytes.Equal(again, out) {
				t.Error("naming a named document changed it")
			}
		})
	}
	if _, _, err := nameImage([]byte("{"), d, img, amd64); !errors.Is(err, ErrBadAttestation) {
		t.Errorf("bad JSON: %v", err)
	}
}

func TestWithPredicate(t *testing.T) {
	stmt := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"ab"}}],"predicateType":"https://spdx.dev/Document","predicate":{"old":true}}`)
	out, err := withPredicate(stmt, []byte(" {\"new\":1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"_type":"https://in-toto.io/Statement/v1","predicate":{"new":1},"predicateType":"https://spdx.dev/Document","subject":[{"digest":{"sha256":"ab"},"name":"x"}]}` + "\n"
	if string(out) != want {
		t.Errorf("got %s\nwant %s", out, want)
	}
}

// TestNameImageNamespace: a named document gets a namespace of its own,
// derived from BuildKit's and the image named: another repository's
// document has another, the same naming the same, and naming it again
// (or BuildKit's document for another repository) starts from the
// original namespace.
func TestNameImageNamespace(t *testing.T) {
	d := digest.FromString("platform manifest")
	amd64 := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	doc := []byte(`{"spdxVersion":"SPDX-2.3","documentNamespace":"https://example.invalid/sbom","documentDescribes":["SPDXRef-Root"],"packages":[{"SPDXID":"SPDXRef-Root","name":"sbom"}]}`)
	ns := func(repo string, in []byte) string {
		t.Helper()
		out, ok, err := nameImage(in, d, repo+"@"+d.String(), amd64)
		if err != nil || !ok {
			t.Fatalf("nameImage: %v, %v", ok, err)
		}
		var v struct {
			Namespace string `json:"documentNamespace"`
		}
		json.Unmarshal(out, &v)
		return v.Namespace
	}
	a, b := ns("registry.example.com/a", doc), ns("registry.example.com/b", doc)
	if a == "https://example.invalid/sbom" || a == b || !strings.HasPrefix(a, "https://example.invalid/sbom/affix-") {
		t.Errorf("namespaces %q and %q: want two of their own, under BuildKit's", a, b)
	}
	if again := ns("registry.example.com/a", doc); again != a {
		t.Errorf("the same naming gives %q, then %q", a, again)
	}
	named, _, _ := nameImage(doc, d, "registry.example.com/a@"+d.String(), amd64)
	if renamed := ns("registry.example.com/b", named); renamed != b {
		t.Errorf("renaming a's document for b gives %q, want b's %q", renamed, b)
	}
}

// TestMaxStatementSize pins the headroom over BuildKit's 80 MiB bound on
// the scanner's file (MaxStatementSize's comment says why the stored
// layer may be larger).
func TestMaxStatementSize(t *testing.T) {
	const buildkitMax = 80 << 20 // exporter/attestation maxAttestationBytes
	if MaxStatementSize < 2*buildkitMax {
		t.Errorf("MaxStatementSize %d: want at least twice BuildKit's %d", MaxStatementSize, buildkitMax)
	}
}
