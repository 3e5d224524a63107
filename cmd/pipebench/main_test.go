package main

import (
	"os"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/benchfmt"
)

func TestSentTable(t *testing.T) {
	st := &sentTable{sent: make([][]int64, 3)}
	st.add(1, 10)
	st.add(1, 20)
	for _, c := range []struct {
		k, n int
		want int64
		ok   bool
	}{{1, 1, 10, true}, {1, 2, 20, true}, {1, 3, 0, false}, {0, 1, 0, false}, {5, 1, 0, false}, {1, 0, 0, false}} {
		if got, ok := st.lookup(c.k, c.n); got != c.want || ok != c.ok {
			t.Errorf("lookup(%d, %d) = %d, %v; want %d, %v", c.k, c.n, got, ok, c.want, c.ok)
		}
	}
}

func TestStats(t *testing.T) {
	if got := benchfmt.Median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median = %v, want 2", got)
	}
	if got := benchfmt.Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median = %v, want 2.5", got)
	}
	if got := benchfmt.Median(nil); got != 0 {
		t.Errorf("benchfmt.Median(nil) = %v", got)
	}
	xs := make([]time.Duration, 100)
	for i := range xs {
		xs[i] = time.Duration(100 - i)
	}
	for p, want := range map[float64]time.Duration{50: 50, 99: 99, 100: 100, 0: 1} {
		if got := benchfmt.Pct(xs, p); got != want {
			t.Errorf("benchfmt.Pct(1..100, %v) = %d, want %d", p, got, want)
		}
	}
}

func TestProfilePath(t *testing.T) {
	if got := profilePath("/tmp/cpu.pprof", "b", false); got != "/tmp/cpu.pprof" {
		t.Errorf("one variant: %s", got)
	}
	if got := profilePath("/tmp/cpu.pprof", "b", true); got != "/tmp/cpu-b.pprof" {
		t.Errorf("several: %s", got)
	}
}

func TestProcCPU(t *testing.T) {
	m := newCPUMeter(-1)
	if m.brokerPID != 0 {
		t.Fatalf("broker pid %d with -broker-pid -1", m.brokerPID)
	}
	if s := m.sample(); s.proc <= 0 {
		t.Errorf("own CPU time %s", s.proc)
	}
	// This process stands in for a broker.
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Error(err)
	}
}
