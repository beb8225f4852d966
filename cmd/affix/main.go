// Command affix builds container images with BuildKit, generates an SBOM for
// each platform image and publishes the image index and every SBOM in one
// push, each SBOM an OCI 1.1 referrer of its platform manifest.
//
// Installed as ~/.docker/cli-plugins/docker-affix, the same binary is the
// Docker CLI plugin `docker affix`.
package main

import (
	"context"
	"os"

	"github.com/affix-oci/affix/internal/cli"
	"github.com/affix-oci/affix/internal/version"
	"github.com/affix-oci/affix/plugin/dockercli"
)

func main() {
	if !dockercli.Invoked(os.Args[0]) {
		os.Exit(cli.Main(os.Args[1:]))
	}
	args, metadata := dockercli.Args(os.Args[1:])
	if metadata {
		if err := dockercli.WriteMetadata(os.Stdout, version.Get().Version); err != nil {
			os.Exit(1)
		}
		return
	}
	os.Exit(cli.Run(context.Background(), "docker "+dockercli.Name, args, os.Stdout, os.Stderr))
}
