package sbomgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// cacheVersion is part of every cache key. Bump it whenever the documents
// encoded for the same inputs change, so old entries are not served.
// 3: image documents name the repository, not the tag.
// 4: the SPDX operating system package's purpose is OPERATING_SYSTEM.
// 5: the files syft could not read are kept with the entry.
// 6: syft JSON's source media type is the manifest's, not its
// descriptor's.
// 7: syft JSON lists the notes on a file syft could not read in order.
// 8: the SPDX operating system package of a release without VERSION_ID
// has no trailing "-" in its SPDXID.
// 9: OS packages built from another source package name it as Trivy
// reads it (SPDX sourceInfo, CycloneDX aquasecurity:trivy:Src*).
// 10: a hard link to a lower layer's file is that file at the link's
// path, also when an upper layer deletes or replaces the target.
// 11: no entry of a scan that ran short of file descriptors or disk
// space (such scans fail since; earlier entries may lack packages).
// 12: a config created after 9999 in UTC dates the documents at the
// epoch (it gave them a five-digit year).
const cacheVersion = 12

// maxCacheEntry bounds the size of a cache file read: a stray file at an
// entry's path is not read into memory whole. The largest documents
// measured are tens of MB (docs/benchmarks.md).
const maxCacheEntry = 1 << 30

// cacheKeyInput is what a cache key hashes: everything a document's bytes
// depend on.
type cacheKeyInput struct {
	Version   int           `json:"v"`
	Manifest  digest.Digest `json:"manifest"`
	Generator string        `json:"generator"`
	Format    Format        `json:"format"`
	Name      string        `json:"name"`
	// Created is the fixed creation time (RFC 3339), or "" when it comes
	// from the image config, which the manifest digest covers, or equals
	// the time that gives (fixedCreated).
	Created string `json:"created"`
}

// dirKey is the identity of the document in format f of a directory
// scan (docKey), keyed by its content and the name as given.
func (g *Generator) dirKey(content string, f Format) string {
	return g.docKey(digest.Digest("content:"+content), g.name, f, g.fixedCreated(nil))
}

// docKey returns the identity of the document in format f of the image
// (or content) m named name, with the fixed creation time created
// (fixedCreated).
func (g *Generator) docKey(m digest.Digest, name string, f Format, created string) string {
	in := cacheKeyInput{Version: cacheVersion, Manifest: m, Generator: g.generator, Format: f, Name: name, Created: created}
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// fixedCreated returns the fixed creation time (Options.Created or
// SOURCE_DATE_EPOCH) as a document's identity records it: RFC 3339, or
// "" when there is none. For an image (img not nil), a fixed time equal to
// the one the image itself gives counts as none: a reproducible build sets
// SOURCE_DATE_EPOCH and the image's created time to the same instant, and
// the documents of a scan with it and of one without (affix attach of that
// image later) are the same bytes, so the same referrer, not two.
func (g *Generator) fixedCreated(img *fetchedImage) string {
	if g.created.IsZero() || img != nil && g.created.Equal(img.ownCreated()) {
		return ""
	}
	return g.created.Format("2006-01-02T15:04:05Z07:00")
}

// partialKey returns the identity of a document of the image whose
// identity is id, made without the layers notScanned names (absent
// foreign layers): the complete document, made once the layers are
// there, keeps id, and the two do not share a namespace.
func partialKey(id string, notScanned []string) string {
	sum := sha256.Sum256([]byte(id + "\npartial\n" + strings.Join(notScanned, "\n")))
	return hex.EncodeToString(sum[:])
}

// storeKey returns the key the persistent cache stores the document with
// identity id under: id itself, or, for a build whose version does not
// name its source exactly (version.Info.Exact), a hash of id and the
// executable's stamp, so that a rebuilt binary with the same "dev" or
// "dirty" version does not read what the previous one wrote. The stamp
// is not part of the document.
func (g *Generator) storeKey(id string) string {
	if g.binary == "" {
		return id
	}
	sum := sha256.Sum256([]byte(id + "\n" + g.binary))
	return hex.EncodeToString(sum[:])
}

// executableStamp identifies the running executable cheaply: its path,
// size and modification time. A rebuild changes the size or the time.
func executableStamp() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %d %d", p, fi.Size(), fi.ModTime().UnixNano()), nil
}

// cache stores encoded documents, one file per key. A file is a JSON
// header line, then the document; the header carries the document's digest,
// so a damaged entry is detected and ignored (and rewritten by the next
// scan). Files are written to a temporary name and renamed into place.
//
// An entry consistent with itself is trusted: whoever can write the cache
// can forge the SBOM affix publishes for an image. So directories are
// created 0700 and files 0600, and on unix the cache is skipped, as an
// unwritable one is, while its directory does not belong to the effective
// user or is writable by group or others (a shared or group-writable
// cache); an entry file that does not belong to the user, or is writable
// by others, is ignored.
//
// Entries are evicted (prune): a hit refreshes its entry's modification
// time (touch), and a store removes, at most once a pruneInterval, the
// entries not used for maxAge, then the least recently used ones while
// the entries take more than maxSize.
type cache struct {
	dir  string
	base string // must exist before anything is created beneath it (the default root's parent); "" for no check
	// now is the clock entries are aged by; nil means time.Now.
	now func() time.Time
	// maxAge and maxSize bound what prune keeps; zero means
	// defaultCacheMaxAge and defaultCacheMaxSize.
	maxAge  time.Duration
	maxSize int64
}

// cacheHeader is the first line of a cache file.
type cacheHeader struct {
	Version int           `json:"v"`
	Key     string        `json:"key"`
	Format  Format        `json:"format"`
	Digest  digest.Digest `json:"digest"`
	Size    int64         `json:"size"`
	scanMeta
}

// scanMeta is what a cache entry keeps about the scan beside its
// document: the Result fields a cached result reports.
type scanMeta struct {
	Packages   map[string]int `json:"packages"`
	Unreadable []string       `json:"unreadable,omitempty"`
}

func (c *cache) path(key string, f Format) string {
	return filepath.Join(c.dir, key[:2], key+f.Ext())
}

// trusted reports whether the cache directory, when it exists, is one
// only the effective user can write (checkCacheOwner). The error is an
// *untrustedError.
func (c *cache) trusted() error {
	fi, err := os.Stat(c.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &untrustedError{fmt.Errorf("sbom cache: %w", err)}
	}
	if err := checkCacheOwner(c.dir, fi); err != nil {
		return &untrustedError{err}
	}
	return nil
}

// untrustedError is why a cache directory is not used at all (trusted).
type untrustedError struct{ err error }

func (e *untrustedError) Error() string { return e.err.Error() + ": not using it" }
func (e *untrustedError) Unwrap() error { return e.err }

// cacheNotes holds the keys of the notes about caches Logf was given in
// this process (logCache).
var cacheNotes sync.Map

// logCache tells Options.Logf err, why the cache in dir is not used or an
// entry was not written, unless this process told it already: a cache
// others can write would otherwise be reported for every document of
// every Generator. A directory not trusted is told once whatever the
// reason's wording; other notes once per text.
func (g *Generator) logCache(dir string, err error) {
	if err == nil || g.opts.Logf == nil {
		return
	}
	key := dir + "\x00" + err.Error()
	if u := (*untrustedError)(nil); errors.As(err, &u) {
		key = dir + "\x00untrusted"
	}
	if _, told := cacheNotes.LoadOrStore(key, struct{}{}); told {
		return
	}
	g.opts.Logf("%v", err)
}

// get returns the cached document for key, if there is an intact one in
// a trusted cache, with its digest as its entry records it, checked
// against the document.
func (c *cache) get(key string, f Format) ([]byte, digest.Digest, scanMeta, bool) {
	if c.trusted() != nil {
		return nil, "", scanMeta{}, false
	}
	p := c.path(key, f)
	b, fi, err := readOwned(p)
	if err != nil {
		return nil, "", scanMeta{}, false
	}
	line, data, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return nil, "", scanMeta{}, false
	}
	var h cacheHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return nil, "", scanMeta{}, false
	}
	if h.Version != cacheVersion || h.Key != key || h.Format != f || h.Size != int64(len(data)) || h.Digest.Validate() != nil || h.Digest.Algorithm().FromBytes(data) != h.Digest {
		return nil, "", scanMeta{}, false
	}
	if h.Packages == nil {
		h.Packages = map[string]int{}
	}
	c.touch(p, fi.ModTime())
	return data, h.Digest, h.scanMeta, true
}

// readOwned reads the file p when checkCacheOwner accepts it, and
// returns with it what it was when opened.
func readOwned(p string) ([]byte, fs.FileInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("sbom cache: %s is not a regular file", p)
	}
	if err := checkCacheOwner(p, fi); err != nil {
		return nil, nil, err
	}
	if fi.Size() > maxCacheEntry {
		return nil, nil, fmt.Errorf("sbom cache: %s: %d bytes, more than an entry holds", p, fi.Size())
	}
	// One buffer of the file's size (io.ReadAll's growth cost twice a
	// document of tens of MB more); an entry that changes size while it
	// is read (rewritten in place, which put never does) is no entry.
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, nil, fmt.Errorf("sbom cache: %s: %w", p, err)
	}
	var probe [1]byte
	if n, _ := f.Read(probe[:]); n > 0 {
		return nil, nil, fmt.Errorf("sbom cache: %s grew while read", p)
	}
	return b, fi, nil
}

// getAll returns the documents for keys (one per format), or false unless
// all of them are cached.
func (c *cache) getAll(keys []string, formats []Format) ([]Document, scanMeta, bool) {
	var docs []Document
	var meta scanMeta
	for i, k := range keys {
		data, d, m, ok := c.get(k, formats[i])
		if !ok {
			return nil, scanMeta{}, false
		}
		doc := Document{Format: formats[i], MediaType: formats[i].MediaType(), Data: data}
		if d.Validate() == nil && d.Algorithm() == digest.Canonical {
			doc.Digest = d // checked against data by get
		}
		docs = append(docs, doc)
		meta = m
	}
	return docs, meta, true
}

// put stores data under key, then prunes the cache when it is due: also
// after a store that failed, which a full disk may have made. It returns
// data's digest, which the entry records.
func (c *cache) put(key string, f Format, data []byte, meta scanMeta) (digest.Digest, error) {
	d := digest.FromBytes(data)
	err := c.store(key, f, data, d, meta)
	c.prune()
	return d, err
}

// store writes data, whose digest is d, under key.
func (c *cache) store(key string, f Format, data []byte, d digest.Digest, meta scanMeta) (err error) {
	h, err := json.Marshal(cacheHeader{Version: cacheVersion, Key: key, Format: f, Digest: d, Size: int64(len(data)), scanMeta: meta})
	if err != nil {
		return err
	}
	if n := len(h) + 1 + len(data); n > maxCacheEntry {
		return fmt.Errorf("sbom cache: a %s document of %d bytes is more than an entry holds", f, len(data))
	}
	p := c.path(key, f)
	if c.base != "" {
		fi, err := os.Stat(c.base)
		switch {
		case err != nil:
			return fmt.Errorf("sbom cache: not creating %s: %w", c.dir, err)
		case !fi.IsDir():
			return fmt.Errorf("sbom cache: not creating %s: %s is not a directory", c.dir, c.base)
		}
	}
	if err := c.trusted(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("sbom cache: %w", err)
	}
	// Made by someone else since the check: not written to.
	if err := c.trusted(); err != nil {
		return err
	}
	sweepShard(filepath.Dir(p))
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("sbom cache: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(append(h, '\n')); err != nil {
		return fmt.Errorf("sbom cache: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("sbom cache: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("sbom cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sbom cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("sbom cache: %w", err)
	}
	return nil
}

// staleTemp is how old a cache entry's temporary file must be before it is
// taken for one a killed writer left: a live writer renames it into place
// within the time it takes to write one document.
const staleTemp = time.Hour

// sweptShards records the cache shard directories this process swept.
var sweptShards sync.Map

// sweepShard removes, the first time this process writes to the shard
// directory dir, the temporary files (".tmp-*") older than staleTemp that
// writers killed mid-write (SIGKILL, a CI timeout) left there. What it
// cannot remove costs only space.
func sweepShard(dir string) {
	if _, done := sweptShards.LoadOrStore(dir, true); done {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTemp {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
