// Command affix builds container images with BuildKit, generates an SBOM for
// each platform image and publishes the image index and every SBOM in one
// push, each SBOM an OCI 1.1 referrer of its platform manifest.
package main

import (
	"os"

	"github.com/affix-oci/affix/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
