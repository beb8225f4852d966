package cli

import (
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/frontend"
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
