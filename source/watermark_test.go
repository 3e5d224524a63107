package source

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestWatermarkRules(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	a, b := tp{"in", 0}, tp{"in", 1}
	w := newWatermarks(2*time.Second, 10*time.Second)
	if w.update(t0) || w.current != math.MinInt64 {
		t.Fatalf("no partitions: watermark %d", w.current)
	}
	w.add(a, t0)
	w.add(b, t0)
	w.observe(a, 10_000, t0)
	if w.update(t0) || w.current != math.MinInt64 {
		t.Fatalf("b never read and active: watermark %d, want unknown", w.current)
	}
	w.observe(b, 5_000, t0.Add(time.Second))
	if !w.update(t0.Add(time.Second)) || w.current != 5_000-2_000-1 {
		t.Fatalf("min over partitions: watermark %d, want 2999", w.current)
	}
	// a idle at 10s (last record at 0), b at 11s.
	if next, ok := w.nextIdle(t0.Add(time.Second)); !ok || !next.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("nextIdle = %v, %v", next, ok)
	}
	if w.update(t0.Add(10*time.Second)) || w.current != 2_999 {
		t.Fatalf("a idle: watermark %d, want b's 2999", w.current)
	}
	if !w.update(t0.Add(11*time.Second)) || w.current != 10_000-2_000-1 {
		t.Fatalf("all idle: watermark %d, want the max 7999", w.current)
	}
	if _, ok := w.nextIdle(t0.Add(11 * time.Second)); ok {
		t.Fatal("nextIdle with every partition idle")
	}
	w.observe(b, 6_000, t0.Add(12*time.Second)) // b wakes up behind
	if w.update(t0.Add(12*time.Second)) || w.current != 7_999 {
		t.Fatalf("watermark went from 7999 to %d", w.current)
	}
	w.add(tp{"in", 2}, t0.Add(12*time.Second)) // new, never read: holds it
	w.observe(b, 20_000, t0.Add(13*time.Second))
	if w.update(t0.Add(13*time.Second)) || w.current != 7_999 {
		t.Fatalf("new partition not read yet: watermark %d, want 7999", w.current)
	}
	if !w.update(t0.Add(22*time.Second)) || w.current != 17_999 {
		t.Fatalf("new partition idle: watermark %d, want 17999", w.current)
	}
}

func TestWatermarkNeverIdleWithoutTimeout(t *testing.T) {
	t0 := time.Unix(0, 0)
	w := newWatermarks(0, 0)
	w.add(tp{"in", 0}, t0)
	w.add(tp{"in", 1}, t0)
	w.observe(tp{"in", 0}, 100, t0)
	if w.update(t0.Add(1000*time.Hour)) || w.current != math.MinInt64 {
		t.Fatalf("watermark %d, want unknown: in[1] never read, never idle", w.current)
	}
	if _, ok := w.nextIdle(t0); ok {
		t.Fatal("nextIdle without idle timeout")
	}
	w.observe(tp{"in", 1}, 50, t0)
	if !w.update(t0) || w.current != 49 {
		t.Fatalf("watermark %d, want 49 (max - 0 - 1ms)", w.current)
	}
}

func TestWatermarkExtremeEventTimes(t *testing.T) {
	w := newWatermarks(time.Hour, 0)
	w.add(tp{"in", 0}, time.Time{})
	w.observe(tp{"in", 0}, math.MinInt64+5, time.Time{})
	if w.update(time.Time{}) || w.current != math.MinInt64 {
		t.Fatalf("watermark %d, want unknown, not an overflow", w.current)
	}
	w.observe(tp{"in", 0}, math.MaxInt64, time.Time{})
	if !w.update(time.Time{}) || w.current != math.MaxInt64-3_600_001 {
		t.Fatalf("watermark %d", w.current)
	}
}

func TestWatermarkNeverDecreases(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(0, 0)
	w := newWatermarks(time.Duration(r.IntN(5))*time.Second, 3*time.Second)
	last := w.current
	for i := range 10_000 {
		p := tp{"in", int32(r.IntN(4))}
		switch r.IntN(4) {
		case 0:
			now = now.Add(time.Duration(r.IntN(4000)) * time.Millisecond)
		case 1:
			w.add(tp{"in", int32(4 + r.IntN(4))}, now)
		default:
			w.add(p, now)
			w.observe(p, int64(r.IntN(100_000)), now)
		}
		w.update(now)
		if w.current < last {
			t.Fatalf("step %d: watermark went back from %d to %d", i, last, w.current)
		}
		last = w.current
	}
	if last == math.MinInt64 {
		t.Fatal("the watermark never advanced")
	}
}
