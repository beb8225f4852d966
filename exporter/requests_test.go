package exporter_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestRequestLog records every request of a first push and of a rerun of
// the two-platform fixture (no attestations) with one SBOM per platform,
// on a registry with the referrers API and one without, with digests
// replaced by names. docs/push.md is written from testdata/requests-*.txt;
// AFFIX_UPDATE_GOLDEN=1 rewrites them. Blobs and manifests upload
// concurrently, so lines are compared in sorted order.
func TestRequestLog(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			l, res := source(t, twoPlatforms(false))
			names := map[string]string{res.Index.Digest.String(): "<index>"}
			for i, m := range res.Manifests {
				plat := []string{"amd64", "arm64"}[i]
				names[m.Digest.String()] = "<manifest " + plat + ">"
				names[exporter.ReferrersTag(m.Digest)] = "<referrers tag " + plat + ">"
				a := sbomArtifact(m)
				d, _, _ := a.Manifest()
				names[d.Digest.String()] = "<sbom manifest " + plat + ">"
				names[oci.DescriptorFor(oci.MediaTypeSPDX, a.Blobs[0].Data).Digest.String()] = "<sbom " + plat + ">"
				var man struct {
					Config struct{ Digest string }
					Layers []struct{ Digest string }
				}
				readJSON(t, l, m, &man)
				names[man.Config.Digest] = "<config " + plat + ">"
				for j, ly := range man.Layers {
					names[ly.Digest] = fmt.Sprintf("<layer %d %s>", j, plat)
				}
			}
			names[exporter.EmptyConfig.Digest.String()] = "<empty config>"
			var out strings.Builder
			for _, run := range []string{"first push", "rerun"} {
				c, counter := client(nil)
				tgt := target(t, reg.Host, "app", c)
				p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1", MaxConcurrency: 1})
				if err := p.Images(ctx); err != nil {
					t.Fatal(err)
				}
				for _, m := range res.Manifests {
					if _, err := p.Attach(ctx, sbomArtifact(m)); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := p.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&out, "# %s: %d requests (%s)\n", run, counter.Total(), countsString(counter.Counts()))
				for _, line := range counter.Log() {
					for k, v := range names {
						line = strings.ReplaceAll(line, k, v)
					}
					// Upload session IDs differ on every run.
					if i := strings.Index(line, "/blobs/uploads/"); i >= 0 {
						j := strings.Index(line[i:], " ")
						line = line[:i] + "/blobs/uploads/<session>" + line[i+j:]
					}
					fmt.Fprintln(&out, line)
				}
			}
			golden := filepath.Join("testdata", "requests-"+string(kind)+".txt")
			if os.Getenv("AFFIX_UPDATE_GOLDEN") == "1" {
				os.MkdirAll("testdata", 0o755)
				if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (AFFIX_UPDATE_GOLDEN=1 writes it)", err)
			}
			if sorted(string(want)) != sorted(out.String()) {
				t.Errorf("requests differ from %s:\n%s", golden, out.String())
			}
		})
	}
}

func sorted(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
