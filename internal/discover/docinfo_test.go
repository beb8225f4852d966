package discover

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/affix-oci/affix/sbomgen"
)

// docInfoSeeds are documents whose one-pass read must agree with the
// functions that read each part on its own: valid documents of each
// format, and documents whose fields of another format have the wrong
// type (the one-pass decode fails where the format's own succeeds).
var docInfoSeeds = []string{
	`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","documentDescribes":["SPDXRef-img"],"creationInfo":{"creators":["Tool: affix-1.0"]},` +
		`"packages":[{"SPDXID":"SPDXRef-img","checksums":[{"algorithm":"SHA256","checksumValue":"` + strings.Repeat("a", 64) + `"}],"externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:oci/app@sha256%3A` + strings.Repeat("a", 64) + `"}]}]}`,
	`{"spdxVersion":"SPDX-2.3","relationships":[{"spdxElementId":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBES","relatedSpdxElement":"SPDXRef-x"}],"packages":[{"SPDXID":"SPDXRef-x","externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:oci/app@sha256%3A` + strings.Repeat("b", 64) + `"}]}]}`,
	`{"spdxVersion":"SPDX-2.3","packages":[]}`,
	`{"spdxVersion":"SPDX-2.3","packages":[],"metadata":5}`,
	`{"spdxVersion":"SPDX-2.3","packages":[],"source":"x","creationInfo":{"creators":["Tool: trivy-0.60"]}}`,
	`{"spdxVersion":"SPDX-3.0"}`,
	`{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"tools":{"components":[{"name":"syft","version":"1.2"}]},"component":{"purl":"pkg:oci/app@sha256%3A` + strings.Repeat("c", 64) + `","hashes":[{"alg":"SHA-256","content":"` + strings.Repeat("d", 64) + `"}]}}}`,
	`{"bomFormat":"CycloneDX","metadata":{"tools":[{"name":"trivy","version":"0.50"}],"component":{"purl":"pkg:oci/app@sha256%3A` + strings.Repeat("c", 64) + `"}}}`,
	`{"bomFormat":"CycloneDX","metadata":null}`,
	`{"bomFormat":"CycloneDX","metadata":{"component":null},"packages":"x"}`,
	`{"bomFormat":"CycloneDX","metadata":{"component":{"purl":5}, "tools":[{"name":"t"}]}}`,
	`{"artifacts":[],"schema":{"url":"https://raw.githubusercontent.com/anchore/syft/main/schema/json/schema-16.1.13.json"},"source":{"type":"image","metadata":{"manifestDigest":"sha256:` + strings.Repeat("e", 64) + `"}}}`,
	`{"artifacts":null,"schema":{"url":"https://raw.githubusercontent.com/anchore/syft/main/schema/json/schema-16.1.13.json"},"source":{"type":"directory","metadata":{}}}`,
	`{"artifacts":[],"schema":{"url":"/anchore/syft/"},"source":{"metadata":{"manifestDigest":"nope"}}}`,
	`{"artifacts":[],"schema":{"url":"/anchore/syft/"},"source":{"metadata":{"manifestDigest":"sha256:` + strings.Repeat("e", 64) + `"}},"creationInfo":7}`,
	`{"schema":"x","spdxVersion":"SPDX-2.3"}`,
	`{"artifacts":[],"descriptor":{"name":"affix"},"schema":{"url":5}}`,
	`{"hello":"world"}`,
	`[1,2]`,
	`null`,
	"ustar\x00\x00",
	``,
}

// checkDocInfo fails when what a Source reads of doc in one pass differs
// from what sniffFormat, sbomgen.DescribedDigest and docGenerator read.
func checkDocInfo(t *testing.T, doc []byte) {
	t.Helper()
	s := &Source{Doc: doc}
	gf, gok := s.sniffed()
	wf, wok := sniffFormat(doc)
	if gf != wf || gok != wok {
		t.Errorf("%q: sniffed = %q, %v; sniffFormat = %q, %v", doc, gf, gok, wf, wok)
	}
	for _, f := range append(describedFormats, "xml") {
		for range 2 { // the answer kept, and the first
			gd, gerr := s.describedDigest(f)
			wd, werr := sbomgen.DescribedDigest(f, doc)
			if gd != wd || fmt.Sprint(gerr) != fmt.Sprint(werr) {
				t.Errorf("%q: describedDigest(%s) = %q, %v; DescribedDigest = %q, %v", doc, f, gd, gerr, wd, werr)
			}
		}
	}
	if g, w := s.docGenerator(), docGenerator(doc); g != w {
		t.Errorf("%q: docGenerator = %q, want %q", doc, g, w)
	}
}

func TestSourceDocInfo(t *testing.T) {
	for _, doc := range docInfoSeeds {
		checkDocInfo(t, []byte(doc))
	}
	// Errors that say which package of several: the same one.
	var pkgs []string
	for i := range 3 {
		pkgs = append(pkgs, fmt.Sprintf(`{"SPDXID":"SPDXRef-%d","checksums":[{"algorithm":"SHA256","checksumValue":"%064d"}],"externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:oci/a@sha256%%3A%064d"}]}`, i, i, 7))
	}
	checkDocInfo(t, []byte(`{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-0","SPDXRef-1","SPDXRef-2"],"packages":[`+strings.Join(pkgs, ",")+`]}`))
}

func FuzzSourceDocInfo(f *testing.F) {
	for _, doc := range docInfoSeeds {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) { checkDocInfo(t, doc) })
}

// getDoc returns an SPDX document of n packages, shaped like affix's
// (each package with checksums and an external reference), describing
// one image.
func getDoc(n int) []byte {
	type ref struct {
		Type    string `json:"referenceType"`
		Locator string `json:"referenceLocator"`
	}
	type sum struct {
		Algorithm string `json:"algorithm"`
		Value     string `json:"checksumValue"`
	}
	type pkg struct {
		SPDXID       string `json:"SPDXID"`
		Name         string `json:"name"`
		Version      string `json:"versionInfo"`
		License      string `json:"licenseDeclared"`
		Checksums    []sum  `json:"checksums,omitempty"`
		ExternalRefs []ref  `json:"externalRefs"`
	}
	img := strings.Repeat("a", 64)
	pkgs := []pkg{{SPDXID: "SPDXRef-img", Name: "app", Checksums: []sum{{"SHA256", img}},
		ExternalRefs: []ref{{"purl", "pkg:oci/app@sha256%3A" + img}}}}
	for i := range n {
		pkgs = append(pkgs, pkg{SPDXID: fmt.Sprintf("SPDXRef-Package-%d", i), Name: fmt.Sprintf("lib%d", i), Version: "1.2.3-4", License: "MIT",
			ExternalRefs: []ref{{"cpe23Type", fmt.Sprintf("cpe:2.3:a:lib%d:lib%d:1.2.3-4:*:*:*:*:*:*:*", i, i)}, {"purl", fmt.Sprintf("pkg:deb/debian/lib%d@1.2.3-4?arch=amd64", i)}}})
	}
	doc, err := json.Marshal(map[string]any{
		"spdxVersion":       "SPDX-2.3",
		"SPDXID":            "SPDXRef-DOCUMENT",
		"creationInfo":      map[string]any{"creators": []string{"Tool: affix-1.0"}},
		"documentDescribes": []string{"SPDXRef-img"},
		"packages":          pkgs,
	})
	if err != nil {
		panic(err)
	}
	return doc
}

// BenchmarkGetDocRead reads what get reads of a document of 5000
// packages: its format, the image it describes, and with --verify that
// again and its generator; "separate" decodes it for each (as get did),
// "source" once per Source.
func BenchmarkGetDocRead(b *testing.B) {
	doc := getDoc(5000)
	for _, verify := range []bool{false, true} {
		name := "get"
		if verify {
			name = "get-verify"
		}
		b.Run(name+"/separate", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				sniffFormat(doc)
				sbomgen.DescribedDigest(sbomgen.SPDXJSON, doc)
				if verify {
					sbomgen.DescribedDigest(sbomgen.SPDXJSON, doc)
					docGenerator(doc)
				}
			}
		})
		b.Run(name+"/source", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				s := &Source{Doc: doc}
				s.sniffed()
				s.describedDigest(sbomgen.SPDXJSON)
				if verify {
					s.describedDigest(sbomgen.SPDXJSON)
					s.docGenerator()
				}
			}
		})
	}
}
