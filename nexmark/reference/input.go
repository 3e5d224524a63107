package reference

import (
	"math"

	"github.com/tidemark/tidemark/nexmark"
)

// WatermarkDelay is the suite's watermark: dateTime − INTERVAL '4' SECOND.
const WatermarkDelay = 4000

// Input is what a query reads: the events of one topic.
type Input struct {
	// Events in the order their partitions hold them: event i is in
	// partition i mod Partitions at a later offset than every event j < i
	// of that partition (the generator's layout: Generator.Events(0, N)).
	Events []nexmark.Event
	// Partitions is the topic's partition count; 0 means 1.
	Partitions int
}

func (in Input) partitions() int {
	return max(in.Partitions, 1)
}

// watermarks is the reference's watermark model: events arrive in slice
// order; after each one the watermark is the minimum over partitions of
// (the partition's largest dateTime − 4 s), and −∞ while some partition has
// had no event (Flink's and Tidemark's per-partition watermarks, emitted
// after every record).
type watermarks struct {
	maxs []int64
	seen int
	wm   int64
}

func newWatermarks(partitions int) *watermarks {
	w := &watermarks{maxs: make([]int64, partitions), wm: math.MinInt64}
	for i := range w.maxs {
		w.maxs[i] = math.MinInt64
	}
	return w
}

// observe accounts an event of partition p at t.
func (w *watermarks) observe(p int, t int64) {
	if w.maxs[p] == math.MinInt64 {
		w.seen++
	}
	if t <= w.maxs[p] {
		return
	}
	w.maxs[p] = t
	if w.seen < len(w.maxs) {
		return
	}
	low := int64(math.MaxInt64)
	for _, m := range w.maxs {
		low = min(low, m)
	}
	w.wm = max(w.wm, low-WatermarkDelay)
}

// each calls fn for every event with the watermark in force when it
// arrives (before it is accounted).
func (in Input) each(fn func(ev nexmark.Event, wm int64)) {
	p := in.partitions()
	w := newWatermarks(p)
	for i, ev := range in.Events {
		fn(ev, w.wm)
		w.observe(i%p, ev.DateTime())
	}
}

// BehindWatermark returns the indexes of the events whose dateTime is at or
// behind the watermark of their own partition when they arrive (its
// largest earlier dateTime − 4 s). The job's watermark never exceeds a
// partition's, so when none is, no window or join drops anything, however
// the partitions interleave and whenever watermarks are sent: every
// query's result is then exactly the reference's. The generator's data has
// none unless an out-of-order group spans more than 4 s of event time.
func BehindWatermark(in Input) []int {
	p := in.partitions()
	maxs := make([]int64, p)
	for i := range maxs {
		maxs[i] = math.MinInt64
	}
	var out []int
	for i, ev := range in.Events {
		t := ev.DateTime()
		q := i % p
		if maxs[q] != math.MinInt64 && t <= maxs[q]-WatermarkDelay {
			out = append(out, i)
		}
		maxs[q] = max(maxs[q], t)
	}
	return out
}

// fired reports whether a window ending at end (exclusive) has fired at
// watermark wm: Flink fires at wm ≥ end − 1 and drops records of fired
// windows.
func fired(end, wm int64) bool {
	return wm != math.MinInt64 && end-1 <= wm
}

// floorDiv is ⌊a/b⌋ for b > 0 (window starts of negative times).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
