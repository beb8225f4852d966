//go:build linux

// Command largeimage measures affix on a large image: it generates one as
// an OCI layout (and its tar), then times affix's commands on it against a
// local registry, with their peak RSS, bytes read and written, registry
// requests and what they leave in TMPDIR. See docs/benchmarks.md, "Large
// images", and hack/bench-large.sh.
//
//	go run ./hack/largeimage gen -dir DIR [-archive FILE] [flags]
//	go run ./hack/largeimage bench [-dir DIR] [-archive FILE] [-affix bin/affix] [flags]
//
// The image (per platform; 2 platforms by default): a base layer with a
// dpkg status of 3000 packages (an md5sums file each) and 50000 small
// files, a layer of 4 big files (1 GiB in all: three pseudo-random, one
// log-like text), and a layer of 10000 whiteouts (half as whiteout
// entries, half under opaque directory markers). Layers are gzip
// (BestSpeed), streamed to their blobs as they are generated: the
// generator's memory does not grow with the image.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/docker/go-units"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "gen":
		err = genCmd(os.Args[2:])
	case "bench":
		err = benchCmd(ctx, os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "largeimage:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: largeimage gen -dir DIR [-archive FILE] [flags] | largeimage bench [flags] (-h for flags)")
	os.Exit(2)
}

// specFlags registers the image's flags on fs.
func specFlags(fs *flag.FlagSet) func() (genSpec, error) {
	plats := fs.String("platforms", "linux/amd64,linux/arm64", "platforms, comma-separated os/arch")
	big := fs.String("big", "1GiB", "bytes of big files per platform")
	bigFiles := fs.Int("big-files", 4, "how many big files per platform")
	small := fs.Int("small-files", 50000, "small files per platform")
	pkgs := fs.Int("packages", 3000, "dpkg packages per platform")
	wh := fs.Int("whiteouts", 10000, "whiteouts per platform")
	return func() (genSpec, error) {
		n, err := units.RAMInBytes(*big)
		if err != nil {
			return genSpec{}, fmt.Errorf("-big %q: %w", *big, err)
		}
		s := genSpec{BigBytes: n, BigFiles: *bigFiles, SmallFiles: *small, Packages: *pkgs, Whiteouts: *wh}
		for _, p := range strings.Split(*plats, ",") {
			os, arch, ok := strings.Cut(p, "/")
			if !ok {
				return genSpec{}, fmt.Errorf("-platforms: %q: want os/arch", p)
			}
			s.Platforms = append(s.Platforms, ocispec.Platform{OS: os, Architecture: arch})
		}
		if s.Packages < 1 || s.BigFiles < 1 || s.SmallFiles < 0 || s.Whiteouts < 0 || s.BigBytes < 0 {
			return genSpec{}, fmt.Errorf("-packages and -big-files must be positive, the others not negative")
		}
		return s, nil
	}
}

func genCmd(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	dir := fs.String("dir", "", "layout directory to write (must not exist)")
	archive := fs.String("archive", "", "also write the layout as a tar here")
	spec := specFlags(fs)
	fs.Parse(args)
	s, err := spec()
	if err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("gen: -dir is required")
	}
	if _, err := os.Stat(*dir); err == nil {
		return fmt.Errorf("gen: %s exists", *dir)
	}
	return genLayout(*dir, *archive, s)
}

// genLayout writes the layout and, when archive is set, its tar, and
// says how long each took.
func genLayout(dir, archive string, s genSpec) error {
	start := time.Now()
	idx, err := generate(dir, s)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "largeimage: wrote %s (index %s) in %v\n", dir, idx.Digest, time.Since(start).Round(100*time.Millisecond))
	if archive != "" {
		start = time.Now()
		if err := fixture.WriteArchive(dir, archive); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "largeimage: wrote %s in %v\n", archive, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}
