package sbomgen

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestSbomDirSourceTree: a build context scanned with SourceTree lists
// the dependencies its lock files and manifests declare (Go, npm,
// Python) and what is installed in it (node_modules), the same with
// basename globs answered by the prefix index or by syft; scanned as a
// root filesystem (the default), it lists only what is installed.
func TestSbomDirSourceTree(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.22\n\nrequire github.com/pkg/errors v0.9.1\n",
		"web/package-lock.json": `{"name":"web","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{` +
			`"":{"name":"web","version":"1.0.0","dependencies":{"left-pad":"1.3.0"}},` +
			`"node_modules/left-pad":{"version":"1.3.0","resolved":"https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz"}}}`,
		"tools/requirements.txt":           "requests==2.31.0\n",
		"app/node_modules/ms/package.json": `{"name":"ms","version":"2.1.3"}`,
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	declared := []pkgKey{
		{"github.com/pkg/errors", "v0.9.1", "go-module"},
		{"left-pad", "1.3.0", "npm"},
		{"requests", "2.31.0", "python"},
	}
	for _, tt := range []struct {
		name       string
		sourceTree bool
		stock      bool // stereoscope's globs, not the prefix index
		want       bool
	}{
		{name: "root filesystem", want: false},
		{name: "source tree", sourceTree: true, want: true},
		{name: "source tree, stock globs", sourceTree: true, stock: true, want: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGen(t, Options{Formats: []Format{SyftJSON}, SourceTree: tt.sourceTree})
			g.stereoscopeGlobs = tt.stock
			r, err := g.Dir(context.Background(), root)
			if err != nil {
				t.Fatal(err)
			}
			got := syftPackages(t, doc(t, r, SyftJSON))
			for _, k := range declared {
				if got[k] != tt.want {
					t.Errorf("%v listed: %v, want %v; packages %v", k, got[k], tt.want, got)
				}
			}
			if installed := (pkgKey{"ms", "2.1.3", "npm"}); !got[installed] {
				t.Errorf("%v not listed; packages %v", installed, got)
			}
		})
	}
	// Both glob indexes give the same document.
	var docs [][]byte
	for _, stock := range []bool{false, true} {
		g := newGen(t, Options{Formats: []Format{SPDXJSON}, SourceTree: true})
		g.stereoscopeGlobs = stock
		r, err := g.Dir(context.Background(), root)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc(t, r, SPDXJSON))
	}
	if !bytes.Equal(docs[0], docs[1]) {
		t.Error("source tree: the prefix index and stereoscope's globs give different documents")
	}
}
