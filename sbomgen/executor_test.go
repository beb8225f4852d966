package sbomgen

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	async "github.com/anchore/go-sync"
	"github.com/anchore/syft/syft/cataloging"
)

// TestWaitedExecutor: at most n functions run at once, nested work runs on
// a child executor with its own bound, and the scan's group counts the
// work of both until it returns.
func TestWaitedExecutor(t *testing.T) {
	ctx, all := withWaitedExecutors(context.Background())
	const n, jobs = 3, 20
	e := newWaitedExecutor(n, all)
	var running, peak, done atomic.Int32
	release := make(chan struct{})
	for range jobs {
		go e.Go(func() {
			if r := running.Add(1); r > peak.Load() {
				peak.Store(r)
			}
			<-release
			running.Add(-1)
			// Nested work, as syft's Collect inside a task, on the child.
			child := e.ChildExecutor()
			child.Go(func() { done.Add(1) })
			done.Add(1)
		})
	}
	// Wait for the first n to hold the slots, then let everything go.
	for running.Load() < n {
		runtime.Gosched()
	}
	close(release)
	// Every Go call has been made once the group's count can reach 0
	// only after all of them ran: wait for the submitters first.
	for done.Load() < 2*jobs {
		runtime.Gosched()
	}
	all.Wait()
	if peak.Load() > n {
		t.Errorf("%d functions ran at once, bound %d", peak.Load(), n)
	}
	if e.ChildExecutor() != e.ChildExecutor() {
		t.Error("a new child executor per call")
	}
	// syft finds the executors in the context.
	for _, name := range []string{cataloging.ExecutorCPU, cataloging.ExecutorFile} {
		if _, ok := async.ContextExecutor(&ctx, name).(*waitedExecutor); !ok {
			t.Errorf("executor %s is not ours", name)
		}
	}
}

// stackBuf holds the stacks catalogers reads.
var stackBuf = make([]byte, 16<<20)

// catalogers counts the goroutines running a syft cataloger.
func catalogers() int {
	buf := stackBuf
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "syft/pkg/cataloger") {
			n++
		}
	}
	return n
}

// TestCancelWaitsForCatalogers: a scan cancelled while syft catalogs
// returns only once every cataloger it started has returned, so that no
// cataloger reads the layer files Image removes, or runs on beyond the
// scan's concurrency slot.
func TestCancelWaitsForCatalogers(t *testing.T) {
	if testing.Short() {
		t.Skip("scans an image of 5000 packages")
	}
	dir, res := many(t, "owned-files")
	g := newGen(t, Options{Formats: []Format{SPDXJSON}, TempDir: t.TempDir(), Concurrency: 1, NoCache: true})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for catalogers() == 0 && ctx.Err() == nil {
			runtime.Gosched()
		}
		cancel()
	})
	_, err := g.Image(ctx, openLayout(t, dir), res.Manifests[0])
	cancel()
	wg.Wait()
	if err == nil {
		t.Skip("the scan ended before the cancel")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Image: %v, want context.Canceled", err)
	}
	if n := catalogers(); n > 0 {
		t.Errorf("Image returned with %d cataloger goroutines still running", n)
	}
}
