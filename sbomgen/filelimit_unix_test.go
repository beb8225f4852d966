//go:build unix

package sbomgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
)

// fileLimitChildEnv, set, makes TestOpenFileLimit the child that scans
// the layout it names under the limit in fileLimitEnv.
const (
	fileLimitChildEnv = "AFFIX_TEST_FILE_LIMIT_LAYOUT"
	fileLimitEnv      = "AFFIX_TEST_FILE_LIMIT"
)

// fileLimitResult is what the child of TestOpenFileLimit reports.
type fileLimitResult struct {
	Setrlimit string // why the limit could not be set; the scan did not run
	Err       string
	EMFILE    bool // the error wraps syscall.EMFILE
	Packages  int
}

// TestOpenFileLimit scans an image of 600 one-file layers in a child
// process (this test binary) whose open-file limit it lowers first:
// stereoscope keeps each unpacked layer's file open until the scan ends,
// so under 256 the scan fails, with an error that wraps syscall.EMFILE,
// names the layer count and the limit and says how to raise it; under
// 2048 the same image scans.
func TestOpenFileLimit(t *testing.T) {
	if dir := os.Getenv(fileLimitChildEnv); dir != "" {
		fileLimitChild(t, dir)
		return
	}
	const n = 600
	layers := make([]fixture.Layer, n)
	for i := range layers {
		layers[i] = fixture.Layer{{Path: fmt.Sprintf("layers/%d", i), Data: []byte(strconv.Itoa(i))}}
	}
	layers[0] = append(layers[0], fixture.File{Path: "etc/os-release", Data: []byte(fixture.AlpineOSRelease)})
	layers[n-1] = append(layers[n-1], fixture.File{Path: "app/demo-1.2.3.jar", Data: minimalJar(t, "com.example", "demo", "1.2.3")})
	dir, _ := writeLayout(t, fixture.Spec{Images: []fixture.Image{{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers:   layers,
	}}})

	tests := []struct {
		name    string
		limit   int
		wantErr bool
	}{
		{"fewer files than layers", 256, true},
		{"enough files", 2048, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestOpenFileLimit$")
			cmd.Env = append(os.Environ(), fileLimitChildEnv+"="+dir, fileLimitEnv+"="+strconv.Itoa(tt.limit))
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			line, _, _ := strings.Cut(string(out), "\n")
			var r fileLimitResult
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("child said %q: %v", out, err)
			}
			if r.Setrlimit != "" {
				t.Skipf("cannot set the open-file limit to %d: %s", tt.limit, r.Setrlimit)
			}
			if !tt.wantErr {
				if r.Err != "" || r.Packages != 1 {
					t.Errorf("scan: %d packages, error %q; want the jar's package", r.Packages, r.Err)
				}
				return
			}
			if !r.EMFILE {
				t.Errorf("error %q does not wrap syscall.EMFILE", r.Err)
			}
			for _, want := range []string{
				"too many open files: ",
				fmt.Sprintf("this image has %d layers", n),
				fmt.Sprintf("the process may open %d files (ulimit -n)", tt.limit),
				"(ulimit -n 2048)",
			} {
				if !strings.Contains(r.Err, want) {
					t.Errorf("error %q does not say %q", r.Err, want)
				}
			}
		})
	}
}

// fileLimitChild is TestOpenFileLimit's child: it lowers its open-file
// limit (soft and hard) to $AFFIX_TEST_FILE_LIMIT, scans the image of the
// layout dir and prints a fileLimitResult as one line of JSON.
func fileLimitChild(t *testing.T, dir string) {
	var r fileLimitResult
	defer func() {
		b, _ := json.Marshal(r)
		fmt.Printf("%s\n", b)
	}()
	l := openLayout(t, dir)
	ctx := context.Background()
	images, err := oci.Walk(ctx, l, l.Roots()...)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(os.Getenv(fileLimitEnv), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		r.Setrlimit = err.Error()
		return
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
		r.Setrlimit = fmt.Sprintf("%v (hard limit %d)", err, old.Max)
		return
	}
	res, err := newGen(t, Options{Formats: []Format{SPDXJSON}}).Image(ctx, l, images[0].Descriptor)
	if err != nil {
		r.Err, r.EMFILE = err.Error(), errors.Is(err, syscall.EMFILE)
		return
	}
	r.Packages = res.PackageCount()
}
