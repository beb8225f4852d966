package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newSBOMCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "sbom SOURCE",
		Short: "Generate an SBOM for platform images of an OCI layout",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not implemented") },
	}
}
