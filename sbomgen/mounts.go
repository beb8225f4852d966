package sbomgen

import (
	"slices"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// mountSkipper is syft's pathSkipper (fileresolver, path_skipper.go):
// it skips the paths under a mount point of a pseudo filesystem, and
// under those of a tmpfs that are (or are under) /dev, /run, /var/run,
// /var/lock or /sys.
type mountSkipper struct {
	mounts []*mountinfo.Info // longest mount point first
}

// skippedMountTypes are the filesystem types whose mount points
// mountSkipper skips: all of it (nil), or only the paths listed.
var skippedMountTypes = map[string][]string{
	"proc":     nil,
	"procfs":   nil,
	"sysfs":    nil,
	"devfs":    nil,
	"devtmpfs": nil,
	"udev":     nil,
	"tmpfs":    {"/run", "/dev", "/var/run", "/var/lock", "/sys"},
}

// newMountSkipper returns the mountSkipper of the process's mounts; one
// that skips nothing when they cannot be read, as syft's.
func newMountSkipper() mountSkipper {
	infos, err := mountinfo.GetMounts(nil)
	if err != nil {
		return mountSkipper{}
	}
	return mountSkipperOf(infos)
}

// mountSkipperOf returns the mountSkipper of mounts, listed as the mount
// table lists them. Of mounts stacked on one mount point, the one mounted
// last (listed last), which is the one seen, comes first (syft's order of
// those is arbitrary; plugin/scanner's check of the mounts takes this
// one).
func mountSkipperOf(mounts []*mountinfo.Info) mountSkipper {
	mounts = slices.Clone(mounts)
	slices.Reverse(mounts)
	sort.SliceStable(mounts, func(i, j int) bool { return len(mounts[i].Mountpoint) > len(mounts[j].Mountpoint) })
	return mountSkipper{mounts: mounts}
}

// skip reports whether p is to be skipped (see skipping).
func (s mountSkipper) skip(p string) bool {
	m, _ := s.skipping(p)
	return m != nil
}

// skipping returns the mount because of which p is skipped, nil when it
// is not: the most specific mount point holding p decides, skipping p
// when it is one of skippedMountTypes and, for a type with paths, p is
// under one of them, which it returns too.
func (s mountSkipper) skipping(p string) (*mountinfo.Info, string) {
	for _, m := range s.mounts {
		if !containsPath(p, m.Mountpoint) {
			continue
		}
		paths, ok := skippedMountTypes[m.FSType]
		if len(paths) == 0 {
			if ok {
				return m, ""
			}
			return nil, ""
		}
		for _, c := range paths {
			if containsPath(p, c) {
				return m, c
			}
		}
	}
	return nil, ""
}

// SkippingMount returns the mount because of which a directory scan
// (Generator.Dir) skips the absolute path p, as syft's directory indexer
// does, nil when it walks p; and, for a type skipped only under some
// directories (tmpfs under /run, /dev, ...), the one p is under. mounts
// are the process's, as the mount table lists them
// (mountinfo.GetMounts). A root filesystem on such a mount gives an SBOM
// that lists nothing: BuildKit mounts the targets of its SBOM generator
// under /run/src, on a tmpfs when buildkitd keeps its state on one.
func SkippingMount(p string, mounts []*mountinfo.Info) (*mountinfo.Info, string) {
	return mountSkipperOf(mounts).skipping(p)
}

// containsPath reports whether p is dir or under it.
func containsPath(p, dir string) bool {
	p, dir = simpleClean(p), simpleClean(dir)
	if p == dir {
		return true
	}
	return strings.HasPrefix(p, dir) && len(p) > len(dir) && p[len(dir)] == '/'
}

// simpleClean is p without surrounding space and a trailing slash, "/"
// as "" and "" as ".".
func simpleClean(p string) string {
	p = strings.TrimSpace(p)
	if p == "" {
		return "."
	}
	if p == "/" {
		return ""
	}
	return strings.TrimSuffix(p, "/")
}
