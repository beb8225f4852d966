package convert_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/affix-oci/affix/plugin/convert"
)

// TestConvertStatementsKept: only the final image's statement must be a
// valid SPDX statement of the platform manifest; an odd extra one is
// recorded with its reason and the others are converted; a second
// statement BuildKit marked is named as the image's, not as a stage's;
// and of several statements none of which BuildKit marked, none is
// published as the image's SBOM.
func TestConvertStatementsKept(t *testing.T) {
	ctx := context.Background()
	reg := registries(t)[1]
	tests := []struct {
		name    string
		c       crafted
		written int
		extras  int
		want    []string // What: Reason substrings of the unconverted statements, in order
	}{
		{"extra not SPDX 2.x", crafted{extras: true, badExtra: "spdx"}, 2, 3, []string{
			"SBOM of another build stage", "SBOM of another build stage", `SBOM of another build stage or the build context (https://spdx.dev/Document) sha256:|: not published: spdxVersion "SPDX-3.0" is not SPDX 2.x`}},
		{"extra about another image", crafted{badExtra: "subject"}, 2, 1, []string{
			"SBOM of another build stage or the build context (https://spdx.dev/Document) sha256:|: not published: statement does not name the platform manifest"}},
		{"two marked as the image's", crafted{secondCore: true, extras: true}, 2, 2, []string{
			"another SBOM of the final image (https://spdx.dev/Document) sha256:", "SBOM of another build stage", "SBOM of another build stage"}},
		{"none marked", crafted{noSBOM: true, extras: true}, 0, 0, []string{
			"SPDX SBOM (https://spdx.dev/Document) sha256:|: not published: none of the 2 SPDX statements has BuildKit's creator",
			"SPDX SBOM (https://spdx.dev/Document) sha256:|: not published: none of the 2"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, root, _ := buildkitLayout(t, tt.c)
			r, _ := remote(t, reg.Host, fmt.Sprintf("kept%d", i))
			push(t, r, src, root, "v1")
			res, err := convert.Convert(ctx, r, "v1", convert.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Written() != tt.written {
				t.Errorf("written %d, want %d", res.Written(), tt.written)
			}
			for _, p := range res.Platforms {
				if p.Extras != tt.extras {
					t.Errorf("extras %d, want %d", p.Extras, tt.extras)
				}
				if len(p.Unconverted) != len(tt.want) {
					t.Fatalf("unconverted %v, want %d", p.Unconverted, len(tt.want))
				}
				for j, st := range p.Unconverted {
					for _, part := range strings.Split(tt.want[j], "|") {
						if !strings.Contains(st.String(), part) {
							t.Errorf("statement %d: %q, want it to contain %q", j, st, part)
						}
					}
					if st.Extra != strings.HasPrefix(st.What, "SBOM of another build stage") {
						t.Errorf("statement %d: %q: Extra %v", j, st, st.Extra)
					}
				}
			}
		})
	}
}
