package convert

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/heapwatch"
)

// bigSPDX returns an SPDX document of n packages, shaped as syft and
// BuildKit write them (members in struct order, not sorted), with the
// strings and numbers whose encoding the canonical form decides: HTML
// characters, escapes, U+2028, non-ASCII, large and fractional numbers,
// a duplicate key.
func bigSPDX(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"sbom <&> \u2028 é","documentNamespace":"https://example.invalid/sbom",`)
	b.WriteString(`"creationInfo":{"licenseListVersion":"3.25","creators":["Organization: Anchore, Inc","Tool: syft-v1.57.1","Tool: buildkit-v0.34.2"],"created":"2024-05-06T07:08:09Z"},`)
	b.WriteString(`"packages":[{"name":"sbom","SPDXID":"SPDXRef-DocumentRoot-Directory-sbom","downloadLocation":"NOASSERTION","primaryPackagePurpose":"FILE","checksums":[{"algorithm":"SHA256","checksumValue":"00"}]}`)
	for i := range n {
		fmt.Fprintf(&b, `,{"name":"pkg-%d","SPDXID":"SPDXRef-Package-deb-pkg-%d","versionInfo":"1.%d-r0","supplier":"Organization: Debian <debian@example.org>","downloadLocation":"NOASSERTION","filesAnalyzed":false,"sourceInfo":"acquired package info from DPKG DB: /var/lib/dpkg/status, /usr/share/doc/pkg-%d/copyright","licenseConcluded":"NOASSERTION","licenseDeclared":"GPL-2.0-or-later AND (MIT OR Apache-2.0)","copyrightText":"NOASSERTION","description":"line one\nline \"two\"\t\\ <b>&amp;</b> \u00e9\u2028","size":%d,"ratio":0.%d5,"externalRefs":[{"referenceCategory":"SECURITY","referenceType":"cpe23Type","referenceLocator":"cpe:2.3:a:pkg-%d:pkg-%d:1.%d:*:*:*:*:*:*:*"},{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:deb/debian/pkg-%d@1.%d?arch=amd64&distro=debian-12"}],"name":"dup-%d"}`,
			i, i, i, i, 1<<40+i, i, i, i, i, i, i, i)
	}
	b.WriteString(`],"relationships":[{"spdxElementId":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBES","relatedSpdxElement":"SPDXRef-DocumentRoot-Directory-sbom"}`)
	for i := range n {
		fmt.Fprintf(&b, `,{"spdxElementId":"SPDXRef-DocumentRoot-Directory-sbom","relatedSpdxElement":"SPDXRef-Package-deb-pkg-%d","relationshipType":"CONTAINS"}`, i)
	}
	b.WriteString("]}\n")
	return []byte(b.String())
}

// TestNameImageMatchesMapOracle: on a document shaped as syft's, naming
// the image gives what decoding it whole into maps gave, byte for byte
// (an earlier convert's referrer digests stay the same), and so does
// wrapping it in a statement.
func TestNameImageMatchesMapOracle(t *testing.T) {
	d := digest.FromString("platform manifest")
	p := ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	for _, n := range []int{0, 1, 300} {
		doc := bigSPDX(n)
		got, ok, err := nameImage(doc, d, "registry.example.com/app", p)
		want, wantOK, wantErr := nameImageMap(doc, d, "registry.example.com/app", p)
		if err != nil || wantErr != nil || !ok || !wantOK {
			t.Fatalf("%d packages: named %v (%v), oracle %v (%v)", n, ok, err, wantOK, wantErr)
		}
		if !bytes.Equal(got, want) {
			i := 0
			for i < len(got) && i < len(want) && got[i] == want[i] {
				i++
			}
			t.Fatalf("%d packages: differs from the oracle at byte %d:\n%.200s\n%.200s", n, i, got[i:], want[i:])
		}
		stmt := []byte(`{"predicate":{"x":1},"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a<b","digest":{"sha256":"ab"}}],"predicateType":"https://spdx.dev/Document","extra":[1.50,"\u2028"]}`)
		w, err := withPredicate(stmt, got)
		ow, oerr := withPredicateMap(stmt, got)
		if err != nil || oerr != nil || !bytes.Equal(w, ow) {
			t.Fatalf("%d packages: withPredicate differs from the oracle (%v, %v)", n, err, oerr)
		}
	}
}

// BenchmarkNameImage names the image in a document of 5000 packages
// (about 4 MiB), streaming and, for comparison, through maps (the
// oracle). peak-x-doc is the live heap at the call's peak over the
// document's size (sampled, with the collector run often): the memory
// convert holds per platform.
func BenchmarkNameImage(b *testing.B) {
	d := digest.FromString("platform manifest")
	p := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	doc := bigSPDX(5000)
	for _, impl := range []struct {
		name string
		f    func([]byte, digest.Digest, string, ocispec.Platform) ([]byte, bool, error)
	}{{"streaming", nameImage}, {"maps", nameImageMap}} {
		b.Run(impl.name, func(b *testing.B) {
			defer debug.SetGCPercent(debug.SetGCPercent(5))
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			var peak uint64
			for b.Loop() {
				var ok bool
				var err error
				peak = max(peak, heapwatch.Peak(200*time.Microsecond, func() {
					_, ok, err = impl.f(doc, d, "registry.example.com/app", p)
				}))
				if err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
			b.ReportMetric(float64(peak)/float64(len(doc)), "peak-x-doc")
		})
	}
}
