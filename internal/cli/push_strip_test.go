package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/ocidir/ocidirtest"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestPushStripWarns: push --strip-attestations says, per platform, what
// it drops that no referrer replaces (provenance; the SBOM statements too
// with --no-sbom), and says nothing when the SBOMs it pushes replace all
// there was.
func TestPushStripWarns(t *testing.T) {
	cliEnv(t)
	for _, tc := range []struct {
		name       string
		provenance bool
		flags      []string
		want       []string // in the warnings, each once per platform
		none       bool     // no warning about stripping at all
	}{
		{"sboms replace the SBOM statements", false, nil, nil, true},
		{"provenance", true, nil, []string{"SLSA provenance (" + fixture.PredicateSLSAProvenance + ")"}, false},
		{"no sbom", true, []string{"--no-sbom"}, []string{"an SBOM (https://spdx.dev/Document)", "SLSA provenance"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := fixture.VariantsPair()
			spec.Attestations, spec.Provenance = true, tc.provenance
			dir := t.TempDir()
			res, err := fixture.WriteLayout(dir, spec)
			if err != nil {
				t.Fatal(err)
			}
			reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
			args := append([]string{"push", "--insecure-registry", reg.Host, "--strip-attestations"}, tc.flags...)
			out, errs, code := affix(t, append(args, "oci-layout:"+dir, reg.Ref("app")+":v1")...)
			if code != 0 {
				t.Fatalf("push: exit %d\n%s%s", code, out, errs)
			}
			if tc.none {
				if strings.Contains(errs, "--strip-attestations") {
					t.Errorf("a warning, though the SBOMs replace every statement:\n%s", errs)
				}
				return
			}
			for i, m := range res.Manifests {
				line := lineWith(errs, "'s attestation manifest "+res.Attestations[i].Digest.String())
				if !strings.HasPrefix(line, "affix: warning: --strip-attestations leaves out "+m.Platform.OS+"/"+m.Platform.Architecture) {
					t.Errorf("%s: no warning naming the platform and its attestation manifest:\n%s", m.Digest, errs)
					continue
				}
				for _, w := range tc.want {
					if strings.Count(line, w) != 1 {
						t.Errorf("%s: warning does not name %q once:\n%s", m.Digest, w, line)
					}
				}
			}
		})
	}
}

// lineWith returns the first line of s that contains sub, "" if none.
func lineWith(s, sub string) string {
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			return strings.TrimSuffix(l, "\n")
		}
	}
	return ""
}

// TestPushStripNoHints: attestation manifests an index lists as bare
// {mediaType, digest, size} entries (BuildKit's Docker form without its
// hints: no platform, no annotations, no artifactType; only the config's
// unknown/unknown says what they are) are warned about and stripped: what
// push warns it leaves out is what it leaves out.
func TestPushStripNoHints(t *testing.T) {
	cliEnv(t)
	ctx := context.Background()
	spec := fixture.VariantsPair()
	spec.Attestations, spec.Provenance = true, true
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	bareAttestations(t, dir, res)
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	out, errs, code := affix(t, "push", "--insecure-registry", reg.Host, "--strip-attestations", "oci-layout:"+dir, reg.Ref("app")+":v1")
	if code != 0 {
		t.Fatalf("push: exit %d\n%s%s", code, out, errs)
	}
	tgt, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: "app"}, exporter.RemoteOptions{Client: exporter.NewClient(nil, nil), PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	_, b, _, err := tgt.FetchManifest(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Attestations {
		if !strings.Contains(errs, "leaves out attestation manifest "+a.Digest.String()) {
			t.Errorf("no warning about %s:\n%s", a.Digest, errs)
		}
		if strings.Contains(string(b), a.Digest.String()) {
			t.Errorf("the pushed index lists attestation manifest %s, which push warned it leaves out:\n%s", a.Digest, b)
		}
	}
	for _, m := range res.Manifests {
		if !strings.Contains(string(b), m.Digest.String()) {
			t.Errorf("the pushed index lacks platform manifest %s:\n%s", m.Digest, b)
		}
	}
}

// bareAttestations rewrites the image index of the layout dir (res, not
// flat) so that it lists each attestation manifest as a bare {mediaType,
// digest, size}, and points index.json at the new index.
func bareAttestations(t *testing.T, dir string, res *fixture.Result) {
	t.Helper()
	blob := func(d digest.Digest) string { return filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded()) }
	b, err := os.ReadFile(blob(res.Index.Digest))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, m := range idx.Manifests {
		if oci.IsAttestation(m) {
			idx.Manifests[i] = ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
			n++
		}
	}
	if n != len(res.Attestations) || n == 0 {
		t.Fatalf("index lists %d attestation manifests, want %d", n, len(res.Attestations))
	}
	nb, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	nd := oci.DescriptorFor(res.Index.MediaType, nb)
	if err := os.WriteFile(blob(nd.Digest), nb, 0o644); err != nil {
		t.Fatal(err)
	}
	var top ocispec.Index
	ocidirtest.ReadJSON(t, filepath.Join(dir, "index.json"), &top)
	for i, m := range top.Manifests {
		if m.Digest == res.Index.Digest {
			top.Manifests[i].Digest, top.Manifests[i].Size = nd.Digest, nd.Size
		}
	}
	tb, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), tb, 0o644); err != nil {
		t.Fatal(err)
	}
	res.Index.Digest, res.Index.Size = nd.Digest, nd.Size
}
