// Command affix builds container images with BuildKit, generates an SBOM for
// each platform image and publishes the image index and every SBOM in one
// push, each SBOM an OCI 1.1 referrer of its platform manifest.
//
// Installed as ~/.docker/cli-plugins/docker-affix, the same binary is the
// Docker CLI plugin `docker affix`.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/affix-oci/affix/internal/cli"
	"github.com/affix-oci/affix/internal/version"
	"github.com/affix-oci/affix/plugin/dockercli"
)

func main() {
	if !dockercli.Invoked(os.Args[0]) {
		os.Exit(cli.Main(os.Args[1:]))
	}
	os.Exit(plugin(os.Args[1:]))
}

// plugin runs affix as the Docker CLI plugin and returns the exit code.
func plugin(args []string) int {
	const name = "docker " + dockercli.Name
	inv := dockercli.Parse(args)
	if inv.Metadata {
		if err := dockercli.WriteMetadata(os.Stdout, version.Get().Version); err != nil {
			return 1
		}
		return 0
	}
	for _, kv := range inv.Env {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			fmt.Fprintf(os.Stderr, "%s: error: setting %s: %v\n", name, k, err)
			return 1
		}
	}
	// As the command's own warnings: the flags and file names they
	// quote are printed escaped.
	warn := cli.NewWarnf(name, os.Stderr)
	for _, w := range inv.Warnings {
		warn("%s", w)
	}
	// docker, sent SIGTERM (or SIGINT without a terminal), closes the
	// plugin socket rather than signal the plugin: that cancels the
	// command as SIGTERM would.
	ctx, stop := dockercli.WatchSocket(context.Background(), os.Getenv(dockercli.SocketEnv))
	defer stop()
	return cli.Run(ctx, name, inv.Args, os.Stdout, os.Stderr)
}
