package memlimit

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// FollowEvery is how often Follow reads the live heap.
const FollowEvery = 250 * time.Millisecond

// Follow keeps the runtime's memory limit at max(floor, twice the live
// heap) until ctx ends, reading the live heap (the heap the last
// collection found reachable) every FollowEvery: below floor/2 of live
// data the limit holds the heap near floor; above it the collector paces
// as with GOGC=100, instead of collecting without pause (a soft limit
// below the live data costs up to half the CPU). Apply's Default source
// calls for it; a limit from GOMEMLIMIT, the configuration or a container
// stays as set.
func Follow(ctx context.Context, floor int64) {
	t := time.NewTicker(FollowEvery)
	defer t.Stop()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := debug.SetMemoryLimit(-1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		want := followLimit(floor, sample[0].Value.Uint64())
		if want != set {
			debug.SetMemoryLimit(want)
			set = want
		}
	}
}

// followLimit is the limit for live bytes of live heap: max(floor,
// 2 × live), rounded up to a MiB so that it moves in steps.
func followLimit(floor int64, live uint64) int64 {
	want := int64(2 * live)
	want = (want + 1<<20 - 1) &^ (1<<20 - 1)
	return max(floor, want)
}
