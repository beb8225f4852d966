package sbomgen

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
)

// pkgAt is a package found, with the path of the file it was found in.
type pkgAt struct{ Name, Type, Path string }

// syftPackagesAt returns the packages of a syft JSON document by the
// real paths they were found at, sorted.
func syftPackagesAt(t testing.TB, data []byte) []pkgAt {
	t.Helper()
	var v struct {
		Artifacts []struct {
			Name, Type string
			Locations  []struct{ Path string }
		}
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var out []pkgAt
	for _, a := range v.Artifacts {
		for _, l := range a.Locations {
			out = append(out, pkgAt{a.Name, a.Type, l.Path})
		}
	}
	slices.SortFunc(out, comparePkgAt)
	return slices.Compact(out)
}

func comparePkgAt(a, b pkgAt) int {
	return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Type, b.Type))
}

// TestHardLinkToLowerLayer scans images whose upper layer hard-links a
// file of a lower layer (a dpkg status file, a Go binary), a file that
// layer or a later one deletes or replaces. Unpacked, the link is a
// second name of the lower file, content and all; stereoscope left it a
// link resolved by path, so its packages were lost with the other name,
// or read from its replacement. The image's packages are those a
// directory scan of the unpacked root filesystem finds, where it can be
// unpacked, at the same paths.
func TestHardLinkToLowerLayer(t *testing.T) {
	bin, err := fixture.GoBinary(context.Background(), "amd64", "")
	if err != nil {
		t.Fatal(err)
	}
	status := []byte("Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13.dfsg-1\nDescription: fixture\n\n")
	other := []byte("Package: other\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\nDescription: fixture\n\n")
	const (
		dpkg   = "var/lib/dpkg/status"
		stored = "usr/share/fixture/status" // a path no cataloger reads
		goBin  = "usr/local/bin/hello"
		goLink = "usr/bin/hello"
	)
	zlib := func(p string) pkgAt { return pkgAt{"zlib1g", "deb", "/" + p} }
	goPkgs := func(p string) []pkgAt {
		return []pkgAt{{"github.com/affix-oci/affix", "go-module", "/" + p}, {"golang.org/x/sync", "go-module", "/" + p}, {"stdlib", "go-module", "/" + p}}
	}
	statusFile := fixture.File{Path: stored, Data: status}
	dpkgLink := fixture.File{Path: dpkg, HardLink: stored}
	binFile := fixture.File{Path: goBin, Data: bin, Mode: 0o755}
	binLink := fixture.File{Path: goLink, HardLink: goBin}
	tests := []struct {
		name   string
		layers []fixture.Layer
		want   []pkgAt
		// rootfs: fixture.WriteRootfs can unpack the layers, to compare.
		rootfs bool
	}{
		{"same layer", []fixture.Layer{{statusFile, dpkgLink}}, []pkgAt{zlib(dpkg)}, true},
		{"lower", []fixture.Layer{{statusFile}, {dpkgLink}}, []pkgAt{zlib(dpkg)}, true},
		{"lower, deleted above", []fixture.Layer{{statusFile}, {dpkgLink}, {fixture.Whiteout(stored)}}, []pkgAt{zlib(dpkg)}, true},
		// A whiteout applies to the layers below (image-spec layer.md).
		{"lower, deleted by the link's layer", []fixture.Layer{{statusFile}, {dpkgLink, fixture.Whiteout(stored)}}, []pkgAt{zlib(dpkg)}, false},
		{"lower, directory made opaque above", []fixture.Layer{{statusFile}, {dpkgLink}, {fixture.Opaque("usr/share/fixture")}}, []pkgAt{zlib(dpkg)}, true},
		{"lower, replaced above", []fixture.Layer{{statusFile}, {dpkgLink}, {{Path: stored, Data: other}}}, []pkgAt{zlib(dpkg)}, true},
		{"chain", []fixture.Layer{{statusFile}, {{Path: "opt/status", HardLink: stored}}, {{Path: dpkg, HardLink: "opt/status"}}, {fixture.Whiteout(stored), fixture.Whiteout("opt/status")}}, []pkgAt{zlib(dpkg)}, true},
		{"link replaced above", []fixture.Layer{{statusFile}, {dpkgLink}, {{Path: dpkg, Data: other}}}, []pkgAt{{"other", "deb", "/" + dpkg}}, true},
		{"link deleted above", []fixture.Layer{{statusFile}, {dpkgLink}, {fixture.Whiteout(dpkg)}}, nil, true},
		{"link to nothing", []fixture.Layer{{{Path: "etc/hostname", Data: []byte("x\n")}}, {dpkgLink}}, nil, false},
		{"link to a directory", []fixture.Layer{{{Path: "usr/share/fixture/status", Dir: true}}, {dpkgLink}}, nil, false},
		{"link through a lower symbolic link", []fixture.Layer{{statusFile, {Path: "data", Link: "usr/share/fixture"}}, {{Path: dpkg, HardLink: "data/status"}}, {fixture.Whiteout(stored)}}, []pkgAt{zlib(dpkg)}, true},
		{"Go binary, lower", []fixture.Layer{{binFile}, {binLink}}, append(goPkgs(goBin), goPkgs(goLink)...), true},
		{"Go binary, lower, deleted above", []fixture.Layer{{binFile}, {binLink}, {fixture.Whiteout(goBin)}}, goPkgs(goLink), true},
		{"Go binary, lower, deleted by the link's layer", []fixture.Layer{{binFile}, {binLink, fixture.Whiteout(goBin)}}, goPkgs(goLink), false},
	}
	p := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, res := writeLayout(t, fixture.Spec{Images: []fixture.Image{{Platform: p, Layers: tt.layers}}})
			r := scan(t, dir, res.Manifests[0], Options{Formats: Formats()})
			got := syftPackagesAt(t, doc(t, r, SyftJSON))
			want := slices.Clone(tt.want)
			slices.SortFunc(want, comparePkgAt)
			if !slices.Equal(got, want) {
				t.Errorf("packages\n%v\nwant\n%v", got, want)
			}
			if len(r.Unreadable) > 0 {
				t.Errorf("unreadable: %v", r.Unreadable)
			}
			again := scan(t, dir, res.Manifests[0], Options{Formats: Formats()})
			for i := range r.Documents {
				if !bytes.Equal(r.Documents[i].Data, again.Documents[i].Data) {
					t.Errorf("%s: two scans differ", r.Documents[i].Format)
				}
			}
			if !tt.rootfs {
				return
			}
			root := t.TempDir()
			if err := fixture.WriteRootfs(root, tt.layers...); err != nil {
				t.Fatal(err)
			}
			d, err := newGen(t, Options{Formats: []Format{SyftJSON}}).Dir(context.Background(), root)
			if err != nil {
				t.Fatal(err)
			}
			if fromDir := syftPackagesAt(t, doc(t, d, SyftJSON)); !slices.Equal(got, fromDir) {
				t.Errorf("image packages\n%v\nunpacked root filesystem's\n%v", got, fromDir)
			}
		})
	}
}

// TestHardLinkPrefixGlobs: the links adopted are seen the same with
// stereoscope's glob search and with the prefix index.
func TestHardLinkPrefixGlobs(t *testing.T) {
	status := []byte("Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13.dfsg-1\nDescription: fixture\n\n")
	spec := fixture.Spec{Images: []fixture.Image{{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Layers: []fixture.Layer{
		{{Path: "usr/share/fixture/status", Data: status}},
		{{Path: "var/lib/dpkg/status", HardLink: "usr/share/fixture/status"}},
		{fixture.Whiteout("usr/share/fixture/status")},
	}}}}
	dir, res := writeLayout(t, spec)
	docs := map[bool][]byte{}
	for _, own := range []bool{false, true} {
		g := newGen(t, Options{Formats: []Format{SyftJSON}})
		g.stereoscopeGlobs = own
		r, err := g.Image(context.Background(), openLayout(t, dir), res.Manifests[0])
		if err != nil {
			t.Fatal(err)
		}
		if r.Packages["deb"] != 1 {
			t.Errorf("stereoscope globs %v: packages %v", own, r.Packages)
		}
		docs[own] = doc(t, r, SyftJSON)
	}
	if !bytes.Equal(docs[false], docs[true]) {
		t.Error("the documents with stereoscope's globs and with the prefix index differ")
	}
}
