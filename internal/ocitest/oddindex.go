package ocitest

import (
	"encoding/json"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// OddIndex returns the text of an index listing entries, indented, with
// what ocispec.Descriptor does not know on each entry (a vendor field,
// Docker's platform.features on the platform manifests, an empty
// annotations object) and top-level fields in no sorted order, with
// characters encoding/json would escape; and the same text without the
// entries skip picks.
func OddIndex(t testing.TB, entries []ocispec.Descriptor, skip func(ocispec.Descriptor) bool) (all, kept string) {
	t.Helper()
	var a, k []string
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		s := `{"x-vendor":{"html":"<&>"},` + strings.TrimPrefix(string(b), "{")
		if e.Annotations == nil {
			s = strings.Replace(s, `"size":`, `"annotations":{},"size":`, 1)
		}
		if e.Platform != nil && e.Platform.OS == "linux" {
			s = strings.Replace(s, `"os":"linux"`, `"os":"linux","features":["sse4"]`, 1)
		}
		a = append(a, s)
		if !skip(e) {
			k = append(k, s)
		}
	}
	wrap := func(ss []string) string {
		return "{\n  \"schemaVersion\": 2,\n  \"x-top\": \"<&>\",\n  \"mediaType\": \"" + ocispec.MediaTypeImageIndex + "\",\n  \"manifests\": [\n    " +
			strings.Join(ss, ",\n    ") + "\n  ],\n  \"annotations\": {\"org.example\": \"a<b\"}\n}\n"
	}
	return wrap(a), wrap(k)
}
