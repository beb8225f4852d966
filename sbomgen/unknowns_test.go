package sbomgen

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
)

// TestUnknownsSorted: syft's notes on a file it could not read come from
// catalogers running in parallel, in the order they finished; the syft
// JSON document lists them sorted, so that two scans of one image give one
// document. Files that look like Windows executables but are none draw
// notes from several catalogers.
func TestUnknownsSorted(t *testing.T) {
	files := []fixture.File{{Path: "etc/os-release", Data: []byte("ID=debian\nVERSION_ID=12\n")}}
	garbage := []byte("MZ" + strings.Repeat("not an executable\x00", 300))
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		files = append(files, fixture.File{Path: "app/" + n + ".dll", Data: garbage})
		files = append(files, fixture.File{Path: "app/" + n + ".exe", Data: garbage})
	}
	dir, res := writeLayout(t, fixture.Spec{Images: []fixture.Image{{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers:   []fixture.Layer{files},
	}}})
	r := scan(t, dir, res.Manifests[0], Options{Formats: []Format{SyftJSON}, NoCache: true})
	var v struct {
		Files []struct {
			Location struct{ Path string }
			Unknowns []string
		}
	}
	if err := json.Unmarshal(doc(t, r, SyftJSON), &v); err != nil {
		t.Fatal(err)
	}
	several := 0
	for _, f := range v.Files {
		if len(f.Unknowns) > 1 {
			several++
		}
		if !slices.IsSorted(f.Unknowns) {
			t.Errorf("%s: unknowns not sorted: %q", f.Location.Path, f.Unknowns)
		}
	}
	t.Logf("%d files with several notes", several)
	if several == 0 {
		t.Fatal("no file drew notes from several catalogers: the fixture no longer exercises the order")
	}
}
