package sbomgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// pruneNow is the time the eviction tests' clocks start at: the time the
// tests started, so that an entry a test stores (modified at the real
// time) is new to them, in whole seconds, which every file system keeps.
var pruneNow = time.Now().Truncate(time.Second)

// pruneCache returns an empty cache in a new directory whose clock says
// *now.
func pruneCache(t *testing.T, now *time.Time) *cache {
	t.Helper()
	c := &cache{dir: filepath.Join(t.TempDir(), "sbom"), now: func() time.Time { return *now }}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return c
}

// testKey returns the i-th key of a test.
func testKey(i int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return hex.EncodeToString(sum[:])
}

// entryName returns the path, relative to the cache directory, of the
// entry for the i-th key in format f.
func entryName(i int, f Format) string {
	k := testKey(i)
	return filepath.Join(k[:2], k+f.Ext())
}

// writeAged writes size bytes to name, relative to dir, last modified
// age before now.
func writeAged(t *testing.T, dir, name string, size int, now time.Time, age time.Duration) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, size), 0o600); err != nil {
		t.Fatal(err)
	}
	setAge(t, p, now, age)
}

// setAge sets the modification time of p to age before now.
func setAge(t *testing.T, p string, now time.Time, age time.Duration) {
	t.Helper()
	if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
		t.Fatal(err)
	}
}

// TestCacheTouch checks that a hit refreshes its entry's modification
// time when it is touchInterval or more away from now, and only then.
func TestCacheTouch(t *testing.T) {
	tests := []struct {
		name    string
		age     time.Duration
		touched bool
	}{
		{"just written", 0, false},
		{"used within the interval", touchInterval - time.Minute, false},
		{"used an interval ago", touchInterval, true},
		{"used weeks ago", 20 * 24 * time.Hour, true},
		{"from the future", -2 * touchInterval, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := pruneNow
			c := pruneCache(t, &now)
			key := testKey(1)
			if err := c.store(key, SPDXJSON, []byte("{}\n"), digest.FromBytes([]byte("{}\n")), scanMeta{}); err != nil {
				t.Fatal(err)
			}
			p := c.path(key, SPDXJSON)
			setAge(t, p, now, tt.age)
			if _, _, _, ok := c.get(key, SPDXJSON); !ok {
				t.Fatal("cache miss")
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			want := now.Add(-tt.age)
			if tt.touched {
				want = now
			}
			if !fi.ModTime().Equal(want) {
				t.Errorf("modified %v after a hit, want %v", fi.ModTime(), want)
			}
		})
	}
}

// TestCachePrune checks what prune removes: entries unused for longer
// than the maximum age, then the least recently used past the size
// limit, and stale temporary files; nothing unless the stamp says a day
// has passed since the last pruning, and never a file the cache does
// not write.
func TestCachePrune(t *testing.T) {
	const day = 24 * time.Hour
	type file struct {
		name string // relative to the cache directory
		age  time.Duration
		size int
		kept bool
	}
	old := defaultCacheMaxAge + time.Hour
	tests := []struct {
		name    string
		stamp   string // the stamp file's content; "" for none
		notDue  bool   // the stamp says it was pruned within the day
		maxSize int64
		files   []file
	}{
		{name: "unused entries", files: []file{
			{entryName(1, SPDXJSON), old, 10, false},
			{entryName(2, CycloneDXJSON), old, 10, false},
			{entryName(3, SyftJSON), old, 10, false},
			{entryName(4, SPDXJSON), defaultCacheMaxAge - time.Hour, 10, true},
			{entryName(5, SPDXJSON), 0, 10, true},
		}},
		{name: "pruned an hour ago", stamp: strconv.FormatInt(pruneNow.Add(-time.Hour).Unix(), 10), notDue: true, files: []file{
			{entryName(1, SPDXJSON), old, 10, true},
		}},
		{name: "pruned a day ago", stamp: strconv.FormatInt(pruneNow.Add(-day).Unix(), 10) + "\n", files: []file{
			{entryName(1, SPDXJSON), old, 10, false},
		}},
		{name: "stamp from the future", stamp: strconv.FormatInt(pruneNow.Add(day).Unix(), 10), files: []file{
			{entryName(1, SPDXJSON), old, 10, false},
		}},
		{name: "stamp unreadable", stamp: "yesterday", files: []file{
			{entryName(1, SPDXJSON), old, 10, false},
		}},
		{name: "least recently used past the size", maxSize: 250, files: []file{
			{entryName(1, SPDXJSON), 3 * day, 100, false},
			{entryName(2, SPDXJSON), 2 * day, 100, true},
			{entryName(3, SPDXJSON), day, 100, true},
			{entryName(4, SPDXJSON), old, 1000, false},
		}},
		{name: "within the size", maxSize: 300, files: []file{
			{entryName(1, SPDXJSON), 3 * day, 100, true},
			{entryName(2, SPDXJSON), 2 * day, 100, true},
			{entryName(3, SPDXJSON), day, 100, true},
		}},
		{name: "temporary files", files: []file{
			{".tmp-1", 2 * staleTemp, 10, false},
			{".tmp-2", staleTemp / 2, 10, true},
			{filepath.Join(testKey(1)[:2], ".tmp-3"), 2 * staleTemp, 10, false},
			{filepath.Join(testKey(1)[:2], ".tmp-4"), 0, 10, true},
		}},
		{name: "files the cache does not write", maxSize: 1, files: []file{
			{"notes.txt", old, 10, true},
			{filepath.Join("ab", "README"), old, 10, true},
			{filepath.Join("zz", testKey(1)+".spdx.json"), old, 10, true},
			{filepath.Join("ab", "ab"+strings.Repeat("0", 61)+".spdx.json"), old, 10, true},
			{filepath.Join("ab", "ab"+strings.Repeat("A", 62)+".spdx.json"), old, 10, true},
			{filepath.Join(testKey(1)[:2], testKey(2)+".spdx.json"), old, 10, true},
			{filepath.Join(testKey(1)[:2], testKey(1)+".json"), old, 10, true},
			{filepath.Join(testKey(1)[:2], testKey(1)+".spdx.json.bak"), old, 10, true},
			{filepath.Join("x", testKey(1)[:2], testKey(1)+".spdx.json"), old, 10, true},
			{filepath.Join(testKey(1)[:2], "tmp-1"), old, 10, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := pruneNow
			c := pruneCache(t, &now)
			c.maxSize = tt.maxSize
			stamp := filepath.Join(c.dir, pruneStamp)
			if tt.stamp != "" {
				if err := os.WriteFile(stamp, []byte(tt.stamp), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tt.files {
				writeAged(t, c.dir, f.name, f.size, now, f.age)
			}
			c.prune()
			for _, f := range tt.files {
				if _, err := os.Lstat(filepath.Join(c.dir, f.name)); (err == nil) != f.kept {
					t.Errorf("%s: exists %v, want %v", f.name, err == nil, f.kept)
				}
			}
			last, err := readStamp(stamp)
			if err != nil {
				t.Fatalf("stamp: %v", err)
			}
			if last.Equal(now) == tt.notDue {
				t.Errorf("stamp says %v; want it set to now (%v): %v", last, now, !tt.notDue)
			}
		})
	}
}

// TestCachePruneLinks checks that prune removes neither a directory nor
// a symbolic link named as an entry, nor what the link points to.
func TestCachePruneLinks(t *testing.T) {
	now := pruneNow
	c := pruneCache(t, &now)
	old := defaultCacheMaxAge + time.Hour
	target := filepath.Join(t.TempDir(), "target")
	writeAged(t, filepath.Dir(target), "target", 10, now, old)
	link := filepath.Join(c.dir, entryName(1, SPDXJSON))
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("no symbolic links: %v", err)
	}
	dir := filepath.Join(c.dir, entryName(2, SPDXJSON))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	setAge(t, dir, now, old)
	shard := filepath.Join(c.dir, testKey(3)[:2])
	if err := os.Symlink(filepath.Dir(target), shard); err != nil {
		t.Fatal(err)
	}
	c.prune()
	for _, p := range []string{target, link, dir, shard} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed (%v)", p, err)
		}
	}
}

// TestCachePruneOnPut checks that a store prunes the cache at most once
// a pruneInterval: an entry that ages past the maximum between two
// stores a day apart is evicted by the second, not by one within the day.
func TestCachePruneOnPut(t *testing.T) {
	now := pruneNow
	c := pruneCache(t, &now)
	doc := []byte("{}\n")
	put := func(i int) {
		t.Helper()
		if _, err := c.put(testKey(i), SPDXJSON, doc, scanMeta{}); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(i int) bool {
		_, err := os.Stat(c.path(testKey(i), SPDXJSON))
		return err == nil
	}
	put(1)
	setAge(t, c.path(testKey(1), SPDXJSON), now, defaultCacheMaxAge+time.Hour)
	now = now.Add(pruneInterval - time.Minute)
	put(2)
	if !exists(1) {
		t.Fatal("an unused entry was evicted by a store within a day of the last pruning")
	}
	now = now.Add(2 * time.Minute)
	put(3)
	if exists(1) {
		t.Error("an unused entry outlived the store a day after the last pruning")
	}
	if !exists(2) || !exists(3) {
		t.Error("an entry stored since was evicted")
	}
}

// TestCachePruneHitKeeps checks that an entry hit within the maximum age
// survives pruning, however old it is: a hit refreshes it.
func TestCachePruneHitKeeps(t *testing.T) {
	now := pruneNow
	c := pruneCache(t, &now)
	for i := range 2 {
		if err := c.store(testKey(i), SPDXJSON, []byte("{}\n"), digest.FromBytes([]byte("{}\n")), scanMeta{}); err != nil {
			t.Fatal(err)
		}
		setAge(t, c.path(testKey(i), SPDXJSON), now, defaultCacheMaxAge-time.Hour)
	}
	if _, _, _, ok := c.get(testKey(0), SPDXJSON); !ok {
		t.Fatal("cache miss")
	}
	now = now.Add(2 * time.Hour)
	c.prune()
	if _, _, _, ok := c.get(testKey(0), SPDXJSON); !ok {
		t.Error("the entry hit was evicted")
	}
	if _, err := os.Stat(c.path(testKey(1), SPDXJSON)); err == nil {
		t.Error("the entry not hit was kept")
	}
}

// TestCachePruneConcurrent checks that caches on one directory (as
// processes sharing it) may prune, read and write at once: a read is a
// whole entry or a miss, a write succeeds, and what is stored or hit
// meanwhile stays.
func TestCachePruneConcurrent(t *testing.T) {
	now := pruneNow
	c := pruneCache(t, &now)
	const n = 64
	doc := func(i int) []byte { return []byte(fmt.Sprintf("{\"n\":%d}\n", i)) }
	for i := range n {
		if err := c.store(testKey(i), SPDXJSON, doc(i), digest.FromBytes(doc(i)), scanMeta{}); err != nil {
			t.Fatal(err)
		}
		setAge(t, c.path(testKey(i), SPDXJSON), now, defaultCacheMaxAge+time.Duration(i)*time.Minute)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		other := &cache{dir: c.dir, now: c.now}
		wg.Go(func() {
			os.Remove(filepath.Join(c.dir, pruneStamp))
			other.prune()
		})
		wg.Go(func() {
			for i := range n {
				if data, _, _, ok := other.get(testKey(i), SPDXJSON); ok && !bytes.Equal(data, doc(i)) {
					t.Errorf("entry %d read as %q", i, data)
				}
			}
		})
		wg.Go(func() {
			for i := range n / 4 {
				k := n + w*n + i
				if _, err := other.put(testKey(k), SPDXJSON, doc(k), scanMeta{}); err != nil {
					t.Errorf("put: %v", err)
				}
			}
		})
	}
	wg.Wait()
	for w := range 4 {
		for i := range n / 4 {
			k := n + w*n + i
			if data, _, _, ok := c.get(testKey(k), SPDXJSON); !ok || !bytes.Equal(data, doc(k)) {
				t.Errorf("entry %d stored during pruning: hit %v, %q", k, ok, data)
			}
		}
	}
}
