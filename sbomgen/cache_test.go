package sbomgen

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSbomCacheDir checks where the cache goes: a directory the user
// configured ($AFFIX_CACHE_DIR, Options.CacheDir) is created with its
// parents, as a CI job's AFFIX_CACHE_DIR=.cache/affix in a fresh
// workspace needs; beneath os.UserCacheDir() nothing is created above
// its root: a HOME (or the parent of $XDG_CACHE_HOME) that does not
// exist stays so, and the cache is skipped with an error saying why.
func TestSbomCacheDir(t *testing.T) {
	tmp := t.TempDir()
	if err := os.Mkdir(filepath.Join(tmp, "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(tmp)
	tests := []struct {
		name          string
		home, xdg, ac string // $HOME, $XDG_CACHE_HOME, $AFFIX_CACHE_DIR
		opt           string // Options.CacheDir
		want          string // cache directory, relative to tmp; "" for none
		created       bool   // whether a put creates it
		putErr        string // what a failing put says
		absent        string // must not exist afterwards, relative to tmp
	}{
		{name: "HOME does not exist", home: "nonexistent", want: "nonexistent/.cache/affix/sbom", putErr: "no such file or directory", absent: "nonexistent"},
		{name: "HOME is a file", home: "file/home", xdg: "file/.cache", want: "file/.cache/affix/sbom", putErr: "file is not a directory"},
		{name: "HOME exists, no .cache", home: "home", want: "home/.cache/affix/sbom", created: true},
		{name: "no HOME", want: ""},
		{name: "XDG_CACHE_HOME parent does not exist", home: "home", xdg: "none/cache", want: "none/cache/affix/sbom", putErr: "no such file or directory", absent: "none"},
		{name: "XDG_CACHE_HOME created beneath an existing parent", home: "nonexistent", xdg: "xdg", want: "xdg/affix/sbom", created: true},
		{name: "AFFIX_CACHE_DIR", home: "nonexistent", ac: "ac", want: "ac/sbom", created: true},
		{name: "AFFIX_CACHE_DIR relative is made absolute", home: "nonexistent", ac: "./rel/../relcache", want: "relcache/sbom", created: true},
		{name: "AFFIX_CACHE_DIR in a fresh workspace", home: "nonexistent", ac: ".cache/affix", want: ".cache/affix/sbom", created: true},
		{name: "AFFIX_CACHE_DIR parents created", home: "nonexistent", ac: "missing/ac", want: "missing/ac/sbom", created: true},
		{name: "Options.CacheDir", home: "nonexistent", ac: "ac2", opt: "opt", want: "opt", created: true},
		{name: "Options.CacheDir parents created", home: "nonexistent", opt: "gone/opt", want: "gone/opt", created: true},
		{name: "Options.CacheDir beneath a file", home: "home", opt: "file/opt", want: "file/opt", putErr: "not a directory"},
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
			_, err := c.put(key, SPDXJSON, []byte("{}\n"), scanMeta{})
			if tt.created != (err == nil) {
				t.Errorf("put: %v, want success %v", err, tt.created)
			}
			if err != nil && !strings.Contains(err.Error(), tt.putErr) {
				t.Errorf("put: %v, want it to say %q", err, tt.putErr)
			}
			if strings.Contains(tt.putErr, "no such file") && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("put: %v, want fs.ErrNotExist", err)
			}
			if tt.created {
				if _, _, _, ok := c.get(key, SPDXJSON); !ok {
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

	t.Run("New caches in a fresh workspace", func(t *testing.T) {
		ws := t.TempDir()
		t.Chdir(ws)
		t.Setenv("HOME", filepath.Join(tmp, "nonexistent"))
		t.Setenv("XDG_CACHE_HOME", "")
		t.Setenv(EnvCacheDir, ".cache/affix")
		g, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		if g.cache == nil || g.cache.dir != filepath.Join(ws, ".cache/affix/sbom") {
			t.Fatalf("cache %+v, want one in %s", g.cache, ws)
		}
		if _, err := g.cache.put(strings.Repeat("cd", 32), SPDXJSON, []byte("{}\n"), scanMeta{}); err != nil {
			t.Errorf("put: %v", err)
		}
	})
	t.Run("New skips the cache without complaint", func(t *testing.T) {
		t.Setenv("HOME", filepath.Join(tmp, "nonexistent"))
		t.Setenv("XDG_CACHE_HOME", "")
		t.Setenv(EnvCacheDir, "")
		if _, err := New(Options{}); err != nil {
			t.Fatal(err)
		}
	})
}

// cachedDoc stores a document of size bytes in a new cache and returns
// the cache and its key.
func cachedDoc(t testing.TB, size int) (*cache, string, []byte) {
	t.Helper()
	c := &cache{dir: filepath.Join(t.TempDir(), "sbom")}
	key := "ab" + string(bytes.Repeat([]byte{'0'}, 62))
	entry := []byte(`{"SPDXID":"SPDXRef-File-x","fileName":"/usr/share/doc/f.txt"},`)
	doc := bytes.Repeat(entry, size/len(entry)+1)[:size]
	if _, err := c.put(key, SPDXJSON, doc, scanMeta{Packages: map[string]int{"deb": 3000}}); err != nil {
		t.Fatal(err)
	}
	return c, key, doc
}

// TestCacheGetAllocation checks that a cache hit reads a document into
// one buffer of the entry's size: a hit on an image of many files (an
// SPDX document of tens of MB) held several times that while io.ReadAll
// grew its buffer.
func TestCacheGetAllocation(t *testing.T) {
	const size = 8 << 20
	c, key, doc := cachedDoc(t, size)
	c.get(key, SPDXJSON) // one-time allocations out of the way
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, _, _, ok := c.get(key, SPDXJSON)
	runtime.ReadMemStats(&after)
	if !ok || !bytes.Equal(got, doc) {
		t.Fatalf("cache get: ok %v, %d bytes; want the %d stored", ok, len(got), len(doc))
	}
	if n, max := after.TotalAlloc-before.TotalAlloc, uint64(size+size/5); n > max {
		t.Errorf("a cache hit on a %d-byte document allocated %d bytes, want at most %d", size, n, max)
	}
}

// TestCacheGetHugeFile checks that a file larger than any entry, at an
// entry's path, is a miss, not read into memory: a sparse file of more
// than maxCacheEntry, and nothing allocated for it.
func TestCacheGetHugeFile(t *testing.T) {
	c, key, _ := cachedDoc(t, 16)
	if err := os.Truncate(c.path(key, SPDXJSON), maxCacheEntry+1); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, ok := c.get(key, SPDXJSON)
	runtime.ReadMemStats(&after)
	if ok {
		t.Error("a file of more than maxCacheEntry bytes was served")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("a miss on a file of more than maxCacheEntry bytes allocated %d bytes", n)
	}
}

// BenchmarkCacheGet reads a cached 32 MB document (what an image of 50000
// files owned by packages gives in SPDX; see docs/benchmarks.md, "Large
// images").
func BenchmarkCacheGet(b *testing.B) {
	c, key, _ := cachedDoc(b, 32<<20)
	b.SetBytes(32 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, ok := c.get(key, SPDXJSON); !ok {
			b.Fatal("cache miss")
		}
	}
}

// TestCacheSweepsStaleTemp checks that writing an entry removes the
// temporary files a writer killed mid-write left in its shard, and only
// those old enough not to be a live writer's.
func TestCacheSweepsStaleTemp(t *testing.T) {
	c := &cache{dir: t.TempDir()}
	key := strings.Repeat("ab", 32)
	shard := filepath.Dir(c.path(key, SPDXJSON))
	if err := os.MkdirAll(shard, 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{ // name → kept
		".tmp-123": false, ".tmp-fresh": true, "other": true,
	}
	past := time.Now().Add(-2 * staleTemp)
	for name := range files {
		p := filepath.Join(shard, name)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if name != ".tmp-fresh" {
			os.Chtimes(p, past, past)
		}
	}
	if _, err := c.put(key, SPDXJSON, []byte("{}\n"), scanMeta{}); err != nil {
		t.Fatal(err)
	}
	for name, kept := range files {
		if _, err := os.Stat(filepath.Join(shard, name)); (err == nil) != kept {
			t.Errorf("%s: exists %v, want %v", name, err == nil, kept)
		}
	}
}
