package heapwatch

import (
	"runtime/debug"
	"testing"
	"time"
)

// TestPeak: holding 64 MiB live while the watch samples shows as a rise
// of at least that much; doing nothing shows as well under it.
func TestPeak(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	const size = 64 << 20
	var keep []byte
	got := Peak(time.Millisecond, func() {
		keep = make([]byte, size)
		for i := range keep {
			keep[i] = byte(i)
		}
		debug.FreeOSMemory() // a collection while keep is live
		time.Sleep(20 * time.Millisecond)
	})
	if got < size {
		t.Errorf("Peak holding %d MiB = %d MiB", size>>20, got>>20)
	}
	keep = nil
	if idle := Peak(time.Millisecond, func() { debug.FreeOSMemory(); time.Sleep(10 * time.Millisecond) }); idle >= size/2 {
		t.Errorf("Peak doing nothing = %d MiB", idle>>20)
	}
	_ = keep
}
