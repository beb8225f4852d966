package frontend

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
)

// TestNoRoom: a build that failed writing under its layout for want of
// space or quota is told from other failures, as buildkitd reports it
// (text over gRPC) and as Go does (a merge's *PathError); one that names
// no path under the layout (buildkitd's own disk) is not this machine's
// TMPDIR's fault.
func TestNoRoom(t *testing.T) {
	const dir = "/tmp/small/affix-build-1"
	rpc := func(path, errno string) error {
		return fmt.Errorf("failed to solve: failed to copy: failed to send write: rpc error: code = Unknown desc = write %s: %s", path, errno)
	}
	for _, tc := range []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"no space, from buildkitd", rpc(dir+"/ingest/6300bd67/data", "no space left on device"), syscall.ENOSPC},
		{"no quota, from buildkitd", rpc(dir+"/ingest/6300bd67/data", "disk quota exceeded"), syscall.EDQUOT},
		{"no space, a part of a multi-node build", rpc(dir+"/.affix-parts/1/ingest/ab/data", "no space left on device"), syscall.ENOSPC},
		{"no space, from Go", fmt.Errorf("copying blob: %w", &fs.PathError{Op: "write", Path: dir + "/blobs/sha256/ab", Err: syscall.ENOSPC}), syscall.ENOSPC},
		{"no space on buildkitd's disk", rpc("/var/lib/buildkit/runc-native/snapshots/1/fs/big", "no space left on device"), 0},
		{"a directory that starts alike", rpc(dir+"0/ingest/ab/data", "no space left on device"), 0},
		{"another failure of the layout", rpc(dir+"/ingest/ab/data", "permission denied"), 0},
		{"another failure of the layout, then buildkitd's disk full", fmt.Errorf("%w; write /var/lib/buildkit/x: no space left on device", rpc(dir+"/ingest/ab/data", "input/output error")), 0},
		{"a build failure", errors.New(`process "/bin/sh -c exit 3" did not complete successfully: exit code: 3`), 0},
		{"none", nil, 0},
	} {
		if got := noRoom(tc.err, dir); got != tc.want {
			t.Errorf("%s: noRoom = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRoomError: the error names the directory short of room and what to
// do: for the build's temporary layout, TMPDIR's directory and the
// variable; for an output directory, that directory.
func TestRoomError(t *testing.T) {
	for _, tc := range []struct {
		errno     syscall.Errno
		temporary bool
		want      string
	}{
		{syscall.ENOSPC, true, "exporting the image: no space left for the compressed image in /tmp/small, where the build keeps it until the command ends (set TMPDIR to a larger file system): no space left on device"},
		{syscall.EDQUOT, true, "exporting the image: no disk quota left for the compressed image in /tmp/small, where the build keeps it until the command ends (set TMPDIR to a larger file system): disk quota exceeded"},
		{syscall.ENOSPC, false, "exporting the image: no space left for the compressed image in the output directory /tmp/small/affix-build-1: no space left on device"},
	} {
		err := roomError(tc.errno, "/tmp/small/affix-build-1", tc.temporary)
		if err.Error() != tc.want || !errors.Is(err, tc.errno) {
			t.Errorf("roomError(%v, %v) = %q, want %q wrapping the errno", tc.errno, tc.temporary, err, tc.want)
		}
	}
}

// TestQuietLogs: containerd's content server's log of a failed write is
// dropped below debug level, and nothing else is.
func TestQuietLogs(t *testing.T) {
	for _, tc := range []struct {
		level   logrus.Level
		msg     string
		printed bool
	}{
		{logrus.ErrorLevel, contentWriteFailed, false},
		{logrus.DebugLevel, contentWriteFailed, true},
		{logrus.ErrorLevel, "something else failed", true},
	} {
		var out bytes.Buffer
		l := logrus.New()
		l.SetOutput(&out)
		l.SetLevel(tc.level)
		l.SetFormatter(QuietLogs(QuietLogs(&logrus.TextFormatter{DisableTimestamp: true})))
		l.WithError(errors.New("write /tmp/x/ingest/ab/data: no space left on device")).Error(tc.msg)
		if got := strings.Contains(out.String(), tc.msg); got != tc.printed {
			t.Errorf("level %v, %q: printed %v, want %v:\n%s", tc.level, tc.msg, got, tc.printed, &out)
		}
	}
	if _, ok := QuietLogs(QuietLogs(&logrus.TextFormatter{})).(quietFormatter).Formatter.(quietFormatter); ok {
		t.Error("QuietLogs wrapped its own formatter again")
	}
}
