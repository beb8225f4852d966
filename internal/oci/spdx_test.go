package oci

import "testing"

func TestSPDXTool(t *testing.T) {
	for _, c := range []struct {
		name     string
		creators []string
		want     string
	}{
		{"none", nil, ""},
		{"organization only", []string{"Organization: Anchore, Inc"}, ""},
		{"first tool", []string{"Organization: Anchore, Inc", "Tool: affix-v1+syft-v1.57.1", "Tool: other"}, "affix-v1+syft-v1.57.1"},
		{"spaces trimmed", []string{"  Tool :  syft-1.0  "}, "syft-1.0"},
		{"empty tool skipped", []string{"Tool: ", "Tool: buildkit-syft-scanner"}, "buildkit-syft-scanner"},
		{"no colon", []string{"Tool syft"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := SPDXTool(c.creators); got != c.want {
				t.Errorf("SPDXTool(%q) = %q, want %q", c.creators, got, c.want)
			}
		})
	}
}
