package sbomgen

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Eviction: what a cache keeps, and how often it is checked.
const (
	// defaultCacheMaxAge is how long an entry no scan used (stored or hit)
	// is kept.
	defaultCacheMaxAge = 30 * 24 * time.Hour
	// defaultCacheMaxSize bounds the size of a cache's entries together:
	// twice the largest entry, so that the one just stored is never
	// evicted for room; some twenty images of the largest documents
	// measured (32 MB of SPDX for 50000 files; docs/benchmarks.md) in
	// three formats, thousands of typical ones.
	defaultCacheMaxSize = 2 * maxCacheEntry
	// touchInterval is how stale a hit entry's modification time may be
	// before the hit refreshes it: a hit is not a write each time, and
	// entries are aged to within this (Go's build cache: mtimeInterval).
	touchInterval = time.Hour
	// pruneInterval is how often, at most, a cache directory is pruned
	// (Go's build cache: trimInterval).
	pruneInterval = 24 * time.Hour
	// pruneStamp is the file in a cache directory saying when it was last
	// pruned, in Unix seconds (Go's build cache: trim.txt).
	pruneStamp = "prune.txt"
)

// clock returns the time entries are aged by.
func (c *cache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// ageLimit returns how long an unused entry is kept.
func (c *cache) ageLimit() time.Duration {
	if c.maxAge > 0 {
		return c.maxAge
	}
	return defaultCacheMaxAge
}

// sizeLimit returns how many bytes the entries may take together.
func (c *cache) sizeLimit() int64 {
	if c.maxSize > 0 {
		return c.maxSize
	}
	return defaultCacheMaxSize
}

// touch records a hit on the entry at p, last modified at mtime: it sets
// the entry's modification time to now when that is touchInterval or
// more away from it. Failing (an entry of root's, one pruned meanwhile)
// only leaves the hit unrecorded.
func (c *cache) touch(p string, mtime time.Time) {
	now := c.clock()
	if d := now.Sub(mtime); d > -touchInterval && d < touchInterval {
		return
	}
	os.Chtimes(p, now, now)
}

// prune evicts entries from a trusted cache when it is due (pruneDue):
// those not used (stored, or hit: touch) for ageLimit, then the least
// recently used while the rest take more than sizeLimit, and the
// temporary files older than staleTemp. It removes only what the cache
// writes: files named as entries in the shard directories, temporary
// files, and its stamp it replaces. It is best effort: what it cannot
// read or remove stays. Processes may prune, read and write one directory
// at once: files are replaced by rename, so a reader opens a whole entry
// or none (a miss), and an entry used while it is pruned costs one scan.
func (c *cache) prune() {
	if c.trusted() != nil || !c.pruneDue() {
		return
	}
	// Stamped first, so that processes storing at once do not all prune,
	// and a directory that cannot be stamped is not walked on every store.
	if c.writeStamp() != nil {
		return
	}
	now := c.clock()
	entries, temps := c.list()
	for _, e := range temps {
		if now.Sub(e.mtime) > staleTemp {
			removeUnused(e)
		}
	}
	kept := entries[:0]
	for _, e := range entries {
		if now.Sub(e.mtime) > c.ageLimit() && removeUnused(e) {
			continue
		}
		kept = append(kept, e)
	}
	c.trimSize(kept)
}

// trimSize removes the least recently used of entries while they take
// more than sizeLimit together.
func (c *cache) trimSize(entries []cacheFile) {
	var total int64
	for _, e := range entries {
		total += e.size
	}
	slices.SortFunc(entries, func(a, b cacheFile) int { return a.mtime.Compare(b.mtime) })
	for _, e := range entries {
		if total <= c.sizeLimit() {
			return
		}
		if removeUnused(e) {
			total -= e.size
		}
	}
}

// cacheFile is a file prune may remove, as it was listed.
type cacheFile struct {
	path  string
	size  int64
	mtime time.Time
}

// removeUnused removes the file f unless it changed since it was listed
// (a hit touched it, a writer replaced it), and reports whether it is
// gone.
func removeUnused(f cacheFile) bool {
	fi, err := os.Lstat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != f.size || !fi.ModTime().Equal(f.mtime) {
		return false
	}
	err = os.Remove(f.path)
	return err == nil || errors.Is(err, fs.ErrNotExist)
}

// list returns the entries in the cache's shard directories, and the
// temporary files in those and in the cache directory.
func (c *cache) list() (entries, temps []cacheFile) {
	top, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, nil
	}
	for _, d := range top {
		switch {
		case isTempFile(d):
			temps = appendFile(temps, c.dir, d)
		case d.IsDir() && isShard(d.Name()):
			e, t := listShard(filepath.Join(c.dir, d.Name()))
			entries, temps = append(entries, e...), append(temps, t...)
		}
	}
	return entries, temps
}

// listShard returns the entries and the temporary files in the shard
// directory dir.
func listShard(dir string) (entries, temps []cacheFile) {
	ds, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil
	}
	for _, d := range ds {
		switch {
		case isTempFile(d):
			temps = appendFile(temps, dir, d)
		case d.Type().IsRegular() && isEntryName(filepath.Base(dir), d.Name()):
			entries = appendFile(entries, dir, d)
		}
	}
	return entries, temps
}

// appendFile appends the file d in dir to files, unless it is gone.
func appendFile(files []cacheFile, dir string, d fs.DirEntry) []cacheFile {
	fi, err := d.Info()
	if err != nil {
		return files
	}
	return append(files, cacheFile{path: filepath.Join(dir, d.Name()), size: fi.Size(), mtime: fi.ModTime()})
}

// isTempFile reports whether d is a temporary file the cache writes
// (put, writeStamp).
func isTempFile(d fs.DirEntry) bool {
	return d.Type().IsRegular() && strings.HasPrefix(d.Name(), ".tmp-")
}

// isShard reports whether name is that of a shard directory: the first
// two hex digits of its entries' keys (cache.path).
func isShard(name string) bool {
	return len(name) == 2 && isLowerHex(name)
}

// isEntryName reports whether name is that of an entry in the shard
// directory shard: a key (64 hex digits) beginning with shard, and a
// format's extension.
func isEntryName(shard, name string) bool {
	for _, f := range Formats() {
		if key, ok := strings.CutSuffix(name, f.Ext()); ok {
			return len(key) == 64 && strings.HasPrefix(key, shard) && isLowerHex(key)
		}
	}
	return false
}

// isLowerHex reports whether s is lowercase hex digits only.
func isLowerHex(s string) bool {
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// pruneDue reports whether the cache's stamp says it was last pruned a
// pruneInterval or more ago; a stamp missing, unreadable or from the
// future (beyond touchInterval) says it is due.
func (c *cache) pruneDue() bool {
	last, err := readStamp(filepath.Join(c.dir, pruneStamp))
	if err != nil {
		return true
	}
	d := c.clock().Sub(last)
	return d >= pruneInterval || d <= -touchInterval
}

// readStamp returns the time in the stamp file p.
func readStamp(p string) (time.Time, error) {
	f, err := os.Open(p)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 32))
	if err != nil {
		return time.Time{}, err
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("sbom cache: %s: %w", p, err)
	}
	return time.Unix(sec, 0), nil
}

// writeStamp records in the cache's stamp that it is pruned now. It
// creates nothing unless the cache directory exists.
func (c *cache) writeStamp() (err error) {
	tmp, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("sbom cache: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	_, err = fmt.Fprintf(tmp, "%d\n", c.clock().Unix())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(c.dir, pruneStamp))
	}
	if err != nil {
		return fmt.Errorf("sbom cache: %w", err)
	}
	return nil
}
