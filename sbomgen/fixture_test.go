package sbomgen

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
)

// testRoot holds layouts shared by the tests of one run.
var testRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "affix-sbomgen-test-")
	if err != nil {
		panic(err)
	}
	testRoot = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type sharedLayout struct {
	once sync.Once
	dir  string
	res  *fixture.Result
	err  error
}

var (
	standardLayout sharedLayout
	variantsLayout sharedLayout
)

func (s *sharedLayout) get(t testing.TB, name string, spec func() (fixture.Spec, error)) (string, *fixture.Result) {
	t.Helper()
	s.once.Do(func() {
		sp, err := spec()
		if err != nil {
			s.err = err
			return
		}
		s.dir = filepath.Join(testRoot, name)
		s.res, s.err = fixture.WriteLayout(s.dir, sp)
	})
	if s.err != nil {
		t.Fatalf("writing %s fixture: %v", name, s.err)
	}
	return s.dir, s.res
}

// standard returns the (shared, read-only) Standard fixture layout.
func standard(t testing.TB) (string, *fixture.Result) {
	return standardLayout.get(t, "standard", func() (fixture.Spec, error) { return fixture.Standard(context.Background()) })
}

// variants returns the (shared, read-only) Variants fixture layout.
func variants(t testing.TB) (string, *fixture.Result) {
	return variantsLayout.get(t, "variants", func() (fixture.Spec, error) { return fixture.Variants(), nil })
}

// writeLayout writes spec into a fresh directory the test may modify.
func writeLayout(t testing.TB, spec fixture.Spec) (string, *fixture.Result) {
	t.Helper()
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	return dir, res
}

func openLayout(t testing.TB, dir string) *oci.Layout {
	t.Helper()
	l, err := oci.OpenLayout(context.Background(), "oci-layout:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// newGen returns a Generator with no cache unless opts names one.
func newGen(t testing.TB, opts Options) *Generator {
	t.Helper()
	if opts.CacheDir == "" {
		opts.NoCache = true
	}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// pkgKey identifies a package in comparisons.
type pkgKey struct{ Name, Version, Type string }

// minimalJar returns a jar holding only a manifest and the pom.properties
// that names its Maven coordinates.
func minimalJar(t *testing.T, group, artifact, version string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range []struct{ name, data string }{
		{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nImplementation-Title: " + artifact + "\r\nImplementation-Version: " + version + "\r\n\r\n"},
		{"META-INF/maven/" + group + "/" + artifact + "/pom.properties", "groupId=" + group + "\nartifactId=" + artifact + "\nversion=" + version + "\n"},
	} {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
