//go:build linux

// Command benchsbom measures `affix sbom` per platform image: packages
// found, wall time and peak resident memory of the affix process, for a
// fresh scan and for a cache hit. It runs the affix binary once per
// platform and measurement, so each figure is one process's own.
//
// Without -layout it scans the Standard fixture (internal/fixture), or
// with -many the image of about 5000 packages of manypkgs.Default, which
// it writes to a temporary directory. -write DIR writes that layout to DIR
// and exits, for measuring a scan by other means (/usr/bin/time -v).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen/internal/manypkgs"
)

func main() {
	affix := flag.String("affix", "bin/affix", "the affix binary to measure")
	layout := flag.String("layout", "", "OCI layout or archive to scan (oci-layout:DIR, oci-archive:FILE); default: the Standard fixture")
	format := flag.String("format", "spdx-json", "document format")
	runs := flag.Int("runs", 3, "scans per platform; the fastest is reported")
	many := flag.Bool("many", false, "without -layout, scan an image of about 5000 packages (manypkgs.Default) instead of the Standard fixture")
	filesPerDeb := flag.Int("files-per-deb", manypkgs.Default.FilesPerDeb, "with -many, files each deb package owns (syft digests each)")
	arm64 := flag.Bool("arm64", false, "with -many, add a linux/arm64 image of the same packages")
	write := flag.String("write", "", "write the generated layout to this directory and exit")
	flag.Parse()
	manyCounts.FilesPerDeb = *filesPerDeb
	manyCounts.Arm64 = *arm64
	ctx := context.Background()
	if *write != "" {
		spec, err := fixtureSpec(ctx, *many)
		if err == nil {
			_, err = fixture.WriteLayout(*write, spec)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchsbom:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, *affix, *layout, *format, *runs, *many); err != nil {
		fmt.Fprintln(os.Stderr, "benchsbom:", err)
		os.Exit(1)
	}
}

// manyCounts are the packages of the -many image.
var manyCounts = manypkgs.Default

// fixtureSpec returns the layout to scan when none is given.
func fixtureSpec(ctx context.Context, many bool) (fixture.Spec, error) {
	if many {
		return manypkgs.Spec(manyCounts), nil
	}
	return fixture.Standard(ctx)
}

func run(ctx context.Context, affix, src, format string, runs int, many bool) error {
	tmp, err := os.MkdirTemp("", "affix-bench-sbom-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if src == "" {
		spec, err := fixtureSpec(ctx, many)
		if err != nil {
			return err
		}
		dir := filepath.Join(tmp, "layout")
		if _, err := fixture.WriteLayout(dir, spec); err != nil {
			return err
		}
		src = "oci-layout:" + dir
	}
	l, err := oci.OpenLayout(ctx, src)
	if err != nil {
		return err
	}
	images, err := oci.Walk(ctx, l, l.Roots()...)
	l.Close()
	if err != nil {
		return err
	}
	images, err = oci.Select(images, oci.Selector{All: true})
	if err != nil {
		return err
	}

	fmt.Printf("affix sbom (%s), %s, best of %d\n", format, src, runs)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "platform\tdigest\tpackages\tscan wall\tscan peak RSS\tcached wall\tcached peak RSS\t")
	for _, img := range images {
		cache := filepath.Join(tmp, "cache-"+img.Descriptor.Digest.Encoded()[:12])
		args := []string{"sbom", "--digest", img.Descriptor.Digest.String(), "--format", format, "-o", os.DevNull, src}
		var scan, cached measurement
		for i := range runs {
			os.RemoveAll(cache)
			m, err := measure(ctx, affix, cache, args)
			if err != nil {
				return err
			}
			if i == 0 || m.wall < scan.wall {
				scan = m
			}
			m, err = measure(ctx, affix, cache, args)
			if err != nil {
				return err
			}
			if i == 0 || m.wall < cached.wall {
				cached = m
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", img.String(), img.Descriptor.Digest.String()[:19], scan.packages,
			scan.wall.Round(time.Millisecond), mib(scan.maxRSS), cached.wall.Round(time.Millisecond), mib(cached.maxRSS))
	}
	return tw.Flush()
}

type measurement struct {
	wall     time.Duration
	maxRSS   int64 // bytes
	packages string
}

var packagesRE = regexp.MustCompile(`(\d+) packages`)

// measure runs affix with args and the cache in cache.
func measure(ctx context.Context, affix, cache string, args []string) (measurement, error) {
	cmd := exec.CommandContext(ctx, affix, args...)
	cmd.Env = append(os.Environ(), "AFFIX_CACHE_DIR="+cache)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return measurement{}, fmt.Errorf("%s %v: %w: %s", affix, args, err, stderr.Bytes())
	}
	m := measurement{wall: wall, packages: "?"}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.maxRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	if sm := packagesRE.FindSubmatch(stderr.Bytes()); sm != nil {
		m.packages = string(sm[1])
	}
	return m, nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
