package frontend

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/opencontainers/go-digest"
)

// ProgressMode selects how a Progress displays: the values of buildx's
// --progress flag.
type ProgressMode string

// Progress modes.
const (
	// ProgressAuto is ProgressTTY when the output is a terminal, else
	// ProgressPlain. The empty mode means ProgressAuto.
	ProgressAuto ProgressMode = "auto"
	// ProgressPlain prints vertices and their logs as plain text.
	ProgressPlain ProgressMode = "plain"
	// ProgressTTY is the interactive terminal display; it fails when the
	// output is not a terminal.
	ProgressTTY ProgressMode = "tty"
	// ProgressRawJSON writes every status update as one JSON object per
	// line (BuildKit's client.SolveStatus encoding, as buildx --progress
	// rawjson).
	ProgressRawJSON ProgressMode = "rawjson"
	// ProgressQuiet displays nothing.
	ProgressQuiet ProgressMode = "quiet"
)

// ParseProgressMode parses a --progress value; the empty string is
// ProgressAuto.
func ParseProgressMode(s string) (ProgressMode, error) {
	switch m := ProgressMode(s); m {
	case "":
		return ProgressAuto, nil
	case ProgressAuto, ProgressPlain, ProgressTTY, ProgressRawJSON, ProgressQuiet:
		return m, nil
	}
	return "", fmt.Errorf("progress %q: want auto, plain, tty, rawjson or quiet: %w", s, ErrInvalidProgress)
}

// Progress is the one progress display of a command. Builds feed it their
// vertices, and the command adds its own phases with Task. All methods are
// safe for concurrent use; a nil *Progress displays nothing (Task still
// runs its function).
type Progress struct {
	mu     sync.Mutex
	ch     chan *client.SolveStatus
	closed bool
	feeds  sync.WaitGroup
	// sending counts the sends under way: Close closes ch after them.
	sending  sync.WaitGroup
	done     chan struct{}
	err      error
	warnings []client.VertexWarning
}

// StartProgress starts a display of mode on out. The display keeps running
// when ctx is cancelled, so that it can show why the command stopped;
// Close ends it. ProgressTTY needs out to be a terminal (*os.File).
func StartProgress(ctx context.Context, mode ProgressMode, out io.Writer) (*Progress, error) {
	m, err := ParseProgressMode(string(mode))
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = io.Discard
	}
	d, err := progressui.NewDisplay(out, progressui.DisplayMode(m))
	if err != nil {
		return nil, fmt.Errorf("progress %s: %w", m, err)
	}
	return newProgress(func(ch chan *client.SolveStatus) ([]client.VertexWarning, error) {
		return d.UpdateFrom(context.WithoutCancel(ctx), ch)
	}), nil
}

// newProgress starts display reading the Progress's status updates until
// the channel is closed (it may stop earlier, failing).
func newProgress(display func(chan *client.SolveStatus) ([]client.VertexWarning, error)) *Progress {
	p := &Progress{ch: make(chan *client.SolveStatus), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		w, err := display(p.ch)
		p.mu.Lock()
		p.err, p.warnings = err, w
		p.mu.Unlock()
	}()
	return p
}

// Close waits for every build feeding the display to end, then stops the
// display and flushes it. It returns the display's error, if any. Calling
// it again does nothing.
func (p *Progress) Close() error {
	if p == nil {
		return nil
	}
	p.feeds.Wait()
	p.mu.Lock()
	first := !p.closed
	p.closed = true
	p.mu.Unlock()
	if first {
		// No send starts now; those under way end, the display reading
		// them or gone.
		p.sending.Wait()
		close(p.ch)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Warnings returns the build warnings (for example Dockerfile lint
// findings) that the display saw, one line each. Call it after Close.
func (p *Progress) Warnings() []string {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.warnings))
	for _, w := range p.warnings {
		s := strings.TrimSpace(string(w.Short))
		if w.URL != "" {
			s += " (" + w.URL + ")"
		}
		out = append(out, s)
	}
	return out
}

// send hands ss to the display; after Close it is dropped, and so it is
// when the display has stopped. It waits for the display without holding
// p.mu, which the display takes when it ends.
func (p *Progress) send(ss *client.SolveStatus) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.sending.Add(1)
	p.mu.Unlock()
	defer p.sending.Done()
	select {
	case p.ch <- ss:
	case <-p.done:
	}
}

// feed returns a channel for one build's status updates. The build closes
// it when it ends (client.Solve does). With a non-empty prefix, vertex
// names get "[prefix] " and vertex digests are made distinct per prefix,
// so that the same step built on two nodes shows as two vertices.
func (p *Progress) feed(prefix string) chan *client.SolveStatus {
	if p == nil {
		return nil
	}
	in := make(chan *client.SolveStatus)
	p.feeds.Add(1)
	go func() {
		defer p.feeds.Done()
		for ss := range in {
			if prefix != "" {
				ss = prefixStatus(prefix, ss)
			}
			p.send(ss)
		}
	}()
	return in
}

// prefixStatus rewrites the vertex names and digests of ss for prefix.
func prefixStatus(prefix string, ss *client.SolveStatus) *client.SolveStatus {
	re := func(d digest.Digest) digest.Digest {
		if d == "" {
			return d
		}
		return digest.FromString(prefix + "\x00" + d.String())
	}
	out := &client.SolveStatus{}
	for _, v := range ss.Vertexes {
		v2 := *v
		v2.Digest = re(v.Digest)
		v2.Name = addPrefix(prefix, v.Name)
		v2.Inputs = make([]digest.Digest, len(v.Inputs))
		for i, in := range v.Inputs {
			v2.Inputs[i] = re(in)
		}
		out.Vertexes = append(out.Vertexes, &v2)
	}
	for _, s := range ss.Statuses {
		s2 := *s
		s2.Vertex = re(s.Vertex)
		out.Statuses = append(out.Statuses, &s2)
	}
	for _, l := range ss.Logs {
		l2 := *l
		l2.Vertex = re(l.Vertex)
		out.Logs = append(out.Logs, &l2)
	}
	for _, w := range ss.Warnings {
		w2 := *w
		w2.Vertex = re(w.Vertex)
		out.Warnings = append(out.Warnings, &w2)
	}
	return out
}

// addPrefix merges prefix into a name's own "[stage n/m]" prefix, as
// buildx does: "[linux/arm64 build 2/3] RUN ...". A name that starts with
// the prefix already (the Dockerfile frontend names multi-platform steps
// after their platform) is left as it is.
func addPrefix(prefix, name string) string {
	if strings.HasPrefix(name, "["+prefix+" ") || strings.HasPrefix(name, "["+prefix+"]") {
		return name
	}
	if strings.HasPrefix(name, "[") {
		return "[" + prefix + " " + name[1:]
	}
	return "[" + prefix + "] " + name
}

type taskKey struct{}

type taskRef struct {
	p    *Progress
	dgst digest.Digest
}

// Task runs fn as a vertex of the display named name, with its start and
// completion times and, when fn fails, its error. Logf inside fn (with the
// ctx it is given) writes to the vertex's log. Task returns fn's error.
func (p *Progress) Task(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	if p == nil {
		return fn(ctx)
	}
	dgst := randomDigest()
	start := time.Now()
	p.send(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: dgst, Name: name, Started: &start}}})
	err := fn(context.WithValue(ctx, taskKey{}, taskRef{p: p, dgst: dgst}))
	end := time.Now()
	v := &client.Vertex{Digest: dgst, Name: name, Started: &start, Completed: &end}
	if err != nil {
		v.Error = err.Error()
		// A task cut short shows as cancelled, as BuildKit shows a
		// vertex: by an interrupt, or by another task's failure (an
		// errgroup cancels with it as the cause, which the task's
		// error then carries); that failure shows in its own task.
		if errors.Is(err, context.Canceled) || ctx.Err() != nil && errors.Is(err, context.Cause(ctx)) {
			v.Error = context.Canceled.Error()
		}
	}
	p.send(&client.SolveStatus{Vertexes: []*client.Vertex{v}})
	return err
}

// Logf writes a line to the log of the Task that ctx belongs to. Outside a
// Task (or with a nil Progress) it does nothing.
func Logf(ctx context.Context, format string, args ...any) {
	t, ok := ctx.Value(taskKey{}).(taskRef)
	if !ok {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	t.p.send(&client.SolveStatus{Logs: []*client.VertexLog{{Vertex: t.dgst, Stream: 1, Data: []byte(msg), Timestamp: time.Now()}}})
}

func randomDigest() digest.Digest {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return digest.FromBytes(b[:])
}
