package scanner

import (
	"context"
	"fmt"
	"io"

	"github.com/affix-oci/affix/internal/version"
)

// Main runs the scanner as the generator image's entrypoint: with no
// arguments it follows the protocol described by environ, logging to
// stderr; "version" (or --version) prints the generator identity. It
// returns the exit code.
func Main(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	const name = "affix-scanner"
	if len(args) > 0 {
		switch args[0] {
		case "version", "--version", "-v":
			fmt.Fprintln(stdout, version.Generator())
			return 0
		case "help", "--help", "-h":
			fmt.Fprintf(stdout, "%s: BuildKit SBOM generator (%s)\n\nRun by BuildKit: buildctl build --opt attest:sbom=generator=IMAGE[,NAME=...][,SOURCE_DATE_EPOCH=...]\nor docker buildx build --attest type=sbom,generator=IMAGE. See docs/plugin.md.\n", name, version.Generator())
			return 0
		}
		fmt.Fprintf(stderr, "%s: unexpected arguments %q (the scanner is configured by BUILDKIT_SCAN_* variables)\n", name, args)
		return 2
	}
	cfg, err := ConfigFromEnv(environ)
	if err != nil {
		fmt.Fprintf(stderr, "%s: error: %v\n", name, err)
		return 1
	}
	for _, k := range cfg.Ignored {
		fmt.Fprintf(stderr, "%s: ignoring %s\n", name, k)
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, name+": "+format+"\n", a...) }
	logf("%s, %d target(s)", version.Generator(), len(cfg.Targets))
	if _, err := Run(ctx, cfg, Options{Logf: logf}); err != nil {
		fmt.Fprintf(stderr, "%s: error: %v\n", name, err)
		return 1
	}
	return 0
}
