//go:build unix

package sbomgen

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkCacheOwner returns an error unless fi, a cache directory or entry,
// belongs to the effective user and is not writable by group or others:
// anyone else who can write the cache can put a forged SBOM there (an
// entry is trusted when it is consistent with itself).
func checkCacheOwner(name string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	// Root's may be read too: root can write anything the user can read.
	if uid := os.Geteuid(); int(st.Uid) != uid && st.Uid != 0 {
		return fmt.Errorf("sbom cache: %s belongs to uid %d, not to %d", name, st.Uid, uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("sbom cache: %s is writable by group or others (%v)", name, fi.Mode().Perm())
	}
	return nil
}
