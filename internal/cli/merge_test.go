package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// singleLayouts writes one layout per image of fixture.VariantsPair
// (linux/amd64, linux/arm64/v8), as two CI runners would build them, and
// a third with another linux/amd64 image.
func singleLayouts(t *testing.T) (dirs [3]string, manifests [3]ocispec.Descriptor) {
	t.Helper()
	pair := fixture.VariantsPair()
	other := pair.Images[0]
	other.Layers = append(slices.Clone(other.Layers), fixture.Layer{{Path: "etc/other", Data: []byte("other\n")}})
	for i, img := range []fixture.Image{pair.Images[0], pair.Images[1], other} {
		dirs[i] = t.TempDir()
		res, err := fixture.WriteLayout(dirs[i], fixture.Spec{Images: []fixture.Image{img}})
		if err != nil {
			t.Fatal(err)
		}
		manifests[i] = res.Manifests[0]
	}
	return dirs, manifests
}

// TestMerge merges two single-platform images pushed apart, on registries
// with and without the referrers API (olareg, and distribution's server): no tag while one has no SBOM, then
// an index of both whose SBOMs get --verify finds, the same digest on a
// rerun, and clear errors for bad arguments.
func TestMerge(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	dirs, mans := singleLayouts(t)
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			insecure := []string{"--insecure-registry", reg.Host}
			run := func(args ...string) string { return mustAffix(t, slices.Concat(args[:1], insecure, args[1:])...) }
			repo := reg.Ref("app")
			run("push", "oci-layout:"+dirs[0], repo+":amd64")
			run("push", "--sbom=false", "oci-layout:"+dirs[1], repo+":arm64")
			run("push", "oci-layout:"+dirs[2], repo+":other")

			// arm64 has no SBOM: nothing is tagged. The error names its
			// SOURCE, in REF's repository too.
			_, errs, code := affix(t, slices.Concat([]string{"merge"}, insecure, []string{repo + ":v1", ":amd64", ":arm64"})...)
			if code != 1 || !strings.Contains(errs, "no SBOM referrer of linux/arm64/v8 ("+mans[1].Digest.String()+", SOURCE :arm64)") || !strings.Contains(errs, "no tag moved") {
				t.Fatalf("merge with an image without SBOM: exit %d\n%s", code, errs)
			}
			if resolveTag(t, reg, "app", "v1") != "" {
				t.Fatal("merge tagged an index with an image that has no SBOM")
			}

			run("attach", repo+":arm64")
			meta := filepath.Join(t.TempDir(), "merge.json")
			out := run("merge", "--metadata-file", meta, repo+":v1,latest", ":amd64", "@"+mans[1].Digest.String())
			m := readMeta(t, meta)
			if m.Index == nil || len(m.Platforms) != 2 || !slices.Equal(m.Tags, []string{repo + ":v1", repo + ":latest"}) {
				t.Fatalf("metadata %+v\n%s", m, out)
			}
			// No referrer written: the mode is what reading them learnt.
			mode := exporter.ModeTagSchema
			if kind == registrytest.OlaregAPI {
				mode = exporter.ModeAPI
			}
			if got := m.ReferrersMode[reg.Host+"/app"]; got != mode {
				t.Errorf("referrersMode %v, want %s for %s/app", m.ReferrersMode, mode, reg.Host)
			}
			// Nothing uploaded: the blobs are checked (HEAD), the
			// platform manifests written again as a push writes them
			// (idempotent), then the index by each tag.
			if m.Requests["POST"] != 0 || m.Requests["PUT"] != 2+2 {
				t.Errorf("requests %v: want no upload, and four PUTs (two platform manifests, the index by each tag)", m.Requests)
			}
			idx := fetchIndex(t, reg, "app", "v1")
			var got []digest.Digest
			for _, d := range idx.Manifests {
				got = append(got, d.Digest)
			}
			if !slices.Equal(got, []digest.Digest{mans[0].Digest, mans[1].Digest}) {
				t.Errorf("index lists %v, want %s %s", got, mans[0].Digest, mans[1].Digest)
			}
			for i, p := range []string{"linux/amd64", "linux/arm64"} {
				if m.Platforms[i].Digest != mans[i].Digest || len(m.Platforms[i].Referrers) != 1 || m.Platforms[i].Referrers[0].Format != "spdx-json" {
					t.Errorf("metadata platform %+v", m.Platforms[i])
				}
				_, errs, code := affix(t, slices.Concat([]string{"get", "--verify", "--platform", p}, insecure, []string{repo + ":latest"})...)
				if code != 0 || !strings.Contains(errs, "verified: ") {
					t.Errorf("get --verify %s of the merged index: exit %d\n%s", p, code, errs)
				}
			}
			again := filepath.Join(t.TempDir(), "again.json")
			run("merge", "--metadata-file", again, repo+":v1", repo+":amd64", repo+":arm64")
			if m2 := readMeta(t, again); m2.Index == nil || m2.Index.Digest != m.Index.Digest {
				t.Errorf("merging the same images again: index %v, first %s", m2.Index, m.Index.Digest)
			}

			// --annotation: on the index.
			run("merge", "--annotation", "index:org.opencontainers.image.description=two arches", "--annotation", "org.example.k=v", repo+":annotated", ":amd64", ":arm64")
			if a := fetchIndex(t, reg, "app", "annotated").Annotations; a["org.opencontainers.image.description"] != "two arches" || a["org.example.k"] != "v" || len(a) != 2 {
				t.Errorf("merged index annotations %v", a)
			}

			for _, tt := range []struct {
				name string
				args []string
				code int
				want string
			}{
				{"manifest annotation", []string{"--annotation", "manifest:k=v", repo + ":v2", ":amd64"}, 2, `--annotation "manifest:k=v": merge writes only the index`},
				{"one platform twice", []string{repo + ":v2", ":amd64", ":other"}, 2, "platform linux/amd64 twice: SOURCE :amd64 (" + mans[0].Digest.String() + ") and :other (" + mans[2].Digest.String() + ")"},
				{"missing source in another repository", []string{repo + ":v2", reg.Ref("elsewhere") + ":amd64"}, 1, "SOURCE " + reg.Ref("elsewhere") + ":amd64: "},
				{"ref by digest", []string{repo + "@" + mans[0].Digest.String(), ":amd64"}, 2, "want a tag to publish the index under"},
				{"referrers tag as tag", []string{repo + ":sha256-" + strings.Repeat("a", 64), ":amd64"}, 2, "is the referrers tag of"},
				{"no source", []string{repo + ":v2"}, 2, "want REF and at least one SOURCE"},
				{"missing source", []string{repo + ":v2", ":nope"}, 1, "SOURCE :nope: "},
			} {
				t.Run(tt.name, func(t *testing.T) {
					_, errs, code := affix(t, slices.Concat([]string{"merge"}, insecure, tt.args)...)
					if code != tt.code || !strings.Contains(errs, tt.want) {
						t.Errorf("exit %d, want %d; stderr lacks %q:\n%s", code, tt.code, tt.want, errs)
					}
					if resolveTag(t, reg, "app", "v2") != "" {
						t.Error("a failed merge tagged v2")
					}
				})
			}
			// --allow-no-sbom tags what has none.
			run("push", "--sbom=false", "oci-layout:"+dirs[1], reg.Ref("bare")+":arm64")
			run("merge", "--allow-no-sbom", reg.Ref("bare")+":v1", ":arm64")
			if resolveTag(t, reg, "bare", "v1") == "" {
				t.Error("--allow-no-sbom: no tag")
			}
		})
	}
}

// fetchIndex reads the index repo:tag names in reg.
func fetchIndex(t *testing.T, reg *registrytest.Registry, repo, tag string) ocispec.Index {
	t.Helper()
	var idx ocispec.Index
	if err := json.Unmarshal(fetchRawIndex(t, reg, repo, tag), &idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

// TestMergeSourceRefs: a relative SOURCE (:TAG, @DIGEST) stays in REF's
// repository on REF's registry, whatever the case of REF's host (a host
// such as UPPER is one only for its capitals: lowercased, it would read as
// a Docker Hub repository); other SOURCEs are parsed as they are.
func TestMergeSourceRefs(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		ref, source string
		want        string // registry/repository:reference, "" for an error
	}{
		{"UPPER/x:1", ":a", "UPPER/x:a"},
		{"UPPER/x:1", "@" + d, "UPPER/x@" + d},
		{"Reg.Example:5000/team/x:1", ":a", "Reg.Example:5000/team/x:a"},
		{"localhost:5000/x:1", ":a", "localhost:5000/x:a"},
		{"x:1", ":a", "docker.io/library/x:a"},
		{"UPPER/x:1", "other.example/y:b", "other.example/y:b"},
		{"UPPER/x:1", "y:b", "docker.io/library/y:b"},
		{"UPPER/x:1", ":", ""},
		{"UPPER/x:1", "other.example/y", ""},
	}
	for _, tt := range tests {
		t.Run(tt.ref+" "+tt.source, func(t *testing.T) {
			ref, err := parseRef(tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mergeSourceRefs(ref, []string{tt.source})
			if tt.want == "" {
				if err == nil {
					t.Fatalf("SOURCE %q: got %v, want an error", tt.source, got[0].ref)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := got[0].ref
			sep := ":"
			if strings.HasPrefix(r.Reference, "sha256:") {
				sep = "@"
			}
			if s := r.Registry + "/" + r.Repository + sep + r.Reference; s != tt.want || got[0].arg != tt.source {
				t.Errorf("SOURCE %q of REF %q: %s (arg %q), want %s", tt.source, tt.ref, s, got[0].arg, tt.want)
			}
		})
	}
}

// TestMergeCountFlag: --max-concurrency below 1 is a usage error worded
// as every command's count flags, before --metadata-file's earlier file
// is removed.
func TestMergeCountFlag(t *testing.T) {
	cliEnv(t)
	for _, n := range []string{"0", "-1"} {
		t.Run(n, func(t *testing.T) {
			meta := filepath.Join(t.TempDir(), "meta.json")
			if err := os.WriteFile(meta, []byte("{}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, errs, code := affix(t, "merge", "--max-concurrency", n, "--metadata-file", meta, "localhost:5000/app:v1", ":a")
			if want := "--max-concurrency " + n + ": must be at least 1"; code != 2 || !strings.Contains(errs, want) {
				t.Errorf("exit %d, want 2 and %q:\n%s", code, want, errs)
			}
			if _, err := os.Stat(meta); err != nil {
				t.Errorf("the earlier --metadata-file: %v", err)
			}
		})
	}
}

// TestNoSBOMError: the refusal to tag names each image without SBOM by
// platform, digest and SOURCE as given, whether that SOURCE is in REF's
// repository (":amd64", "@sha256:...") or another.
func TestNoSBOMError(t *testing.T) {
	img := func(s string, p ocispec.Platform) oci.Image {
		return oci.Image{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(s), Size: 1, Platform: &p}}
	}
	amd := img("amd", ocispec.Platform{OS: "linux", Architecture: "amd64"})
	arm := img("arm", ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	tests := []struct {
		missing []string
		want    string
	}{
		{[]string{missingSBOM(amd, ":amd64")}, "no SBOM referrer of linux/amd64 (" + amd.Descriptor.Digest.String() + ", SOURCE :amd64)"},
		{[]string{missingSBOM(amd, "@"+amd.Descriptor.Digest.String())}, "no SBOM referrer of linux/amd64 (" + amd.Descriptor.Digest.String() + ", SOURCE @" + amd.Descriptor.Digest.String() + ")"},
		{[]string{missingSBOM(amd, ":amd64"), missingSBOM(arm, "other.example/app:arm64")},
			"no SBOM referrer of linux/amd64 (" + amd.Descriptor.Digest.String() + ", SOURCE :amd64), linux/arm64/v8 (" + arm.Descriptor.Digest.String() + ", SOURCE other.example/app:arm64)"},
	}
	for _, tt := range tests {
		err := noSBOMError(tt.missing)
		if want := tt.want + ": attach them first (affix attach REF@DIGEST), or pass --allow-no-sbom"; err.Error() != want {
			t.Errorf("noSBOMError: %q, want %q", err, want)
		}
	}
}
