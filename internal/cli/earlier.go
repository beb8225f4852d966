package cli

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"sync"

	"github.com/affix-oci/affix/internal/fsutil"
)

// maxEarlierFile bounds the earlier output file a run keeps in memory to
// put back; a larger one (no metadata file or digest is) is removed
// without a way back.
const maxEarlierFile = 64 << 20

// earlierFiles are the output files of an earlier run (--metadata-file,
// --iidfile) that a command removed before it ran, so that a run that
// fails leaves none of them for a CI step to pick up. Their content is
// kept, in memory (not beside them: an output file in the build context
// would be sent to BuildKit), to be put back when the run ends in a usage
// error, found before anything was done, which should change nothing.
type earlierFiles struct {
	mu    sync.Mutex
	files []earlierFile
}

type earlierFile struct {
	path string
	data []byte
	perm fs.FileMode
}

type earlierKey struct{}

// withEarlierFiles returns ctx carrying a fresh set of earlier files for
// one run (Run settles it).
func withEarlierFiles(ctx context.Context) (context.Context, *earlierFiles) {
	e := &earlierFiles{}
	return context.WithValue(ctx, earlierKey{}, e), e
}

// removeEarlier removes the regular file at path (fi) for the run of ctx,
// keeping its content to put back (see earlierFiles); without a set in
// ctx (a test calling a command's code directly) it only removes it.
func removeEarlier(ctx context.Context, path string, fi fs.FileInfo) error {
	e, _ := ctx.Value(earlierKey{}).(*earlierFiles)
	if e != nil && fi.Size() <= maxEarlierFile {
		data, err := os.ReadFile(path)
		if err == nil {
			e.mu.Lock()
			e.files = append(e.files, earlierFile{path: path, data: data, perm: fi.Mode().Perm()})
			e.mu.Unlock()
		}
	}
	return os.Remove(path)
}

// settle puts the removed files back when restore is set (the run ended
// in a usage error) and the run wrote nothing there; failures are
// reported with warn.
func (e *earlierFiles) settle(restore bool, warn func(format string, args ...any)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, f := range e.files {
		if _, err := os.Lstat(f.path); !restore || !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := fsutil.WriteFile(f.path, f.data); err != nil {
			warn("putting back the earlier %s: %v", f.path, err)
			continue
		}
		if err := os.Chmod(f.path, f.perm); err != nil {
			warn("putting back the earlier %s: %v", f.path, err)
		}
	}
	e.files = nil
}
