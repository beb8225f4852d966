package exporter_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/affix-oci/affix/exporter"
)

// TestVerifyDelayFollowsRounds: the verification of a referrers tag
// waits, before each re-read, about twice the push's slowest
// read-merge-write round when that is longer than the 150 ms default,
// and at most 2 s: another writer on the same registry and machine
// takes about as long between its read and its write, and a
// verification that ends before that write lands cannot repair the
// entry it drops. The registry's latency is fake (a synctest bubble):
// each read and write of the tag takes latency.
func TestVerifyDelayFollowsRounds(t *testing.T) {
	for _, tt := range []struct {
		name     string
		latency  time.Duration // of each read and write of the referrers tag
		min, max time.Duration // of the wait from the write to the first re-read's start
	}{
		// 150 ms jittered to 75%..150%.
		{"fast registry: the default", 0, 112 * time.Millisecond, 225 * time.Millisecond},
		// A round of 2 × 30 ms: twice it is still below 150 ms.
		{"round shorter than half the default", 30 * time.Millisecond, 112 * time.Millisecond, 225 * time.Millisecond},
		// A round of 2 × 300 ms: a delay of 1.2 s.
		{"slow round", 300 * time.Millisecond, 900 * time.Millisecond, 1800 * time.Millisecond},
		// A round of 6 s: the delay's bound, 2 s.
		{"very slow round: bounded", 3 * time.Second, 1500 * time.Millisecond, 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				img, subjects := memImage(t)
				tgt := newMemTarget()
				tgt.noAPI = true
				s := subjects[0]
				tag := exporter.ReferrersTag(s.Digest)
				var mu sync.Mutex
				var wrote, reread time.Time
				tgt.hook = func(ctx context.Context, op, ref string) error {
					if ref != tag {
						return nil
					}
					mu.Lock()
					if op == "get" && !wrote.IsZero() && reread.IsZero() {
						reread = time.Now()
					}
					mu.Unlock()
					select {
					case <-time.After(tt.latency):
					case <-ctx.Done():
						return ctx.Err()
					}
					if op == "put" {
						mu.Lock()
						wrote = time.Now()
						mu.Unlock()
					}
					return nil
				}
				p := pushImages(t, tgt, img)
				defer p.Abort()
				if _, err := p.Attach(t.Context(), note(s, 0)); err != nil {
					t.Fatal(err)
				}
				if err := p.Ready(t.Context()); err != nil {
					t.Fatal(err)
				}
				if wrote.IsZero() || reread.IsZero() {
					t.Fatalf("tag written at %v, read again at %v", wrote, reread)
				}
				if d := reread.Sub(wrote); d < tt.min || d > tt.max {
					t.Errorf("first re-read %v after the write, want %v..%v", d, tt.min, tt.max)
				}
			})
		})
	}
}
