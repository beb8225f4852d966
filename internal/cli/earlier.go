package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// earlierFiles are the output files of an earlier run (--metadata-file,
// --iidfile) that a command has set aside before it ran: moved to a
// hidden name beside them, so that a run that fails leaves none of them
// for a CI step to pick up, and put back when the run ends in a usage
// error, found before anything was done, which should change nothing.
type earlierFiles struct {
	mu    sync.Mutex
	moved [][2]string // path, hidden name
}

type earlierKey struct{}

// withEarlierFiles returns ctx carrying a fresh set of earlier files for
// one run (Run settles it).
func withEarlierFiles(ctx context.Context) (context.Context, *earlierFiles) {
	e := &earlierFiles{}
	return context.WithValue(ctx, earlierKey{}, e), e
}

// setAside moves the regular file at path aside for the run of ctx, or,
// when ctx carries none (a test calling a command's code directly),
// removes it.
func setAside(ctx context.Context, path string) error {
	e, _ := ctx.Value(earlierKey{}).(*earlierFiles)
	if e == nil {
		return os.Remove(path)
	}
	hidden := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".affix-earlier-"+strconv.Itoa(os.Getpid()))
	if err := os.Rename(path, hidden); err != nil {
		return err
	}
	e.mu.Lock()
	e.moved = append(e.moved, [2]string{path, hidden})
	e.mu.Unlock()
	return nil
}

// settle puts the files set aside back (restore: the run ended in a usage
// error), unless the run wrote a new one there, else removes them.
// Failures are reported with warn.
func (e *earlierFiles) settle(restore bool, warn func(format string, args ...any)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range e.moved {
		path, hidden := m[0], m[1]
		if _, err := os.Lstat(path); restore && errors.Is(err, fs.ErrNotExist) {
			if err := os.Rename(hidden, path); err != nil {
				warn("putting back %s: %v (the earlier file is %s)", path, err, hidden)
			}
			continue
		}
		if err := os.Remove(hidden); err != nil && !errors.Is(err, fs.ErrNotExist) {
			warn("removing %s, the earlier %s: %v", hidden, path, err)
		}
	}
	e.moved = nil
}

// settleWarn is the warn of settle for Run: a warning line on w.
func settleWarn(w io.Writer, name string) func(string, ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(w, "%s: warning: %s\n", name, fmt.Sprintf(format, args...))
	}
}
