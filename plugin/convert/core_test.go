package convert_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/plugin/convert"
)

// TestConvertStatementsKept: only the final image's statement must be a
// valid SPDX statement of the platform manifest; an odd extra one is
// recorded with its reason and the others are converted; a second
// statement BuildKit marked is named as the image's, not as a stage's;
// and of several statements none of which BuildKit marked, none is
// published as the image's SBOM.
func TestConvertStatementsKept(t *testing.T) {
	ctx := context.Background()
	reg := registries(t)[1]
	tests := []struct {
		name    string
		c       crafted
		written int
		extras  int
		want    []string // What: Reason substrings of the unconverted statements, in order
	}{
		{"extra not SPDX 2.x", crafted{extras: true, badExtra: "spdx"}, 2, 3, []string{
			"SBOM of another build stage", "SBOM of another build stage", `SBOM of another build stage or the build context (https://spdx.dev/Document) sha256:|: spdxVersion "SPDX-3.0" is not SPDX 2.x`}},
		{"extra about another image", crafted{badExtra: "subject"}, 2, 1, []string{
			"SBOM of another build stage or the build context (https://spdx.dev/Document) sha256:|: statement does not name the platform manifest"}},
		{"two marked as the image's", crafted{secondCore: true, extras: true}, 2, 2, []string{
			"another SBOM of the final image (https://spdx.dev/Document) sha256:", "SBOM of another build stage", "SBOM of another build stage"}},
		{"none marked", crafted{noSBOM: true, extras: true}, 0, 0, []string{
			"SPDX SBOM (https://spdx.dev/Document) sha256:|: none of the 2 SPDX statements has BuildKit's creator",
			"SPDX SBOM (https://spdx.dev/Document) sha256:|: none of the 2"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, root, _ := buildkitLayout(t, tt.c)
			r, _ := remote(t, reg.Host, fmt.Sprintf("kept%d", i))
			push(t, r, src, root, "v1")
			res, err := convert.Convert(ctx, r, "v1", convert.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Written() != tt.written {
				t.Errorf("written %d, want %d", res.Written(), tt.written)
			}
			for _, p := range res.Platforms {
				if p.Extras != tt.extras {
					t.Errorf("extras %d, want %d", p.Extras, tt.extras)
				}
				if len(p.Unconverted) != len(tt.want) {
					t.Fatalf("unconverted %v, want %d", p.Unconverted, len(tt.want))
				}
				for j, st := range p.Unconverted {
					for _, part := range strings.Split(tt.want[j], "|") {
						if !strings.Contains(st.String(), part) {
							t.Errorf("statement %d: %q, want it to contain %q", j, st, part)
						}
					}
					if strings.Contains(st.Reason, "not published") {
						t.Errorf("statement %d: reason %q says \"not published\", which the listing says already", j, st.Reason)
					}
					if st.Extra != strings.HasPrefix(st.What, "SBOM of another build stage") {
						t.Errorf("statement %d: %q: Extra %v", j, st, st.Extra)
					}
				}
			}
		})
	}
}

// failingRepo is a Remote whose Fetch of the blobs fail names fails with
// err.
type failingRepo struct {
	*exporter.Remote
	fail map[digest.Digest]bool
	err  error
}

func (f failingRepo) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if f.fail[d.Digest] {
		return nil, fmt.Errorf("%s: %w", d.Digest, f.err)
	}
	return f.Remote.Fetch(ctx, d)
}

// TestConvertStatementUnreadable: a statement that cannot be read (over
// MaxStatementSize, not matching its digest, gone) is, after the one
// published, recorded with its reason and the platforms are converted;
// where it may be the one to publish (before any BuildKit marked) it
// stays an error. A read that failed this time (a 5xx) ends the convert.
func TestConvertStatementUnreadable(t *testing.T) {
	ctx := context.Background()
	reg := registries(t)[1]
	src, root, _ := buildkitLayout(t, crafted{extras: true})
	r, _ := remote(t, reg.Host, "unreadable")
	push(t, r, src, root, "v1")
	var idx ocispec.Index
	if _, err := oci.ReadJSON(ctx, src, root, &idx); err != nil {
		t.Fatal(err)
	}
	// layer[i] are the i-th layers of the attestation manifests: the
	// image's SBOM, then the stage's and the context's.
	layer := map[int]map[digest.Digest]bool{0: {}, 1: {}}
	for _, e := range idx.Manifests {
		var m ocispec.Manifest
		if _, err := oci.ReadJSON(ctx, src, e, &m); err != nil {
			t.Fatal(err)
		}
		if m.ArtifactType != oci.ArtifactTypeBuildKitAttestation {
			continue
		}
		layer[0][m.Layers[0].Digest], layer[1][m.Layers[1].Digest] = true, true
	}
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"too large", oci.ErrTooLarge},
		{"digest mismatch", oci.ErrDigestMismatch},
		{"gone", oci.ErrBlobNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := convert.Convert(ctx, failingRepo{r, layer[1], tt.err}, "v1", convert.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Platforms) != 2 {
				t.Fatalf("platforms %d", len(res.Platforms))
			}
			for _, p := range res.Platforms {
				if p.Referrer.Digest == "" || len(p.Unconverted) != 2 || !strings.Contains(p.Unconverted[0].Reason, "not read: ") || !strings.Contains(p.Unconverted[0].Reason, tt.err.Error()) {
					t.Errorf("%s: referrer %q, unconverted %v; want the stage's SBOM with its reason", oci.FormatPlatform(*p.Manifest.Platform), p.Referrer.Digest, p.Unconverted)
				}
			}
			if _, err := convert.Convert(ctx, failingRepo{r, layer[0], tt.err}, "v1", convert.Options{}); !errors.Is(err, tt.err) || !strings.Contains(err.Error(), "may be the final image's SBOM") {
				t.Errorf("the image's SBOM unreadable: %v, want %v", err, tt.err)
			}
		})
	}
	if _, err := convert.Convert(ctx, failingRepo{r, layer[1], errors.New("503 Service Unavailable")}, "v1", convert.Options{}); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a failed read of a stage's SBOM: %v, want the convert to fail", err)
	}
}
