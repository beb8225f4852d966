package sbomgen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	stereofile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/filetree"
	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
	"github.com/anchore/syft/syft/source/directorysource"
	"github.com/anchore/syft/syft/source/stereoscopesource"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/sbomgen/internal/manypkgs"
)

// globSpy records the basename globs asked of its index.
type globSpy struct {
	filetree.IndexReader
	globs *[]string
}

func (s globSpy) GetByBasenameGlob(globs ...string) ([]filetree.IndexEntry, error) {
	*s.globs = append(*s.globs, strings.Join(globs, " "))
	return s.IndexReader.GetByBasenameGlob(globs...)
}

// entryKeys returns entries as "ID PATH", sorted: stereoscope's index
// returns the basenames in random order.
func entryKeys(entries []filetree.IndexEntry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%d %s", e.ID(), e.RealPath))
	}
	slices.Sort(out)
	return out
}

// TestPrefixIndex: a prefixIndex gives the entries stereoscope's index
// gives for every glob (the same errors for those it rejects), and answers
// itself those with a literal prefix.
func TestPrefixIndex(t *testing.T) {
	idx := filetree.NewIndex()
	for _, p := range []string{
		"/var/lib/dpkg/info/libc6:amd64.md5sums", "/var/lib/dpkg/info/libc6:amd64.list",
		"/var/lib/dpkg/info/libc6.md5sums", "/var/lib/dpkg/info/libc6-dev.list", "/var/lib/dpkg/info/libc6",
		"/var/lib/dpkg/info/libc6.", "/var/lib/dpkg/info/libc", "/var/lib/dpkg/info/g++-12.list",
		"/var/lib/dpkg/info/zlib1g.list", "/usr/share/info/libc6.info", "/a/libc6.md5sums", // a basename twice
		"/var/lib/dpkg/info/.hidden.list", "/x/a,b.list", "/x/a]b.list", "/x/a}b.list", "/x/a!b.list",
		"/x/caf\u00e9.list", "/x/caf\xff.list", "/x/\u00e9t\u00e9.list", "/x/a*b.list", "/x/a?b.list", "/x/a[b.list",
		"/x/a\\b.list", "/",
	} {
		idx.Add(*stereofile.NewFileReference(stereofile.Path(p)), stereofile.Metadata{Path: p, Type: stereofile.TypeRegular})
	}
	for _, c := range []struct {
		globs     []string
		rewritten bool // answered by the prefixIndex, not the index
	}{
		{[]string{"libc6.*"}, true},
		{[]string{"libc6:amd64.*"}, true},
		{[]string{"libc6-dev.*"}, true},
		{[]string{"g++-12.*"}, true},
		{[]string{"libc6*"}, true},
		{[]string{"libc6.*", "libc6*"}, true}, // entries of both, some twice
		{[]string{"libc6.[lm]*"}, true},
		{[]string{"libc6.{list,md5sums}"}, true},
		{[]string{"lib?6.*"}, true},
		{[]string{"libc6.md5sums"}, true},
		{[]string{"nothing.*"}, true},
		{[]string{".hidden.*"}, true},
		{[]string{"a,b.*"}, true}, // prefix "a": ',', ']' and '}' end it, though literal here
		{[]string{"a]b.*"}, true},
		{[]string{"a}b.*"}, false}, // invalid to doublestar
		{[]string{"a!b.*"}, true},
		{[]string{"caf\u00e9.*"}, true},      // prefix "caf"
		{[]string{"caf\xff.*"}, true},        // prefix "caf"
		{[]string{"\u00e9t\u00e9.*"}, false}, // no ASCII prefix
		{[]string{"a\\*b.*"}, true},          // prefix "a"
		{[]string{"\\*"}, false},
		{[]string{"*.list"}, false},
		{[]string{"*"}, false},
		{[]string{"?ibc6.*"}, false},
		{[]string{"[l]ibc6.*"}, false},
		{[]string{"{libc6,zlib1g}.*"}, false},
		{[]string{"libc6.*", "*.list"}, true}, // the second from the index
		{[]string{}, false},
		{[]string{""}, false},
		// Rejected by stereoscope, with its error.
		{[]string{"libc6/*"}, false},
		{[]string{"libc6**"}, false},
		{[]string{"libc6.[*"}, false},
		{[]string{"libc6.*", "a/b"}, false},
	} {
		t.Run(strings.Join(c.globs, " "), func(t *testing.T) {
			want, wantErr := idx.GetByBasenameGlob(c.globs...)
			var asked []string
			got, err := newPrefixIndex(globSpy{idx, &asked}).GetByBasenameGlob(c.globs...)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("error %v, want %v", err, wantErr)
			}
			if g, w := entryKeys(got), entryKeys(want); !slices.Equal(g, w) {
				t.Errorf("entries\n%v\nwant\n%v", g, w)
			}
			// A fresh prefixIndex first lists the basenames ("*"), then
			// asks the index for each glob it does not answer itself.
			if rewritten := len(asked) > 0 && asked[0] == "*" && len(asked)-1 < len(c.globs); rewritten != c.rewritten {
				t.Errorf("rewritten %v (index asked %q), want %v", rewritten, asked, c.rewritten)
			}
		})
	}
	t.Run("listing fails", func(t *testing.T) {
		x := newPrefixIndex(failingIndex{idx})
		want, _ := idx.GetByBasenameGlob("libc6.*")
		got, err := x.GetByBasenameGlob("libc6.*")
		if err != nil || !slices.Equal(entryKeys(got), entryKeys(want)) {
			t.Errorf("got %v, %v", entryKeys(got), err)
		}
	})
}

// failingIndex fails the glob "*" (the listing of basenames).
type failingIndex struct{ filetree.IndexReader }

func (x failingIndex) GetByBasenameGlob(globs ...string) ([]filetree.IndexEntry, error) {
	if slices.Equal(globs, []string{"*"}) {
		return nil, errors.New("no listing")
	}
	return x.IndexReader.GetByBasenameGlob(globs...)
}

// TestPrefixIndexRandom compares a prefixIndex with the index on random
// globs over random basenames of a small alphabet.
func TestPrefixIndexRandom(t *testing.T) {
	idx := filetree.NewIndex()
	const alphabet = "ab.:-+"
	name := func(i, n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[i%len(alphabet)])
			i /= len(alphabet)
		}
		return b.String()
	}
	for i := range 2000 {
		p := fmt.Sprintf("/d%d/%s", i%3, name(i*7919, 1+i%6))
		idx.Add(*stereofile.NewFileReference(stereofile.Path(p)), stereofile.Metadata{Path: p})
	}
	x := newPrefixIndex(idx)
	ops := []string{"*", "?", "[ab]", "{a,b.}", ""}
	for i := range 3000 {
		g := name(i*104729, i%4) + ops[i%len(ops)] + name(i*31, (i/5)%3)
		want, wantErr := idx.GetByBasenameGlob(g)
		got, err := x.GetByBasenameGlob(g)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || !slices.Equal(entryKeys(got), entryKeys(want)) {
			t.Fatalf("glob %q: %d entries (%v), want %d (%v)", g, len(got), err, len(want), wantErr)
		}
	}
}

// dpkgStatus returns a dpkg status database of packages name:arch.
func dpkgStatus(pkgs ...string) []byte {
	var b strings.Builder
	for _, p := range pkgs {
		name, arch, _ := strings.Cut(p, ":")
		if arch == "" {
			arch = "all"
		}
		fmt.Fprintf(&b, "Package: %s\nStatus: install ok installed\nArchitecture: %s\nVersion: 1.0-1\nMaintainer: Fixture <fixture@example.invalid>\nDescription: %s\n\n", name, arch, name)
	}
	return []byte(b.String())
}

// globSpec returns a layout of two images whose dpkg databases have
// what a basename glob's answer depends on: info files that are links
// (within the directory, out of it, dangling, looping), deleted by a
// whiteout or an opaque directory, overwritten by an upper layer, a
// directory named like a package's files, names sharing a prefix, a
// directory reached through a link, distroless status.d; and, in the
// arm64 image, /var/lib/dpkg a link.
func globSpec() fixture.Spec {
	f := func(p, data string) fixture.File { return fixture.File{Path: p, Data: []byte(data)} }
	link := func(p, target string) fixture.File { return fixture.File{Path: p, Link: target} }
	sums := func(paths ...string) string {
		var b strings.Builder
		for i, p := range paths {
			fmt.Fprintf(&b, "%032x  %s\n", i, p)
		}
		return b.String()
	}
	info := "var/lib/dpkg/info/"
	base := fixture.Layer{
		f("etc/os-release", fixture.DebianOSRelease),
		{Path: "var/lib/dpkg/status", Data: dpkgStatus("libc6:amd64", "zlib1g")},
		f(info+"libc6:amd64.md5sums", sums("usr/lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libm.so.6")),
		f(info+"libc6:amd64.list", "/usr/lib/x86_64-linux-gnu/libc.so.6\n"),
		f(info+"libc6:amd64.conffiles", "/etc/ld.so.conf\n"),
		f(info+"libc6-dev.md5sums", sums("usr/include/stdio.h")),
		f(info+"libc6.1.list", "/usr/lib/libc6.1\n"),
		f(info+"zlib1g.md5sums", sums("usr/lib/x86_64-linux-gnu/libz.so.1")),
		f(info+"zlib1g.list", "/usr/lib/x86_64-linux-gnu/libz.so.1\n"),
		link(info+"alias.list", "libc6:amd64.list"),
		link(info+"alias.md5sums", "/var/lib/dpkg/info/zlib1g.md5sums"),
		link(info+"linked.md5sums", "/opt/real/linked.sums"),
		f("opt/real/linked.sums", sums("opt/real/linked.bin")),
		f("opt/real/linked.bin", "linked\n"),
		link(info+"dangling.md5sums", "/opt/hidden/d.sums"),
		f("opt/hidden/d.sums", sums("opt/hidden/d.bin")),
		f(info+"gone.md5sums", sums("usr/bin/gone")),
		f(info+"sub.d/x", "x\n"),
		link(info+"loop.list", "loop.list"),
		f("usr/share/doc/libc6/copyright", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: LGPL-2.1\n"),
		f("usr/share/doc/zlib1g/copyright", "License: Zlib\n"),
		f("usr/share/info/libc6.info", "info\n"),
		f("usr/lib/x86_64-linux-gnu/libc.so.6", "libc\n"),
		f("usr/lib/x86_64-linux-gnu/libm.so.6", "libm\n"),
		f("usr/lib/x86_64-linux-gnu/libz.so.1", "libz\n"),
		f("usr/include/stdio.h", "stdio\n"),
		link("lib", "usr/lib"),
		link("etc/dpkg-info", "/var/lib/dpkg/info"),
		{Path: "var/lib/dpkg/status.d/tzdata", Data: dpkgStatus("tzdata")},
		f("var/lib/dpkg/status.d/tzdata.md5sums", sums("usr/share/zoneinfo/UTC")),
		f("usr/share/zoneinfo/UTC", "TZif\n"),
	}
	upper := fixture.Layer{
		fixture.Whiteout(info + "gone.md5sums"),
		fixture.Opaque("opt/hidden"),
		f("opt/hidden/other", "other\n"),
		{Path: "var/lib/dpkg/status", Data: dpkgStatus("libc6:amd64", "libc6-dev", "zlib1g", "alias", "linked", "dangling", "gone", "sub", "loop", "new", "nothing")},
		f(info+"zlib1g.list", "/usr/lib/x86_64-linux-gnu/libz.so.1\n/usr/lib/x86_64-linux-gnu/libz.so.1.3\n"),
		f(info+"new.md5sums", sums("usr/bin/new")),
		f("usr/bin/new", "new\n"),
		f("usr/share/doc/new/copyright", "License: MIT\n"),
	}
	real := "usr/lib/dpkg-real/"
	linked := fixture.Layer{
		f("etc/os-release", fixture.DebianOSRelease),
		{Path: real + "status", Data: dpkgStatus("base", "extra:arm64")},
		f(real+"info/base.md5sums", sums("usr/bin/base")),
		f(real+"info/extra:arm64.list", "/usr/bin/extra\n"),
		f("usr/bin/base", "base\n"),
		link("var/lib/dpkg", "../../usr/lib/dpkg-real"),
	}
	return fixture.Spec{Images: []fixture.Image{
		{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Layers: []fixture.Layer{base, upper}},
		{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64"}, Layers: []fixture.Layer{linked}},
	}}
}

var globLayout sharedLayout

// globImages returns the (shared, read-only) layout of globSpec.
func globImages(t testing.TB) (string, *fixture.Result) {
	return globLayout.get(t, "globs", func() (fixture.Spec, error) { return globSpec(), nil })
}

// globCases are the patterns the resolvers are compared on, and whether
// their search reaches a basename glob with a literal prefix (which the
// prefixIndex answers itself).
var globCases = []struct {
	pattern   string
	rewritten bool
}{
	{"/var/lib/dpkg/info/libc6.*", true},
	{"/var/lib/dpkg/info/libc6:amd64.*", true},
	{"/var/lib/dpkg/info/libc6-dev.*", true},
	{"/var/lib/dpkg/info/zlib1g.*", true},
	{"/var/lib/dpkg/info/alias.*", true},
	{"/var/lib/dpkg/info/linked.*", true},
	{"/var/lib/dpkg/info/dangling.*", true},
	{"/var/lib/dpkg/info/gone.*", true},
	{"/var/lib/dpkg/info/sub.*", true},
	{"/var/lib/dpkg/info/loop.*", true},
	{"/var/lib/dpkg/info/new.*", true},
	{"/var/lib/dpkg/info/nothing.*", true},
	{"/var/lib/dpkg/info/base.*", true},
	{"/var/lib/dpkg/info/extra:arm64.*", true},
	{"/usr/lib/dpkg-real/info/base.*", true},
	{"/var/lib/dpkg/status.d/tzdata.*", true},
	{"/etc/dpkg-info/libc6.*", true},
	{"/etc/dpkg-info/zlib1g.*", true},
	{"**/libc6.*", true},
	{"**/var/lib/dpkg/info/libc6.*", true},
	{"/var/lib/dpkg/info/lib?6.*", true},
	{"/var/lib/dpkg/info/libc6.[lm]*", true},
	{"/var/lib/dpkg/info/libc6*", true},
	{"**/python*", true},
	{"/var/lib/dpkg/info/{libc6,zlib1g}.*", false},
	{"/var/lib/dpkg/info/*", false},
	{"/var/lib/dpkg/info/*.md5sums", false},
	{"**/*.list", false},
	{"**/*", false},
	{"/var/lib/dpkg/info/libc6:amd64.md5sums", false},
	{"/var/lib/dpkg/info/libc6\\:amd64.*", false},
	{"/usr/share/doc/*/copyright", false},
	{"**/lib/dpkg/status", false},
	{"**/lib/dpkg/status.d/*", false},
}

// readSquash reads the image m of the layout dir as scanImage does
// (without usePrefixGlobs).
func readSquash(t *testing.T, dir string, m ocispec.Descriptor) *image.Image {
	t.Helper()
	ctx := context.Background()
	l := openLayout(t, dir)
	img, err := readImage(ctx, l, m)
	if err != nil {
		t.Fatal(err)
	}
	v1img, err := img.v1Image(ctx, l, 0)
	if err != nil {
		t.Fatal(err)
	}
	simg := image.New(v1img, stereofile.NewTempDirGenerator("affix-sbomgen-test"), t.TempDir(),
		image.WithManifest(img.rawMan), image.WithConfig(img.rawCfg), image.WithManifestDigest(img.desc.Digest.String()))
	t.Cleanup(func() { simg.Cleanup() })
	if err := simg.Read(image.WithLazyLayerSquashes(ctx)); err != nil {
		t.Fatal(err)
	}
	return simg
}

// locations renders ls with everything syft keeps of them.
func locations(ls []file.Location, err error) string {
	var b strings.Builder
	for _, l := range ls {
		ref := l.Reference()
		fmt.Fprintf(&b, "%s <- %s (%s, ref %s) %v\n", l.RealPath, l.AccessPath, l.FileSystemID, ref.String(), l.Annotations)
	}
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
	}
	return b.String()
}

// TestPrefixGlobsImage: syft's squashed-image resolver answers every
// pattern the same with the image's search context and with the one
// usePrefixGlobs gives it (the same locations, in the same order, the same
// access and real paths), and the prefixIndex answers the basename globs
// with a literal prefix.
func TestPrefixGlobsImage(t *testing.T) {
	dir, res := globImages(t)
	for i, m := range res.Manifests {
		t.Run(m.Platform.Architecture, func(t *testing.T) {
			simg := readSquash(t, dir, m)
			stock := simg.SquashedSearchContext
			usePrefixGlobs(simg)
			prefix := simg.SquashedSearchContext
			if prefix == stock {
				t.Fatal("usePrefixGlobs left the search context")
			}
			// The same, with spies around and within the prefixIndex.
			var outer, inner []string
			fc := simg.FileCatalog.(*image.FileCatalog)
			spied := filetree.NewSearchContext(simg.SquashedTree(), globSpy{newPrefixIndex(globSpy{fc.Index, &inner}), &outer})

			src := stereoscopesource.New(simg, stereoscopesource.ImageConfig{Reference: "test"})
			r, err := src.FileResolver(source.SquashedScope)
			if err != nil {
				t.Fatal(err)
			}
			var found int
			for _, c := range globCases {
				simg.SquashedSearchContext = stock
				want := locations(r.FilesByGlob(c.pattern))
				t.Logf("%s:\n%s", c.pattern, want)
				simg.SquashedSearchContext = prefix
				got := locations(r.FilesByGlob(c.pattern))
				if got != want {
					t.Errorf("%s:\n%s\nwant\n%s", c.pattern, got, want)
				}
				simg.SquashedSearchContext = spied
				outer, inner = nil, nil
				if spiedGot := locations(r.FilesByGlob(c.pattern)); spiedGot != want {
					t.Errorf("%s (spied):\n%s\nwant\n%s", c.pattern, spiedGot, want)
				}
				delegated := slices.ContainsFunc(inner, func(g string) bool { return g != "*" })
				if rewritten := len(outer) > 0 && !delegated; rewritten != c.rewritten {
					t.Errorf("%s: rewritten %v (asked %q, index asked %q), want %v", c.pattern, rewritten, outer, inner, c.rewritten)
				}
				if i == 0 && strings.HasPrefix(c.pattern, "/var/lib/dpkg/info/") && want != "" {
					found++
				}
			}
			if i == 0 && found < 8 {
				t.Errorf("only %d info patterns found something: the fixture tests little", found)
			}
		})
	}
}

// TestPrefixGlobsDir: the same for syft's directory resolver, on the
// amd64 image's filesystem written to a directory.
func TestPrefixGlobsDir(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	writeRootfs(t, root, globSpec().Images[0].Layers)
	src, err := directorysource.New(directorysource.Config{Path: root, Base: root})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		t.Fatal(err)
	}
	field := reflect.ValueOf(r).Elem().FieldByName("SearchContext")
	stock := field.Interface()
	if !useDirPrefixGlobs(r) {
		t.Fatal("useDirPrefixGlobs did not apply to syft's directory resolver")
	}
	prefix := field.Interface()
	if prefix == stock {
		t.Fatal("useDirPrefixGlobs left the search context")
	}
	if r2, _ := src.FileResolver(source.SquashedScope); reflect.ValueOf(r2).Elem().FieldByName("SearchContext").Interface() != prefix {
		t.Fatal("the source's resolver is another one")
	}
	for _, c := range globCases {
		field.Set(reflect.ValueOf(stock))
		want := locations(r.FilesByGlob(c.pattern))
		t.Logf("%s:\n%s", c.pattern, want)
		field.Set(reflect.ValueOf(prefix))
		got := locations(r.FilesByGlob(c.pattern))
		if got != want {
			t.Errorf("%s:\n%s\nwant\n%s", c.pattern, got, want)
		}
	}
	if useDirPrefixGlobs(confinedResolver{Resolver: r}) {
		t.Error("useDirPrefixGlobs applied to another resolver")
	}
}

// TestPrefixGlobsSameDocuments: every fixture's documents, in every
// format, are the same bytes with basename globs answered by the
// prefixIndex and by stereoscope, for images and directories.
func TestPrefixGlobsSameDocuments(t *testing.T) {
	type layout struct {
		name string
		get  func(testing.TB) (string, *fixture.Result)
	}
	layouts := []layout{{"globs", globImages}, {"standard", standard}, {"variants", variants}}
	if !testing.Short() {
		layouts = append(layouts, layout{"many-owned-files", func(t testing.TB) (string, *fixture.Result) { return many(t, "owned-files") }})
	}
	gens := func(t *testing.T) (stock, prefix *Generator) {
		stock, prefix = newGen(t, Options{Formats: Formats()}), newGen(t, Options{Formats: Formats()})
		stock.stereoscopeGlobs = true
		return stock, prefix
	}
	compare := func(t *testing.T, a, b *Result) {
		t.Helper()
		if len(a.Documents) != len(Formats()) || len(b.Documents) != len(a.Documents) {
			t.Fatalf("%d and %d documents", len(a.Documents), len(b.Documents))
		}
		for i, d := range a.Documents {
			if !bytes.Equal(d.Data, b.Documents[i].Data) {
				t.Errorf("%s: the documents differ", d.Format)
			}
			t.Logf("%s sha256:%x (%d bytes)", d.Format, sha256.Sum256(d.Data), len(d.Data))
		}
		t.Logf("%s", a.PackageSummary())
	}
	for _, l := range layouts {
		dir, res := l.get(t)
		for _, m := range res.Manifests {
			t.Run(l.name+"/"+platformString(m.Platform), func(t *testing.T) {
				stock, prefix := gens(t)
				a := scanWith(t, stock, dir, m)
				b := scanWith(t, prefix, dir, m)
				compare(t, a, b)
			})
		}
	}
	dirs := map[string]func(t *testing.T, root string){
		"globs/amd64": func(t *testing.T, root string) { writeRootfs(t, root, globSpec().Images[0].Layers) },
		"globs/arm64": func(t *testing.T, root string) { writeRootfs(t, root, globSpec().Images[1].Layers) },
		"standard/amd64": func(t *testing.T, root string) {
			dir, res := standard(t)
			extract(t, dir, res.Manifests[0], root)
		},
	}
	for name, write := range dirs {
		t.Run("dir/"+name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			write(t, root)
			stock, prefix := gens(t)
			ctx := context.Background()
			a, err := stock.Dir(ctx, root)
			if err != nil {
				t.Fatal(err)
			}
			b, err := prefix.Dir(ctx, root)
			if err != nil {
				t.Fatal(err)
			}
			compare(t, a, b)
		})
	}
}

// platformString returns p as os/arch[/variant].
func platformString(p *ocispec.Platform) string {
	if p == nil {
		return "unknown"
	}
	return path.Join(p.OS, p.Architecture, p.Variant)
}

// scanWith scans m of the layout dir with g.
func scanWith(t testing.TB, g *Generator, dir string, m ocispec.Descriptor) *Result {
	t.Helper()
	r, err := g.Image(context.Background(), openLayout(t, dir), m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// globBenchLayouts are the images BenchmarkDpkgGlobs scans: 3000 dpkg
// packages owning 6000 or 48000 files, each file with a name of its own.
var globBenchLayouts = map[string]*sharedLayout{"3000pkgs-6000files": {}, "3000pkgs-48000files": {}}

var globBenchCounts = map[string]manypkgs.Counts{
	"3000pkgs-6000files":  {Deb: 3000, FilesPerDeb: 2, DistinctNames: true},
	"3000pkgs-48000files": {Deb: 3000, FilesPerDeb: 16, DistinctNames: true},
}

// BenchmarkDpkgGlobs scans (SPDX, after a warm-up scan) the images of
// globBenchCounts with basename globs answered by stereoscope's index and
// by the prefixIndex.
func BenchmarkDpkgGlobs(b *testing.B) {
	for _, name := range []string{"3000pkgs-6000files", "3000pkgs-48000files"} {
		for _, globs := range []string{"stereoscope", "prefix"} {
			b.Run(name+"/"+globs, func(b *testing.B) {
				dir, res := globBenchLayouts[name].get(b, "globs-"+name, func() (fixture.Spec, error) { return manypkgs.Spec(globBenchCounts[name]), nil })
				l := openLayout(b, dir)
				g := newGen(b, Options{Formats: []Format{SPDXJSON}})
				g.stereoscopeGlobs = globs == "stereoscope"
				ctx := context.Background()
				if _, err := g.Image(ctx, l, res.Manifests[0]); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := g.Image(ctx, l, res.Manifests[0]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// writeRootfs writes layers into root (fixture.WriteRootfs), failing t.
func writeRootfs(t *testing.T, root string, layers []fixture.Layer) {
	t.Helper()
	if err := fixture.WriteRootfs(root, layers...); err != nil {
		t.Fatal(err)
	}
}
