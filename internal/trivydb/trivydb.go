// Package trivydb writes a small Trivy vulnerability database (schema 2,
// the bolt file and metadata.json Trivy reads from its cache directory)
// holding the advisories a test names, so that Trivy's vulnerability scan
// runs offline on fixture images: the real database cannot be downloaded
// here, and a fixture one says exactly which findings to expect.
package trivydb

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the Trivy database schema this package writes.
const SchemaVersion = 2

// Advisory is one vulnerability of one package of one OS release, as the
// distribution's security tracker files it.
type Advisory struct {
	// Release is the database bucket of the OS release: "debian 12",
	// "alpine 3.20" (Trivy's "<family> <major[.minor]>").
	Release string
	// Package is the name the advisory is filed under: the source package
	// for Debian (glibc, not libc6) and Alpine (the origin).
	Package string
	// ID is the vulnerability ID (CVE-...).
	ID string
	// Fixed is the first fixed version.
	Fixed string
	// Severity is LOW, MEDIUM, HIGH or CRITICAL.
	Severity string
}

// Write writes the database with advs to cacheDir/db, the layout
// `trivy --cache-dir cacheDir --skip-db-update` reads.
func Write(cacheDir string, advs []Advisory) error {
	dir := filepath.Join(cacheDir, "db")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	db, err := bolt.Open(filepath.Join(dir, "trivy.db"), 0o644, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("trivy db: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, a := range advs {
			if err := put(tx, []string{a.Release, a.Package}, a.ID, map[string]string{"FixedVersion": a.Fixed}); err != nil {
				return err
			}
			vuln := map[string]string{"Title": a.ID + " in " + a.Package, "Severity": a.Severity}
			if err := put(tx, []string{"vulnerability"}, a.ID, vuln); err != nil {
				return err
			}
			src := map[string]string{"ID": family(a.Release), "Name": "affix test advisories"}
			if err := put(tx, []string{"data-source"}, a.Release, src); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("trivy db: %w", err)
	}
	now := time.Now().UTC()
	meta, err := json.Marshal(map[string]any{
		"Version": SchemaVersion, "UpdatedAt": now, "NextUpdate": now.Add(24 * time.Hour), "DownloadedAt": now,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "metadata.json"), meta, 0o644)
}

// put stores value as JSON under key in the nested buckets names.
func put(tx *bolt.Tx, names []string, key string, value any) error {
	b, err := tx.CreateBucketIfNotExists([]byte(names[0]))
	for _, n := range names[1:] {
		if err != nil {
			break
		}
		b, err = b.CreateBucketIfNotExists([]byte(n))
	}
	if err != nil {
		return fmt.Errorf("bucket %q: %w", names, err)
	}
	v, err := json.Marshal(value)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), v)
}

// family returns the OS family of a release bucket name ("debian 12":
// "debian").
func family(release string) string {
	f, _, _ := strings.Cut(release, " ")
	return f
}
