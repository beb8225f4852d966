package cli

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tonistiigi/go-csvvalue"

	"github.com/affix-oci/affix/sbomgen"
)

// planAttestations sets p.provenance and p.formats (none for no SBOMs)
// from --sbom, --no-sbom, --sbom-format, --provenance and --attest,
// refusing flags that contradict each other.
func (o *buildOptions) planAttestations(p *buildPlan) error {
	sbomAttest, prov, err := parseAttests(o.attests)
	if err != nil {
		return usageError(err)
	}
	sbomFlag, _, err := attestShorthand("--sbom", "sbom", o.sbom)
	if err != nil {
		return usageError(err)
	}
	if err := o.checkSBOMFlags(sbomFlag, sbomAttest); err != nil {
		return err
	}
	if _, p.provenance, err = attestShorthand("--provenance", "provenance", o.provenance); err != nil {
		return usageError(err)
	}
	if prov != "" {
		if o.provenance != "" {
			return usageError(errors.New("--provenance and --attest type=provenance: give one"))
		}
		p.provenance = prov
	}
	if sbomFlag != attestOff && !o.noSBOM && sbomAttest != attestOff {
		if p.formats, err = sbomFormats(o.sbomFormats); err != nil {
			return err
		}
		// The creation time comes from the frontend (which takes
		// BuildKit's SOURCE_DATE_EPOCH values too).
		if err := checkScanEnv(sbomgen.Options{CreatedFromImage: true}); err != nil {
			return err
		}
	} else if len(o.sbomFormats) > 0 {
		return usageError(errors.New("--sbom-format with --sbom=false (or --no-sbom, or --attest type=sbom,disabled=true): no SBOM is generated"))
	}
	return nil
}

// attestShorthand reads the value v of buildx's --sbom or --provenance
// (flag), its shorthand of --attest type=typ (buildflags'
// CanonicalizeAttest): "" is not given (attestUnset); a bool is
// type=typ,disabled=!v; anything else, type=typ's attributes
// (--sbom=generator=IMAGE is --attest type=sbom,generator=IMAGE). It
// returns what parseAttests makes of that.
func attestShorthand(flag, typ, v string) (attestState, string, error) {
	if v == "" {
		return attestUnset, "", nil
	}
	if strings.HasPrefix(v, "-") {
		// `--sbom --push`: the flag took the next argument as its value.
		return attestUnset, "", fmt.Errorf("%s takes a value, as buildx's: %s=true, %s=false or %s=KEY=VALUE,... (it read %q as its value)", flag, flag, flag, flag, v)
	}
	spec := "type=" + typ + "," + v
	if b, err := strconv.ParseBool(v); err == nil {
		spec = fmt.Sprintf("type=%s,disabled=%t", typ, !b)
	}
	state, prov, err := parseAttests([]string{spec})
	if err != nil {
		return attestUnset, "", fmt.Errorf("%s=%s: %w", flag, v, err)
	}
	return state, prov, nil
}

// checkSBOMFlags refuses a way of asking for SBOMs, --sbom (sbomFlag) or
// --attest type=sbom (sbomAttest), beside a way of asking for none:
// --sbom=false, --no-sbom, --attest type=sbom,disabled=true.
func (o *buildOptions) checkSBOMFlags(sbomFlag, sbomAttest attestState) error {
	if sbomAttest == attestOn && (sbomFlag == attestOff || o.noSBOM) {
		flag := "--no-sbom"
		if sbomFlag == attestOff {
			flag = "--sbom=" + o.sbom
		}
		return usageError(fmt.Errorf("--attest type=sbom asks for SBOMs and %s for none: give one", flag))
	}
	if sbomFlag == attestOn && (o.noSBOM || sbomAttest == attestOff) {
		flag := "--no-sbom"
		if sbomAttest == attestOff {
			flag = "--attest type=sbom,disabled=true"
		}
		return usageError(fmt.Errorf("--sbom=%s asks for SBOMs and %s for none: give one", o.sbom, flag))
	}
	return nil
}

// attestState is what --attest type=sbom asks for.
type attestState int

const (
	attestUnset attestState = iota // no type=sbom
	attestOn                       // type=sbom
	attestOff                      // type=sbom,disabled=true
)

// parseAttests reads buildx's --attest values: type=sbom is the SBOM affix
// generates itself (attestOff for disabled=true; a generator is BuildKit's
// SBOM path and refused; on and off together are refused),
// type=provenance[,ATTRS] is --provenance=ATTRS (mode=min unless given,
// as buildx).
func parseAttests(values []string) (sbom attestState, provenance string, err error) {
	for _, v := range values {
		fields, err := csvvalue.Fields(v, nil)
		if err != nil {
			return attestUnset, "", fmt.Errorf("--attest %q: %w", v, err)
		}
		var typ string
		var rest []string
		disabled := false
		for _, f := range fields {
			k, val, ok := strings.Cut(f, "=")
			if !ok {
				return attestUnset, "", fmt.Errorf("--attest %q: field %q: want KEY=VALUE", v, f)
			}
			switch k {
			case "type":
				typ = val
			case "disabled":
				if disabled, err = strconv.ParseBool(val); err != nil {
					return attestUnset, "", fmt.Errorf("--attest %q: disabled=%q: want true or false", v, val)
				}
			default:
				rest = append(rest, f)
			}
		}
		switch typ {
		case "sbom":
			for _, f := range rest {
				k, _, _ := strings.Cut(f, "=")
				if k == "generator" {
					return attestUnset, "", fmt.Errorf("--attest %q: affix generates the SBOMs itself and attaches them as referrers; a generator image is BuildKit's own SBOM path (buildctl, docker buildx), see affix convert", v)
				}
				return attestUnset, "", fmt.Errorf("--attest %q: unknown sbom attribute %q (affix's SBOMs take --sbom-format)", v, k)
			}
			state := attestOn
			if disabled {
				state = attestOff
			}
			if sbom != attestUnset && sbom != state {
				return attestUnset, "", fmt.Errorf("--attest %q: another --attest type=sbom says the opposite", v)
			}
			sbom = state
		case "provenance":
			if disabled {
				continue
			}
			if provenance != "" {
				return attestUnset, "", fmt.Errorf("--attest %q: provenance given twice", v)
			}
			if !slices.ContainsFunc(rest, func(f string) bool { return strings.HasPrefix(f, "mode=") }) {
				rest = append([]string{"mode=min"}, rest...)
			}
			provenance = strings.Join(rest, ",")
		default:
			return attestUnset, "", fmt.Errorf("--attest %q: want type=sbom or type=provenance", v)
		}
	}
	return sbom, provenance, nil
}
