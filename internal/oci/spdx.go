package oci

import "strings"

// SPDXTool returns the first non-empty "Tool: NAME" of an SPDX document's
// creationInfo.creators, trimmed, or "" when there is none: the
// generator an SBOM names for itself.
func SPDXTool(creators []string) string {
	for _, c := range creators {
		typ, who, ok := strings.Cut(c, ":")
		if who = strings.TrimSpace(who); ok && strings.TrimSpace(typ) == "Tool" && who != "" {
			return who
		}
	}
	return ""
}
