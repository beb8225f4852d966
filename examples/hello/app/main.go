// Command hello is the program of the examples/hello image. prepare.sh
// cross-compiles it for each platform, so each platform image holds a Go
// binary whose build info (main module, dependencies, Go version) an SBOM
// generator reads.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

func main() {
	var g errgroup.Group
	g.Go(func() error {
		fmt.Printf("hello from %s/%s (%s)\n", runtime.GOOS, runtime.GOARCH, uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://affix.dev/hello")))
		return nil
	})
	if err := g.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
