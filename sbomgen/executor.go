package sbomgen

import (
	"context"
	"runtime"
	"sync"

	async "github.com/anchore/go-sync"
	"github.com/anchore/syft/syft/cataloging"
)

// withWaitedExecutors returns ctx with the executors syft runs its
// catalogers on (as many at once as syft's default, NumCPU*4, per
// executor and nesting level), and the WaitGroup of all their work. syft's
// Collect returns as soon as its context ends without waiting for the
// work it started, so a cancelled scan would otherwise remove the layer
// files and release its concurrency slot while catalogers still read
// them: Wait on the group bounds that.
func withWaitedExecutors(ctx context.Context) (context.Context, *sync.WaitGroup) {
	all := &sync.WaitGroup{}
	n := runtime.NumCPU() * 4
	for _, name := range []string{cataloging.ExecutorCPU, cataloging.ExecutorFile} {
		ctx = async.SetContextExecutor(ctx, name, newWaitedExecutor(n, all))
	}
	return ctx, all
}

// waitedExecutor is a go-sync Executor that runs at most cap(sem)
// functions at once (Go blocks until one ends, as go-sync's own bounded
// executor does) and counts each in all as well as in its own group.
type waitedExecutor struct {
	sem   chan struct{}
	own   sync.WaitGroup  // this executor's functions, for Wait
	all   *sync.WaitGroup // every executor's of one scan
	child func() *waitedExecutor
}

func newWaitedExecutor(n int, all *sync.WaitGroup) *waitedExecutor {
	e := &waitedExecutor{sem: make(chan struct{}, n), all: all}
	e.child = sync.OnceValue(func() *waitedExecutor { return newWaitedExecutor(n, all) })
	return e
}

// Go implements async.Executor.
func (e *waitedExecutor) Go(f func()) {
	e.own.Add(1)
	e.all.Add(1)
	e.sem <- struct{}{}
	go func() {
		defer func() {
			<-e.sem
			e.own.Done()
			e.all.Done()
		}()
		f()
	}()
}

// Wait implements async.Executor: it waits for this executor's functions,
// or for ctx to end.
func (e *waitedExecutor) Wait(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		e.own.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// ChildExecutor implements async.ChildExecutor: work started from within
// this executor's functions runs on another, so that it cannot wait for a
// slot its caller holds.
func (e *waitedExecutor) ChildExecutor() async.Executor { return e.child() }
