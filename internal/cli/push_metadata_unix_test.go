//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/affix-oci/affix/internal/registrytest"
)

// TestMetadataFileStale: an earlier regular --metadata-file is removed
// before push, attach and convert, so one that fails leaves none (as
// affix build does); and a push or attach that succeeded but could not
// write the file (a link to /dev/full: a full disk) says it succeeded,
// and which tags moved, naming the file.
func TestMetadataFileStale(t *testing.T) {
	cliEnv(t)
	dir, _ := variantsPair(t)
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	nowhere := registrytest.ClosedHost(t)
	doc := writeFile(t, "vex.json", []byte(`{}`))
	full := filepath.Join(t.TempDir(), "full.json")
	if err := os.Symlink("/dev/full", full); err != nil {
		t.Fatal(err)
	}
	pushBuildKitStyle(t, reg, "bk")
	mustAffix(t, "push", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref("merge")+":all")
	for _, tt := range []struct {
		name string
		args []string // the command and its flags before --metadata-file, then its arguments
		meta string   // --metadata-file; "" for an earlier regular file
		code int
		msg  string
	}{
		{"push fails", []string{"push", "--insecure-registry", nowhere, "--no-sbom", "--metadata-file", "", "oci-layout:" + dir, nowhere + "/app:v1"}, "", 1, "connection refused"},
		{"attach fails", []string{"attach", "--insecure-registry", nowhere, "--artifact-type", "application/vnd.example", "--metadata-file", "", nowhere + "/app:v1", doc}, "", 1, "connection refused"},
		{"convert fails", []string{"convert", "--insecure-registry", nowhere, "--metadata-file", "", nowhere + "/app:v1"}, "", 1, "connection refused"},
		{"push succeeds, full disk", []string{"push", "--insecure-registry", reg.Host, "--no-sbom", "--metadata-file", "", "oci-layout:" + dir, reg.Ref("app") + ":v1,latest"}, full, 1,
			"push to " + reg.Ref("app") + " succeeded (tags moved: " + reg.Ref("app") + ":v1, " + reg.Ref("app") + ":latest), but --metadata-file was not written: writing " + full + ": no space left on device"},
		{"attach succeeds, full disk", []string{"attach", "--insecure-registry", reg.Host, "--artifact-type", "application/vnd.example", "--metadata-file", "", reg.Ref("app") + ":v1", doc}, full, 1,
			"attach to " + reg.Ref("app") + ":v1 succeeded (referrers attached), but --metadata-file was not written: writing " + full + ": no space left on device"},
		{"convert succeeds, full disk", []string{"convert", "--insecure-registry", reg.Host, "--metadata-file", "", reg.Ref("bk") + ":v1"}, full, 1,
			"convert of " + reg.Ref("bk") + ":v1 succeeded, but --metadata-file was not written: writing " + full + ": no space left on device"},
		{"merge succeeds, full disk", []string{"merge", "--insecure-registry", reg.Host, "--metadata-file", "", reg.Ref("merge") + ":v1", ":all"}, full, 1,
			"merge to " + reg.Ref("merge") + " succeeded (tags moved: " + reg.Ref("merge") + ":v1), but --metadata-file was not written: writing " + full + ": no space left on device"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			meta := tt.meta
			if meta == "" {
				meta = writeFile(t, "meta.json", []byte(`{"index":"of an earlier run"}`))
			}
			args := append([]string(nil), tt.args...)
			for i, a := range args {
				if a == "--metadata-file" {
					args[i+1] = meta
				}
			}
			_, errs, code := affix(t, args...)
			if code != tt.code || !strings.Contains(errs, tt.msg) {
				t.Fatalf("exit %d, want %d; stderr %q does not contain %q", code, tt.code, errs, tt.msg)
			}
			if tt.meta == "" {
				if _, err := os.Stat(meta); !os.IsNotExist(err) {
					t.Errorf("earlier --metadata-file %s still there (%v)", meta, err)
				}
			} else if fi, err := os.Lstat(meta); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the link %s was replaced (%v)", meta, err)
			}
		})
	}
}

// TestPushHostCase: pushes to LOCALHOST:PORT/upper and localhost:PORT/upper
// (one repository: host names are case-insensitive) make the same SBOM
// referrers, not two per platform; --insecure-registry localhost:PORT
// covers LOCALHOST:PORT.
func TestPushHostCase(t *testing.T) {
	cliEnv(t)
	dir, _ := variantsPair(t)
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	_, port, _ := strings.Cut(reg.Host, ":")
	var referrers []string
	for _, host := range []string{"LOCALHOST:" + port, "localhost:" + port} {
		meta := filepath.Join(t.TempDir(), "meta.json")
		mustAffix(t, "push", "--insecure-registry", "localhost:"+port, "--metadata-file", meta, "oci-layout:"+dir, host+"/upper:1")
		m := readMeta(t, meta)
		var ds []string
		for _, p := range m.Platforms {
			for _, r := range p.Referrers {
				ds = append(ds, p.Platform+" "+r.Digest.String())
			}
		}
		if len(ds) == 0 {
			t.Fatalf("push to %s attached no referrers", host)
		}
		referrers = append(referrers, strings.Join(ds, ", "))
	}
	if referrers[0] != referrers[1] {
		t.Errorf("the SBOM referrers depend on the host's case:\n%s\n%s", referrers[0], referrers[1])
	}
}
