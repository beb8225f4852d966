// Command affix-scanner is affix's SBOM engine as a BuildKit SBOM
// generator: the entrypoint of the image that
// `buildctl build --opt attest:sbom=generator=IMAGE` or
// `docker buildx build --attest type=sbom,generator=IMAGE` runs. See
// plugin/scanner and docs/plugin.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/affix-oci/affix/plugin/scanner"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := scanner.Main(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
