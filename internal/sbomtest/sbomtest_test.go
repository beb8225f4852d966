package sbomtest

import (
	"slices"
	"testing"
)

func TestSPDXPackages(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
		wantErr   bool
	}{
		{"described by relationship", `{"packages":[
			{"SPDXID":"SPDXRef-img","name":"app","versionInfo":"sha256:1"},
			{"SPDXID":"SPDXRef-b","name":"zlib1g","versionInfo":"1.2","externalRefs":[{"referenceType":"cpe23Type","referenceLocator":"cpe:2.3:a"},{"referenceType":"purl","referenceLocator":"pkg:deb/debian/zlib1g@1.2"}]},
			{"SPDXID":"SPDXRef-a","name":"ms","versionInfo":"2.1.3","externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:npm/ms@2.1.3"}]}],
			"relationships":[{"spdxElementId":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBES","relatedSpdxElement":"SPDXRef-img"}]}`,
			[]string{"deb zlib1g 1.2", "npm ms 2.1.3"}, false},
		{"described by documentDescribes", `{"documentDescribes":["SPDXRef-img"],"packages":[
			{"SPDXID":"SPDXRef-img","name":"app"},{"SPDXID":"SPDXRef-x","name":"x","versionInfo":"1"}]}`,
			[]string{"? x 1"}, false},
		{"no packages", `{"spdxVersion":"SPDX-2.3"}`, []string{}, false},
		{"not JSON", `{`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SPDXPackages([]byte(tc.doc))
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
