package frontend

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// decodeRawJSON decodes a rawjson progress stream: one SolveStatus per line.
func decodeRawJSON(t *testing.T, b []byte) []client.SolveStatus {
	t.Helper()
	var out []client.SolveStatus
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ss client.SolveStatus
		if err := json.Unmarshal(sc.Bytes(), &ss); err != nil {
			t.Fatalf("rawjson line %q: %v", sc.Text(), err)
		}
		out = append(out, ss)
	}
	return out
}

// lastVertex returns the last update of the vertex named name.
func lastVertex(sss []client.SolveStatus, name string) *client.Vertex {
	var v *client.Vertex
	for _, ss := range sss {
		for _, x := range ss.Vertexes {
			if x.Name == name {
				v = x
			}
		}
	}
	return v
}

func TestProgressTaskRawJSON(t *testing.T) {
	var buf bytes.Buffer
	p, err := StartProgress(t.Context(), ProgressRawJSON, &buf)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Task(t.Context(), "sbom linux/amd64", func(ctx context.Context) error {
		Logf(ctx, "found %d packages", 42)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := p.Task(t.Context(), "push", func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Task returned %v, want fn's error", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	sss := decodeRawJSON(t, buf.Bytes())
	v := lastVertex(sss, "sbom linux/amd64")
	if v == nil || v.Started == nil || v.Completed == nil || v.Error != "" || v.Completed.Before(*v.Started) {
		t.Fatalf("task vertex %+v", v)
	}
	var logged bool
	for _, ss := range sss {
		for _, l := range ss.Logs {
			if l.Vertex == v.Digest && string(l.Data) == "found 42 packages\n" {
				logged = true
			}
		}
	}
	if !logged {
		t.Errorf("task log not in the stream:\n%s", buf.String())
	}
	if f := lastVertex(sss, "push"); f == nil || f.Error != "boom" || f.Completed == nil {
		t.Errorf("failed task vertex %+v", f)
	}
}

func TestProgressPlainShowsTasks(t *testing.T) {
	var buf bytes.Buffer
	p, err := StartProgress(t.Context(), ProgressPlain, &buf)
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Task(t.Context(), "generating SBOM for linux/arm64", func(context.Context) error { return nil })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "generating SBOM for linux/arm64") || !strings.Contains(buf.String(), "DONE") {
		t.Errorf("plain output:\n%s", buf.String())
	}
}

func TestNilProgress(t *testing.T) {
	var p *Progress
	ran := false
	if err := p.Task(t.Context(), "x", func(ctx context.Context) error { ran = true; Logf(ctx, "ignored"); return nil }); err != nil || !ran {
		t.Fatalf("nil Progress: ran=%v err=%v", ran, err)
	}
	if p.feed("x") != nil || p.Close() != nil || p.Warnings() != nil {
		t.Fatal("nil Progress is not inert")
	}
}

func TestProgressFeedPrefix(t *testing.T) {
	var buf bytes.Buffer
	p, err := StartProgress(t.Context(), ProgressRawJSON, &buf)
	if err != nil {
		t.Fatal(err)
	}
	in, step := digest.FromString("in"), digest.FromString("step")
	now := time.Now()
	ch := p.feed("linux/arm64")
	ch <- &client.SolveStatus{
		Vertexes: []*client.Vertex{
			{Digest: step, Inputs: []digest.Digest{in}, Name: "[build 2/3] RUN make", Started: &now},
			{Digest: in, Name: "load context"},
			{Digest: digest.FromString("copy"), Name: "[linux/arm64 1/2] COPY a /a"},
		},
		Logs: []*client.VertexLog{{Vertex: step, Data: []byte("ok\n")}},
	}
	close(ch)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	sss := decodeRawJSON(t, buf.Bytes())
	v := lastVertex(sss, "[linux/arm64 build 2/3] RUN make")
	w := lastVertex(sss, "[linux/arm64] load context")
	if lastVertex(sss, "[linux/arm64 1/2] COPY a /a") == nil {
		t.Errorf("a name with the prefix already was changed:\n%s", buf.String())
	}
	if v == nil || w == nil {
		t.Fatalf("prefixed vertices missing:\n%s", buf.String())
	}
	if v.Digest == step || len(v.Inputs) != 1 || v.Inputs[0] != w.Digest {
		t.Errorf("digests not rewritten consistently: %+v %+v", v, w)
	}
	if len(sss[0].Logs) != 1 || sss[0].Logs[0].Vertex != v.Digest {
		t.Errorf("log vertex not rewritten: %+v", sss[0].Logs)
	}
}

func TestBuildUnreachable(t *testing.T) {
	for _, addr := range []string{"unix:///nonexistent/affix-test/buildkitd.sock", "tcp://127.0.0.1:1"} {
		t.Run(addr, func(t *testing.T) {
			_, err := Build(t.Context(), Options{ContextDir: testContext(t), Builder: addr, Output: t.TempDir(), ConnectTimeout: 20 * time.Second})
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("err = %v, want ErrUnreachable", err)
			}
			if !strings.Contains(err.Error(), addr) {
				t.Errorf("error does not name the address: %v", err)
			}
		})
	}
	// Every node that does not answer is named, not only the first.
	t.Run("both of two nodes", func(t *testing.T) {
		_, err := Build(t.Context(), Options{
			ContextDir: testContext(t),
			Nodes:      []string{"linux/amd64=unix:///nonexistent/a.sock", "linux/arm64=unix:///nonexistent/b.sock"},
			Output:     t.TempDir(),
		})
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "unix:///nonexistent/a.sock") || !strings.Contains(err.Error(), "unix:///nonexistent/b.sock") {
			t.Fatalf("err = %v, want both nodes named", err)
		}
	})
}

// TestProgressTaskCancelledByAnother: in an errgroup, the failure of one
// task cancels the others with it as the cause; a task whose error then
// carries that cause shows as cancelled, and only the failing task shows
// the failure (a build pushing to several registries must not blame
// every one for one registry's refusal).
func TestProgressTaskCancelledByAnother(t *testing.T) {
	var buf bytes.Buffer
	p, err := StartProgress(t.Context(), ProgressRawJSON, &buf)
	if err != nil {
		t.Fatal(err)
	}
	refused := errors.New("r2.example/app: uploading blob: 405 Method Not Allowed")
	eg, ectx := errgroup.WithContext(t.Context())
	eg.Go(func() error {
		return p.Task(ectx, "push r1.example/app", func(ctx context.Context) error {
			<-ctx.Done()
			return fmt.Errorf("r1.example/app: uploading blob: %w", context.Cause(ctx))
		})
	})
	eg.Go(func() error {
		return p.Task(ectx, "push r2.example/app", func(context.Context) error { return refused })
	})
	if err := eg.Wait(); !errors.Is(err, refused) {
		t.Fatalf("errgroup: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	sss := decodeRawJSON(t, buf.Bytes())
	if v := lastVertex(sss, "push r1.example/app"); v == nil || v.Error != context.Canceled.Error() {
		t.Errorf("cancelled task vertex %+v, want error %q", v, context.Canceled)
	}
	if v := lastVertex(sss, "push r2.example/app"); v == nil || v.Error != refused.Error() {
		t.Errorf("failed task vertex %+v, want error %q", v, refused)
	}
}

// TestProgressDisplayStops: a display that stops reading (failing) does
// not hang the builds sending to it, nor Warnings and Close: a send
// waiting for the display holds no lock the display needs to end.
func TestProgressDisplayStops(t *testing.T) {
	failed := errors.New("display failed")
	read := make(chan struct{})
	p := newProgress(func(ch chan *client.SolveStatus) ([]client.VertexWarning, error) {
		<-ch
		<-read // the other sends are waiting now, or about to
		return nil, failed
	})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { p.send(&client.SolveStatus{}) })
	}
	time.Sleep(50 * time.Millisecond)
	close(read)
	finished := make(chan error)
	go func() {
		wg.Wait()
		_ = p.Warnings()
		finished <- p.Close()
	}()
	select {
	case err := <-finished:
		if !errors.Is(err, failed) {
			t.Errorf("Close = %v, want the display's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sends, Warnings or Close hang after the display stopped")
	}
	p.send(&client.SolveStatus{}) // after Close: dropped
}
