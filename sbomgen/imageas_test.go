package sbomgen

import (
	"bytes"
	"fmt"
	"testing"
)

// TestSbomImageAs checks that one scan made for several names gives each
// the documents a Generator named so gives, whether its documents come
// from the cache or not, and that names of one repository share them.
func TestSbomImageAs(t *testing.T) {
	dir, res := standard(t)
	m := res.Manifests[0]
	names := []string{"a.example/app:1", "b.example:5000/team/app:2", "a.example/app:other"}
	for _, tt := range []struct {
		name string
		// warm is the name whose documents are cached first, if any.
		warm       string
		wantCached []bool
	}{
		{name: "nothing cached", wantCached: []bool{false, false, false}},
		{name: "first repository cached", warm: "a.example/app:0", wantCached: []bool{true, false, true}},
		{name: "second repository cached", warm: "b.example:5000/team/app", wantCached: []bool{false, true, false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cacheDir := t.TempDir()
			if tt.warm != "" {
				if _, err := newGen(t, Options{CacheDir: cacheDir, Formats: Formats(), Name: tt.warm}).Image(t.Context(), openLayout(t, dir), m); err != nil {
					t.Fatal(err)
				}
			}
			g := newGen(t, Options{CacheDir: cacheDir, Formats: Formats()})
			got, err := g.ImageAs(t.Context(), openLayout(t, dir), m, names...)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(names) {
				t.Fatalf("%d results for %d names", len(got), len(names))
			}
			if got[0] != got[2] {
				t.Error("two tags of one repository got different results")
			}
			for i, n := range names {
				if got[i].Cached != tt.wantCached[i] {
					t.Errorf("%s: cached %v, want %v", n, got[i].Cached, tt.wantCached[i])
				}
				want := scan(t, dir, m, Options{Name: n, Formats: Formats()})
				for _, f := range Formats() {
					if !bytes.Equal(doc(t, got[i], f), doc(t, want, f)) {
						t.Errorf("%s: %s document differs from the one a Generator named so makes", n, f)
					}
				}
				if got[i].PackageSummary() != want.PackageSummary() || !got[i].Created.Equal(want.Created) || got[i].Manifest.Digest != m.Digest {
					t.Errorf("%s: result %+v, want %+v", n, got[i], want)
				}
			}
			again, err := g.ImageAs(t.Context(), openLayout(t, dir), m, names...)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range again {
				if !r.Cached {
					t.Errorf("%s: not cached after ImageAs", names[i])
				}
			}
		})
	}
	if got, err := newGen(t, Options{}).ImageAs(t.Context(), openLayout(t, dir), m); err != nil || len(got) != 0 {
		t.Errorf("no names: %v, %v", got, err)
	}
}

// BenchmarkImageAs scans the fixture's linux/amd64 image (cache off) for
// one and for three repository names: a name beyond the first costs its
// encoding, not another scan.
func BenchmarkImageAs(b *testing.B) {
	dir, res := standard(b)
	l := openLayout(b, dir)
	g := newGen(b, Options{Formats: []Format{SPDXJSON}})
	if _, err := g.Image(b.Context(), l, res.Manifests[0]); err != nil { // one-time set-up out of the way
		b.Fatal(err)
	}
	for _, names := range [][]string{
		{"a.example/app"},
		{"a.example/app", "b.example/app", "c.example/team/app"},
	} {
		b.Run(fmt.Sprintf("names=%d", len(names)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.ImageAs(b.Context(), l, res.Manifests[0], names...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
