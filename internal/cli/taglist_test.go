package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
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

// otherDigest is a ResponseHeader fault's Header: the answer names other
// content than the manifest written.
func otherDigest(*http.Request, []byte) map[string]string {
	return map[string]string{"Docker-Content-Digest": digest.FromString("other").String()}
}

// TestCommitOtherDigest: a first tag the registry accepted while naming
// another digest is not reported as "not moved": it moved, to content the
// registry reports as that digest.
func TestCommitOtherDigest(t *testing.T) {
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	proxy := registrytest.StartProxy(t, reg.Host)
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, fixture.VariantsPair())
	if err != nil {
		t.Fatal(err)
	}
	l, err := oci.OpenLayout(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ref := registry.Reference{Registry: proxy.Host, Repository: "app", Reference: "1"}
	tgt, err := exporter.NewRemote(ref, exporter.RemoteOptions{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "1"})
	defer p.Abort()
	if err := p.Images(t.Context()); err != nil {
		t.Fatal(err)
	}
	proxy.Inject(registrytest.Fault{Method: "PUT", Path: "/manifests/1$", Action: registrytest.ResponseHeader, Header: otherDigest})
	name := refName(ref, "")
	_, _, err = commitTags(t.Context(), p, "push", name, ref, []string{"2"})
	want := "push to " + name + ": writing 1: tag 1 moved, to content the registry reports as " + digest.FromString("other").String() + ", not the pushed " + res.Index.Digest.String()
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "not moved") || !errors.Is(err, exporter.ErrTagUnknown) {
		t.Fatalf("error:\n%v\nwant it to start %q, ErrTagUnknown, and no \"not moved\"", err, want)
	}
}

// TestTagMoreErrors: the error of a tag after the first names that tag
// once (the exporter's error names it; tagMore does not again, which read
// "tag 3: tag 3 not written"), then what became of every tag.
func TestTagMoreErrors(t *testing.T) {
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, fixture.VariantsPair())
	if err != nil {
		t.Fatal(err)
	}
	l, err := oci.OpenLayout(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct {
		name   string
		faults []registrytest.Fault // on the PUT of tag 3
		// interrupt cancels the context before tagMore.
		interrupt bool
		// want is the error's start after "push to NAME: ", states its
		// end.
		want, states string
	}{
		{name: "interrupted", interrupt: true,
			want: "tag 2 not written: context canceled", states: "(tags moved: R:1; not moved: R:2, R:3)"},
		{name: "refused", faults: []registrytest.Fault{{Action: registrytest.Status, Code: http.StatusForbidden}},
			want: "writing 3: ", states: "(tags moved: R:1, R:2; not moved: R:3)"},
		// The retry's refusal ends it at once; the first attempt landed.
		{name: "answer lost", faults: []registrytest.Fault{{Action: registrytest.LoseAnswer, Times: 1}, {Action: registrytest.Status, Code: http.StatusForbidden}},
			want: "writing 3: " + exporter.ErrTagUnknown.Error(), states: "(tags moved: R:1, R:2; may have moved (rerun to settle): R:3)"},
		// Accepted, naming other content: it moved, maybe not to the
		// index.
		{name: "another digest", faults: []registrytest.Fault{{Action: registrytest.ResponseHeader, Header: otherDigest}},
			want: "writing 3: tag 3 moved, to content the registry reports as " + digest.FromString("other").String(), states: "(tags moved: R:1, R:2; may have moved (rerun to settle): R:3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := registrytest.StartProxy(t, reg.Host)
			repo := strings.ReplaceAll(strings.ToLower(tc.name), " ", "-")
			ref := registry.Reference{Registry: proxy.Host, Repository: repo, Reference: "1"}
			tgt, err := exporter.NewRemote(ref, exporter.RemoteOptions{PlainHTTP: true})
			if err != nil {
				t.Fatal(err)
			}
			p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "1"})
			defer p.Abort()
			if err := p.Images(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Commit(t.Context()); err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.faults {
				f.Method, f.Path = "PUT", "/manifests/3$"
				proxy.Inject(f)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.interrupt {
				cancel()
			}
			name := refName(ref, "")
			_, err = tagMore(ctx, p, "push", name, ref, []string{"2", "3"})
			if err == nil {
				t.Fatal("tagMore succeeded")
			}
			msg := err.Error()
			prefix := "push to " + name + ": " + tc.want
			states := strings.ReplaceAll(tc.states, "R:", name+":")
			if !strings.HasPrefix(msg, prefix) || !strings.HasSuffix(msg, states) {
				t.Errorf("error:\n%s\nwant it to start %q and end %q", msg, prefix, states)
			}
		})
	}
}
