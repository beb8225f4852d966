// Package cli wires affix's commands: it parses flags, opens sources and
// registries, and passes data from one engine (frontend, sbomgen, exporter)
// to the next. The engines never call each other; this package does.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/frontend"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/printable"
	"github.com/affix-oci/affix/internal/version"
	"github.com/affix-oci/affix/sbomgen"
)

// exitError carries a specific exit code (for example 2 for usage errors).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errQuiet is the error of a command that has said what it had to on
// stdout and only exits non-zero (as an exitError's cause): nothing more
// is printed.
var errQuiet = errors.New("exit status")

// usageError marks err as a command-line usage error (exit code 2).
func usageError(err error) error { return &exitError{code: 2, err: err} }

// sourceUsage returns err as a usage error when it is about the local
// source the user named: a path that is missing or not of its scheme's
// kind (oci.ErrSourcePath), or a source of no known form
// (oci.ErrInvalidSource), both found before anything is read or sent.
// Other errors, those of a layout's content among them, are returned as
// they are.
func sourceUsage(err error) error {
	if isSourceError(err) {
		return usageError(err)
	}
	return err
}

// isSourceError reports whether err is about the local source itself, as
// sourceUsage takes it.
func isSourceError(err error) bool {
	return errors.Is(err, oci.ErrSourcePath) || errors.Is(err, oci.ErrInvalidSource)
}

// checkScanEnv refuses, as a usage error, an invalid value of an
// environment variable a scan configured by opts reads
// (sbomgen.CheckEnv): before anything is read or built.
func checkScanEnv(opts sbomgen.Options) error {
	if err := sbomgen.CheckEnv(opts); err != nil {
		return usageError(err)
	}
	return nil
}

// checkPositive refuses a count flag (--max-concurrency, --concurrency)
// below 1 as a usage error naming the flag.
func checkPositive(flag string, n int) error {
	if n < 1 {
		return usageError(fmt.Errorf("%s %d: must be at least 1", flag, n))
	}
	return nil
}

// globalOptions are the flags every command has.
type globalOptions struct {
	debug bool
	// stderr is the running command's error stream (set before it runs).
	stderr io.Writer
	// name is the display name (affix, docker affix) lines start with.
	name string
}

// NewRootCommand returns the affix command tree. name is the command name
// shown in help ("affix", or "docker affix" inside the Docker CLI).
func NewRootCommand(name string) *cobra.Command {
	g := globalOptions{name: name}
	root := &cobra.Command{
		// Use is the command's own name; the name shown in usage lines
		// (docker affix inside the Docker CLI) is its display name.
		Use:           "affix",
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: name},
		Short:         "Build images with BuildKit and publish each platform's SBOM as an OCI referrer in the same push",
		SilenceUsage:  true,
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			HiddenDefaultCmd: true,
		},
	}
	// An unknown command is a usage error (exit code 2), like an unknown
	// flag; cobra would report it as a plain error.
	root.Args = cobra.ArbitraryArgs
	root.SuggestionsMinimumDistance = 2
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if v, _ := cmd.Flags().GetBool("version"); v {
			if len(args) > 0 {
				return usageError(fmt.Errorf("--version takes no arguments, got %d", len(args)))
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s version %s\n", cmd.DisplayName(), version.Get().Version)
			return err
		}
		if len(args) == 0 {
			return cmd.Help()
		}
		return usageError(unknownCommand(cmd, args[0]))
	}
	root.PersistentFlags().BoolVarP(&g.debug, "debug", "D", false, "print debug logs")
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		g.stderr = cmd.ErrOrStderr()
		// BuildKit and containerd log through the global logrus logger;
		// their warnings (fsverity support checks and the like) are noise
		// unless debugging.
		if g.debug {
			logrus.SetLevel(logrus.DebugLevel)
		} else {
			logrus.SetLevel(logrus.ErrorLevel)
		}
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(plainFlagError(err)) })
	root.AddCommand(
		newVersionCmd(),
		newSBOMCmd(&g),
	)
	addCommands(root, &g)
	// --version (-v) prints "NAME version V"; `version` says more. Not
	// cobra's Version, which would take `affix -v extra` without a word.
	root.Flags().BoolP("version", "v", false, "print the affix version (the version command says more)")
	root.SetHelpCommand(newHelpCmd(name))
	// Examples are written for `affix`; under another name (docker
	// affix) they show the name the user runs.
	if name != root.Name() {
		renameExamples(root, name)
	}
	return root
}

// unknownCommand is the error of word given to root where a command is
// expected: one that names a command came after "--", which ends the
// flags (cobra then runs root with it as an argument); another is
// unknown, with the nearest command suggested (never word itself).
func unknownCommand(root *cobra.Command, word string) error {
	if c, _, err := root.Find([]string{word}); err == nil && c != root {
		return fmt.Errorf(`"--" ends the flags: %q after it is an argument of %s, not a command (write %s %s)`, word, root.DisplayName(), root.DisplayName(), word)
	}
	msg := fmt.Sprintf("unknown command %q for %q", word, root.CommandPath())
	for _, s := range root.SuggestionsFor(word) {
		if s != word {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
			break
		}
	}
	return errors.New(msg)
}

// newHelpCmd returns the help command of the command tree named name:
// cobra's, except that a topic that names no command is a usage error,
// not root's help with exit 0.
func newHelpCmd(name string) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help provides help for any command in the application.\nSimply type " + name + " help [path to command] for full details.",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err == nil && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
				err = fmt.Errorf("%q is not a command of %s", rest[0], cmd.CommandPath())
			}
			if err != nil {
				return usageError(fmt.Errorf("unknown help topic %q: %w", strings.Join(args, " "), err))
			}
			if cmd.Context() == nil {
				cmd.SetContext(c.Context())
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
	}
}

// examplePrefix matches the command name at the start of an example line.
var examplePrefix = regexp.MustCompile(`(?m)^(\s*)affix `)

// renameExamples makes the examples of c and its subcommands run name
// instead of affix.
func renameExamples(c *cobra.Command, name string) {
	c.Example = examplePrefix.ReplaceAllString(c.Example, "${1}"+name+" ")
	for _, sub := range c.Commands() {
		renameExamples(sub, name)
	}
}

// extraCommands are added by files that register further commands.
var extraCommands []func(*globalOptions) *cobra.Command

// addCommands adds the commands that registered themselves to root.
func addCommands(root *cobra.Command, g *globalOptions) {
	for _, f := range extraCommands {
		root.AddCommand(f(g))
	}
}

// Main runs affix with args and returns the process exit code.
func Main(args []string) int {
	return Run(context.Background(), "affix", args, os.Stdout, os.Stderr)
}

// Run runs the command tree named name with args, and returns the exit
// code: 0 on success, 2 for usage errors, 128+N when signal N (SIGINT,
// SIGTERM) ended the command, as shells and the Docker CLI report it (141,
// SIGPIPE's, when the reader of stdout or stderr went away), 1 for any
// other error, which is printed to stderr. A cancel cause of ctx with a
// method Signal() os.Signal counts as that signal. The first signal
// cancels the context, but lets a tag write under way finish; a second
// one cuts that write short (the error then says which tags may have
// moved) and ends the command as by itself; with no tag write under way
// it ends the process at once, as the Docker CLI does, should the
// clean-up hang (see signalContext). A command that completes all the
// same (the signal came during its last tag write) exits 0, with a note
// on stderr that says so.
func Run(ctx context.Context, name string, args []string, stdout, stderr io.Writer) (code int) {
	writes := &exporter.TagWrites{}
	ctx, got, stop := signalContext(ctx, writes, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Output files of an earlier run the command removed come back after
	// a usage error, which should change nothing.
	ctx, earlier := withEarlierFiles(ctx)
	defer func() { earlier.settle(code == 2, NewWarnf(name, stderr)) }()
	// A reader of stdout or stderr that goes away (affix ... | head) would
	// have the runtime end the process by SIGPIPE, skipping every clean-up
	// (temporary layouts, a half-written --output). Asking for SIGPIPE
	// turns it into an EPIPE error instead; pipeWriter then cancels the
	// command, which unwinds as on ^C. The channel is never read, and
	// SIGPIPE is not among the cancelling signals: once asked for, it also
	// comes for a registry connection that broke, which is retried.
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Once the command is cancelled (a signal, a closed output), the
	// BuildKit client's and containerd's error logs of the connections
	// cut short ("(*service).Write failed ... transport is closing") are
	// noise before affix's own message; --debug keeps them.
	// The level is the process's: put back as it was, once the quieting
	// (its own goroutine) is done or will not run.
	level := logrus.GetLevel()
	// Nor, below --debug, are the content store's logs of each write of
	// the build's output it failed: the build's error says it, and
	// what to do (a TMPDIR with room).
	defer quietContentLogs()()
	var quieting sync.WaitGroup
	quieting.Add(1)
	stopQuiet := context.AfterFunc(ctx, func() {
		defer quieting.Done()
		quietLibraryLogs()
	})
	defer func() {
		if stopQuiet() {
			quieting.Done()
		}
		quieting.Wait()
		logrus.SetLevel(level)
	}()
	var broken atomic.Bool
	stdout = watchPipe(stdout, &broken, cancel)
	stderr = watchPipe(stderr, &broken, cancel)
	root := NewRootCommand(name)
	// Never nil: cobra reads os.Args for nil args, and the docker CLI
	// plugin's "docker affix" alone comes with none left after its name.
	root.SetArgs(append([]string{}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	sig := got()
	if sig == nil {
		sig = causeSignal(ctx)
	}
	if sig == nil && broken.Load() {
		// As a process ended by SIGPIPE: 141, and quiet, since the reader
		// is gone and "broken pipe" on stderr would only be noise. Output
		// was lost, so not 0 even when the command itself succeeded.
		return 128 + int(syscall.SIGPIPE)
	}
	if err == nil {
		if sig != nil {
			// The work is done and consistent (every tag moved): 0, as
			// had the signal come a moment later; but whoever sent it
			// learns why it did not stop the command
			// (docs/design-decisions.md).
			cause := context.Cause(ctx)
			if cause == nil {
				// The signal was seen, its cancel not made yet.
				cause = fmt.Errorf("%v signal received", sig)
			}
			linePrinter(name+": ", stderr)("%s", completedNote(cause, cmd.CommandPath(), writes.Interrupted() > 0))
		}
		return 0
	}
	if errors.Is(err, errQuiet) {
		return exitCode(err, sig)
	}
	// Errors carry what registries and images say (a response body, a
	// config's fields): escaped, they cannot drive the terminal.
	fmt.Fprintf(stderr, "%s: error: %s\n", name, printable.Text(withCause(err, sig, context.Cause(ctx)).Error()))
	return exitCode(err, sig)
}

// completedNote says that command completed although cause (a signal)
// cancelled it, during its tag writes (duringTagWrite), which were let
// finish, or as it ended.
func completedNote(cause error, command string, duringTagWrite bool) string {
	if duringTagWrite {
		return fmt.Sprintf("%v during the tag writes: they were let finish, and %s completed", cause, command)
	}
	return fmt.Sprintf("%v as %s ended: it completed", cause, command)
}

// withCause is err with what cancelled the command (cause, after signal
// sig) when err says only "context canceled": a request cut short
// reports the context's error, not its cause, and the user is to read
// that an interrupt, not a fault, stopped it.
func withCause(err error, sig os.Signal, cause error) error {
	if sig == nil || cause == nil || !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), cause.Error()) {
		return err
	}
	return fmt.Errorf("%w (%v)", err, cause)
}

// quietFormatter counts the commands running in the process (Run) that
// need frontend.QuietLogs's formatter on the global logrus logger, and
// keeps the formatter they found, for the last to put back.
var quietFormatter struct {
	sync.Mutex
	n     int
	saved logrus.Formatter
}

// quietContentLogs sets the global logrus logger's formatter to
// frontend.QuietLogs of the one it has, and returns what puts it back
// once no command that called it runs (the logger is the process's; Run
// may run concurrently, in tests).
func quietContentLogs() (restore func()) {
	quietFormatter.Lock()
	defer quietFormatter.Unlock()
	if quietFormatter.n == 0 {
		quietFormatter.saved = logrus.StandardLogger().Formatter
		logrus.SetFormatter(frontend.QuietLogs(quietFormatter.saved))
	}
	quietFormatter.n++
	return func() {
		quietFormatter.Lock()
		defer quietFormatter.Unlock()
		if quietFormatter.n--; quietFormatter.n == 0 {
			logrus.SetFormatter(quietFormatter.saved)
		}
	}
}

// quietLibraryLogs silences the global logrus logger BuildKit and
// containerd log through, unless it is at debug level (--debug).
func quietLibraryLogs() {
	if logrus.GetLevel() < logrus.DebugLevel {
		logrus.SetLevel(logrus.FatalLevel)
	}
}

// causeSignal is the signal ctx's cancel cause stands for, if it has a
// Signal method (nil otherwise): the Docker CLI plugin cancels the
// command so when the docker CLI, signalled, closes the plugin socket.
func causeSignal(ctx context.Context) os.Signal {
	var s interface{ Signal() os.Signal }
	if errors.As(context.Cause(ctx), &s) {
		return s.Signal()
	}
	return nil
}

// watchPipe returns w as a stream that cancels the command when its
// reader has gone (see pipeWriter). A file stays a file (pipeFile): the
// progress display draws on a terminal only through one (console.File).
func watchPipe(w io.Writer, broken *atomic.Bool, cancel context.CancelCauseFunc) io.Writer {
	pw := pipeWriter{w: w, broken: broken, cancel: cancel}
	if f, ok := w.(*os.File); ok {
		return pipeFile{File: f, pw: pw}
	}
	return pw
}

// pipeFile is an *os.File whose writes go through a pipeWriter.
type pipeFile struct {
	*os.File
	pw pipeWriter
}

func (f pipeFile) Write(b []byte) (int, error) { return f.pw.Write(b) }

// pipeWriter is an output stream of a command that cancels it, with
// errOutputClosed, when a write finds the reader gone (EPIPE).
type pipeWriter struct {
	w      io.Writer
	broken *atomic.Bool
	cancel context.CancelCauseFunc
}

// errOutputClosed means stdout or stderr was closed by its reader.
var errOutputClosed = errors.New("output closed by its reader")

func (p pipeWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if errors.Is(err, syscall.EPIPE) {
		p.broken.Store(true)
		p.cancel(fmt.Errorf("%w: %w", errOutputClosed, err))
	}
	return n, err
}

// exitCode is the exit code of a command that failed with err after
// signal sig arrived (nil: none did).
func exitCode(err error, sig os.Signal) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// signalContext returns a context cancelled by the first of sigs to
// arrive, a function reporting the signal that ended the command (nil
// before any), and one that stops listening. The tag writes the first
// signal lets finish (exporter.CommitContext) are writes' (the context
// carries it): a second signal while one is under way cuts them short,
// so that the command, told at once that their tags may have moved, says
// which did and which did not, and ends as by that signal; a third, or a
// second with no tag write under way, gets the default action (the
// process ends at once, as the Docker CLI does, should the clean-up
// hang).
func signalContext(ctx context.Context, writes *exporter.TagWrites, sigs ...os.Signal) (context.Context, func() os.Signal, func()) {
	ctx, cancel := context.WithCancelCause(exporter.WithTagWrites(ctx, writes))
	// Room for two signals sent close together (^C twice; a CI
	// runner's SIGINT, then SIGTERM): Notify drops what does not fit.
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, sigs...)
	var got atomic.Value
	done := make(chan struct{})
	go func() {
		var first os.Signal
		select {
		case first = <-ch:
		case <-done:
			return
		}
		got.Store(first)
		cancel(fmt.Errorf("%v signal received", first))
		select {
		case s := <-ch:
			signal.Stop(ch)
			// Before the cut, which the command may be quick to
			// return from: it ends as by s.
			got.Store(s)
			if writes.Cut(secondSignal(first, s)) == 0 {
				raise(s)
			}
			// A third, sent before Stop, waits in the buffer: it ends
			// the process as one sent after does.
			select {
			case s3 := <-ch:
				raise(s3)
			default:
			}
		case <-done:
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(nil)
		})
	}
	return ctx, func() os.Signal { s, _ := got.Load().(os.Signal); return s }, stop
}

// secondSignal is the cause of tag writes cut short by signal second,
// after first.
func secondSignal(first, second os.Signal) error {
	if first == second {
		return fmt.Errorf("%v signal received twice: the tag write was cut short", first)
	}
	return fmt.Errorf("%v signal received, then %v: the tag write was cut short", first, second)
}

// raise gives s its default action, as if affix had never asked for it:
// the process ends by s. Where a process cannot signal itself so, or
// the signal's action is to be ignored (SIGINT of a process a
// non-interactive shell started with &: Reset restores the ignoring it
// inherited), it exits as ended by s. Tests replace it.
var raise = func(s os.Signal) {
	signal.Reset(s)
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		err = p.Signal(s)
	}
	if err == nil {
		// Delivered: the process ends now, unless s is ignored.
		time.Sleep(time.Second)
	}
	os.Exit(exitCode(nil, s))
}

// strconvError matches the strconv error pflag appends to a flag value it
// cannot parse (with %v, so errors.As cannot find it): `strconv.ParseInt:
// parsing "x": invalid syntax`.
var strconvError = regexp.MustCompile(`strconv\.Parse(Int|Uint|Bool|Float): parsing "(?:[^"\\]|\\.)*": (invalid syntax|value out of range)$`)

// plainFlagError says, instead of Go's strconv text, what a flag value
// that did not parse should be: `invalid argument "x" for
// "--max-concurrency" flag: want a whole number`.
func plainFlagError(err error) error {
	m := strconvError.FindStringSubmatchIndex(err.Error())
	if m == nil {
		return err
	}
	msg := err.Error()
	kind, why := msg[m[2]:m[3]], msg[m[4]:m[5]]
	want := map[string]string{"Int": "want a whole number", "Uint": "want a whole number, 0 or more", "Bool": "want true or false", "Float": "want a number"}[kind]
	if why == "value out of range" {
		want = "out of range"
	}
	return errors.New(msg[:m[0]] + want)
}
