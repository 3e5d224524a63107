package main

import (
	"context"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/benchfmt"
	"github.com/tidemark/tidemark/operators"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"10MB": 10 << 20, "1GB": 1 << 30, " 512KiB": 512 << 10, "4096": 4096, "1.5g": 3 << 29} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "10XB", "-1MB", "0"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): no error", in)
		}
	}
	for n, want := range map[int64]string{10 << 20: "10MiB", 1 << 30: "1GiB", 1536: "1536B", 3 << 10: "3KiB"} {
		if got := sizeLabel(n); got != want {
			t.Errorf("sizeLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPercentile(t *testing.T) {
	xs := make([]time.Duration, 20)
	for i := range xs {
		xs[i] = time.Duration(20 - i)
	}
	for p, want := range map[float64]time.Duration{50: 10, 99: 20, 100: 20, 0: 1, 5: 1, 6: 2} {
		if got := benchfmt.Pct(xs, p); got != want {
			t.Errorf("benchfmt.Pct(1..20, %v) = %d, want %d", p, got, want)
		}
	}
	if got := mean(xs); got != 10 {
		t.Errorf("mean(1..20) = %d, want 10", got)
	}
}

// TestUpdateSourceEpochs checks the pacing the measurements rely on: one
// epoch per barrier, deterministic records.
func TestUpdateSourceEpochs(t *testing.T) {
	gen := func() ([][]operators.Record, int64) {
		c := &counters{}
		s := newUpdateSource(1000, 20, 10, 7, c)
		if err := s.Open(context.Background(), []operators.Position{{Topic: benchTopic, Offset: 1000}}); err != nil {
			t.Fatal(err)
		}
		var epochs [][]operators.Record
		for range 3 {
			recs, _, err := s.Poll(context.Background())
			if err != nil || len(recs) != 10 {
				t.Fatalf("Poll: %d records, %v; want 10", len(recs), err)
			}
			epochs = append(epochs, recs)
			// Nothing more until the next barrier.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if recs, _, _ := s.Poll(ctx); len(recs) != 0 {
				t.Fatalf("Poll before a barrier: %d records", len(recs))
			}
			c.processed.Add(10) // the tasks caught up
			s.Positions()
		}
		if c.lagging.Load() != 0 || c.triggers.Load() != 3 {
			t.Fatalf("lagging %d, triggers %d; want 0, 3", c.lagging.Load(), c.triggers.Load())
		}
		return epochs, s.Positions()[0].Offset
	}
	a, off := gen()
	b, _ := gen()
	if off != 1030 {
		t.Errorf("offset %d, want 1030", off)
	}
	for e := range a {
		for i := range a[e] {
			ra, rb := a[e][i], b[e][i]
			if string(ra.Key) != string(rb.Key) || string(ra.Value) != string(rb.Value) || len(ra.Value) != 20 || len(ra.Key) != 1+keyWidth {
				t.Fatalf("epoch %d record %d differs between runs or has the wrong shape", e, i)
			}
		}
	}
}
