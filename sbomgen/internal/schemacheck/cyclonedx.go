package schemacheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"

	"github.com/google/uuid"
)

// cdxSerial is the form of a CycloneDX serialNumber: an RFC 4122 UUID
// URN.
var cdxSerial = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// CheckCycloneDX checks the rules of CycloneDX a JSON schema does not
// express:
//   - every bom-ref, wherever it is in the document, is unique;
//   - every dependencies[] ref, dependsOn and provides entry is a bom-ref
//     of the document, and no ref has two dependencies entries;
//   - serialNumber, when present, is urn:uuid: and an RFC 4122 UUID
//     (variant 10xx) in lower case.
//
// It reports every problem found.
func CheckCycloneDX(doc []byte) error {
	var tree any
	if err := json.Unmarshal(doc, &tree); err != nil {
		return fmt.Errorf("CycloneDX document: %w", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("CycloneDX: "+format, args...)) }

	refs := map[string]int{}
	collectBOMRefs(tree, refs)
	dups := []string{}
	for r, n := range refs {
		if n > 1 {
			dups = append(dups, r)
		}
	}
	sort.Strings(dups)
	for _, r := range dups {
		bad("bom-ref %q is used %d times", r, refs[r])
	}

	var d struct {
		SerialNumber *string `json:"serialNumber"`
		Dependencies []struct {
			Ref       string   `json:"ref"`
			DependsOn []string `json:"dependsOn"`
			Provides  []string `json:"provides"`
		} `json:"dependencies"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return fmt.Errorf("CycloneDX document: %w", err)
	}
	if s := d.SerialNumber; s != nil {
		u, err := uuid.Parse(*s)
		switch {
		case !cdxSerial.MatchString(*s):
			bad("serialNumber %q is not urn:uuid: and a lower-case UUID", *s)
		case err != nil:
			bad("serialNumber %q: %v", *s, err)
		case u.Variant() != uuid.RFC4122:
			bad("serialNumber %q is not an RFC 4122 UUID (variant %v)", *s, u.Variant())
		}
	}
	seen := map[string]bool{}
	for i, dep := range d.Dependencies {
		if refs[dep.Ref] == 0 {
			bad("dependencies[%d].ref %q is no bom-ref of the document", i, dep.Ref)
		}
		if seen[dep.Ref] {
			bad("dependencies[%d].ref %q has another dependencies entry", i, dep.Ref)
		}
		seen[dep.Ref] = true
		for _, r := range dep.DependsOn {
			if refs[r] == 0 {
				bad("dependencies[%d] (%s) dependsOn %q, no bom-ref of the document", i, dep.Ref, r)
			}
		}
		for _, r := range dep.Provides {
			if refs[r] == 0 {
				bad("dependencies[%d] (%s) provides %q, no bom-ref of the document", i, dep.Ref, r)
			}
		}
	}
	return errors.Join(errs...)
}

// collectBOMRefs counts every "bom-ref" string of the JSON value v.
func collectBOMRefs(v any, refs map[string]int) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "bom-ref" {
				refs[s]++
				continue
			}
			collectBOMRefs(e, refs)
		}
	case []any:
		for _, e := range v {
			collectBOMRefs(e, refs)
		}
	}
}
