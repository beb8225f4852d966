package archtest

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/affix-oci/affix"

// TestEnginesImportNoOther: no package of an engine (its non-test files,
// on every OS affix builds for) imports another engine, the commands
// (cmd/, internal/cli) or the plugin, directly or through the module's
// internal packages.
func TestEnginesImportNoOther(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	engines := []string{"frontend", "sbomgen", "exporter"}
	wiring := []string{"cmd", "internal/cli", "plugin"}
	under := func(pkg, dir string) bool {
		p := module + "/" + dir
		return pkg == p || strings.HasPrefix(pkg, p+"/")
	}
	// The whole module: a path may go through any package (the root
	// package too), not only internal ones.
	imports := packages(t, root, ".")
	for _, engine := range engines {
		for pkg := range imports {
			if !under(pkg, engine) {
				continue
			}
			// Breadth first, so that the path shown is a shortest one.
			via := map[string]string{pkg: ""}
			queue := []string{pkg}
			for len(queue) > 0 {
				cur := queue[0]
				queue = queue[1:]
				for _, imp := range imports[cur] {
					if _, seen := via[imp]; seen {
						continue
					}
					via[imp] = cur
					queue = append(queue, imp)
					for _, other := range slices.Concat(engines, wiring) {
						if other != engine && under(imp, other) {
							path := []string{imp}
							for p := cur; p != ""; p = via[p] {
								path = append(path, p)
							}
							slices.Reverse(path)
							t.Errorf("%s imports %s (%s): the engines never import each other or what wires them", pkg, imp, strings.Join(path, " -> "))
						}
					}
				}
			}
		}
	}
}

// packages returns, for every package under root/dir, the module's
// packages its non-test files import on linux, darwin and windows.
func packages(t *testing.T, root, dir string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); p != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, p)
		pkg := module
		if rel != "." {
			pkg += "/" + filepath.ToSlash(rel)
		}
		for _, goos := range []string{"linux", "darwin", "windows"} {
			ctx := build.Default
			ctx.GOOS = goos
			bp, err := ctx.ImportDir(p, 0)
			if err != nil {
				if _, ok := err.(*build.NoGoError); ok {
					continue
				}
				return err
			}
			for _, imp := range bp.Imports {
				if (imp == module || strings.HasPrefix(imp, module+"/")) && !slices.Contains(out[pkg], imp) {
					out[pkg] = append(out[pkg], imp)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no package under %s", dir)
	}
	return out
}
