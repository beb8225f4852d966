package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/discover"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/registrytest"
)

// sigType is the artifact type of the signature-like referrer the tests
// attach: not an SBOM, copied all the same.
const sigType = "application/vnd.example.signature.v1+json"

// attachSignature attaches a one-layer referrer of sigType to subject in
// repo of reg as oras-go does (the referrers tag where reg has no API).
func attachSignature(t *testing.T, reg *registrytest.Registry, repo string, subject ocispec.Descriptor) digest.Digest {
	t.Helper()
	return attachSignatureBy(t, reg, repo, subject, "")
}

// attachSignatureBy is attachSignature with the signer's name in the
// signature: signers give different signatures of one subject.
func attachSignatureBy(t *testing.T, reg *registrytest.Registry, repo string, subject ocispec.Descriptor, signer string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	r := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: repo}, PlainHTTP: true, SkipReferrersGC: true}
	layer, err := oras.PushBytes(ctx, r, sigType, []byte(`{"signed":"`+subject.Digest.String()+`","by":"`+signer+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	subj := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	d, err := oras.PackManifest(ctx, r, oras.PackManifestVersion1_1, sigType, oras.PackManifestOptions{
		Subject: &subj, Layers: []ocispec.Descriptor{layer}, ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2024-01-01T00:00:00Z"}})
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

// referrersOf lists the referrers of d in repo of reg (referrers API,
// else the referrers tag), as affix finds them.
func referrersOf(t *testing.T, reg *registrytest.Registry, repo string, d digest.Digest) []ocispec.Descriptor {
	t.Helper()
	r, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: repo}, exporter.RemoteOptions{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	refs, _, err := exporter.NewFinder(r).Referrers(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

// referrerDigests lists the digests of the referrers of d in repo of reg,
// sorted.
func referrerDigests(t *testing.T, reg *registrytest.Registry, repo string, d digest.Digest) []digest.Digest {
	t.Helper()
	var out []digest.Digest
	for _, x := range referrersOf(t, reg, repo, d) {
		out = append(out, x.Digest)
	}
	slices.Sort(out)
	return out
}

// sbomOf returns the SPDX SBOM referrer of d in repo of reg.
func sbomOf(t *testing.T, reg *registrytest.Registry, repo string, d digest.Digest) ocispec.Descriptor {
	t.Helper()
	for _, r := range referrersOf(t, reg, repo, d) {
		if r.ArtifactType == "application/spdx+json" {
			return r
		}
	}
	t.Fatalf("no SPDX referrer of %s in %s", d, repo)
	return ocispec.Descriptor{}
}

// TestMergeAcrossRepositories merges two platform images from a
// repository other than REF's, on REF's registry (blobs mounted) or on
// another (blobs streamed), into a REF's registry with and without the
// referrers API: nothing is copied or tagged while one image has no SBOM;
// then the manifests and every referrer are copied byte for byte, the
// index has the digest a merge within REF's repository gives, and a
// rerun writes only the manifests again and the tag, as that merge does,
// and adds no referrer. Referrers of referrers are copied too (a
// signature of an SBOM, and a countersignature of that signature), and
// one the source gets after the first merge is copied by the next. The
// request counts are those docs/push.md gives (one GET of them the tag
// list of the source repository, for cosign's tags): a rerun on a registry
// without the referrers API also checks, with a HEAD each, the five
// referrers that REF's referrers tags list and the copy skips.
func TestMergeAcrossRepositories(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	dirs, mans := singleLayouts(t)
	for _, tt := range []struct {
		name     string
		dst, src registrytest.Kind // src "": the source is on REF's registry
		mode     exporter.Mode
		// first and rerun are the requests of the first merge and of
		// its rerun, the rerun's HEADs of the referrers it skips aside.
		first, rerun int
	}{
		{"same registry, referrers API", registrytest.OlaregAPI, "", exporter.ModeAPI, 50, 20},
		{"same registry, referrers tag", registrytest.OlaregNoAPI, "", exporter.ModeTagSchema, 70, 24},
		{"same registry, distribution", registrytest.Distribution, "", exporter.ModeTagSchema, 70, 24},
		{"other registry, to referrers API", registrytest.OlaregAPI, registrytest.OlaregNoAPI, exporter.ModeAPI, 71, 21},
		{"other registry, to distribution", registrytest.Distribution, registrytest.OlaregAPI, exporter.ModeTagSchema, 89, 23},
		{"other registry, to referrers tag", registrytest.OlaregNoAPI, registrytest.OlaregAPI, exporter.ModeTagSchema, 89, 23},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dstReg := registrytest.Start(t, tt.dst, registrytest.Options{})
			srcReg := dstReg
			if tt.src != "" {
				srcReg = registrytest.Start(t, tt.src, registrytest.Options{})
			}
			flags := []string{"--insecure-registry", dstReg.Host, "--insecure-registry", srcReg.Host}
			run := func(args ...string) string { return mustAffix(t, slices.Concat(args[:1], flags, args[1:])...) }
			src, dst := srcReg.Ref("staging/app"), dstReg.Ref("release/app")
			run("push", "oci-layout:"+dirs[0], src+":amd64")
			run("push", "--sbom=false", "oci-layout:"+dirs[1], src+":arm64")

			// arm64 has no SBOM in its source: nothing is copied, nothing tagged.
			_, errs, code := affix(t, slices.Concat([]string{"merge"}, flags, []string{dst + ":v1", src + ":amd64", src + ":arm64"})...)
			if want := "no SBOM referrer of linux/arm64/v8 (" + mans[1].Digest.String() + ", SOURCE " + src + ":arm64)"; code != 1 || !strings.Contains(errs, want) || !strings.Contains(errs, "no tag moved") {
				t.Fatalf("merge with an image without SBOM: exit %d, want 1 and %q\n%s", code, want, errs)
			}
			for _, ref := range []string{"v1", mans[0].Digest.String(), mans[1].Digest.String()} {
				if resolveTag(t, dstReg, "release/app", ref) != "" {
					t.Errorf("a merge refused for want of an SBOM wrote %s:%s", dst, ref)
				}
			}

			run("attach", src+":arm64")
			sig := attachSignature(t, srcReg, "staging/app", mans[0])
			armSBOM := sbomOf(t, srcReg, "staging/app", mans[1].Digest)
			sbomSig := attachSignature(t, srcReg, "staging/app", armSBOM)
			counterSig := attachSignature(t, srcReg, "staging/app", referrersOf(t, srcReg, "staging/app", armSBOM.Digest)[0])
			meta := filepath.Join(t.TempDir(), "merge.json")
			run("merge", "--metadata-file", meta, dst+":v1", src+":amd64", src+":arm64")
			m := readMeta(t, meta)
			t.Logf("first merge: %d requests %v", m.RequestsTotal, m.Requests) // docs/push.md's table
			// Without the API, a referrer whose subject's round has
			// written already takes a round of its own (a GET and a
			// PUT of the referrers tag): which one does varies.
			extra := 0
			if tt.mode == exporter.ModeTagSchema {
				extra = 2
			}
			if m.RequestsTotal < tt.first || m.RequestsTotal > tt.first+extra {
				t.Errorf("first merge: %d requests %v, want %d (up to %d more without the API)", m.RequestsTotal, m.Requests, tt.first, extra)
			}
			checkCopied(t, m, tt.src == "", tt.mode, dstReg.Host+"/release/app")
			if len(m.CopiedReferrers) != 5 {
				t.Errorf("metadata copiedReferrers %+v, want the 5 referrers of the source", m.CopiedReferrers)
			}
			checkCopiedContent(t, srcReg, dstReg, mans, sig)
			checkNestedCopied(t, srcReg, dstReg, armSBOM.Digest, sbomSig, counterSig)
			if _, errs, code := affix(t, slices.Concat([]string{"get", "--verify", "--platform", "linux/arm64"}, flags, []string{dst + ":v1"})...); code != 0 || !strings.Contains(errs, "verified: ") {
				t.Errorf("get --verify of the copied image: exit %d\n%s", code, errs)
			}

			// A rerun copies nothing: it finds the index and its
			// manifests by their HEADs and writes the tag again, as a merge within REF's repository
			// does; no referrer is added.
			again := filepath.Join(t.TempDir(), "again.json")
			run("merge", "--metadata-file", again, dst+":v1", src+":amd64", src+":arm64")
			rerun := readMeta(t, again)
			t.Logf("rerun: %d requests %v", rerun.RequestsTotal, rerun.Requests)
			checked := 0 // HEADs of the referrers the rerun skips, listed in a referrers tag
			if tt.mode == exporter.ModeTagSchema {
				checked = 5
			}
			checkRerun(t, rerun, m, dstReg, mans, checked)
			if rerun.RequestsTotal != tt.rerun+checked {
				t.Errorf("rerun: %d requests %v, want %d", rerun.RequestsTotal, rerun.Requests, tt.rerun+checked)
			}
			// A signature of the amd64 SBOM, which REF's repository has, made
			// after the first merge: the next merge copies it.
			// So is a second countersignature of the arm64 SBOM's signature.
			late := attachSignature(t, srcReg, "staging/app", sbomOf(t, srcReg, "staging/app", mans[0].Digest))
			lateCounter := attachSignatureBy(t, srcReg, "staging/app", referrersOf(t, srcReg, "staging/app", armSBOM.Digest)[0], "second")
			run("merge", dst+":v1", src+":amd64", src+":arm64")
			if have := referrerDigests(t, dstReg, "release/app", sbomOf(t, srcReg, "staging/app", mans[0].Digest).Digest); !slices.Equal(have, []digest.Digest{late}) {
				t.Errorf("referrers of the amd64 SBOM after a merge that follows its signature: %v, want %s", have, late)
			}
			if have := referrerDigests(t, dstReg, "release/app", sbomSig); !slices.Contains(have, lateCounter) || len(have) != 2 {
				t.Errorf("referrers of the arm64 SBOM's signature after a merge that follows a second countersignature: %v, want %s and %s", have, counterSig, lateCounter)
			}
			// Within REF's repository now, the same images give the same index.
			same := filepath.Join(t.TempDir(), "same.json")
			run("merge", "--metadata-file", same, dst+":same", "@"+mans[0].Digest.String(), "@"+mans[1].Digest.String())
			if m3 := readMeta(t, same); m3.Index == nil || m3.Index.Digest != m.Index.Digest {
				t.Errorf("merge within REF's repository: index %v, across repositories %s", m3.Index, m.Index.Digest)
			}
		})
	}
}

// checkCopied checks the metadata of a first merge from another
// repository: two platforms with one SPDX SBOM each, blobs mounted when
// the source is on REF's registry (sameRegistry) and uploaded otherwise,
// referrers written in mode to dstRepo.
func checkCopied(t *testing.T, m pushMetadata, sameRegistry bool, mode exporter.Mode, dstRepo string) {
	t.Helper()
	if m.Index == nil || len(m.Platforms) != 2 {
		t.Fatalf("metadata %+v", m)
	}
	for _, p := range m.Platforms {
		if len(p.Referrers) != 1 || p.Referrers[0].Format != "spdx-json" {
			t.Errorf("metadata platform %+v: want its one SPDX SBOM", p)
		}
	}
	b := m.Blobs
	switch {
	case b == nil:
		t.Error("metadata: no blob counts")
	case sameRegistry && (b.Mounted == 0 || b.Uploaded != 0):
		t.Errorf("blobs %+v: want every blob mounted from the source repository", *b)
	case !sameRegistry && (b.Mounted != 0 || b.Uploaded == 0):
		t.Errorf("blobs %+v: want every blob uploaded from the other registry", *b)
	}
	if m.ReferrersMode[dstRepo] != mode {
		t.Errorf("referrers mode %v, want %s for %s", m.ReferrersMode, mode, dstRepo)
	}
}

// checkCopiedContent checks REF's repository (release/app of dst) after
// a merge from staging/app of src: the index lists the two manifests,
// and each has the source's referrers, byte for byte (the same digests),
// the signature sig among them.
func checkCopiedContent(t *testing.T, src, dst *registrytest.Registry, mans [3]ocispec.Descriptor, sig digest.Digest) {
	t.Helper()
	var got []digest.Digest
	for _, d := range fetchIndex(t, dst, "release/app", "v1").Manifests {
		got = append(got, d.Digest)
	}
	if !slices.Equal(got, []digest.Digest{mans[0].Digest, mans[1].Digest}) {
		t.Errorf("index lists %v, want %s %s", got, mans[0].Digest, mans[1].Digest)
	}
	for _, d := range []digest.Digest{mans[0].Digest, mans[1].Digest} {
		want := referrerDigests(t, src, "staging/app", d)
		if have := referrerDigests(t, dst, "release/app", d); !slices.Equal(have, want) {
			t.Errorf("referrers of %s: %v in REF's repository, %v in the source's", d, have, want)
		}
	}
	if !slices.Contains(referrerDigests(t, dst, "release/app", mans[0].Digest), sig) {
		t.Errorf("the signature %s was not copied", sig)
	}
}

// checkNestedCopied checks that REF's repository (release/app of dst)
// has, after a merge, the referrers of referrers the source had: sig of
// the SBOM sbom, and counter of sig.
func checkNestedCopied(t *testing.T, src, dst *registrytest.Registry, sbom, sig, counter digest.Digest) {
	t.Helper()
	for _, w := range []struct{ subject, want digest.Digest }{{sbom, sig}, {sig, counter}} {
		have := referrerDigests(t, dst, "release/app", w.subject)
		if !slices.Equal(have, []digest.Digest{w.want}) || !slices.Equal(have, referrerDigests(t, src, "staging/app", w.subject)) {
			t.Errorf("referrers of %s in REF's repository: %v, want %s as in the source's", w.subject, have, w.want)
		}
	}
}

// checkRerun checks the metadata m of a merge run again (first's): it
// copies nothing (it finds the index and the two platform manifests by
// their HEADs, then writes the tag, as a merge within REF's repository
// does; and checks with a HEAD each the referrers it skips, checked of
// them), and adds no referrer in release/app of dst.
func checkRerun(t *testing.T, m, first pushMetadata, dst *registrytest.Registry, mans [3]ocispec.Descriptor, checked int) {
	t.Helper()
	if m.Index == nil || m.Index.Digest != first.Index.Digest {
		t.Errorf("rerun: index %v, first %s", m.Index, first.Index.Digest)
	}
	if len(m.CopiedReferrers) != 0 {
		t.Errorf("rerun: copiedReferrers %+v, want none", m.CopiedReferrers)
	}
	if m.Requests["POST"] != 0 || m.Requests["HEAD"] != 1+2+checked || m.Requests["PUT"] != 1 || m.Blobs == nil || m.Blobs.Existing == 0 || m.Blobs.Mounted+m.Blobs.Uploaded != 0 {
		t.Errorf("rerun: requests %v, blobs %+v: want no upload, %d HEADs (the index and its two manifests, present, and %d referrers) and one PUT (the tag)", m.Requests, m.Blobs, 1+2+checked, checked)
	}
	for i, n := range []int{2, 1} {
		if have := referrerDigests(t, dst, "release/app", mans[i].Digest); len(have) != n {
			t.Errorf("after the rerun, %s has referrers %v, want %d", mans[i].Digest, have, n)
		}
	}
}

// notFoundReferrers is a proxy to reg that answers 404 for the referrers
// of a subject the repository does not hold, as some registries with the
// referrers API do, and returns its host.
func notFoundReferrers(t *testing.T, reg *registrytest.Registry) string {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: reg.Host}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if repo, subject, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/referrers/"); ok {
			req, _ := http.NewRequest(http.MethodHead, "http://"+reg.Host+"/v2/"+repo+"/manifests/"+subject, nil)
			req.Header.Set("Accept", ocispec.MediaTypeImageManifest+", "+ocispec.MediaTypeImageIndex)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode == http.StatusNotFound {
				http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestMergeReferrers404 merges a source of another repository, listed
// first, with an image of REF's repository whose SBOM only the referrers
// API lists, on a registry that answers 404 for the referrers of a
// subject it does not hold: the 404 for the other repository's image does
// not hide the SBOM of REF's own, whatever the order of the sources.
func TestMergeReferrers404(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	dirs, mans := singleLayouts(t)
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	host := notFoundReferrers(t, reg)
	flags := []string{"--insecure-registry", host}
	run := func(args ...string) string { return mustAffix(t, slices.Concat(args[:1], flags, args[1:])...) }
	run("push", "oci-layout:"+dirs[0], host+"/release/app:amd64")
	run("push", "oci-layout:"+dirs[1], host+"/staging/app:arm64")
	for i, sources := range [][]string{{host + "/staging/app:arm64", ":amd64"}, {":amd64", host + "/staging/app:arm64"}} {
		_, errs, code := affix(t, slices.Concat([]string{"merge"}, flags, []string{host + "/release/app:v" + strconv.Itoa(i)}, sources)...)
		if code != 0 {
			t.Errorf("merge %s: exit %d\n%s", sources, code, errs)
		}
	}
	// Both sources in another repository, the one REF's repository
	// holds (with an SBOM only there, listed by the API) after the one it
	// does not: the 404 for the first does not hide the second's SBOM.
	run("push", "--sbom=false", "oci-layout:"+dirs[2], host+"/staging/app:other")
	run("merge", "--allow-no-sbom", host+"/other/app:v0", host+"/staging/app:other")
	run("attach", host+"/other/app@"+mans[2].Digest.String())
	for i, sources := range [][]string{{host + "/staging/app:arm64", host + "/staging/app:other"}, {host + "/staging/app:other", host + "/staging/app:arm64"}} {
		_, errs, code := affix(t, slices.Concat([]string{"merge"}, flags, []string{host + "/other/app:v" + strconv.Itoa(i+1)}, sources)...)
		if code != 0 {
			t.Errorf("merge %s: exit %d\n%s", sources, code, errs)
		}
	}
}

// TestMergeForeignWithoutSBOM merges, with --allow-no-sbom, an image of
// another repository that has no SBOM and one referrer that is an index:
// the image is copied and tagged, the index referrer left behind with a
// warning naming it.
func TestMergeForeignWithoutSBOM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	dirs, mans := singleLayouts(t)
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	flags := []string{"--insecure-registry", reg.Host}
	mustAffix(t, slices.Concat([]string{"push", "--sbom=false"}, flags, []string{"oci-layout:" + dirs[0], reg.Ref("staging/app") + ":amd64"})...)
	subject := ocispec.Descriptor{MediaType: mans[0].MediaType, Digest: mans[0].Digest, Size: mans[0].Size}
	data, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, ArtifactType: sigType, Subject: &subject, Manifests: []ocispec.Descriptor{}})
	if err != nil {
		t.Fatal(err)
	}
	idx := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(data), Size: int64(len(data))}
	r := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: "staging/app"}, PlainHTTP: true}
	if err := r.Push(t.Context(), idx, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	_, errs, code := affix(t, slices.Concat([]string{"merge", "--allow-no-sbom"}, flags, []string{reg.Ref("release/app") + ":v1", reg.Ref("staging/app") + ":amd64"})...)
	if code != 0 {
		t.Fatalf("merge --allow-no-sbom: exit %d\n%s", code, errs)
	}
	if want := "referrer " + idx.Digest.String() + " (" + sigType + ") of " + mans[0].Digest.String() + " not copied: it is a " + ocispec.MediaTypeImageIndex; !strings.Contains(errs, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errs)
	}
	if got := fetchIndex(t, reg, "release/app", "v1"); len(got.Manifests) != 1 || got.Manifests[0].Digest != mans[0].Digest {
		t.Errorf("release/app:v1 lists %v, want %s", got.Manifests, mans[0].Digest)
	}
	if have := referrerDigests(t, reg, "release/app", mans[0].Digest); len(have) != 0 {
		t.Errorf("release/app lists referrers %v of the copied image, want none", have)
	}
}

// fetchRawIndex returns the bytes of the index tagged tag in repo of reg.
func fetchRawIndex(t *testing.T, reg *registrytest.Registry, repo, tag string) []byte {
	t.Helper()
	r, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: repo}, exporter.RemoteOptions{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	_, data, _, err := r.FetchManifest(t.Context(), tag)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestMergeNestedUnreadable merges an image from a repository without
// the referrers API whose SBOM's referrers tag names a manifest, not an
// index (some registries resolve that tag to the subject itself): the
// image and its SBOM are copied and tagged, and the referrers of the SBOM,
// which cannot be read, are left behind with a warning naming them.
func TestMergeNestedUnreadable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	dirs, mans := singleLayouts(t)
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	flags := []string{"--insecure-registry", reg.Host}
	mustAffix(t, slices.Concat([]string{"push"}, flags, []string{"oci-layout:" + dirs[0], reg.Ref("staging/app") + ":amd64"})...)
	sbom := sbomOf(t, reg, "staging/app", mans[0].Digest)
	r := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: "staging/app"}, PlainHTTP: true}
	if err := r.Tag(t.Context(), mans[0], "sha256-"+sbom.Digest.Encoded()); err != nil {
		t.Fatal(err)
	}
	_, errs, code := affix(t, slices.Concat([]string{"merge"}, flags, []string{reg.Ref("release/app") + ":v1", reg.Ref("staging/app") + ":amd64"})...)
	if code != 0 {
		t.Fatalf("merge: exit %d\n%s", code, errs)
	}
	if want := "referrers of referrer " + sbom.Digest.String() + " (application/spdx+json)"; !strings.Contains(errs, want) || !strings.Contains(errs, "not copied") {
		t.Errorf("stderr lacks a warning naming %s:\n%s", want, errs)
	}
	if have := referrerDigests(t, reg, "release/app", mans[0].Digest); !slices.Equal(have, []digest.Digest{sbom.Digest}) {
		t.Errorf("release/app lists referrers %v of the copied image, want its SBOM %s", have, sbom.Digest)
	}
}

// TestMergeNestedReferrers covers the edges of copying referrers of
// referrers, from a repository without the referrers API (whose
// referrers tags the test can write): a chain deeper than
// discover.MaxReferrerDepth is copied down to it, with a warning naming where it
// stops; a referrer also listed under a subject its manifest does not
// name is copied under its own only; a failure to list the referrers of
// a referrer fails the merge, nothing tagged.
func TestMergeNestedReferrers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	dirs, mans := singleLayouts(t)
	// setup pushes the amd64 image with its SBOM to staging/app of a new
	// registry and returns the registry and the SBOM.
	setup := func(t *testing.T) (*registrytest.Registry, ocispec.Descriptor) {
		reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
		mustAffix(t, "push", "--insecure-registry", reg.Host, "oci-layout:"+dirs[0], reg.Ref("staging/app")+":amd64")
		return reg, sbomOf(t, reg, "staging/app", mans[0].Digest)
	}
	merge := func(t *testing.T, host string) (string, int) {
		_, errs, code := affix(t, "merge", "--insecure-registry", host, host+"/release/app:v1", host+"/staging/app:amd64")
		return errs, code
	}
	t.Run("deeper than the limit", func(t *testing.T) {
		reg, sbom := setup(t)
		chain := []ocispec.Descriptor{sbom} // chain[i] is at depth i+1
		for i := 1; i <= discover.MaxReferrerDepth; i++ {
			attachSignatureBy(t, reg, "staging/app", chain[i-1], strconv.Itoa(i))
			chain = append(chain, referrersOf(t, reg, "staging/app", chain[i-1].Digest)[0])
		}
		errs, code := merge(t, reg.Host)
		last := chain[discover.MaxReferrerDepth-1]
		if want := "the referrers of referrer " + last.Digest.String(); code != 0 || !strings.Contains(errs, want) {
			t.Fatalf("merge: exit %d, want 0 and a warning %q\n%s", code, want, errs)
		}
		for i := 1; i < discover.MaxReferrerDepth; i++ {
			if have := referrerDigests(t, reg, "release/app", chain[i-1].Digest); !slices.Equal(have, []digest.Digest{chain[i].Digest}) {
				t.Errorf("depth %d: release/app lists referrers %v of %s, want %s", i+1, have, chain[i-1].Digest, chain[i].Digest)
			}
		}
		if have := referrerDigests(t, reg, "release/app", last.Digest); len(have) != 0 {
			t.Errorf("release/app lists %v below depth %d", have, discover.MaxReferrerDepth)
		}
	})
	t.Run("listed under another subject", func(t *testing.T) {
		reg, sbom := setup(t)
		sig := attachSignature(t, reg, "staging/app", sbom)
		sigDesc := referrersOf(t, reg, "staging/app", sbom.Digest)[0]
		// The image's referrers tag lists the SBOM's signature too, first.
		tag := "sha256-" + mans[0].Digest.Encoded()
		idx := fetchIndex(t, reg, "staging/app", tag)
		idx.Manifests = append([]ocispec.Descriptor{sigDesc}, idx.Manifests...)
		pushIndex(t, reg, "staging/app", tag, idx)
		errs, code := merge(t, reg.Host)
		if want := "referrer " + sig.String() + " (" + sigType + ") not copied as a referrer of " + mans[0].Digest.String() + ": its manifest names subject " + sbom.Digest.String(); code != 0 || !strings.Contains(errs, want) {
			t.Fatalf("merge: exit %d, want 0 and a warning %q\n%s", code, want, errs)
		}
		if have := referrerDigests(t, reg, "release/app", sbom.Digest); !slices.Equal(have, []digest.Digest{sig}) {
			t.Errorf("release/app lists referrers %v of the SBOM, want its signature %s", have, sig)
		}
		if have := referrerDigests(t, reg, "release/app", mans[0].Digest); !slices.Equal(have, []digest.Digest{sbom.Digest}) {
			t.Errorf("release/app lists referrers %v of the image, want its SBOM %s", have, sbom.Digest)
		}
	})
	t.Run("listing fails", func(t *testing.T) {
		reg, sbom := setup(t)
		attachSignature(t, reg, "staging/app", sbom)
		host := failPath(t, reg, "/v2/staging/app/manifests/sha256-"+sbom.Digest.Encoded(), http.StatusForbidden)
		errs, code := merge(t, host)
		if code != 1 || !strings.Contains(errs, "no tag moved") || !strings.Contains(errs, "referrers of referrer "+sbom.Digest.String()) {
			t.Fatalf("merge: exit %d, want 1, naming the SBOM, no tag moved\n%s", code, errs)
		}
		if d := resolveTag(t, reg, "release/app", "v1"); d != "" {
			t.Errorf("a failed merge tagged release/app:v1 %s", d)
		}
	})
}

// pushIndex writes idx to repo of reg under tag.
func pushIndex(t *testing.T, reg *registrytest.Registry, repo, tag string, idx ocispec.Index) {
	t.Helper()
	data, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	r := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: repo}, PlainHTTP: true}
	if err := r.PushReference(t.Context(), ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(data), Size: int64(len(data))}, bytes.NewReader(data), tag); err != nil {
		t.Fatal(err)
	}
}

// failPath is a proxy to reg that answers status for every request of
// path, and returns its host.
func failPath(t *testing.T, reg *registrytest.Registry, path string, status int) string {
	t.Helper()
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: reg.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			http.Error(w, `{"errors":[{"code":"DENIED"}]}`, status)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// annotatedIndex tags as to in repo of reg the index tagged from, with an
// annotation and indented (as no merge would write it), and returns its
// digest. With subject, the index is also a referrer of its first
// manifest.
func annotatedIndex(t *testing.T, reg *registrytest.Registry, repo, from, to string, subject bool) digest.Digest {
	t.Helper()
	idx := fetchIndex(t, reg, repo, from)
	idx.Annotations = map[string]string{ocispec.AnnotationCreated: "2026-11-27T00:00:00Z"}
	if subject {
		s := idx.Manifests[0]
		idx.Subject = &ocispec.Descriptor{MediaType: s.MediaType, Digest: s.Digest, Size: s.Size}
	}
	data, err := json.MarshalIndent(idx, "", "   ")
	if err != nil {
		t.Fatal(err)
	}
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(data), Size: int64(len(data))}
	r := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: repo}, PlainHTTP: true}
	if err := r.PushReference(t.Context(), d, bytes.NewReader(data), to); err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

// TestMergeKeepsSourceIndex merges one SOURCE that is an index (with
// BuildKit attestation manifests) without --annotation: the index itself
// is published, byte for byte, so a promotion to another repository or a
// retag keeps its digest, as buildx imagetools create does; with an
// annotation it is a new index.
func TestMergeKeepsSourceIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	spec := fixture.VariantsPair()
	spec.Attestations = true
	dir := t.TempDir()
	if _, err := fixture.WriteLayout(dir, spec); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			flags := []string{"--insecure-registry", reg.Host}
			run := func(args ...string) string { return mustAffix(t, slices.Concat(args[:1], flags, args[1:])...) }
			run("push", "oci-layout:"+dir, reg.Ref("staging/app")+":v0")
			want := annotatedIndex(t, reg, "staging/app", "v0", "v1", false)
			referrer := annotatedIndex(t, reg, "staging/app", "v0", "vs", true)
			// A signature of the index goes with it.
			sig := attachSignature(t, reg, "staging/app", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: want, Size: int64(len(fetchRawIndex(t, reg, "staging/app", "v1")))})
			for _, tt := range []struct {
				name string
				args []string
				same bool
			}{
				{"promote", []string{reg.Ref("release/app") + ":v1", reg.Ref("staging/app") + ":v1"}, true},
				{"retag", []string{reg.Ref("staging/app") + ":v2", ":v1"}, true},
				{"by digest", []string{reg.Ref("release/app") + ":v2", reg.Ref("staging/app") + "@" + want.String()}, true},
				{"annotated", []string{"--annotation", "org.example.k=v", reg.Ref("release/app") + ":v3", reg.Ref("staging/app") + ":v1"}, false},
				// An index with a subject is a referrer: not made REF's index.
				{"with a subject", []string{reg.Ref("release/app") + ":v4", reg.Ref("staging/app") + ":vs"}, false},
			} {
				run(append([]string{"merge"}, tt.args...)...)
				repo, tag, _ := strings.Cut(strings.TrimPrefix(tt.args[len(tt.args)-2], reg.Host+"/"), ":")
				got := resolveTag(t, reg, repo, tag)
				if (got == want || got == referrer) != tt.same {
					t.Errorf("%s: %s:%s is %s, source index %s (want the same: %v)", tt.name, repo, tag, got, want, tt.same)
				}
				if got == want && !slices.Contains(referrerDigests(t, reg, repo, want), sig) {
					t.Errorf("%s: %s does not list the index's signature %s", tt.name, repo, sig)
				}
			}
		})
	}
}

// TestMergeSummaryOnRerun: every merge prints how REF's repository lists
// referrers ("referrers: MODE (REPO)") and, with sources in other
// repositories, how many referrers it copied and how many REF's
// repository listed already: a rerun that copies nothing says so, on a
// registry without the referrers API too (where the first run learnt the
// mode from its writes, and a rerun has none).
func TestMergeSummaryOnRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	dirs, _ := singleLayouts(t)
	for _, tt := range []struct {
		kind registrytest.Kind
		mode exporter.Mode
	}{
		{registrytest.Distribution, exporter.ModeTagSchema},
		{registrytest.OlaregNoAPI, exporter.ModeTagSchema},
		{registrytest.OlaregAPI, exporter.ModeAPI},
	} {
		t.Run(string(tt.kind), func(t *testing.T) {
			reg := registrytest.Start(t, tt.kind, registrytest.Options{})
			flags := []string{"--insecure-registry", reg.Host}
			run := func(args ...string) string { return mustAffix(t, slices.Concat(args[:1], flags, args[1:])...) }
			src, dst := reg.Ref("staging/app"), reg.Ref("release/app")
			run("push", "oci-layout:"+dirs[0], src+":amd64")
			run("push", "oci-layout:"+dirs[1], src+":arm64")
			modeLine := "\nreferrers: " + string(tt.mode) + " (" + dst + ")\n"
			for i, want := range []string{
				"\n  2 referrers copied from other repositories, SBOMs included\n",
				"\n  no referrer copied from other repositories: the 2 they list are in REF's repository already\n",
			} {
				out := run("merge", dst+":v1", src+":amd64", src+":arm64")
				if !strings.Contains(out, want) || !strings.Contains(out, modeLine) {
					t.Errorf("merge %d: want %q and %q in the summary:\n%s", i+1, want, modeLine, out)
				}
			}
			// Sources in REF's repository: nothing to copy, no line about
			// copies; the mode still.
			if out := run("merge", dst+":v2", ":v1"); strings.Contains(out, "copied") || !strings.Contains(out, modeLine) {
				t.Errorf("merge within REF's repository: want %q and no copies in the summary:\n%s", modeLine, out)
			}
		})
	}
}

// TestCopiedSummary: the merge summary's line on referrers from other
// repositories says how many were copied and how many REF's repository
// listed already, in words for none and one.
func TestCopiedSummary(t *testing.T) {
	for _, tt := range []struct {
		copied, present int
		want            string
	}{
		{0, 0, "no referrer copied from other repositories: they list none to copy"},
		{0, 1, "no referrer copied from other repositories: the one they list is in REF's repository already"},
		{0, 5, "no referrer copied from other repositories: the 5 they list are in REF's repository already"},
		{1, 0, "1 referrer copied from other repositories, SBOMs included"},
		{5, 0, "5 referrers copied from other repositories, SBOMs included"},
		{2, 1, "2 referrers copied from other repositories, SBOMs included; 1 more was in REF's repository already"},
		{2, 5, "2 referrers copied from other repositories, SBOMs included; 5 more were in REF's repository already"},
	} {
		if got := copiedSummary(tt.copied, tt.present); got != tt.want {
			t.Errorf("copiedSummary(%d, %d) = %q, want %q", tt.copied, tt.present, got, tt.want)
		}
	}
}
