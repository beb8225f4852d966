//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"golang.org/x/sys/unix"

	"github.com/affix-oci/affix/internal/registrytest"
)

// benchCase is one command measured: args after the affix binary, with
// HOST, DIR, TAR and OUT replaced.
type benchCase struct {
	name string
	args []string
	// fresh empties the SBOM cache before the command.
	fresh bool
	what  string
}

var cases = []benchCase{
	{"sbom-layout", []string{"sbom", "--all-platforms", "-o", "OUT", "oci-layout:DIR"}, true, "scan both platforms, empty cache"},
	{"sbom-layout-cached", []string{"sbom", "--all-platforms", "-o", "OUT", "oci-layout:DIR"}, false, "the same, cache hit"},
	{"sbom-archive", []string{"sbom", "--all-platforms", "--no-cache", "-o", "OUT", "oci-archive:TAR"}, false, "scan both platforms from the tar"},
	{"push-no-sbom", []string{"push", "--no-sbom", "--insecure-registry", "HOST", "oci-layout:DIR", "HOST/plain:1"}, false, "upload only"},
	{"push", []string{"push", "--insecure-registry", "HOST", "oci-layout:DIR", "HOST/large:1"}, true, "upload and scan, empty cache"},
	{"push-again", []string{"push", "--insecure-registry", "HOST", "oci-layout:DIR", "HOST/large:1"}, false, "everything exists, cache hit"},
	{"push-archive-no-sbom", []string{"push", "--no-sbom", "--insecure-registry", "HOST", "oci-archive:TAR", "HOST/fromtar:1"}, false, "upload only, from the tar"},
	{"get", []string{"get", "--insecure-registry", "HOST", "--platform", "linux/amd64", "HOST/large:1"}, false, "print one SBOM"},
	{"attach", []string{"attach", "--insecure-registry", "HOST", "--no-cache", "HOST/plain:1"}, false, "scan both platforms from the registry"},
}

// result is what one command cost.
type result struct {
	wall         time.Duration
	cpu          time.Duration // user and system
	maxRSS       int64         // bytes
	rchar, wchar int64         // bytes read and written through syscalls (files and sockets)
	requests     map[string]int
	peakTmp      int64 // largest size of TMPDIR seen while it ran
	leftTmp      []string
	err          error
}

func benchCmd(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("bench", flag.ExitOnError)
	affix := fl.String("affix", "bin/affix", "affix binary")
	dir := fl.String("dir", "", "layout to measure (default: generate one in -work)")
	archive := fl.String("archive", "", "its tar (default: generate one in -work)")
	work := fl.String("work", "", "directory for the image, caches, registry storage, TMPDIR (default: a new one in $TMPDIR, removed at the end)")
	kind := fl.String("registry", "", "registry kind: distribution-v3 (bin/registry, the default when built), distribution, olareg-api, olareg-noapi")
	only := fl.String("cases", "", "comma-separated cases to run (default: all): "+caseNames())
	runs := fl.Int("runs", 1, "runs of each case (the best wall time is kept)")
	showLog := fl.Bool("log", false, "print each case's registry requests to stderr")
	spec := specFlags(fl)
	fl.Parse(args)
	s, err := spec()
	if err != nil {
		return err
	}
	affixPath, err := filepath.Abs(*affix)
	if err != nil {
		return err
	}
	if _, err := os.Stat(affixPath); err != nil {
		return fmt.Errorf("%w (make build)", err)
	}
	selected := cases
	if *only != "" {
		selected = nil
		for _, n := range strings.Split(*only, ",") {
			i := slices.IndexFunc(cases, func(c benchCase) bool { return c.name == n })
			if i < 0 {
				return fmt.Errorf("-cases: unknown case %q (have %s)", n, caseNames())
			}
			selected = append(selected, cases[i])
		}
	}

	wd := *work
	if wd == "" {
		wd, err = os.MkdirTemp("", "affix-large-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(wd)
	}
	if *dir == "" {
		*dir = filepath.Join(wd, "image")
		if *archive == "" {
			*archive = filepath.Join(wd, "image.tar")
		}
		if _, err := os.Stat(*dir); errors.Is(err, fs.ErrNotExist) {
			if err := genLayout(*dir, *archive, s); err != nil {
				return err
			}
		}
	}
	layoutBytes, err := dirSize(*dir)
	if err != nil {
		return err
	}
	scratch := filepath.Join(wd, "tmp")
	cache := filepath.Join(wd, "cache")
	out := filepath.Join(wd, "out")
	for _, d := range []string{scratch, cache, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// The registry's storage goes to wd too.
	os.Setenv("TMPDIR", wd)
	k := registrytest.Kind(*kind)
	if k == "" {
		k = registrytest.DistributionV3
		if _, err := os.Stat("bin/registry"); err != nil {
			k = registrytest.Distribution
		}
	}
	reg, err := registrytest.Launch(ctx, k, registrytest.Options{})
	if err != nil {
		return err
	}
	defer reg.Close()
	proxy := registrytest.NewProxy(reg.Host)
	defer proxy.Close()

	env := append(os.Environ(), "TMPDIR="+scratch, "AFFIX_CACHE_DIR="+cache, "DOCKER_CONFIG="+filepath.Join(wd, "docker"), "SOURCE_DATE_EPOCH=1767225600")
	fmt.Printf("layout %s: %s in blobs; registry %s\n\n", *dir, units.BytesSize(float64(layoutBytes)), k)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\twall\tCPU\tpeak RSS\tread\twritten\trequests\tpeak TMPDIR\tleft in TMPDIR\t")
	for _, c := range selected {
		var best result
		for r := 0; r < *runs; r++ {
			if c.fresh {
				if err := os.RemoveAll(cache); err != nil {
					return err
				}
			}
			os.RemoveAll(out)
			args := make([]string, len(c.args))
			for i, a := range c.args {
				a = strings.ReplaceAll(a, "HOST", proxy.Host)
				a = strings.ReplaceAll(a, "DIR", *dir)
				a = strings.ReplaceAll(a, "TAR", *archive)
				args[i] = strings.ReplaceAll(a, "OUT", out)
			}
			before := len(proxy.Log())
			res := measure(ctx, affixPath, args, env, scratch)
			reqs := proxy.Log()[before:]
			res.requests = countRequests(reqs)
			if *showLog {
				fmt.Fprintf(os.Stderr, "%s: %s\n", c.name, strings.Join(reqs, "\n\t"))
			}
			if res.err != nil {
				return fmt.Errorf("%s: affix %s: %w", c.name, strings.Join(args, " "), res.err)
			}
			if r == 0 || res.wall < best.wall {
				best = res
			}
			// What a command leaves is reported, then removed so that the
			// next one starts from an empty TMPDIR.
			if err := emptyDir(scratch); err != nil {
				return err
			}
		}
		left := "-"
		if len(best.leftTmp) > 0 {
			left = strings.Join(best.leftTmp, " ")
		}
		fmt.Fprintf(tw, "%s\t%.1f s\t%.1f s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.name, best.wall.Seconds(), best.cpu.Seconds(), mib(best.maxRSS), mib(best.rchar), mib(best.wchar), formatRequests(best.requests), mib(best.peakTmp), left)
	}
	return tw.Flush()
}

func caseNames() string {
	var n []string
	for _, c := range cases {
		n = append(n, c.name)
	}
	return strings.Join(n, ",")
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// measure runs affix with args and returns what it cost. The I/O counts
// come from /proc/PID/io, read while the exited child is still a zombie
// (waitid WNOWAIT), the peak RSS from its rusage (what /usr/bin/time -v
// reports as "Maximum resident set size").
func measure(ctx context.Context, affix string, args, env []string, scratch string) result {
	cmd := exec.CommandContext(ctx, affix, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var res result
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{err: err}
	}
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if n, err := dirSize(scratch); err == nil && n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != syscall.EINTR {
			break
		}
	}
	res.wall = time.Since(start)
	res.rchar, res.wchar = procIO(cmd.Process.Pid)
	close(done)
	err := cmd.Wait()
	if err != nil {
		res.err = fmt.Errorf("%w: %s", err, stderr.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.maxRSS = ru.Maxrss << 10
	}
	res.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	res.peakTmp = peak.Load()
	entries, _ := os.ReadDir(scratch)
	for _, e := range entries {
		n, _ := dirSize(filepath.Join(scratch, e.Name()))
		res.leftTmp = append(res.leftTmp, fmt.Sprintf("%s(%s)", e.Name(), units.BytesSize(float64(n))))
	}
	return res
}

// procIO returns rchar and wchar of process pid.
func procIO(pid int) (rchar, wchar int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return -1, -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "rchar":
			rchar = n
		case "wchar":
			wchar = n
		}
	}
	return rchar, wchar
}

// countRequests counts proxy log lines ("METHOD /v2/...") by method and
// kind: "HEAD blob", "PUT manifest", ...
func countRequests(log []string) map[string]int {
	out := map[string]int{}
	for _, l := range log {
		method, p, _ := strings.Cut(l, " ")
		kind := "other"
		switch {
		case strings.Contains(p, "/blobs/uploads/"):
			kind = "upload"
		case strings.Contains(p, "/blobs/"):
			kind = "blob"
		case strings.Contains(p, "/manifests/"):
			kind = "manifest"
		case strings.Contains(p, "/referrers/"):
			kind = "referrers"
		}
		out[method+" "+kind]++
	}
	return out
}

func formatRequests(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	total := 0
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		total += m[k]
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// dirSize returns the bytes of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

// emptyDir removes what dir holds.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
