package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/affix-oci/affix/internal/version"
)

// versionJSON is what `affix version --json` prints: every key always
// present (commit is "" when unknown, as in a build without VCS
// information), so that scripts can rely on them.
type versionJSON struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Go       string `json:"go"`
	Syft     string `json:"syft"`
	BuildKit string `json:"buildkit"`
}

// newVersionCmd returns the version command.
func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the affix version, commit, and the syft and BuildKit versions it was built with",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(fmt.Errorf("version takes no arguments, got %d", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			i := version.Get()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(versionJSON{Version: i.Version, Commit: i.Commit, Go: i.Go, Syft: i.Syft, BuildKit: i.BuildKit})
			}
			commit := i.Commit
			if commit == "" {
				commit = "unknown"
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "affix %s\n commit:   %s\n go:       %s\n syft:     %s\n buildkit: %s\n", i.Version, commit, i.Go, i.Syft, i.BuildKit)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
