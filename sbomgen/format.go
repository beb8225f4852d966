package sbomgen

import (
	"fmt"
	"strings"

	"github.com/affix-oci/affix/internal/oci"
)

// Format is an SBOM document format.
type Format string

// The formats a Generator encodes.
const (
	// SPDXJSON is SPDX 2.3 JSON, the default.
	SPDXJSON Format = "spdx-json"
	// CycloneDXJSON is CycloneDX 1.6 JSON.
	CycloneDXJSON Format = "cyclonedx-json"
	// SyftJSON is syft's own JSON model.
	SyftJSON Format = "syft-json"
)

// Formats lists every Format, the default first.
func Formats() []Format { return []Format{SPDXJSON, CycloneDXJSON, SyftJSON} }

// ParseFormat parses a format name: one of the Format constants, an alias
// (spdx, cyclonedx, cdx, syft) or a format's media type.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "spdx-json", "spdx", "spdx-2.3-json", oci.MediaTypeSPDX:
		return SPDXJSON, nil
	case "cyclonedx-json", "cyclonedx", "cdx", "cdx-json", oci.MediaTypeCycloneDX:
		return CycloneDXJSON, nil
	case "syft-json", "syft", oci.MediaTypeSyftJSON:
		return SyftJSON, nil
	}
	return "", fmt.Errorf("format %q (want one of spdx-json, cyclonedx-json, syft-json): %w", s, ErrUnknownFormat)
}

// MediaType returns the format's media type, which is also the artifact
// type of an SBOM referrer in that format.
func (f Format) MediaType() string {
	switch f {
	case SPDXJSON:
		return oci.MediaTypeSPDX
	case CycloneDXJSON:
		return oci.MediaTypeCycloneDX
	case SyftJSON:
		return oci.MediaTypeSyftJSON
	}
	return ""
}

// Ext returns the file name extension for documents in the format, with
// its leading dot: ".spdx.json", ".cdx.json" or ".syft.json".
func (f Format) Ext() string {
	switch f {
	case SPDXJSON:
		return ".spdx.json"
	case CycloneDXJSON:
		return ".cdx.json"
	case SyftJSON:
		return ".syft.json"
	}
	return ".json"
}

// String returns the format name.
func (f Format) String() string { return string(f) }

func (f Format) valid() bool { return f.MediaType() != "" }
