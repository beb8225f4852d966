package scanner

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// skippedMountTypes are the filesystem types whose paths syft's directory
// indexer never walks, as it decides in syft v1.57.1
// (syft/internal/fileresolver/path_skipper.go), and sbomgen's index of a
// directory, which does as syft's (sbomgen/dirindex.go): every path on one of the
// types with no list, and on tmpfs every path under one of the listed
// directories. The paths are absolute paths of the scanning process, not
// paths inside the scanned directory: BuildKit mounts every root
// filesystem under /run/src, so when buildkitd keeps its snapshots on a
// tmpfs, syft walks nothing and the SBOM lists no package at all.
var skippedMountTypes = map[string][]string{
	"proc":     nil,
	"procfs":   nil,
	"sysfs":    nil,
	"devfs":    nil,
	"devtmpfs": nil,
	"udev":     nil,
	"tmpfs":    {"/run", "/dev", "/var/run", "/var/lock", "/sys"},
}

// skippingMount returns the mount because of which syft's directory
// indexer skips the absolute path p (see skippedMountTypes), nil when it
// walks p. As syft does, it looks at the mounts that hold p from the most
// specific (longest mount point) down and stops at the first one of a
// type it does not skip; of mounts stacked on one mount point, the one
// mounted last (listed last) is the one seen.
func skippingMount(p string, mounts []*mountinfo.Info) *mountinfo.Info {
	order := make([]int, len(mounts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if c := cmp.Compare(len(mounts[b].Mountpoint), len(mounts[a].Mountpoint)); c != 0 {
			return c
		}
		return cmp.Compare(b, a)
	})
	for _, i := range order {
		mi := mounts[i]
		if !within(p, mi.Mountpoint) {
			continue
		}
		dirs, skipped := skippedMountTypes[mi.FSType]
		if len(dirs) == 0 {
			if skipped {
				return mi
			}
			return nil
		}
		for _, d := range dirs {
			if within(p, d) {
				return mi
			}
		}
	}
	return nil
}

// within reports whether the absolute path p is dir or below it.
func within(p, dir string) bool {
	p, dir = filepath.Clean(p), filepath.Clean(dir)
	if dir == "/" || p == dir {
		return true
	}
	return strings.HasPrefix(p, dir+"/")
}

// checkScannable returns an ErrUnscannable error when syft's directory
// indexer would skip path (a target's directory) because of the mount
// it is on: the scan would list nothing, and an SBOM that lists nothing
// for an image that holds packages is worse than no SBOM.
func checkScannable(name, path string, mounts []*mountinfo.Info) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("target %s: %w", name, err)
	}
	mi := skippingMount(abs, mounts)
	if mi == nil {
		return nil
	}
	why := "a " + mi.FSType + " file system"
	if dirs := skippedMountTypes[mi.FSType]; len(dirs) > 0 {
		for _, d := range dirs {
			if within(abs, d) {
				why = fmt.Sprintf("a %s file system under %s", mi.FSType, d)
				break
			}
		}
	}
	return fmt.Errorf("target %s: %s is on %s (mounted at %s), which syft's directory scan skips: its SBOM would list no package; keep buildkitd's state (--root) off tmpfs, or build without the SBOM attestation: %w",
		name, path, why, mi.Mountpoint, ErrUnscannable)
}
