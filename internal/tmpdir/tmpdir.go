// Package tmpdir makes temporary directories that a process killed before
// it could remove them (SIGKILL, an OOM kill, a CI timeout) does not leave
// behind for good: each directory is locked while the process that made
// it lives, and the next process that makes one with the same prefix in
// the same parent removes those no live process holds.
package tmpdir

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// Grace is how old a directory must be before another process removes it
// as abandoned: a directory is locked just after it is created, and one
// younger than this may be between the two.
const Grace = time.Minute

// Dir is a temporary directory this process holds until Remove.
type Dir struct {
	// Path is the directory.
	Path string
	lock *os.File // open while held; closing it releases the lock
}

// swept records the parent/prefix pairs this process has swept.
var swept sync.Map

// Make creates a new directory in parent (os.TempDir() when empty), named
// prefix followed by a random number, and holds it. The first Make of a
// prefix in a parent in this process first removes the directories an
// earlier Make made there with that prefix that are older than Grace,
// belong to this user and no live process holds (see Sweep).
func Make(parent, prefix string) (*Dir, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	if _, done := swept.LoadOrStore(parent+"\x00"+prefix, true); !done {
		Sweep(parent, prefix)
	}
	p, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return nil, err
	}
	lock, err := hold(p)
	if err != nil {
		os.RemoveAll(p)
		return nil, fmt.Errorf("locking temporary directory %s: %w", p, err)
	}
	return &Dir{Path: p, lock: lock}, nil
}

// Remove removes the directory and all it holds, then releases it.
func (d *Dir) Remove() error {
	err := os.RemoveAll(d.Path)
	if d.lock != nil {
		d.lock.Close()
	}
	return err
}
