package scanner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/sbomgen"
)

func TestSkippingMount(t *testing.T) {
	m := func(point, fstype string) *mountinfo.Info { return &mountinfo.Info{Mountpoint: point, FSType: fstype} }
	// The scanner container BuildKit runs: the generator image's root,
	// /proc, /dev, a tmpfs on /tmp, the targets under /run/src.
	container := []*mountinfo.Info{m("/", "ext4"), m("/proc", "proc"), m("/dev", "tmpfs"), m("/tmp", "tmpfs"), m("/sys", "sysfs")}
	tests := []struct {
		name   string
		path   string
		mounts []*mountinfo.Info
		want   string // the skipping mount point, "" for none
	}{
		{"snapshot on ext4", "/run/src/core/sbom", append(container, m("/run/src/core/sbom", "ext4")), ""},
		{"snapshot on overlay", "/run/src/core/sbom", append(container, m("/run/src/core/sbom", "overlay")), ""},
		{"snapshot on tmpfs under /run", "/run/src/core/sbom", append(container, m("/run/src/core/sbom", "tmpfs")), "/run/src/core/sbom"},
		{"extra on tmpfs under /run", "/run/src/extras/sbom-build", append(container, m("/run/src/extras/sbom-build", "tmpfs")), "/run/src/extras/sbom-build"},
		{"tmpfs elsewhere is walked", "/tmp/rootfs", container, ""},
		{"tmpfs under /dev", "/dev/shm/rootfs", container, "/dev"},
		{"not a mount point: the root's type decides", "/run/src/core/sbom", []*mountinfo.Info{m("/", "tmpfs")}, "/"},
		{"proc, anywhere", "/srv/p", append(container, m("/srv/p", "proc")), "/srv/p"},
		{"the most specific mount decides", "/run/x/y", []*mountinfo.Info{m("/", "tmpfs"), m("/run/x", "xfs")}, ""},
		{"of stacked mounts the last is seen", "/run/src/core/sbom", append(container, m("/run/src/core/sbom", "tmpfs"), m("/run/src/core/sbom", "ext4")), ""},
		{"a name prefix is not a parent", "/runtime/x", []*mountinfo.Info{m("/", "tmpfs")}, ""},
		{"no mounts", "/run/src/core/sbom", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := sbomgen.SkippingMount(tt.path, tt.mounts)
			if (got == nil) != (tt.want == "") || (got != nil && got.Mountpoint != tt.want) {
				t.Errorf("SkippingMount(%s) = %+v, want mount point %q", tt.path, got, tt.want)
			}
		})
	}
}

// TestRunRefusesSkippedMount checks that Run refuses, before it scans
// anything, a target that syft's directory scan would skip because of
// the mount it is on, and accepts one it walks.
func TestRunRefusesSkippedMount(t *testing.T) {
	env, out := protocolDirs(t, fixture.Layer{{Path: "etc/os-release", Data: []byte(fixture.AlpineOSRelease)}}, map[string]fixture.Layer{"sbom-build": nil})
	cfg, err := ConfigFromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	// As BuildKit mounts the targets when buildkitd keeps its state on a
	// tmpfs: the extra's directory is a tmpfs under /run.
	cfg.Targets[1].Path = "/run/src/extras/sbom-build"
	opts := Options{mounts: func() ([]*mountinfo.Info, error) {
		return []*mountinfo.Info{{Mountpoint: "/", FSType: "ext4"}, {Mountpoint: "/run/src/extras/sbom-build", FSType: "tmpfs"}}, nil
	}}
	_, err = Run(context.Background(), cfg, opts)
	if !errors.Is(err, ErrUnscannable) || !strings.Contains(err.Error(), "target sbom-build: /run/src/extras/sbom-build is on a tmpfs file system under /run") {
		t.Fatalf("err = %v, want ErrUnscannable naming the target", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("wrote %v before refusing", ents)
	}
	// The mount table unreadable: syft skips nothing, nor does Run.
	cfg.Targets = cfg.Targets[:1]
	if _, err := Run(context.Background(), cfg, Options{mounts: func() ([]*mountinfo.Info, error) { return nil, errors.New("no /proc") }}); err != nil {
		t.Fatal(err)
	}
}

// TestRunOnDevShm scans a directory on the host's /dev/shm, a tmpfs under
// /dev: syft's directory scan walks none of it (so the guard is needed,
// and mirrors what syft does), and Run refuses it.
func TestRunOnDevShm(t *testing.T) {
	if testing.Short() {
		t.Skip("scans with syft")
	}
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		t.Skipf("no mount table: %v", err)
	}
	if mi, _ := sbomgen.SkippingMount("/dev/shm/x", mounts); mi == nil || mi.FSType != "tmpfs" {
		t.Skip("/dev/shm is not a tmpfs here")
	}
	root, err := os.MkdirTemp("/dev/shm", "affix-scanner-test-")
	if err != nil {
		t.Skipf("cannot write to /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	src := filepath.Join(root, "sbom")
	writeDir(t, src, fixture.Layer{
		{Path: "etc/os-release", Data: []byte(fixture.AlpineOSRelease)},
		{Path: "app/node_modules/ms/package.json", Data: []byte(`{"name":"ms","version":"2.1.3"}`)},
	})
	g, err := sbomgen.New(sbomgen.Options{NoCache: true, Formats: []sbomgen.Format{sbomgen.SPDXJSON}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Dir(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if n := res.PackageCount(); n != 0 {
		t.Fatalf("the directory scan found %d packages on /dev/shm: it no longer skips tmpfs under /dev as syft does (sbomgen's skippedMountTypes): drop the guard or restore the skip", n)
	}
	dest := t.TempDir()
	cfg, err := ConfigFromEnv([]string{EnvSource + "=" + src, EnvDestination + "=" + dest})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, Options{}); !errors.Is(err, ErrUnscannable) {
		t.Fatalf("err = %v, want ErrUnscannable", err)
	}
}
