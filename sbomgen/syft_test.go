package sbomgen

import (
	"context"
	"testing"

	"github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/image"
	stereooci "github.com/anchore/stereoscope/pkg/image/oci"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/sbom"
	"github.com/anchore/syft/syft/source/stereoscopesource"
)

// TestSbomMatchesSyft compares the packages found with what syft's own
// OCI-directory source (stereoscope reading the layout itself, selecting by
// platform) and default configuration find in the same image.
func TestSbomMatchesSyft(t *testing.T) {
	dir, res := standard(t)
	for i, platform := range []string{"linux/amd64", "linux/arm64"} {
		t.Run(platform, func(t *testing.T) {
			ours := syftPackages(t, doc(t, scan(t, dir, res.Manifests[i], Options{Formats: []Format{SyftJSON}}), SyftJSON))

			s := syftOwnSBOM(t, dir, platform)
			theirs := map[pkgKey]bool{}
			for p := range s.Artifacts.Packages.Enumerate() {
				theirs[pkgKey{p.Name, p.Version, string(p.Type)}] = true
			}
			if len(theirs) == 0 {
				t.Fatal("syft found nothing")
			}
			for k := range theirs {
				if !ours[k] {
					t.Errorf("syft finds %v, affix does not", k)
				}
			}
			for k := range ours {
				if !theirs[k] {
					t.Errorf("affix finds %v, syft does not", k)
				}
			}
		})
	}
}

// syftOwnSBOM scans the platform image of the layout dir as syft does
// alone: stereoscope reading the layout and selecting by platform, syft's
// default configuration.
func syftOwnSBOM(t *testing.T, dir, platform string) *sbom.SBOM {
	t.Helper()
	ctx := context.Background()
	p, err := image.NewPlatform(platform)
	if err != nil {
		t.Fatal(err)
	}
	gen := file.NewTempDirGenerator("affix-sbomgen-test")
	defer gen.Cleanup()
	img, err := stereooci.NewDirectoryProviderWithPlatform(gen, dir, p).Provide(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src := stereoscopesource.New(img, stereoscopesource.ImageConfig{Reference: dir, Platform: p})
	defer src.Close()
	s, err := syft.CreateSBOM(ctx, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
