package frontend

import (
	"strconv"
	"strings"

	"github.com/tonistiigi/go-csvvalue"
)

// setProvenance asks BuildKit for an SLSA provenance attestation, as
// buildx's --provenance does: "" or false means none, true means
// mode=min, else the attestation's attributes as buildx passes them
// (mode=min|max, builder-id=URL, version=v0.2|v1, reproducible=BOOL, ...).
// BuildKit stores it as an attestation manifest in the image index, one
// per platform; it records when and by which invocation the image was
// built, so an identical rebuild no longer gives the same index digest.
func (p *plan) setProvenance(v string) error {
	if v == "" {
		return nil
	}
	if b, err := strconv.ParseBool(v); err == nil {
		if b {
			p.attrs["attest:provenance"] = "mode=min"
		}
		return nil
	}
	fields, err := csvvalue.Fields(v, nil)
	if err != nil {
		return optErr("provenance %q: %v", v, err)
	}
	for _, f := range fields {
		k, val, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return optErr("provenance %q: %q is not KEY=VALUE", v, f)
		}
		if k == "mode" && val != "min" && val != "max" {
			return optErr("provenance %q: mode %q: want min or max", v, val)
		}
		if k == "disabled" {
			if b, err := strconv.ParseBool(val); err == nil && b {
				return nil
			}
		}
	}
	p.attrs["attest:provenance"] = v
	return nil
}
