package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/affix-oci/affix/exporter"
)

// TestRunNameAndExitCodes checks the name usage lines show (affix, or
// docker affix inside the Docker CLI) and the exit codes of Run.
func TestRunNameAndExitCodes(t *testing.T) {
	empty := t.TempDir()
	for _, tt := range []struct {
		name, cmd string
		args      []string
		code      int
		stdout    []string // substrings
		stderr    []string
	}{
		{"help", "affix", []string{"build", "--help"}, 0, []string{"Usage:\n  affix build "}, nil},
		{"plugin help", "docker affix", []string{"build", "--help"}, 0, []string{"Usage:\n  docker affix build "}, nil},
		{"plugin root help", "docker affix", []string{"--help"}, 0, []string{"  docker affix [command]\n", `Use "docker affix [command] --help"`}, nil},
		{"unknown flag", "affix", []string{"sbom", "--no-such-flag"}, 2, nil, []string{"affix: error: unknown flag: --no-such-flag"}},
		{"flag not a number", "affix", []string{"push", "--max-concurrency", "x", "a", "b"}, 2, nil, []string{`affix: error: invalid argument "x" for "--max-concurrency" flag: want a whole number` + "\n"}},
		{"flag number out of range", "affix", []string{"push", "--max-concurrency", "99999999999999999999", "a", "b"}, 2, nil, []string{`flag: out of range` + "\n"}},
		{"flag not a boolean", "affix", []string{"push", "--sbom=maybe", "a", "b"}, 2, nil, []string{`affix: error: invalid argument "maybe" for "--sbom" flag: want true or false` + "\n"}},
		{"unknown command", "docker affix", []string{"frobnicate"}, 2, nil, []string{`docker affix: error: unknown command "frobnicate" for "docker affix"`}},
		{"misspelt command", "affix", []string{"biuld"}, 2, nil, []string{`affix: error: unknown command "biuld" for "affix" (did you mean "build"?)`}},
		{"no command", "affix", nil, 0, []string{"Available Commands:"}, nil},
		{"command after --", "affix", []string{"--", "version"}, 2, nil, []string{`affix: error: "--" ends the flags: "version" after it is an argument of affix, not a command (write affix version)`}},
		{"unknown command after --", "affix", []string{"--", "biuld"}, 2, nil, []string{`unknown command "biuld" for "affix" (did you mean "build"?)`}},
		{"version flag", "affix", []string{"-v"}, 0, []string{"affix version "}, nil},
		{"version flag with an argument", "affix", []string{"-v", "extra"}, 2, nil, []string{"affix: error: --version takes no arguments, got 1"}},
		{"help topic", "affix", []string{"help", "ls"}, 0, []string{"Usage:\n  affix ls "}, nil},
		{"plugin help topic", "docker affix", []string{"help", "ls"}, 0, []string{"Usage:\n  docker affix ls "}, nil},
		{"unknown help topic", "affix", []string{"help", "bogus"}, 2, nil, []string{`affix: error: unknown help topic "bogus"`}},
		{"unknown help subtopic", "affix", []string{"help", "ls", "bogus"}, 2, nil, []string{`unknown help topic "ls bogus": "bogus" is not a command of affix ls`}},
		{"missing source path", "affix", []string{"sbom", "oci-layout:/nonexistent"}, 2, nil, []string{"affix: error: ", "/nonexistent"}},
		{"runtime error", "affix", []string{"sbom", "oci-layout:" + empty}, 1, nil, []string{"affix: error: ", "no oci-layout file in " + empty}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), tt.cmd, tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, &stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, &stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, &stderr)
				}
			}
		})
	}
}

// TestSignalExitCodes: a command ended by a signal exits 128+N, as shells
// and the Docker CLI report it; a usage error keeps 2.
func TestSignalExitCodes(t *testing.T) {
	failed := errors.New("push failed")
	for _, tt := range []struct {
		name string
		err  error
		sig  os.Signal
		want int
	}{
		{"error", failed, nil, 1},
		{"usage error", usageError(failed), nil, 2},
		{"SIGINT", failed, syscall.SIGINT, 130},
		{"SIGTERM", failed, syscall.SIGTERM, 143},
		{"usage error, then SIGINT", usageError(failed), syscall.SIGINT, 2},
	} {
		if got := exitCode(tt.err, tt.sig); got != tt.want {
			t.Errorf("%s: exit code %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestCountFlags: a count flag below 1 is a usage error naming it, before
// anything is read.
func TestCountFlags(t *testing.T) {
	cliEnv(t)
	for _, args := range [][]string{
		{"push", "--max-concurrency", "0", "oci-layout:/nonexistent", "localhost:5000/app:v1"},
		{"build", "--max-concurrency", "-1", "--builder", "unix:///nonexistent.sock", t.TempDir()},
		{"convert", "--max-concurrency", "0", "localhost:5000/app:v1"},
		{"sbom", "--concurrency", "0", "oci-layout:/nonexistent"},
	} {
		_, errs, code := affix(t, args...)
		if want := args[1] + " " + args[2] + ": must be at least 1"; code != 2 || !strings.Contains(errs, want) {
			t.Errorf("affix %v: exit %d, want 2 and %q:\n%s", args, code, want, errs)
		}
	}
}

// TestScanEnvUsageErrors: an invalid SOURCE_DATE_EPOCH or
// AFFIX_MAX_IMAGE_SIZE is a usage error naming it, before anything is
// read, in every command that scans; build leaves SOURCE_DATE_EPOCH to
// the frontend, which takes BuildKit's values too.
func TestScanEnvUsageErrors(t *testing.T) {
	cliEnv(t)
	nowhere := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	commands := map[string][]string{
		"sbom":   {"sbom", "oci-layout:/nonexistent"},
		"push":   {"push", "oci-layout:/nonexistent", "localhost:5000/app:v1"},
		"attach": {"attach", "localhost:5000/app:v1"},
		"build":  {"build", "--builder", nowhere, ctxDir},
	}
	for _, env := range []struct{ name, value, want string }{
		{"SOURCE_DATE_EPOCH", "yesterday", `SOURCE_DATE_EPOCH="yesterday"`},
		{"AFFIX_MAX_IMAGE_SIZE", "lots", `AFFIX_MAX_IMAGE_SIZE="lots": want a size such as 20GiB`},
		{"AFFIX_MAX_IMAGE_SIZE", "-5", `AFFIX_MAX_IMAGE_SIZE="-5"`},
	} {
		for name, args := range commands {
			if name == "build" && env.name == "SOURCE_DATE_EPOCH" {
				continue
			}
			t.Run(env.name+"="+env.value+"/"+name, func(t *testing.T) {
				t.Setenv(env.name, env.value)
				_, errs, code := affix(t, args...)
				if code != 2 || !strings.Contains(errs, env.want) {
					t.Errorf("affix %v: exit %d, want 2 and %q:\n%s", args, code, env.want, errs)
				}
			})
		}
	}
}

// TestWithCause: an error that says only "context canceled" gets what
// cancelled the command, after a signal, and nothing else does.
func TestWithCause(t *testing.T) {
	interrupt := errors.New("interrupt signal received")
	cut := fmt.Errorf("push to r/app: referrer sha256:a of sha256:b: %w", context.Canceled)
	tests := []struct {
		name  string
		err   error
		sig   os.Signal
		cause error
		want  string
	}{
		{"cut short by a signal", cut, os.Interrupt, interrupt, cut.Error() + " (interrupt signal received)"},
		{"already says why", fmt.Errorf("tag v1 not written: %w", interrupt), os.Interrupt, interrupt, "tag v1 not written: interrupt signal received"},
		{"no signal", cut, nil, context.Canceled, cut.Error()},
		{"not a cancellation", errors.New("GET x: 500"), os.Interrupt, interrupt, "GET x: 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withCause(tt.err, tt.sig, tt.cause)
			if got.Error() != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("%q no longer wraps %q", got, tt.err)
			}
		})
	}
}

// TestCommitError: a failed commit says the tag did not move, unless
// the tag write got no answer.
func TestCommitError(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("referrer sha256:a: %w", context.Canceled), "push to r/app failed, tag v1 not moved: referrer sha256:a: context canceled"},
		{fmt.Errorf("PUT v1: %w", exporter.ErrTagUnknown), "push to r/app: PUT v1: " + exporter.ErrTagUnknown.Error()},
	} {
		if got := commitError("push", "r/app", "v1", tt.err).Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestQuietLibraryLogs: a cancelled command silences the libraries'
// error logs, unless --debug set the debug level.
func TestQuietLibraryLogs(t *testing.T) {
	saved := logrus.GetLevel()
	defer logrus.SetLevel(saved)
	for _, tt := range []struct{ before, after logrus.Level }{
		{logrus.ErrorLevel, logrus.FatalLevel},
		{logrus.DebugLevel, logrus.DebugLevel},
	} {
		logrus.SetLevel(tt.before)
		quietLibraryLogs()
		if got := logrus.GetLevel(); got != tt.after {
			t.Errorf("level %v: %v after, want %v", tt.before, got, tt.after)
		}
	}
}

// TestRunRestoresLogLevel: a command, cancelled or not, leaves the global
// logrus level and formatter (see frontend.QuietLogs) as it found them
// (in-process callers: tests, the plugin).
func TestRunRestoresLogLevel(t *testing.T) {
	saved := logrus.GetLevel()
	defer logrus.SetLevel(saved)
	logrus.SetLevel(logrus.WarnLevel)
	formatter := logrus.StandardLogger().Formatter
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, ctx := range []context.Context{context.Background(), cancelled} {
		var stdout, stderr bytes.Buffer
		Run(ctx, "affix", []string{"ls", "127.0.0.1:1/x"}, &stdout, &stderr)
		if got := logrus.GetLevel(); got != logrus.WarnLevel {
			t.Errorf("level %v after Run, want %v", got, logrus.WarnLevel)
		}
		if logrus.StandardLogger().Formatter != formatter {
			t.Errorf("formatter %T after Run, want %T", logrus.StandardLogger().Formatter, formatter)
		}
	}
}

// TestRunNilArgs: nil arguments are none, not os.Args (cobra's default),
// as "docker affix" alone passes them.
func TestRunNilArgs(t *testing.T) {
	saved := os.Args
	defer func() { os.Args = saved }()
	os.Args = []string{"docker-affix", "affix"}
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), "docker affix", nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "Available Commands:") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, &stdout, &stderr)
	}
}
