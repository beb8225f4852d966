package sbomgen

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
)

// TestSyftTempFiles scans an image holding a jar, which syft copies to a
// temporary file to read it, with Options.TempDir and $TMPDIR two fresh
// directories. The layers go to Options.TempDir; syft's files go to
// $TMPDIR, in a syft-cataloger-* directory of its own, because syft
// (v1.57.1) offers no other place: its temporary directory is made by
// CreateSBOM from os.TempDir(), through a context key of an internal
// package. Nothing else of a scan is made in $TMPDIR, and both
// directories are empty once the scan returns. If syft ever makes its
// files elsewhere, this test says so: docs/sbom.md ("Resources") is then
// to be updated, and Options.TempDir perhaps passed on.
func TestSyftTempFiles(t *testing.T) {
	tmp, work := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp)
	spec := fixture.Spec{Images: []fixture.Image{{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers: []fixture.Layer{{
			{Path: "etc/os-release", Data: []byte(fixture.AlpineOSRelease)},
			{Path: "app/demo-1.2.3.jar", Data: minimalJar(t, "com.example", "demo", "1.2.3")},
		}},
	}}}
	dir, res := writeLayout(t, spec)

	created := watchCreated(t, tmp)
	r := scan(t, dir, res.Manifests[0], Options{Formats: []Format{SyftJSON}, TempDir: work})
	names := created()

	if !syftPackages(t, doc(t, r, SyftJSON))[pkgKey{"demo", "1.2.3", "java-archive"}] {
		t.Fatalf("the jar's package was not found (%s): the fixture no longer makes syft read a jar", r.PackageSummary())
	}
	if len(names) == 0 {
		t.Error("syft made nothing in $TMPDIR: does it now make its temporary files elsewhere (Options.TempDir)? Update docs/sbom.md")
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "syft-cataloger-") {
			t.Errorf("the scan made %s in $TMPDIR; only syft's syft-cataloger-* should be there", n)
		}
	}
	for _, d := range []string{tmp, work} {
		if ents, err := os.ReadDir(d); err != nil || len(ents) > 0 {
			t.Errorf("%s after the scan: %v, %v; want empty", d, ents, err)
		}
	}
}

// watchCreated watches dir with inotify and returns a function that
// stops watching and returns the names of the entries created in dir
// meanwhile (however briefly they lived), in order.
func watchCreated(t *testing.T, dir string) func() []string {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	wd, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE)
	if err != nil {
		syscall.Close(fd)
		t.Skipf("inotify: %v", err)
	}
	var (
		mu    sync.Mutex
		names []string
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := syscall.Read(fd, buf)
			if n <= 0 || err != nil {
				return
			}
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
				off += syscall.SizeofInotifyEvent + int(ev.Len)
				if ev.Mask&syscall.IN_IGNORED != 0 {
					return // the watch is gone
				}
				mu.Lock()
				names = append(names, string(bytes.TrimRight(name, "\x00")))
				mu.Unlock()
			}
		}
	}()
	var once sync.Once
	stop := func() []string {
		once.Do(func() {
			// Removing the watch queues IN_IGNORED after every event
			// before it, which ends the reader.
			syscall.InotifyRmWatch(fd, uint32(wd))
			<-done
			syscall.Close(fd)
		})
		mu.Lock()
		defer mu.Unlock()
		return names
	}
	t.Cleanup(func() { stop() })
	return stop
}
