// Package heapwatch measures how far the live heap rises while code
// runs, for the benchmarks that report peak memory (convert's
// peak-x-doc and peak-live-MiB).
package heapwatch

import (
	"runtime"
	"runtime/metrics"
	"time"
)

// Peak runs f and returns how far the live heap rose, at its highest
// while f ran, above the live heap after a collection just before f; 0
// when it did not rise. The live heap is known at the end of each
// collection: a caller lowers GOGC (debug.SetGCPercent) so that
// collections come often enough to see the peak. It is sampled every
// interval.
func Peak(interval time.Duration, f func()) uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var hi uint64
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- hi
				return
			case <-t.C:
			}
			metrics.Read(s)
			hi = max(hi, s[0].Value.Uint64())
		}
	}()
	f()
	close(stop)
	if hi := <-done; hi > base {
		return hi - base
	}
	return 0
}
