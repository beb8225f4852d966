package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocidir/ocidirtest"
	"github.com/affix-oci/affix/sbomgen"
)

// TestLsGetLayout: ls and get read a local layout as affix build --output
// writes it (directory and tar), the SBOM manifests index.json lists being
// the referrers of their platform manifests.
func TestLsGetLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images")
	}
	cliEnv(t)
	dir, refs := layoutWithSBOMs(t, "example.com/built:v1")
	tarPath := layoutTarFile(t, dir)

	for _, src := range []string{oci.SchemeLayout + ":" + dir, oci.SchemeArchive + ":" + tarPath} {
		t.Run(strings.SplitN(src, ":", 2)[0], func(t *testing.T) {
			var tree discover.Tree
			if err := json.Unmarshal([]byte(mustAffix(t, "ls", "--json", src)), &tree); err != nil {
				t.Fatal(err)
			}
			if tree.Reference != src || tree.ReferrersMode != modeLayout || tree.Root.Kind != "index" {
				t.Fatalf("tree %s, mode %s, root %s", tree.Reference, tree.ReferrersMode, tree.Root.Kind)
			}
			seen := 0
			for _, n := range tree.Root.Children {
				if n.Kind != "manifest" {
					continue
				}
				seen++
				var got []digest.Digest
				for _, c := range n.Children {
					if c.Kind == "referrer" {
						got = append(got, c.Digest)
						if c.ArtifactType != oci.MediaTypeSPDX || c.Generator == "" || c.Created == "" {
							t.Errorf("%s: referrer %+v: want the manifest's artifactType, generator and created", n.Platform, c)
						}
					}
				}
				if len(got) != 1 || got[0] != refs[n.Digest] {
					t.Errorf("%s: referrers %v, want %s", n.Platform, got, refs[n.Digest])
				}
			}
			if seen != len(refs) {
				t.Errorf("%d platform manifests, want %d", seen, len(refs))
			}
			text := mustAffix(t, "ls", src)
			if !strings.Contains(text, "referrers read from: the layout's index.json") {
				t.Errorf("ls:\n%s", text)
			}

			for _, n := range tree.Root.Children {
				if n.Kind != "manifest" {
					continue
				}
				out, errs, code := affix(t, "get", "--verify", "--platform", n.Platform, src)
				if code != 0 {
					t.Fatalf("get %s: exit %d\n%s", n.Platform, code, errs)
				}
				if d := described(t, sbomgen.SPDXJSON, []byte(out)); d != n.Digest {
					t.Errorf("get %s: SBOM describes %s, want %s", n.Platform, d, n.Digest)
				}
				if !strings.Contains(errs, "verified") {
					t.Errorf("get --verify: stderr %q", errs)
				}
			}
		})
	}

	// A platform manifest named by digest, as REPO@DIGEST in a registry:
	// no --platform needed.
	for plat := range refs {
		out := mustAffix(t, "get", "--verify", oci.SchemeLayout+":"+dir+"@"+plat.String())
		if d := described(t, sbomgen.SPDXJSON, []byte(out)); d != plat {
			t.Errorf("get PATH@%s: SBOM describes %s", plat, d)
		}
	}

	// Two images: ls names them and how to pick one.
	var top, idx ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &top)
	ocidirtest.ReadJSON(t, filepath.Join(dir, "blobs", "sha256", top.Manifests[0].Digest.Encoded()), &idx)
	two := top
	two.Manifests = append(slices.Clone(top.Manifests), idx.Manifests[0])
	b, _ := json.Marshal(two)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := affix(t, "ls", oci.SchemeLayout+":"+dir); code == 0 || !strings.Contains(errs, "lists 2 images") || !strings.Contains(errs, "name the one to read") {
		t.Errorf("ls of a layout of two images: exit %d, stderr %q", code, errs)
	}
	if out := mustAffix(t, "ls", oci.SchemeLayout+":"+dir+"@"+idx.Manifests[0].Digest.String()); !strings.Contains(out, idx.Manifests[0].Digest.String()) {
		t.Errorf("ls PATH@DIGEST:\n%s", out)
	}

	// A bare path is a registry reference to the parser; the error says
	// how to name the layout.
	_, errs, code := affix(t, "ls", dir)
	if code == 0 || !strings.Contains(errs, "oci-layout:"+dir) {
		t.Errorf("ls DIR: exit %d, stderr %q", code, errs)
	}
	if _, errs, code := affix(t, "get", "--platform", "linux/amd64", oci.SchemeLayout+":"+filepath.Join(dir, "missing")); code == 0 || !strings.Contains(errs, "missing") {
		t.Errorf("get on a missing layout: exit %d, stderr %q", code, errs)
	}
}

// TestHintLayout: the hint is added only when the argument is a local
// image (a file, a directory holding an oci-layout file) and not already a
// layout source; a directory that holds no layout gets none.
func TestHintLayout(t *testing.T) {
	dir, plain := t.TempDir(), t.TempDir()
	file := filepath.Join(dir, "app.tar")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	base := errors.New("boom")
	for _, c := range []struct {
		arg  string
		want string
	}{
		{dir, "boom (for the local layout " + dir + ", write oci-layout:" + dir + ")"},
		{file, "boom (for the local layout " + file + ", write oci-archive:" + file + ")"},
		{plain, "boom"},
		{"registry.example.com/app:1", "boom"},
		{"oci-layout:" + dir, "boom"},
	} {
		if got := hintLayout(base, c.arg); got.Error() != c.want || !errors.Is(got, base) {
			t.Errorf("hintLayout(%q) = %q, want %q", c.arg, got, c.want)
		}
	}
	if hintLayout(nil, dir) != nil {
		t.Error("hintLayout(nil) != nil")
	}
}
