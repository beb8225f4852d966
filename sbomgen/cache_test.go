package sbomgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSbomCacheDir checks where the cache goes and that nothing is
// created above the cache root: a HOME (or the parent of
// $XDG_CACHE_HOME, $AFFIX_CACHE_DIR, Options.CacheDir) that does not
// exist stays so, and the cache is skipped.
func TestSbomCacheDir(t *testing.T) {
	tmp := t.TempDir()
	if err := os.Mkdir(filepath.Join(tmp, "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(tmp)
	tests := []struct {
		name          string
		home, xdg, ac string // $HOME, $XDG_CACHE_HOME, $AFFIX_CACHE_DIR
		opt           string // Options.CacheDir
		want          string // cache directory, relative to tmp; "" for none
		created       bool   // whether a put creates it
		absent        string // must not exist afterwards, relative to tmp
	}{
		{name: "HOME does not exist", home: "nonexistent", want: "nonexistent/.cache/affix/sbom", absent: "nonexistent"},
		{name: "HOME exists, no .cache", home: "home", want: "home/.cache/affix/sbom", created: true},
		{name: "no HOME", want: ""},
		{name: "XDG_CACHE_HOME parent does not exist", home: "home", xdg: "none/cache", want: "none/cache/affix/sbom", absent: "none"},
		{name: "XDG_CACHE_HOME created beneath an existing parent", home: "nonexistent", xdg: "xdg", want: "xdg/affix/sbom", created: true},
		{name: "AFFIX_CACHE_DIR", home: "nonexistent", ac: "ac", want: "ac/sbom", created: true},
		{name: "AFFIX_CACHE_DIR relative is made absolute", home: "nonexistent", ac: "./rel/../relcache", want: "relcache/sbom", created: true},
		{name: "AFFIX_CACHE_DIR parent does not exist", home: "home", ac: "missing/ac", want: "missing/ac/sbom", absent: "missing"},
		{name: "Options.CacheDir", home: "nonexistent", ac: "ac2", opt: "opt", want: "opt", created: true},
		{name: "Options.CacheDir parent does not exist", home: "home", opt: "gone/opt", want: "gone/opt", absent: "gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			abs := func(p string) string {
				if p == "" {
					return ""
				}
				return filepath.Join(tmp, p)
			}
			// The environment holds absolute paths except for a relative
			// AFFIX_CACHE_DIR or Options.CacheDir, which the test is about.
			t.Setenv("HOME", abs(tt.home))
			t.Setenv("XDG_CACHE_HOME", abs(tt.xdg))
			t.Setenv(EnvCacheDir, tt.ac)
			dir, base := cacheDir(tt.opt)
			if want := abs(tt.want); dir != want {
				t.Fatalf("cache directory %q, want %q", dir, want)
			}
			if dir == "" {
				return
			}
			if !filepath.IsAbs(dir) {
				t.Errorf("cache directory %q is not absolute", dir)
			}
			c := &cache{dir: dir, base: base}
			key := strings.Repeat("ab", 32)
			err := c.put(key, SPDXJSON, []byte("{}\n"), nil)
			if tt.created != (err == nil) {
				t.Errorf("put: %v, want success %v", err, tt.created)
			}
			if tt.created {
				if _, _, ok := c.get(key, SPDXJSON); !ok {
					t.Error("entry written is not read back")
				}
			}
			if tt.absent != "" {
				if _, err := os.Lstat(abs(tt.absent)); !os.IsNotExist(err) {
					t.Errorf("%s was created (%v)", tt.absent, err)
				}
			}
		})
	}

	t.Run("New skips the cache without complaint", func(t *testing.T) {
		t.Setenv("HOME", filepath.Join(tmp, "nonexistent"))
		t.Setenv("XDG_CACHE_HOME", "")
		t.Setenv(EnvCacheDir, "")
		if _, err := New(Options{}); err != nil {
			t.Fatal(err)
		}
	})
}
