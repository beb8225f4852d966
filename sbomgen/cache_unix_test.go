//go:build unix

package sbomgen

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSbomCacheOwner: entries are written 0600 in directories made 0700;
// a cache directory that another user owns, or that group or others can
// write, is neither read nor written (a valid entry in it is a miss), and
// an entry file that is writable by others or is someone else's is
// ignored.
func TestSbomCacheOwner(t *testing.T) {
	key := strings.Repeat("ab", 32)
	doc := []byte("{}\n")
	fresh := func(t *testing.T) *cache {
		t.Helper()
		c := &cache{dir: filepath.Join(t.TempDir(), "affix", "sbom")}
		if _, err := c.put(key, SPDXJSON, doc, scanMeta{}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("modes", func(t *testing.T) {
		c := fresh(t)
		p := c.path(key, SPDXJSON)
		for _, d := range []string{filepath.Dir(c.dir), c.dir, filepath.Dir(p)} {
			fi, err := os.Stat(d)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: mode %v, want 0700", d, fi.Mode().Perm())
			}
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, fi.Mode().Perm())
		}
		if _, _, _, ok := c.get(key, SPDXJSON); !ok {
			t.Error("entry not read back")
		}
	})
	tests := []struct {
		name  string
		edit  func(t *testing.T, c *cache)
		why   string // what put says; "" when put still works
		root  bool   // needs root (chown)
		entry bool   // only the entry is refused
	}{
		{"an older cache, 0755 and 0644", func(t *testing.T, c *cache) {
			chmod(t, c.dir, 0o755)
			chmod(t, filepath.Dir(c.path(key, SPDXJSON)), 0o755)
			chmod(t, c.path(key, SPDXJSON), 0o644)
		}, "", false, false},
		{"group-writable directory", func(t *testing.T, c *cache) { chmod(t, c.dir, 0o770) }, "writable by group or others", false, false},
		{"world-writable directory", func(t *testing.T, c *cache) { chmod(t, c.dir, 0o1777) }, "writable by group or others", false, false},
		{"group-writable entry", func(t *testing.T, c *cache) { chmod(t, c.path(key, SPDXJSON), 0o660) }, "", false, true},
		{"directory of another user", func(t *testing.T, c *cache) { chown(t, c.dir) }, "belongs to uid", true, false},
		{"entry of another user", func(t *testing.T, c *cache) { chown(t, c.path(key, SPDXJSON)) }, "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			c := fresh(t)
			tt.edit(t, c)
			_, _, _, ok := c.get(key, SPDXJSON)
			if want := tt.why == "" && !tt.entry; ok != want {
				t.Errorf("get hit %v, want %v", ok, want)
			}
			other := strings.Repeat("cd", 32)
			_, err := c.put(other, SPDXJSON, doc, scanMeta{})
			switch {
			case tt.why == "" && err != nil:
				t.Errorf("put: %v", err)
			case tt.why != "" && (err == nil || !strings.Contains(err.Error(), tt.why) || !strings.Contains(err.Error(), c.dir)):
				t.Errorf("put: %v, want an error naming %s saying %q", err, c.dir, tt.why)
			}
			if tt.why != "" {
				if _, err := os.Stat(c.path(other, SPDXJSON)); !os.IsNotExist(err) {
					t.Errorf("put wrote into an untrusted cache (%v)", err)
				}
			}
		})
	}
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if m&0o1000 != 0 {
		m = m&0o777 | os.ModeSticky
	}
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

// chown gives p to nobody (65534).
func chown(t *testing.T, p string) {
	t.Helper()
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
}

// TestSbomCacheLogf: a cache others can write is not used, and Logf says
// why; nil Logf stays quiet.
func TestSbomCacheLogf(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	var said []string
	logf := func(format string, args ...any) { said = append(said, fmt.Sprintf(format, args...)) }
	if _, err := New(Options{CacheDir: dir, Logf: logf}); err != nil {
		t.Fatal(err)
	}
	if len(said) != 1 || !strings.Contains(said[0], "writable by group or others") || !strings.Contains(said[0], "not using it") {
		t.Errorf("Logf was told %q; want why the cache is not used", said)
	}
	if _, err := New(Options{CacheDir: dir}); err != nil {
		t.Fatal(err)
	}
}

// TestSbomCacheLogfOnce: the note that a cache others can write is not
// used is given once per cache directory in a process, not for every
// document written nor by every Generator using it; another directory gets
// its own, and a Generator with no Logf does not use the note up.
func TestSbomCacheLogfOnce(t *testing.T) {
	shared := func(t *testing.T) string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "shared")
		if err := os.MkdirAll(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		chmod(t, dir, 0o777)
		return dir
	}
	var said []string
	logf := func(format string, args ...any) { said = append(said, fmt.Sprintf(format, args...)) }
	layout, res := variants(t)
	l := openLayout(t, layout)
	scanAll := func(t *testing.T, opts Options) {
		t.Helper()
		g, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Images(t.Context(), l, res.Manifests); err != nil {
			t.Fatal(err)
		}
	}

	dir := shared(t)
	scanAll(t, Options{CacheDir: dir, Formats: Formats()})
	scanAll(t, Options{CacheDir: dir, Formats: Formats(), Logf: logf})
	if len(said) != 1 || !strings.Contains(said[0], dir) || !strings.Contains(said[0], "writable by group or others") || !strings.Contains(said[0], "not using it") {
		t.Fatalf("Logf was told %q; want once why %s is not used", said, dir)
	}
	scanAll(t, Options{CacheDir: dir, Formats: Formats(), Logf: logf})
	if len(said) != 1 {
		t.Errorf("a second Generator on %s told Logf again: %q", dir, said[1:])
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("the cache others can write holds %v (%v)", ents, err)
	}

	other := shared(t)
	if _, err := New(Options{CacheDir: other, Logf: logf}); err != nil {
		t.Fatal(err)
	}
	if len(said) != 2 || !strings.Contains(said[1], other) {
		t.Errorf("Logf was told %q; want a second note, about %s", said, other)
	}
}

// TestCachePruneUntrusted checks that a cache others can write is not
// pruned: neither an entry removed nor a stamp written.
func TestCachePruneUntrusted(t *testing.T) {
	now := pruneNow
	c := pruneCache(t, &now)
	name := entryName(1, SPDXJSON)
	writeAged(t, c.dir, name, 10, now, defaultCacheMaxAge+time.Hour)
	chmod(t, c.dir, 0o770)
	c.prune()
	if _, err := os.Stat(filepath.Join(c.dir, name)); err != nil {
		t.Errorf("an entry of a cache others can write was removed (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(c.dir, pruneStamp)); !os.IsNotExist(err) {
		t.Errorf("a cache others can write was stamped (%v)", err)
	}
}
