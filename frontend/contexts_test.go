package frontend

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestAddContext(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name    string
		in      []string
		attrs   map[string]string // context:NAME attributes wanted
		locals  map[string]string
		wantErr string
	}{
		{name: "stage-like name unchanged", in: []string{"base=docker-image://alpine:3"},
			attrs: map[string]string{"context:base": "docker-image://alpine:3"}},
		{name: "image names normalized as the frontend looks them up", in: []string{
			"docker.io/library/alpine=docker-image://x", "busybox:latest=" + dir, "docker.io/team/app:v1=docker-image://y", "example.com/base=docker-image://z"},
			attrs: map[string]string{
				"context:alpine":           "docker-image://x",
				"context:busybox":          "local:busybox",
				"context:team/app:v1":      "docker-image://y",
				"context:example.com/base": "docker-image://z",
			},
			locals: map[string]string{"busybox": dir}},
		{name: "per-platform names", in: []string{"alpine:latest::linux/arm64/v8=docker-image://a", "alpine::linux/amd64=" + dir},
			attrs: map[string]string{"context:alpine::linux/arm64": "docker-image://a", "context:alpine::linux/amd64": "local:alpine::linux/amd64"}},
		{name: "reserved local names", in: []string{"context=" + dir, "dockerfile:latest=" + dir},
			attrs:  map[string]string{"context:context": "local:_context", "context:dockerfile": "local:_dockerfile"},
			locals: map[string]string{"_context": dir, "_dockerfile": dir}},
		{name: "git references", in: []string{
			"a=github.com/org/repo", "b=github.com/org/repo.git#v1:sub", "c=git@github.com:org/repo.git",
			"d=https://example.com/repo.git#main", "e=ssh://git@example.com/repo.git", "f=https://example.com/src.tar.gz"},
			attrs: map[string]string{
				"context:a": "https://github.com/org/repo.git",
				"context:b": "https://github.com/org/repo.git#v1:sub",
				"context:c": "git@github.com:org/repo.git",
				"context:d": "https://example.com/repo.git#main",
				"context:e": "ssh://git@example.com/repo.git",
				"context:f": "https://example.com/src.tar.gz",
			}},

		{name: "same name after normalization", in: []string{"alpine=docker-image://a", "docker.io/library/alpine:latest=docker-image://b"}, wantErr: "alpine given twice"},
		{name: "name BuildKit cannot look up", in: []string{"Base=docker-image://a"}, wantErr: `name "Base"`},
		{name: "architecture alone in a name", in: []string{"alpine::aarch64=docker-image://a"},
			attrs: map[string]string{"context:alpine::" + runtime.GOOS + "/arm64": "docker-image://a"}},
		{name: "bad platform in a name", in: []string{"alpine::bogus=docker-image://a"}, wantErr: `name "alpine::bogus"`},
		{name: "target context", in: []string{"x=target:base"}, wantErr: "bake"},
		{name: "a file", in: []string{"x=" + filepath.Join(dir, "none")}, wantErr: "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &plan{attrs: map[string]string{}, locals: map[string]string{}, ociStores: map[string]string{}}
			var err error
			for _, s := range c.in {
				if err = p.addContext(s); err != nil {
					break
				}
			}
			if optErrCase(t, err, c.wantErr) {
				return
			}
			if len(p.attrs) != len(c.attrs) {
				t.Errorf("attrs %v, want %v", p.attrs, c.attrs)
			}
			for k, v := range c.attrs {
				if p.attrs[k] != v {
					t.Errorf("%s = %q, want %q", k, p.attrs[k], v)
				}
			}
			for k, v := range c.locals {
				if p.locals[k] != v {
					t.Errorf("local %s = %q, want %q", k, p.locals[k], v)
				}
			}
		})
	}
}

// TestSchemeGitURL checks that what ParseGitRef takes for github.com/...
// is, with a scheme, the same repository, ref and directory to BuildKit.
func TestSchemeGitURL(t *testing.T) {
	for _, in := range []string{"github.com/org/repo", "github.com/org/repo.git", "github.com/org/repo#v1.2:sub/dir", "github.com/org/repo?ref=main&subdir=x"} {
		before, isGit, err := dfgitutil.ParseGitRef(in)
		if !isGit || err != nil || !before.IndistinguishableFromLocal {
			t.Fatalf("%s: isGit %v, err %v", in, isGit, err)
		}
		out := schemeGitURL(in)
		after, isGit, err := dfgitutil.ParseGitRef(out)
		if !isGit || err != nil {
			t.Fatalf("%s -> %s: isGit %v, err %v", in, out, isGit, err)
		}
		if after.Remote != "https://github.com/org/repo.git" || after.Ref != before.Ref || after.SubDir != before.SubDir {
			t.Errorf("%s -> %s: %+v, want ref %q subdir %q", in, out, after, before.Ref, before.SubDir)
		}
	}
}

// putBlob writes v as a blob of layout dir.
func putBlob(t *testing.T, dir, mt string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
	p := filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLayoutImage(t *testing.T) {
	img := fixture.Variants().Images[0]
	// layout writes an image tagged refName (a nested index, as affix
	// build --output does), then edit's entries after it.
	type layout struct {
		dir   string
		image ocispec.Descriptor
		idx   ocispec.Index
	}
	newLayout := func(t *testing.T, refName string) *layout {
		dir := t.TempDir()
		res, err := fixture.WriteLayout(dir, fixture.Spec{Images: []fixture.Image{img}, RefName: refName})
		if err != nil {
			t.Fatal(err)
		}
		l := &layout{dir: dir, image: res.Index}
		b, err := os.ReadFile(filepath.Join(dir, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &l.idx); err != nil {
			t.Fatal(err)
		}
		return l
	}
	// sbom adds an SBOM referrer of the image; inDescriptor puts its
	// artifactType on the index.json entry too, as affix does.
	sbom := func(t *testing.T, l *layout, inDescriptor bool, artifactType string) {
		empty := putBlob(t, l.dir, "application/vnd.oci.empty.v1+json", struct{}{})
		m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
			ArtifactType: artifactType, Config: empty, Subject: &ocispec.Descriptor{MediaType: l.image.MediaType, Digest: l.image.Digest, Size: l.image.Size}}
		d := putBlob(t, l.dir, ocispec.MediaTypeImageManifest, m)
		if inDescriptor {
			d.ArtifactType = artifactType
		}
		l.idx.Manifests = append(l.idx.Manifests, d)
	}
	// other adds a second image index, named refName ("" none).
	other := func(t *testing.T, l *layout, refName string) ocispec.Descriptor {
		d := putBlob(t, l.dir, ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex})
		if refName != "" {
			d.Annotations = map[string]string{ocispec.AnnotationRefName: refName, oci.AnnotationImageName: "example.com/other:" + refName}
		}
		l.idx.Manifests = append(l.idx.Manifests, d)
		return d
	}
	for _, c := range []struct {
		name    string
		refName string
		edit    func(*testing.T, *layout) ocispec.Descriptor // returns the entry wanted, zero for the image
		tag     string
		wantErr string
	}{
		{name: "image and its SBOMs (affix build --output), not tagged latest", refName: "v1",
			edit: func(t *testing.T, l *layout) ocispec.Descriptor {
				sbom(t, l, true, "application/spdx+json")
				sbom(t, l, true, "application/vnd.cyclonedx+json")
				return ocispec.Descriptor{}
			}},
		{name: "a referrer known only by its subject", refName: "v1",
			edit: func(t *testing.T, l *layout) ocispec.Descriptor { sbom(t, l, false, ""); return ocispec.Descriptor{} }},
		{name: "a referrer known by the manifest's artifactType", refName: "v1",
			edit: func(t *testing.T, l *layout) ocispec.Descriptor {
				sbom(t, l, false, "application/spdx+json")
				return ocispec.Descriptor{}
			}},
		{name: "the image under two names counts once", refName: "v1",
			edit: func(t *testing.T, l *layout) ocispec.Descriptor {
				d := l.idx.Manifests[0]
				d.Annotations = map[string]string{ocispec.AnnotationRefName: "v2"}
				l.idx.Manifests = append(l.idx.Manifests, d)
				return ocispec.Descriptor{}
			}},
		{name: "latest first", refName: "v1",
			edit: func(t *testing.T, l *layout) ocispec.Descriptor { return other(t, l, "latest") }},
		{name: "a tag", refName: "v1", tag: "v2",
			edit: func(t *testing.T, l *layout) ocispec.Descriptor { return other(t, l, "v2") }},
		{name: "a tag by image name", refName: "v1", tag: "example.com/other:v2",
			edit: func(t *testing.T, l *layout) ocispec.Descriptor { return other(t, l, "v2") }},

		{name: "two images, none latest", refName: "v1",
			edit:    func(t *testing.T, l *layout) ocispec.Descriptor { other(t, l, ""); return ocispec.Descriptor{} },
			wantErr: "2 images and none tagged latest"},
		{name: "tag not there", refName: "v1", tag: "v9", wantErr: `0 images are tagged "v9"`},
		{name: "only artifacts", refName: "v1",
			edit: func(t *testing.T, l *layout) ocispec.Descriptor {
				sbom(t, l, true, "application/spdx+json")
				l.idx.Manifests = l.idx.Manifests[1:]
				return ocispec.Descriptor{}
			}, wantErr: "0 images"},
		{name: "an entry without its blob", refName: "v1",
			edit: func(t *testing.T, l *layout) ocispec.Descriptor {
				l.idx.Manifests = append(l.idx.Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("gone"), Size: 4})
				return ocispec.Descriptor{}
			}, wantErr: "blob not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLayout(t, c.refName)
			want := l.image
			if c.edit != nil {
				if d := c.edit(t, l); d.Digest != "" {
					want = d
				}
			}
			ol, err := oci.Open(context.Background(), oci.Source{Scheme: oci.SchemeLayout, Path: l.dir})
			if err != nil {
				t.Fatal(err)
			}
			defer ol.Close()
			got, err := layoutImage(context.Background(), l.dir, ol, l.idx, c.tag)
			if optErrCase(t, err, c.wantErr) {
				return
			}
			if got.Digest != want.Digest {
				t.Errorf("picked %s, want %s", got.Digest, want.Digest)
			}
		})
	}
}

// TestMainContextRemote: a main context that names a git repository or a
// URL is refused as remote, unless it is a directory here.
func TestMainContextRemote(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	local := filepath.Join("github.com", "foo", "bar")
	if err := os.MkdirAll(local, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(local, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ctx    string
		remote bool
	}{
		{"github.com/foo/bar", false}, // a directory of that name
		{"github.com/foo/baz", true},
		{"https://github.com/foo/bar.git", true},
		{"git://example.com/repo.git", true},
		{"ssh://git@example.com/repo.git", true},
		{"nothere", false},
	} {
		p := &plan{attrs: map[string]string{}, locals: map[string]string{}}
		err := p.setDirs(c.ctx, "", "")
		if got := err != nil && strings.Contains(err.Error(), "remote build context"); got != c.remote {
			t.Errorf("%q: %v, want remote %v", c.ctx, err, c.remote)
		}
		if err != nil && !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%q: %v, want ErrInvalidOption", c.ctx, err)
		}
		if !c.remote && c.ctx == "github.com/foo/bar" && err != nil {
			t.Errorf("%q: %v", c.ctx, err)
		}
	}
}

// TestOCILayoutContextUntrusted: an oci-layout:// build context is read as
// untrusted input, as every other layout affix reads: a FIFO index.json
// or a link out of the layout is refused, never waited on or followed,
// and PATH[:TAG][@DIGEST] splits as oci.ParseSource does, so a directory
// with an at sign in its name ("app@2", a Jenkins workspace) is a path.
func TestOCILayoutContextUntrusted(t *testing.T) {
	img := fixture.Variants().Images[0]
	write := func(t *testing.T, dir string) ocispec.Descriptor {
		res, err := fixture.WriteLayout(dir, fixture.Spec{Images: []fixture.Image{img}, RefName: "v1"})
		if err != nil {
			t.Fatal(err)
		}
		return res.Index
	}
	for _, c := range []struct {
		name string
		// setup makes the layout under root and returns the context value
		// (after oci-layout://) and the digest wanted ("" for an error).
		setup   func(t *testing.T, root string) (string, digest.Digest)
		wantErr string
	}{
		{name: "at sign in the path", setup: func(t *testing.T, root string) (string, digest.Digest) {
			dir := filepath.Join(root, "app@2", "layout")
			return dir, write(t, dir).Digest
		}},
		{name: "at sign in the path, a tag and a digest", setup: func(t *testing.T, root string) (string, digest.Digest) {
			dir := filepath.Join(root, "app@2")
			d := write(t, dir).Digest
			return dir + ":v1@" + d.String(), d
		}},
		{name: "FIFO index.json", setup: func(t *testing.T, root string) (string, digest.Digest) {
			write(t, root)
			p := filepath.Join(root, "index.json")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := mkfifo(p); err != nil {
				t.Skip("no FIFOs here:", err)
			}
			return root, ""
		}, wantErr: "index.json"},
		{name: "index.json links out of the layout", setup: func(t *testing.T, root string) (string, digest.Digest) {
			dir := filepath.Join(root, "layout")
			write(t, dir)
			p := filepath.Join(dir, "index.json")
			outside := filepath.Join(root, "index.json")
			if err := os.Rename(p, outside); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, p); err != nil {
				t.Fatal(err)
			}
			return dir, ""
		}, wantErr: "index.json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, want := c.setup(t, t.TempDir())
			p := &plan{ociStores: map[string]string{}}
			got, err := p.ociLayoutContext("base", v)
			if c.wantErr != "" {
				if !errors.Is(err, ErrInvalidOption) || !errors.Is(err, oci.ErrUnsafeLayout) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidOption and oci.ErrUnsafeLayout naming %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(got, ":v1@"+want.String()) && !strings.HasSuffix(got, ":latest@"+want.String()) {
				t.Errorf("context %q, want the image %s", got, want)
			}
			if len(p.ociStores) != 1 {
				t.Errorf("stores %v, want one", p.ociStores)
			}
			for _, dir := range p.ociStores {
				if !strings.Contains(dir, "app@2") {
					t.Errorf("store %q, want the directory with the at sign", dir)
				}
			}
		})
	}
}

func TestAddCap(t *testing.T) {
	for _, tt := range []struct {
		had, add, want string
	}{
		{"", capContexts, capContexts},
		{capSubrequests, capContexts, capSubrequests + "," + capContexts},
		{capContexts, capContexts, capContexts},
		{capSubrequests + "," + capContexts, capSubrequests, capSubrequests + "," + capContexts},
	} {
		attrs := map[string]string{}
		if tt.had != "" {
			attrs["frontend.caps"] = tt.had
		}
		addCap(attrs, tt.add)
		if got := attrs["frontend.caps"]; got != tt.want {
			t.Errorf("addCap(%q, %q) = %q, want %q", tt.had, tt.add, got, tt.want)
		}
	}
}

// TestSharedKey: buildkitd keeps one received context per context
// directory, not one for every project.
func TestSharedKey(t *testing.T) {
	a, b := &plan{contextDir: "/src/a"}, &plan{contextDir: "/src/b"}
	if a.sharedKey() == b.sharedKey() || a.sharedKey() != (&plan{contextDir: "/src/a"}).sharedKey() || len(a.sharedKey()) != 32 {
		t.Errorf("shared keys %q, %q", a.sharedKey(), b.sharedKey())
	}
}

// TestSetDirsName: messages name the Dockerfile as given (stdin's), not
// the temporary file it was written to.
func TestSetDirsName(t *testing.T) {
	dir := t.TempDir()
	p := &plan{attrs: map[string]string{}, locals: map[string]string{}}
	err := p.setDirs(dir, "", "the Dockerfile on stdin (-f -)")
	if err == nil || !strings.Contains(err.Error(), `dockerfile "the Dockerfile on stdin (-f -)"`) || strings.Contains(err.Error(), dir) {
		t.Errorf("setDirs with a name and no Dockerfile: %v", err)
	}
}
