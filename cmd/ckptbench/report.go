package main

import (
	"fmt"
	"io"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/internal/benchfmt"
)

// report prints the results' tables.
func report(w io.Writer, o options, rs []result) {
	n := o.checkpoints
	t := benchfmt.NewTable(w, o.markdown, "Full checkpoint (the build's final one) vs a plain full copy of the same files through the same store",
		"size", "store", "keys", "state", "build", "full e2e", "sync", "async", "uploaded", "files", "plain copy", "copy again at end", "full e2e ÷ copy")
	for _, r := range rs {
		t.Row(sizeLabel(r.size), r.backend, fmt.Sprint(r.keys), benchfmt.Bytes(r.full.StateSize), benchfmt.Dur(r.build),
			benchfmt.Dur(r.full.Duration), benchfmt.Dur(r.full.SyncDuration), benchfmt.Dur(r.full.AsyncDuration),
			benchfmt.Bytes(r.full.BytesUploaded), fmt.Sprint(r.full.FilesUploaded),
			benchfmt.Dur(r.copies[0]), benchfmt.Dur(r.copies[len(r.copies)-1]),
			ratio(float64(r.full.Duration), float64(meanDur(r.copies))))
	}
	t.Flush()

	t = benchfmt.NewTable(w, o.markdown, fmt.Sprintf("Incremental checkpoints: %d measured per case, %.2g %% of the keys updated between two (p99 of %d samples is the maximum)", n, 100*o.update, n),
		"size", "store", "sync p50", "sync p99", "async p50", "async p99", "e2e p50", "e2e p99", "uploaded p50", "uploaded mean", "uploaded max", "files up/reused p50", "state at end")
	for _, r := range rs {
		sync := durs(r.incr, func(s checkpoint.Stats) time.Duration { return s.SyncDuration })
		async := durs(r.incr, func(s checkpoint.Stats) time.Duration { return s.AsyncDuration })
		e2e := durs(r.incr, func(s checkpoint.Stats) time.Duration { return s.Duration })
		up := ints(r.incr, func(s checkpoint.Stats) int64 { return s.BytesUploaded })
		fu := ints(r.incr, func(s checkpoint.Stats) int64 { return int64(s.FilesUploaded) })
		fr := ints(r.incr, func(s checkpoint.Stats) int64 { return int64(s.FilesReused) })
		t.Row(sizeLabel(r.size), r.backend,
			benchfmt.Dur(benchfmt.Pct(sync, 50)), benchfmt.Dur(benchfmt.Pct(sync, 99)), benchfmt.Dur(benchfmt.Pct(async, 50)), benchfmt.Dur(benchfmt.Pct(async, 99)),
			benchfmt.Dur(benchfmt.Pct(e2e, 50)), benchfmt.Dur(benchfmt.Pct(e2e, 99)),
			benchfmt.Bytes(benchfmt.Pct(up, 50)), benchfmt.Bytes(mean(up)), benchfmt.Bytes(benchfmt.Pct(up, 100)),
			fmt.Sprintf("%d/%d", benchfmt.Pct(fu, 50), benchfmt.Pct(fr, 50)), benchfmt.Bytes(r.incr[len(r.incr)-1].StateSize))
	}
	t.Flush()

	t = benchfmt.NewTable(w, o.markdown, "Ratios, within each case (changed = updated keys × (key + value) bytes between two checkpoints)",
		"size", "store", "changed", "uploaded p50 ÷ full", "uploaded mean ÷ full", "uploaded mean ÷ changed", "≥ half the state", "e2e p50 ÷ plain copy", "e2e p99 ÷ plain copy", "e2e p50 ÷ full e2e")
	for _, r := range rs {
		up := ints(r.incr, func(s checkpoint.Stats) int64 { return s.BytesUploaded })
		e2e := durs(r.incr, func(s checkpoint.Stats) time.Duration { return s.Duration })
		changed := int64(r.updates) * int64(1+keyWidth+o.valueSize)
		cp := float64(meanDur(r.copies))
		big := 0
		for _, s := range r.incr {
			if 2*s.BytesUploaded >= s.StateSize {
				big++
			}
		}
		t.Row(sizeLabel(r.size), r.backend, benchfmt.Bytes(changed),
			ratio(float64(benchfmt.Pct(up, 50)), float64(r.full.BytesUploaded)),
			ratio(float64(mean(up)), float64(r.full.BytesUploaded)),
			ratio(float64(mean(up)), float64(changed)),
			fmt.Sprintf("%d of %d", big, len(r.incr)),
			ratio(float64(benchfmt.Pct(e2e, 50)), cp), ratio(float64(benchfmt.Pct(e2e, 99)), cp),
			ratio(float64(benchfmt.Pct(e2e, 50)), float64(r.full.Duration)))
	}
	t.Flush()

	if o.each {
		t = benchfmt.NewTable(w, o.markdown, "Every measured checkpoint",
			"size", "store", "id", "sync", "async", "e2e", "uploaded", "files up/reused", "state", "uploaded ÷ state")
		for _, r := range rs {
			for _, s := range r.incr {
				t.Row(sizeLabel(r.size), r.backend, fmt.Sprint(s.ID), benchfmt.Dur(s.SyncDuration), benchfmt.Dur(s.AsyncDuration), benchfmt.Dur(s.Duration),
					benchfmt.Bytes(s.BytesUploaded), fmt.Sprintf("%d/%d", s.FilesUploaded, s.FilesReused), benchfmt.Bytes(s.StateSize),
					ratio(float64(s.BytesUploaded), float64(s.StateSize)))
			}
		}
		t.Flush()
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "≥ half the state: measured checkpoints that uploaded at least half of the state they reference.")
	fmt.Fprintln(w, "plain copy: the full checkpoint's local files (and at the end the newest checkpoint's) put to the store")
	fmt.Fprintln(w, "file by file, two tasks at once like the coordinator's uploads, without hashing or metadata; its ratios")
	fmt.Fprintln(w, "use the mean of the two copies. e2e: trigger to metadata written; sync: the longest task pause for its")
	fmt.Fprintln(w, "snapshot (memtable flush and hard links); async: the longest task upload (hashing included).")
	for _, r := range rs {
		if r.failed > 0 {
			fmt.Fprintf(w, "warning: %s %s: %d checkpoints failed\n", sizeLabel(r.size), r.backend, r.failed)
		}
		if r.lagging > 0 {
			fmt.Fprintf(w, "warning: %s %s: %d measured barriers queued behind unprocessed updates (raise -pause): their e2e includes processing\n",
				sizeLabel(r.size), r.backend, r.lagging)
		}
	}
}

func durs(ss []checkpoint.Stats, f func(checkpoint.Stats) time.Duration) []time.Duration {
	out := make([]time.Duration, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

func ints(ss []checkpoint.Stats, f func(checkpoint.Stats) int64) []int64 {
	out := make([]int64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

func mean[T ~int64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	var sum T
	for _, x := range xs {
		sum += x
	}
	return sum / T(len(xs))
}

func meanDur(ds []time.Duration) time.Duration { return mean(ds) }

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	r := a / b
	switch {
	case r >= 10:
		return fmt.Sprintf("%.0f×", r)
	case r >= 1:
		return fmt.Sprintf("%.2f×", r)
	case r >= 0.1:
		return fmt.Sprintf("%.0f %%", 100*r)
	default:
		return fmt.Sprintf("%.1f %%", 100*r)
	}
}
