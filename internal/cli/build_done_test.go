package cli

import (
	"os"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/frontend"
	"github.com/affix-oci/affix/internal/oci"
)

// TestBuildDoneSummary: what the error of a build whose --iidfile or
// --metadata-file could not be written says was published.
func TestBuildDoneSummary(t *testing.T) {
	res := &frontend.Result{Index: ocispec.Descriptor{Digest: "sha256:" + "ab"}}
	for _, tt := range []struct {
		name  string
		sinks []*sink
		want  string
	}{
		{"nothing exported", nil, "index sha256:ab"},
		{"pushed", []*sink{
			{verb: "push", name: "r.example/app", moved: []string{"1", "latest"}},
			{verb: "push", name: "s.example/app", moved: []string{"1"}},
			{verb: "export", name: "out"},
		}, "tags moved: r.example/app:1, r.example/app:latest, s.example/app:1; OCI layout written to out"},
		{"layout", []*sink{{verb: "export", name: "out.tar"}}, "OCI layout written to out.tar"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &buildRun{res: res, sinks: tt.sinks}
			if got := r.doneSummary(); got != tt.want {
				t.Errorf("doneSummary = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBuildDocsShowRealProgress: the examples of docs/build.md show the
// progress and errors affix build writes, as copied from a real build:
// the SBOM task and its log line as scan names them, and a failed build
// without --platform "for default platform"; no example keeps the
// wording of an earlier draft.
func TestBuildDocsShowRealProgress(t *testing.T) {
	b, err := os.ReadFile("../../docs/build.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	amd := oci.Image{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: "sha256:240c…", Size: 1,
		Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}}}
	for _, tt := range []struct {
		what, text string
		want       bool
	}{
		{"the rawjson SBOM vertex", `"name":"` + sbomTask(amd) + `"`, true},
		{"the SBOM task in the Go example", `p.Task(ctx, "` + sbomTask(amd) + `"`, true},
		{"the SBOM task's log line", scanLine(amd, "13 packages (deb 4, go-module 4, npm 3, python 2)", "scanned"), true},
		{"a failed build without --platform", "for default platform on unix:///run/buildkit/buildkitd.sock: build failed: failed to solve:", true},
		{"an earlier task name", "generating SBOM", false},
		{"an earlier log line", "42 packages", false},
	} {
		if strings.Contains(doc, tt.text) != tt.want {
			t.Errorf("docs/build.md: %s: contains %q is %v, want %v", tt.what, tt.text, !tt.want, tt.want)
		}
	}
}
