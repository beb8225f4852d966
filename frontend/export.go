package frontend

import (
	"slices"
	"strconv"
	"strings"
)

// Exporter attributes that Options.ExportAttrs may set, as buildx's
// --output type=oci,... passes them to BuildKit's oci exporter.
const (
	exportCompression      = "compression"
	exportCompressionLevel = "compression-level"
	exportForceCompression = "force-compression"
	exportOCIMediaTypes    = "oci-mediatypes"
	exportRewriteTimestamp = "rewrite-timestamp"
)

// ExportAttrKeys are the oci exporter attributes Options.ExportAttrs
// takes: the keys of buildx's --output that affix passes to BuildKit.
var ExportAttrKeys = []string{exportCompression, exportCompressionLevel, exportForceCompression, exportOCIMediaTypes, exportRewriteTimestamp}

// compressionLevels are the compression-level ranges BuildKit documents
// for each layer compression.
var compressionLevels = map[string][2]int{
	"gzip":    {0, 9},
	"estargz": {0, 9},
	"zstd":    {0, 22},
}

// setExportAttrs checks the extra oci exporter attributes attrs and adds
// them to the export attributes. Call it after setEpoch. Every error is
// ErrInvalidOption naming the attribute:
//
//   - compression: uncompressed, gzip (BuildKit's default), estargz or zstd.
//   - compression-level: an integer in the compression's range (0-9 for
//     gzip and estargz, 0-22 for zstd); uncompressed layers have none.
//   - force-compression: a boolean; true recompresses layers taken from
//     base images as well.
//   - oci-mediatypes: only true, which affix always sets.
//   - rewrite-timestamp: a boolean. affix sets true whenever a
//     SOURCE_DATE_EPOCH is given, so false together with one is refused;
//     true without one is passed on (an epoch the Dockerfile's
//     ARG SOURCE_DATE_EPOCH default sets then applies to the layers).
//
// Annotations are refused here (they are Options.Annotations), so is
// every other key.
func (p *plan) setExportAttrs(attrs map[string]string) error {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := attrs[k]
		switch {
		case k == exportCompression:
			if _, ok := compressionLevels[v]; !ok && v != "uncompressed" {
				return optErr("output %s=%s: want uncompressed, gzip, estargz or zstd", k, v)
			}
			p.exportAttrs[k] = v
		case k == exportCompressionLevel:
			n, err := strconv.Atoi(v)
			if err != nil {
				return optErr("output %s=%s: want an integer", k, v)
			}
			comp := attrs[exportCompression]
			if comp == "" {
				comp = "gzip"
			}
			r, ok := compressionLevels[comp]
			if !ok {
				return optErr("output %s=%s: %s layers have no compression level", k, v, comp)
			}
			if n < r[0] || n > r[1] {
				return optErr("output %s=%s: want %d to %d for %s", k, v, r[0], r[1], comp)
			}
			p.exportAttrs[k] = strconv.Itoa(n)
		case k == exportForceCompression:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return optErr("output %s=%s: want true or false", k, v)
			}
			p.exportAttrs[k] = strconv.FormatBool(b)
		case k == exportOCIMediaTypes:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return optErr("output %s=%s: want true", k, v)
			}
			if !b {
				return optErr("output %s=%s: affix needs OCI media types: its SBOMs are OCI referrers (subject) of the platform manifests, which Docker media types cannot be", k, v)
			}
		case k == exportRewriteTimestamp:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return optErr("output %s=%s: want true or false", k, v)
			}
			switch {
			case b:
				p.exportAttrs[k] = "true"
			case p.hasEpoch:
				return optErr("output %s=%s: with SOURCE_DATE_EPOCH affix always rewrites layer timestamps to it, so that a rebuild gives the same digests; leave SOURCE_DATE_EPOCH unset instead", k, v)
			}
		case strings.HasPrefix(k, "annotation"):
			return optErr("output %s: annotations are given with --annotation (Options.Annotations)", k)
		default:
			return optErr("output %q: not an oci exporter attribute affix takes (%s)", k, strings.Join(ExportAttrKeys, ", "))
		}
	}
	return nil
}
