package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// cosignSignature is a signature layer as cosign sign writes it under
// its .sig tag (the simple signing payload, its signature annotated).
func cosignSignature(payload string) foreignLayer {
	return foreignLayer{mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", data: []byte(`{"critical":{"image":{"docker-manifest-digest":"` + payload + `"}}}`),
		annotations: map[string]string{"dev.cosignproject.cosign/signature": "MEUCIQ" + payload}}
}

// TestMergeCosignTags: merge copies cosign's tags (sha256-<hex>.sig,
// .att) of the manifests it copies from another repository (the index,
// kept byte for byte, and a platform manifest), byte for byte, before the
// tag; not those of a manifest it does not copy. A rerun writes nothing
// but the tag. A tag REF's repository has with another manifest (the
// source's signatures appended to since) is left as it is, with a
// warning. A source registry that does not list tags costs a read of
// each possible tag instead, with a warning.
func TestMergeCosignTags(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	dir, res := variantsPair(t)
	amd := res.Manifests[0]
	for _, tt := range []struct {
		name      string
		dst       registrytest.Kind
		noTagList bool // the source is on another registry that lists no tags
	}{
		{"referrers API", registrytest.OlaregAPI, false},
		{"referrers tag", registrytest.OlaregNoAPI, false},
		{"distribution", registrytest.Distribution, false},
		{"other registry without tag list", registrytest.OlaregAPI, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dstReg := registrytest.Start(t, tt.dst, registrytest.Options{})
			srcReg, srcHost := dstReg, dstReg.Host
			if tt.noTagList {
				srcReg = registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
				proxy := registrytest.NewProxy(srcReg.Host)
				t.Cleanup(proxy.Close)
				proxy.Inject(registrytest.Fault{Method: http.MethodGet, Path: "/tags/list", Action: registrytest.Status, Code: http.StatusNotFound, Body: `{"errors":[{"code":"UNSUPPORTED"}]}`})
				srcHost = proxy.Host
			}
			flags := []string{"--insecure-registry", dstReg.Host, "--insecure-registry", srcHost}
			run := func(args ...string) (string, string) {
				t.Helper()
				out, errs, code := affix(t, slices.Concat(args[:1], flags, args[1:])...)
				if code != 0 {
					t.Fatalf("affix %v: exit %d\n%s%s", args, code, out, errs)
				}
				return out, errs
			}
			src, dst := srcHost+"/staging/app", dstReg.Ref("release/app")
			run("push", "oci-layout:"+dir, src+":v1")
			idx := resolveTag(t, srcReg, "staging/app", "v1")
			idxTag, amdTag, strayTag := cosignTag(t, idx, "sig"), cosignTag(t, amd.Digest, "att"), cosignTag(t, digest.FromString("not merged"), "sig")
			cfg := ocispec.MediaTypeImageConfig
			attachForeign(t, srcReg, "staging/app", ocispec.Descriptor{}, foreignReferrer{tag: idxTag, configType: cfg, layers: []foreignLayer{cosignSignature(idx.String())}})
			amdAtt := attachForeign(t, srcReg, "staging/app", amd, foreignReferrer{tag: amdTag, configType: cfg,
				layers: []foreignLayer{{mediaType: discover.MediaTypeDSSE, data: []byte(`{"payloadType":"x"}`), annotations: map[string]string{"predicateType": oci.PredicateSPDX}}}})
			attachForeign(t, srcReg, "staging/app", ocispec.Descriptor{}, foreignReferrer{tag: strayTag, configType: cfg, layers: []foreignLayer{cosignSignature("stray")}})
			// Not what cosign writes: an index under arm64's .sig tag is
			// not copied, with a warning; the merge goes on.
			arm := res.Manifests[1]
			oddTag := cosignTag(t, arm.Digest, "sig")
			srcRemote, err := exporter.NewRemote(registry.Reference{Registry: srcReg.Host, Repository: "staging/app"}, exporter.RemoteOptions{PlainHTTP: true})
			if err != nil {
				t.Fatal(err)
			}
			odd, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{arm}})
			if _, err := srcRemote.PushManifest(context.Background(), oci.DescriptorFor(ocispec.MediaTypeImageIndex, odd), odd, oddTag, ""); err != nil {
				t.Fatal(err)
			}

			meta := filepath.Join(t.TempDir(), "merge.json")
			out, errs := run("merge", "--metadata-file", meta, dst+":v1", src+":v1")
			if got := resolveTag(t, dstReg, "release/app", "v1"); got != idx {
				t.Fatalf("release/app:v1 is %s, want the source index %s kept", got, idx)
			}
			for _, tag := range []string{idxTag, amdTag} {
				if have, want := fetchRawIndex(t, dstReg, "release/app", tag), fetchRawIndex(t, srcReg, "staging/app", tag); !bytes.Equal(have, want) {
					t.Errorf("cosign's tag %s in REF's repository:\n%s\nwant the source's:\n%s", tag, have, want)
				}
			}
			if resolveTag(t, dstReg, "release/app", strayTag) != "" {
				t.Errorf("cosign's tag %s of a manifest not merged was copied", strayTag)
			}
			if resolveTag(t, dstReg, "release/app", oddTag) != "" || !strings.Contains(errs, "cosign's tag "+oddTag+" (of "+arm.Digest.String()+") not copied: it holds a "+ocispec.MediaTypeImageIndex) {
				t.Errorf("cosign's tag %s holding an index: want it left, with a warning:\n%s", oddTag, errs)
			}
			m := readMeta(t, meta)
			if len(m.CosignTags) != 2 || !strings.Contains(out, "2 cosign tags copied") {
				t.Errorf("metadata cosignTags %+v, want 2; summary:\n%s", m.CosignTags, out)
			}
			if warned := strings.Contains(errs, "cannot list the tags"); warned != tt.noTagList {
				t.Errorf("warning about the tag list: %v, want %v:\n%s", warned, tt.noTagList, errs)
			}

			// A rerun writes nothing but the tag.
			again := filepath.Join(t.TempDir(), "again.json")
			out, _ = run("merge", "--metadata-file", again, dst+":v1", src+":v1")
			if r := readMeta(t, again); r.Requests["PUT"] != 1 || r.Requests["POST"] != 0 || r.Requests["PATCH"] != 0 || len(r.CosignTags) != 0 {
				t.Errorf("rerun: requests %v, cosignTags %+v: want one PUT (the tag), no upload, none copied", r.Requests, r.CosignTags)
			}
			if want := "0 cosign tags copied from other repositories (sha256-<hex>.sig, .att, .sbom); 2 in REF's repository already"; !strings.Contains(out, want) {
				t.Errorf("rerun summary: want %q:\n%s", want, out)
			}

			// cosign appended to the source's tag since: REF's is left
			// as it is, with a warning naming it.
			attachForeign(t, srcReg, "staging/app", amd, foreignReferrer{tag: amdTag, configType: cfg, layers: []foreignLayer{cosignSignature("a"), cosignSignature("b")}})
			_, errs = run("merge", dst+":v1", src+":v1")
			if !strings.Contains(errs, "cosign's tag "+amdTag) || !strings.Contains(errs, "left as it is") {
				t.Errorf("merge onto another manifest under %s: want a warning naming it:\n%s", amdTag, errs)
			}
			if got := resolveTag(t, dstReg, "release/app", amdTag); got != amdAtt.Digest {
				t.Errorf("REF's %s is %s, want %s left as it was", amdTag, got, amdAtt.Digest)
			}
		})
	}
}

// cosignTag is discover.CosignTag of d, a valid digest.
func cosignTag(t testing.TB, d digest.Digest, suffix string) string {
	t.Helper()
	tag, err := discover.CosignTag(d, suffix)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
