package cli

import (
	"strings"
	"testing"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestPushStripWarns: push --strip-attestations says, per platform, what
// it drops that no referrer replaces (provenance; the SBOM statements too
// with --no-sbom), and says nothing when the SBOMs it pushes replace all
// there was.
func TestPushStripWarns(t *testing.T) {
	cliEnv(t)
	for _, tc := range []struct {
		name       string
		provenance bool
		flags      []string
		want       []string // in the warnings, each once per platform
		none       bool     // no warning about stripping at all
	}{
		{"sboms replace the SBOM statements", false, nil, nil, true},
		{"provenance", true, nil, []string{"SLSA provenance (" + fixture.PredicateSLSAProvenance + ")"}, false},
		{"no sbom", true, []string{"--no-sbom"}, []string{"an SBOM (https://spdx.dev/Document)", "SLSA provenance"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := fixture.VariantsPair()
			spec.Attestations, spec.Provenance = true, tc.provenance
			dir := t.TempDir()
			res, err := fixture.WriteLayout(dir, spec)
			if err != nil {
				t.Fatal(err)
			}
			reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
			args := append([]string{"push", "--insecure-registry", reg.Host, "--strip-attestations"}, tc.flags...)
			out, errs, code := affix(t, append(args, "oci-layout:"+dir, reg.Ref("app")+":v1")...)
			if code != 0 {
				t.Fatalf("push: exit %d\n%s%s", code, out, errs)
			}
			if tc.none {
				if strings.Contains(errs, "--strip-attestations") {
					t.Errorf("a warning, though the SBOMs replace every statement:\n%s", errs)
				}
				return
			}
			for i, m := range res.Manifests {
				line := lineWith(errs, "'s attestation manifest "+res.Attestations[i].Digest.String())
				if !strings.HasPrefix(line, "affix: warning: --strip-attestations leaves out "+m.Platform.OS+"/"+m.Platform.Architecture) {
					t.Errorf("%s: no warning naming the platform and its attestation manifest:\n%s", m.Digest, errs)
					continue
				}
				for _, w := range tc.want {
					if strings.Count(line, w) != 1 {
						t.Errorf("%s: warning does not name %q once:\n%s", m.Digest, w, line)
					}
				}
			}
		})
	}
}

// lineWith returns the first line of s that contains sub, "" if none.
func lineWith(s, sub string) string {
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			return strings.TrimSuffix(l, "\n")
		}
	}
	return ""
}
