package frontend

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
)

// roomErrnos are the errors of a write that found no room: no space
// left on the file system, no quota left for the user.
var roomErrnos = []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT}

// noRoom returns the one of roomErrnos that err, a failed build, failed
// with writing a file under dir, the layout the image is exported into;
// 0 when it did not. The exporter writes the image's blobs into dir
// through this process's content store (ingest/ first), whose error
// comes back from buildkitd as text: a path, then the errno's message.
//
// Only a path under dir followed by the errno's message counts ("open
// DIR/ingest/x/data: no space left on device"): a failure elsewhere
// (buildkitd's own disk) names no path under dir, and an error of
// another kind on a file under dir does not count for an errno that
// comes later in the message.
func noRoom(err error, dir string) syscall.Errno {
	if err == nil {
		return 0
	}
	msg := err.Error()
	prefix := regexp.QuoteMeta(filepath.Clean(dir) + string(filepath.Separator))
	for _, e := range roomErrnos {
		if ok, _ := regexp.MatchString(prefix+`[^:\s]*: `+regexp.QuoteMeta(e.Error()), msg); ok {
			return e
		}
		if errors.Is(err, e) && strings.Contains(msg, filepath.Clean(dir)+string(filepath.Separator)) {
			return e
		}
	}
	return 0
}

// roomError is the error of a build whose image found no room (errno,
// see noRoom) in layout, the Result's layout directory: the build's
// temporary one under TMPDIR (temporary), else the output directory. It
// names the directory and what to do, rather than containerd's ingest
// file.
func roomError(errno syscall.Errno, layout string, temporary bool) error {
	lack := "no space left"
	if errno == syscall.EDQUOT {
		lack = "no disk quota left"
	}
	if temporary {
		return fmt.Errorf("exporting the image: %s for the compressed image in %s, where the build keeps it until the command ends (set TMPDIR to a larger file system): %w", lack, filepath.Dir(layout), errno)
	}
	return fmt.Errorf("exporting the image: %s for the compressed image in the output directory %s: %w", lack, layout, errno)
}

// contentWriteFailed is the message containerd's content server logs at
// error level for every write it fails (contentserver.go, "This is
// pretty noisy").
const contentWriteFailed = "(*service).Write failed"

// QuietLogs returns f, the formatter of the logrus logger BuildKit and
// containerd log through, dropping the entries that only repeat a
// build's error: the content server that receives the exported image in
// this process logs each write it fails (one line per blob being
// written, with the raw path of its ingest file) and returns the same
// error to buildkitd, whose export, and so the build, fails with it. At
// debug level nothing is dropped. Wrapping a formatter QuietLogs
// returned returns it as it is.
func QuietLogs(f logrus.Formatter) logrus.Formatter {
	if q, ok := f.(quietFormatter); ok {
		return q
	}
	return quietFormatter{f}
}

type quietFormatter struct{ logrus.Formatter }

func (q quietFormatter) Format(e *logrus.Entry) ([]byte, error) {
	if e.Message == contentWriteFailed && (e.Logger == nil || !e.Logger.IsLevelEnabled(logrus.DebugLevel)) {
		return nil, nil
	}
	return q.Formatter.Format(e)
}
