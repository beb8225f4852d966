//go:build unix

package sbomgen

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	stereofile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/filetree"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
	"github.com/moby/sys/mountinfo"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/sbomgen/internal/manypkgs"
)

// escapeRoot is a small Debian root filesystem (two dpkg packages) with,
// when escaping, links that the host resolves out of it: proc -> /proc and
// psr -> /proc/self/root, which the host resolves to its own root.
func escapeRoot(escaping bool) []fixture.Layer {
	l := fixture.Layer{
		{Path: "etc/os-release", Data: []byte(fixture.DebianOSRelease)},
		{Path: "var/lib/dpkg/status", Data: dpkgStatus("libc6:amd64", "zlib1g")},
	}
	if escaping {
		l = append(l, fixture.File{Path: "proc", Link: "/proc"}, fixture.File{Path: "psr", Link: "/proc/self/root"})
	}
	return []fixture.Layer{l}
}

// treePaths returns the paths in the tree of r, a resolver of syft's
// directory source.
func treePaths(t *testing.T, r file.Resolver) []string {
	t.Helper()
	f, ok := dirResolverFieldsOf(r)
	if !ok {
		t.Fatalf("%T is not syft's directory resolver", r)
	}
	var out []string
	for _, ref := range f.tree.Interface().(filetree.Reader).AllFiles(stereofile.AllTypes()...) {
		out = append(out, string(ref.RealPath))
	}
	slices.Sort(out)
	return out
}

// outsideRoot returns the paths of paths neither root, nor under it, nor
// one of its ancestors (the tree holds those of the root as directories).
func outsideRoot(root string, paths []string) []string {
	var out []string
	for _, p := range paths {
		if p == root || strings.HasPrefix(p, root+"/") || p == "/" || strings.HasPrefix(root, p+"/") {
			continue
		}
		out = append(out, p)
	}
	return out
}

// lexicalEntries returns the paths under root, root included, found by a
// walk that follows no link, less those indexDir leaves out (devices,
// sockets, FIFOs: none in these tests).
func lexicalEntries(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		out = append(out, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// realRoot returns root with its links resolved, as indexDir walks it.
func realRoot(t *testing.T, root string) string {
	t.Helper()
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	return real
}

// TestDirIndexEscapingLinks: links that the host resolves out of the
// root (to the host's root, its /proc, its /etc; up a relative chain;
// round a loop) are resolved within the root: the scan lists only the
// root's packages, and neither syft's walk (of the root alone) nor
// indexDir's looked at any path outside it (the resolver's tree holds
// the root's entries, each once, and the root's ancestors alone).
func TestDirIndexEscapingLinks(t *testing.T) {
	outside := t.TempDir()
	if err := fixture.WriteRootfs(outside, fixture.Layer{
		{Path: "app/node_modules/outside/package.json", Data: []byte(`{"name":"outside","version":"6.6.6"}`)},
	}); err != nil {
		t.Fatal(err)
	}
	base := fixture.Layer{
		{Path: "etc/os-release", Data: []byte(fixture.DebianOSRelease)},
		{Path: "var/lib/dpkg/status", Data: dpkgStatus("libc6:amd64", "zlib1g")},
		{Path: "app/node_modules/inside/package.json", Data: []byte(`{"name":"inside","version":"1.0.0"}`)},
	}
	want := []string{"inside 1.0.0 npm", "libc6 1.0-1 deb", "zlib1g 1.0-1 deb"}
	link := func(p, target string) fixture.File { return fixture.File{Path: p, Link: target} }
	tests := []struct {
		name  string
		links fixture.Layer
		want  []string // nil: want
	}{
		{"proc", fixture.Layer{link("proc", "/proc"), link("psr", "/proc/self/root")}, nil},
		{"host-root-chain", fixture.Layer{link("y", "/"), link("x", "/y/etc"), link("z", "/y"+outside+"/app")}, nil},
		{"dotdot", fixture.Layer{link("up", "../../.."), link("app/up", "../../../../../.."), link("app/out", "../../../../../../.."+outside+"/app")}, nil},
		{"loop", fixture.Layer{link("l1", "l2"), link("l2", "/l1"), link("self", "self"), link("app/here", "."), link("app/node_modules/ring", "../../app")}, nil},
		// x is the root itself: its files are found once, at their
		// own paths.
		{"chain-in-root", fixture.Layer{link("y", "/"), link("x", "/y")}, nil},
		{"outside-absolute", fixture.Layer{link("o", outside+"/app")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			if err := fixture.WriteRootfs(root, base, tt.links); err != nil {
				t.Fatal(err)
			}
			r, err := newGen(t, Options{Formats: []Format{SyftJSON}}).Dir(context.Background(), root)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for k := range syftPackages(t, doc(t, r, SyftJSON)) {
				got = append(got, fmt.Sprintf("%s %s %s", k.Name, k.Version, k.Type))
			}
			slices.Sort(got)
			w := tt.want
			if w == nil {
				w = want
			}
			if !slices.Equal(got, w) {
				t.Errorf("packages %q, want %q", got, w)
			}

			real := realRoot(t, root)
			stub, sr, err := rootOnlySource(root, source.Alias{Name: "x"})
			if err != nil || sr == nil {
				t.Fatalf("rootOnlySource: %v", err)
			}
			defer stub.Close()
			if p := treePaths(t, sr); !slices.Contains(p, real) || len(outsideRoot(real, p)) > 0 || len(p) > strings.Count(real, "/")+1 {
				t.Errorf("syft's walk of the root alone indexed %q", p)
			}

			src, err := dirSource(context.Background(), root, source.Alias{Name: "x"}, true)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			res, err := src.FileResolver(source.SquashedScope)
			if err != nil {
				t.Fatal(err)
			}
			paths := treePaths(t, res)
			if out := outsideRoot(real, paths); len(out) > 0 {
				t.Errorf("indexed outside the root: %q", out)
			}
			var in []string
			for _, p := range paths {
				if p == real || strings.HasPrefix(p, real+"/") {
					in = append(in, p)
				}
			}
			if lex := lexicalEntries(t, real); !slices.Equal(in, lex) {
				t.Errorf("indexed in the root\n%q\nwant\n%q", in, lex)
			}
		})
	}
}

// TestDirIndexSyftWalkEscapes: syft's own indexer, given the root of the
// host-root-chain case, indexes the host's /etc (what
// TestDirIndexEscapingLinks checks its absence of).
func TestDirIndexSyftWalkEscapes(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	if err := fixture.WriteRootfs(root, fixture.Layer{
		{Path: "etc/os-release", Data: []byte(fixture.DebianOSRelease)},
		{Path: "y", Link: "/"},
		{Path: "x", Link: "/y/etc"},
	}); err != nil {
		t.Fatal(err)
	}
	src, err := dirSource(context.Background(), root, source.Alias{Name: "x"}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		t.Fatal(err)
	}
	out := outsideRoot(realRoot(t, root), treePaths(t, r))
	if !slices.ContainsFunc(out, func(p string) bool { return strings.HasPrefix(p, "/etc/") }) {
		t.Errorf("syft's walk indexed outside the root only %q; want the host's /etc", out)
	}
}

// mergedUsr returns a root filesystem of the kind of a Debian image with
// merged /usr, its /lib and /bin links absolute or relative, with what
// is found through links: files a dpkg package owns under /lib and /bin,
// alternatives, node_modules/.bin, a Python virtual environment.
func mergedUsr(absolute bool) []fixture.Layer {
	f := func(p, data string) fixture.File { return fixture.File{Path: p, Data: []byte(data)} }
	link := func(p, target string) fixture.File { return fixture.File{Path: p, Link: target} }
	lib, bin := "usr/lib", "usr/bin"
	if absolute {
		lib, bin = "/usr/lib", "/usr/bin"
	}
	info := "var/lib/dpkg/info/"
	return []fixture.Layer{{
		f("etc/os-release", fixture.DebianOSRelease),
		{Path: "var/lib/dpkg/status", Data: dpkgStatus("libc6:amd64", "nano", "python3.11")},
		f(info+"libc6:amd64.md5sums", "00000000000000000000000000000001  lib/x86_64-linux-gnu/libc.so.6\n"),
		f(info+"libc6:amd64.list", "/lib/x86_64-linux-gnu/libc.so.6\n"),
		f(info+"nano.md5sums", "00000000000000000000000000000002  bin/nano\n"),
		f(info+"nano.list", "/bin/nano\n/usr/bin/editor\n"),
		f(info+"python3.11.list", "/usr/bin/python3.11\n"),
		f("usr/share/doc/libc6/copyright", "License: LGPL-2.1\n"),
		f("usr/share/doc/nano/copyright", "License: GPL-3\n"),
		f("usr/lib/x86_64-linux-gnu/libc.so.6", "libc\n"),
		f("usr/bin/nano", "nano\n"),
		f("usr/bin/python3.11", "python\n"),
		link("usr/bin/python3", "python3.11"),
		link("lib", lib),
		link("bin", bin),
		link("lib64", lib),
		link("etc/alternatives/editor", "/bin/nano"),
		link("usr/bin/editor", "/etc/alternatives/editor"),
		f("usr/lib/node_modules/cli/package.json", `{"name":"cli","version":"2.0.0","bin":{"cli":"bin/cli.js"}}`),
		f("usr/lib/node_modules/cli/bin/cli.js", "#!/usr/bin/env node\n"),
		link("usr/lib/node_modules/.bin/cli", "../cli/bin/cli.js"),
		link("usr/bin/cli", "/lib/node_modules/cli/bin/cli.js"),
		f("opt/venv/pyvenv.cfg", "home = /usr/bin\n"),
		link("opt/venv/bin/python", "/bin/python3"),
		link("opt/venv/bin/python3", "python"),
		link("opt/venv/lib64", "lib"),
		f("opt/venv/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n"),
		f("opt/venv/lib/python3.11/site-packages/requests-2.31.0.dist-info/RECORD", "requests/__init__.py,,\n"),
		f("opt/venv/lib/python3.11/site-packages/requests/__init__.py", "\n"),
	}}
}

// TestDirIndexMergedUsr: a merged-/usr root filesystem, its /lib and
// /bin links relative or absolute, gives every package, and the same
// documents, byte for byte, with sbomgen's index as with syft's.
func TestDirIndexMergedUsr(t *testing.T) {
	want := []string{"cli 2.0.0 npm", "libc6 1.0-1 deb", "nano 1.0-1 deb", "python3.11 1.0-1 deb", "requests 2.31.0 python"}
	for _, absolute := range []bool{false, true} {
		t.Run(map[bool]string{false: "relative", true: "absolute"}[absolute], func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			if err := fixture.WriteRootfs(root, mergedUsr(absolute)...); err != nil {
				t.Fatal(err)
			}
			own, syft := scanBothWays(t, root)
			var got []string
			for k := range syftPackages(t, doc(t, own, SyftJSON)) {
				got = append(got, fmt.Sprintf("%s %s %s", k.Name, k.Version, k.Type))
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("packages %q, want %q", got, want)
			}
			sameDocuments(t, own, syft)
			// The file dpkg lists at /lib is found, through the link.
			if d := doc(t, own, SyftJSON); !bytes.Contains(d, []byte(`"/lib/x86_64-linux-gnu/libc.so.6"`)) {
				t.Errorf("no /lib/x86_64-linux-gnu/libc.so.6 in the document")
			}
		})
	}
}

// TestDirIndexSameResolver: on the merged-/usr roots and the globs
// fixture's, syft's directory resolver answers the same, confined to the
// root, with sbomgen's index as with syft's: every location, with its
// metadata, and the files reached through links.
func TestDirIndexSameResolver(t *testing.T) {
	roots := map[string][]fixture.Layer{
		"merged-usr/relative": mergedUsr(false),
		"merged-usr/absolute": mergedUsr(true),
		"globs/amd64":         globSpec().Images[0].Layers,
		"globs/arm64":         globSpec().Images[1].Layers,
	}
	// paths lists ls as REAL <- ACCESS, and err.
	paths := func(ls []file.Location, err error) string {
		var b strings.Builder
		for _, l := range ls {
			fmt.Fprintf(&b, "%s <- %s; ", l.RealPath, l.AccessPath)
		}
		if err != nil {
			fmt.Fprintf(&b, "error: %v", err)
		}
		return b.String()
	}
	through := []string{"/lib/x86_64-linux-gnu/libc.so.6", "/bin/nano", "/usr/bin/editor", "/etc/alternatives/editor", "/usr/bin/cli",
		"/usr/lib/node_modules/.bin/cli", "/opt/venv/bin/python", "/opt/venv/bin/python3", "/opt/venv/lib64/python3.11/site-packages/requests/__init__.py",
		"/var/lib/dpkg/status", "/var/lib/dpkg/info/base.md5sums", "/etc/dpkg-info/zlib1g.list", "/var/lib/dpkg/info/alias.md5sums"}
	for name, layers := range roots {
		t.Run(name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			if err := fixture.WriteRootfs(root, layers...); err != nil {
				t.Fatal(err)
			}
			describe := func(ownIndex bool) string {
				src, err := dirSource(context.Background(), root, source.Alias{Name: "x"}, ownIndex)
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				csrc, err := newConfinedSource(src, root)
				if err != nil {
					t.Fatal(err)
				}
				r, err := csrc.FileResolver(source.SquashedScope)
				if err != nil {
					t.Fatal(err)
				}
				var lines []string
				for l := range r.AllLocations(context.Background()) {
					m, err := r.FileMetadataByLocation(l)
					if err != nil {
						t.Fatal(err)
					}
					lines = append(lines, fmt.Sprintf("%s %s %v %d %d:%d %q %q", l.RealPath, m.Type, m.Mode(), m.Size(), m.UserID, m.GroupID, m.MIMEType, m.LinkDestination))
				}
				slices.Sort(lines)
				for _, p := range through {
					lines = append(lines, p+": "+paths(r.FilesByPath(p)))
				}
				lines = append(lines, "**/*: "+paths(r.FilesByGlob("**/*")))
				return strings.Join(lines, "\n")
			}
			got, want := describe(true), describe(false)
			if got != want {
				t.Errorf("sbomgen's index:\n%s\nsyft's:\n%s", got, want)
			}
		})
	}
}

// TestDirIndexGlobCharsInRoot: a root whose path holds characters
// special in a glob, which defeat the exclusion of belowRoot (syft then
// indexes the root as it would), gives the same documents.
func TestDirIndexGlobCharsInRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "r[1]{a,b}*?")
	if err := fixture.WriteRootfs(root, mergedUsr(true)...); err != nil {
		t.Fatal(err)
	}
	own, syft := scanBothWays(t, root)
	sameDocuments(t, own, syft)
	if own.Packages["deb"] != 3 {
		t.Errorf("packages %v, want 3 deb", own.Packages)
	}
}

// TestDirIndexExclusionNotInherited: syft applies a source's exclusions
// (source.PathExcluder) inside the archives it finds too, where belowRoot
// would leave out an archive's top-level entries; the source a scan
// catalogs (confined) has none.
func TestDirIndexExclusionNotInherited(t *testing.T) {
	root := t.TempDir()
	src, err := dirSource(context.Background(), root, source.Alias{Name: "x"}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if e, ok := src.(source.PathExcluder); !ok || !slices.Equal(e.ExcludedPaths(), []string{belowRoot}) {
		t.Fatalf("%T: not syft's directory source with belowRoot excluded", src)
	}
	csrc, err := newConfinedSource(src, root)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := any(csrc).(source.PathExcluder); ok {
		t.Error("the confined source passes on the exclusion of belowRoot")
	}
}

// scanBothWays scans root with sbomgen's index and with syft's, in every
// format.
func scanBothWays(t *testing.T, root string) (own, syft *Result) {
	t.Helper()
	ctx := context.Background()
	g := newGen(t, Options{Formats: Formats()})
	own, err := g.Dir(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	g.syftWalk = true
	syft, err = g.Dir(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	return own, syft
}

// sameDocuments fails t unless a and b hold the same documents.
func sameDocuments(t *testing.T, a, b *Result) {
	t.Helper()
	if len(a.Documents) == 0 || len(a.Documents) != len(b.Documents) {
		t.Fatalf("%d and %d documents", len(a.Documents), len(b.Documents))
	}
	for i, d := range a.Documents {
		if !bytes.Equal(d.Data, b.Documents[i].Data) {
			t.Errorf("%s: the documents differ", d.Format)
		}
	}
	if !maps.Equal(a.Packages, b.Packages) || !slices.Equal(a.Unreadable, b.Unreadable) {
		t.Errorf("packages %v, unreadable %q; syft's index: %v, %q", a.Packages, a.Unreadable, b.Packages, b.Unreadable)
	}
}

// TestDirIndexSameDocuments: the fixtures' root filesystems (links and
// hard links included), written to directories, give the same documents,
// in every format, with sbomgen's index as with syft's.
func TestDirIndexSameDocuments(t *testing.T) {
	specs := []struct {
		name string
		spec func() (fixture.Spec, error)
	}{
		{"globs", func() (fixture.Spec, error) { return globSpec(), nil }},
		{"standard", func() (fixture.Spec, error) { return fixture.Standard(context.Background()) }},
		{"variants", func() (fixture.Spec, error) { return fixture.Variants(), nil }},
	}
	if !testing.Short() {
		specs = append(specs, struct {
			name string
			spec func() (fixture.Spec, error)
		}{"many-owned-files", func() (fixture.Spec, error) { return manypkgs.Spec(manyCounts["owned-files"]), nil }})
	}
	for _, sp := range specs {
		spec, err := sp.spec()
		if err != nil {
			t.Fatal(err)
		}
		for _, img := range spec.Images {
			t.Run(sp.name+"/"+platformString(&img.Platform), func(t *testing.T) {
				root := filepath.Join(t.TempDir(), "root")
				if err := fixture.WriteRootfs(root, img.Layers...); err != nil {
					t.Fatal(err)
				}
				own, syft := scanBothWays(t, root)
				sameDocuments(t, own, syft)
				t.Logf("%s", own.PackageSummary())
			})
		}
	}
}

// BenchmarkScanDirEscapingLinks scans (syft JSON, after a warm-up scan)
// the root of escapeRoot without and with its escaping links, and reports
// the peak live heap of the last scan. A scan that followed the links
// would walk the whole host filesystem: syft's own index (-syft-walk),
// minutes and gigabytes, is measured only with AFFIX_BENCH_SYFT_WALK=1.
func BenchmarkScanDirEscapingLinks(b *testing.B) {
	for _, name := range []string{"plain", "proc", "plain-syft-walk", "proc-syft-walk"} {
		b.Run(name, func(b *testing.B) {
			syftWalk := strings.HasSuffix(name, "-syft-walk")
			if syftWalk && os.Getenv("AFFIX_BENCH_SYFT_WALK") != "1" {
				b.Skip("AFFIX_BENCH_SYFT_WALK=1 not set")
			}
			root := b.TempDir()
			if err := fixture.WriteRootfs(root, escapeRoot(strings.HasPrefix(name, "proc"))...); err != nil {
				b.Fatal(err)
			}
			g := newGen(b, Options{Formats: []Format{SyftJSON}})
			g.syftWalk = syftWalk
			ctx := context.Background()
			if !syftWalk {
				if _, err := g.Dir(ctx, root); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			var peak uint64
			for b.Loop() {
				p := startPeakHeap(false)
				r, err := g.Dir(ctx, root)
				p.end()
				if err != nil {
					b.Fatal(err)
				}
				if r.Packages["deb"] != 2 {
					b.Fatalf("packages %v, want 2 deb", r.Packages)
				}
				peak = max(peak, p.max)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		})
	}
}

// TestMountSkipper: the paths skipped are those syft skips: under a
// mount point of a pseudo filesystem, and under /dev, /run and the like
// on a tmpfs; the most specific mount holding a path decides, and of
// mounts stacked on one mount point the one mounted last.
func TestMountSkipper(t *testing.T) {
	mounts := []*mountinfo.Info{
		{Mountpoint: "/", FSType: "ext4"},
		{Mountpoint: "/proc", FSType: "proc"},
		{Mountpoint: "/run", FSType: "tmpfs"},
		{Mountpoint: "/run/src/core/0", FSType: "overlay"},
		{Mountpoint: "/tmp", FSType: "tmpfs"},
		{Mountpoint: "/mnt", FSType: "sysfs"},
		{Mountpoint: "/mnt", FSType: "ext4"},
		{Mountpoint: "/srv", FSType: "ext4"},
		{Mountpoint: "/srv", FSType: "devtmpfs"},
	}
	s := mountSkipperOf(mounts)
	for p, want := range map[string]bool{
		"/":                      false,
		"/usr/lib":               false,
		"/proc":                  true,
		"/proc/self/root":        true,
		"/processes":             false,
		"/run":                   true,
		"/run/lock":              true,
		"/run/src/core/0":        false,
		"/run/src/core/0/usr":    false,
		"/run/src/core":          true,
		"/tmp/buildkit-mount123": false,
		"/mnt/x":                 false,
		"/srv/x":                 true,
	} {
		if got := s.skip(p); got != want {
			t.Errorf("skip(%s) = %v, want %v", p, got, want)
		}
	}
}
