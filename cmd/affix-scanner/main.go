// Command affix-scanner is affix's SBOM engine as a BuildKit SBOM
// generator: the entrypoint of the image that
// `buildctl build --opt attest:sbom=generator=IMAGE` or
// `docker buildx build --attest type=sbom,generator=IMAGE` runs. See
// plugin/scanner and docs/plugin.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/affix-oci/affix/plugin/scanner"
)

// cancelGrace is how long a scan may take to stop after SIGINT or
// SIGTERM: sbomgen's walk of the root filesystem stops with the context,
// but not every step of syft's cataloging does (a binary classifier reads
// a file it looks for whole: minutes for a large sparse one).
const cancelGrace = 5 * time.Second

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		cancel()
		// A second signal kills at once, as without a handler.
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		time.Sleep(cancelGrace)
		fmt.Fprintf(os.Stderr, "affix-scanner: %v: the scan did not stop within %v; exiting\n", sig, cancelGrace)
		code := 1
		if s, ok := sig.(syscall.Signal); ok {
			code = 128 + int(s)
		}
		os.Exit(code)
	}()
	code := scanner.Main(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	os.Exit(code)
}
