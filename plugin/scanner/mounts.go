package scanner

import (
	"fmt"
	"path/filepath"

	"github.com/moby/sys/mountinfo"

	"github.com/affix-oci/affix/sbomgen"
)

// checkScannable returns an ErrUnscannable error when syft's directory
// indexer would skip path (a target's directory) because of the mount
// it is on: the scan would list nothing, and an SBOM that lists nothing
// for an image that holds packages is worse than no SBOM.
func checkScannable(name, path string, mounts []*mountinfo.Info) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("target %s: %w", name, err)
	}
	mi, under := sbomgen.SkippingMount(abs, mounts)
	if mi == nil {
		return nil
	}
	why := "a " + mi.FSType + " file system"
	if under != "" {
		why = fmt.Sprintf("a %s file system under %s", mi.FSType, under)
	}
	return fmt.Errorf("target %s: %s is on %s (mounted at %s), which syft's directory scan skips: its SBOM would list no package; keep buildkitd's state (--root) off tmpfs, or build without the SBOM attestation: %w",
		name, path, why, mi.Mountpoint, ErrUnscannable)
}
