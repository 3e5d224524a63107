package source

import (
	"math"
	"time"
)

// watermarks derives a source's event-time watermark from its partitions,
// with the semantics of Flink's WatermarkStrategy
// forBoundedOutOfOrderness(d).withIdleness(t):
//
//   - A watermark W promises that no record with event time <= W follows
//     (event-time timers at or before W fire). A partition's watermark is
//     the largest event time it has delivered minus the bound, minus 1 ms;
//     a partition that has delivered nothing has none.
//   - A partition from which no record arrived for the idle timeout (by
//     the source's clock, since its last record or since it was assigned)
//     is idle until its next record. A timeout of 0 means never idle.
//   - The source's watermark is the minimum over the partitions that are
//     not idle; a partition that is not idle and has no watermark holds it
//     at "unknown" (math.MinInt64). When every partition is idle, it is the
//     maximum over the partitions' watermarks, so that event time keeps
//     advancing (Flink would mark the whole source idle instead; the task
//     protocol has no idle marker). A source without partitions keeps its
//     watermark where it is, unknown at first, and so holds back every
//     task downstream.
//   - It never goes backwards: a partition that wakes up behind it, or is
//     added late, makes its records late rather than pulling the watermark
//     back.
//
// Watermarks are not checkpointed: after a restore they start unknown
// again and are derived anew from the records read.
type watermarks struct {
	lag     int64         // out-of-orderness bound + 1, in ms
	idle    time.Duration // 0: never idle
	parts   map[tp]*partitionTime
	current int64
}

// partitionTime is the event-time progress of one partition.
type partitionTime struct {
	max    int64     // largest event time read; math.MinInt64: none yet
	active time.Time // last record, or when the partition was assigned
}

func newWatermarks(outOfOrderness, idle time.Duration) *watermarks {
	return &watermarks{
		lag:     outOfOrderness.Milliseconds() + 1,
		idle:    idle,
		parts:   map[tp]*partitionTime{},
		current: math.MinInt64,
	}
}

// add starts tracking p, assigned at now.
func (w *watermarks) add(p tp, now time.Time) {
	if _, ok := w.parts[p]; !ok {
		w.parts[p] = &partitionTime{max: math.MinInt64, active: now}
	}
}

// observe records a record of p with event time ts, read at now.
func (w *watermarks) observe(p tp, ts int64, now time.Time) {
	pt := w.parts[p]
	if pt == nil {
		pt = &partitionTime{max: math.MinInt64}
		w.parts[p] = pt
	}
	pt.max = max(pt.max, ts)
	pt.active = now
}

func (w *watermarks) isIdle(pt *partitionTime, now time.Time) bool {
	return w.idle > 0 && now.Sub(pt.active) >= w.idle
}

// of is the watermark of a partition whose largest event time is maxTS.
func (w *watermarks) of(maxTS int64) int64 {
	if maxTS < math.MinInt64+w.lag {
		return math.MinInt64
	}
	return maxTS - w.lag
}

// update recomputes the watermark at now and says whether it advanced.
func (w *watermarks) update(now time.Time) bool {
	if len(w.parts) == 0 {
		return false
	}
	low, high := int64(math.MaxInt64), int64(math.MinInt64)
	active := false
	for _, pt := range w.parts {
		pw := w.of(pt.max)
		high = max(high, pw)
		if w.isIdle(pt, now) {
			continue
		}
		active = true
		low = min(low, pw)
	}
	wm := high
	if active {
		wm = low
	}
	if wm > w.current {
		w.current = wm
		return true
	}
	return false
}

// nextIdle is the earliest time after now at which a partition that is
// not idle becomes idle, if any.
func (w *watermarks) nextIdle(now time.Time) (time.Time, bool) {
	if w.idle <= 0 {
		return time.Time{}, false
	}
	var next time.Time
	for _, pt := range w.parts {
		if w.isIdle(pt, now) {
			continue
		}
		if at := pt.active.Add(w.idle); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, !next.IsZero()
}

// allIdle reports whether there are partitions and every one is idle at
// now.
func (w *watermarks) allIdle(now time.Time) bool {
	if len(w.parts) == 0 || w.idle <= 0 {
		return false
	}
	for _, pt := range w.parts {
		if !w.isIdle(pt, now) {
			return false
		}
	}
	return true
}
