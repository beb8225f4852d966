package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/affix-oci/affix/internal/printable"
)

// NewWarnf returns the function every warning of the command named name
// (its display name: affix, or docker affix as the Docker CLI plugin) is
// printed with: one line "NAME: warning: TEXT" on w, as Run prints the
// error line "NAME: error: TEXT". TEXT is format applied to args, escaped
// by printable.Text (it often holds what a registry, an image or a file
// name supplied), and ends in exactly one newline whether or not it ended
// in some. Warnings are one sentence each; callers give neither prefix nor
// newline. The function may be called from several goroutines (the
// platforms of a push): each line is one write, and its writes never
// overlap.
func NewWarnf(name string, w io.Writer) func(format string, args ...any) {
	return linePrinter(name+": warning: ", w)
}

// lineMu serializes the writes of every linePrinter: a command's
// warnings, notes and debug lines go to one error stream from printers
// made apart (a convert's platforms warn while the exporter logs), and
// that stream may be a writer unsafe for concurrent use (a test's
// bytes.Buffer).
var lineMu sync.Mutex

// linePrinter returns a printer of one line per call on w: prefix, then
// format applied to args escaped by printable.Text, then exactly one
// newline. Lines from several goroutines, of this printer or of any
// other, never interleave.
func linePrinter(prefix string, w io.Writer) func(format string, args ...any) {
	return func(format string, args ...any) {
		text := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
		line := prefix + printable.Text(text) + "\n"
		lineMu.Lock()
		defer lineMu.Unlock()
		io.WriteString(w, line)
	}
}

// warnf returns the warning printer of cmd (see NewWarnf): its root's
// display name, its error stream.
func warnf(cmd *cobra.Command) func(format string, args ...any) {
	return NewWarnf(cmd.Root().DisplayName(), cmd.ErrOrStderr())
}

// notef returns the printer of cmd's notes, what is neither a warning nor
// the result (the SBOM taken instead of a skipped one): "NAME: TEXT"
// lines on its error stream, escaped as warnings are.
func notef(cmd *cobra.Command) func(format string, args ...any) {
	return linePrinter(cmd.Root().DisplayName()+": ", cmd.ErrOrStderr())
}
