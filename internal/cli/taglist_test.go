package cli

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/affix-oci/affix/internal/registrytest"
)

func TestSplitTagList(t *testing.T) {
	for _, tc := range []struct {
		in, ref string
		more    []string
		err     string
	}{
		{in: "localhost:5000/app:v1", ref: "localhost:5000/app:v1"},
		{in: "localhost:5000/app:v1,latest", ref: "localhost:5000/app:v1", more: []string{"latest"}},
		{in: "registry.example.com/team/app:1.2.3,1.2,latest", ref: "registry.example.com/team/app:1.2.3", more: []string{"1.2", "latest"}},
		{in: "app:v1,v2", ref: "app:v1", more: []string{"v2"}},
		{in: "localhost:5000/app:v1,v1,latest,latest", ref: "localhost:5000/app:v1", more: []string{"latest"}},
		{in: "localhost:5000/app", ref: "localhost:5000/app"},
		{in: "localhost:5000/app@sha256:" + strings.Repeat("a", 64), ref: "localhost:5000/app@sha256:" + strings.Repeat("a", 64)},
		{in: "localhost:5000/app:v1,", err: `tag ""`},
		{in: "localhost:5000/app:v1,-bad", err: `tag "-bad"`},
		{in: "localhost:5000/app:v1,a b", err: `tag "a b"`},
		{in: "localhost:5000/app:v1,latest@sha256:" + strings.Repeat("a", 64), err: "takes no @DIGEST"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			ref, more, err := splitTagList(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.in) || exitCode(err, nil) != 2 {
					t.Fatalf("splitTagList(%q) = %q, %q, %v; want a usage error naming REF and %s", tc.in, ref, more, err, tc.err)
				}
				return
			}
			if err != nil || ref != tc.ref || !slices.Equal(more, tc.more) {
				t.Errorf("splitTagList(%q) = %q, %q, %v; want %q, %q", tc.in, ref, more, err, tc.ref, tc.more)
			}
		})
	}
}

// TestPushTagList: REF:TAG1,TAG2 writes every tag, to the same index, the
// first by the push's commit and the others after it; the metadata and
// the summary name them; an invalid tag in the list fails before any
// request.
func TestPushTagList(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs a registry")
	}
	cliEnv(t)
	dir, res := pushFixture(t)
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	metaPath := filepath.Join(t.TempDir(), "meta.json")
	out, errs, code := affix(t, "push", "--insecure-registry", reg.Host, "--metadata-file", metaPath, "oci-layout:"+dir, reg.Host+"/app:1.2.3,1.2,latest")
	if code != 0 {
		t.Fatalf("push: %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "also tagged "+reg.Host+"/app:1.2, "+reg.Host+"/app:latest") {
		t.Errorf("summary does not name the other tags:\n%s", out)
	}
	meta := readMeta(t, metaPath)
	if !slices.Equal(meta.Tags, []string{reg.Host + "/app:1.2.3", reg.Host + "/app:1.2", reg.Host + "/app:latest"}) || meta.Tag != reg.Host+"/app:1.2.3" {
		t.Errorf("metadata tag %q, tags %q", meta.Tag, meta.Tags)
	}
	repo := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: "app"}, PlainHTTP: true}
	for _, tag := range []string{"1.2.3", "1.2", "latest"} {
		d, err := repo.Resolve(t.Context(), tag)
		if err != nil || d.Digest != res.Index.Digest {
			t.Errorf("tag %s: %v, %v; want the index %s", tag, d.Digest, err, res.Index.Digest)
		}
	}

	// A tag after the first refused: the error names it and what moved.
	proxy := registrytest.StartProxy(t, reg.Host)
	proxy.Inject(registrytest.Fault{Method: "PUT", Path: "/manifests/latest$", Action: registrytest.Status, Code: 403})
	_, errs, code = affix(t, "push", "--insecure-registry", proxy.Host, "oci-layout:"+dir, proxy.Host+"/other:v1,latest,stable")
	if want := "(tags moved: " + proxy.Host + "/other:v1; not moved: " + proxy.Host + "/other:latest, " + proxy.Host + "/other:stable)"; code == 0 || !strings.Contains(errs, "tag latest") || !strings.Contains(errs, want) {
		t.Errorf("second tag refused: exit %d, want %q in\n%s", code, want, errs)
	}
	other := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: "other"}, PlainHTTP: true}
	if d, err := other.Resolve(t.Context(), "v1"); err != nil || d.Digest != res.Index.Digest {
		t.Errorf("first tag: %v, %v", d.Digest, err)
	}
	if _, err := other.Resolve(t.Context(), "latest"); err == nil {
		t.Errorf("the refused tag exists")
	}

	// Refused before any request: an invalid tag; a referrers tag (on a
	// registry without the API it lists a manifest's SBOMs; the first
	// platform's here, which the push would have overwritten).
	for _, tc := range []struct{ list, want string }{
		{"v2,bad tag", `tag "bad tag"`},
		{"v2,sha256-" + res.Manifests[0].Digest.Encoded(), "is the referrers tag of sha256:" + res.Manifests[0].Digest.Encoded()[:12]},
		{"sha512-" + strings.Repeat("ab", 32) + ",v2", "is the referrers tag of sha512:abab"},
	} {
		ref := reg.Host + "/app:" + tc.list
		_, errs, code = affix(t, "push", "--insecure-registry", reg.Host, "oci-layout:"+dir, ref)
		if code != 2 || !strings.Contains(errs, tc.want) || !strings.Contains(errs, fmt.Sprintf("REF %q", ref)) {
			t.Errorf("push to %s: exit %d, want 2 and the REF and %q in\n%s", ref, code, tc.want, errs)
		}
	}
	if _, err := repo.Resolve(t.Context(), "v2"); err == nil {
		t.Errorf("a push refused for its REF wrote the tag v2")
	}
}
