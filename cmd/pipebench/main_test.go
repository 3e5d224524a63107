package main

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/benchfmt"
)

func TestGen(t *testing.T) {
	g := newGen(10000, 100, 1)
	sent := time.Unix(1700000000, 123456789)
	seen := map[string]bool{}
	for i := range 1000 {
		k, key, val := g.next(sent)
		if len(val) != 100 {
			t.Fatalf("value %d: %d bytes, want 100", i, len(val))
		}
		var ev struct {
			Seq  int64  `json:"seq"`
			Sent int64  `json:"sent"`
			Pad  string `json:"pad"`
		}
		if err := json.Unmarshal(val, &ev); err != nil || ev.Seq != int64(i) || ev.Sent != sent.UnixNano() {
			t.Fatalf("value %q: %+v, %v", val, ev, err)
		}
		if ns, ok := parseSent(val); !ok || ns != sent.UnixNano() {
			t.Fatalf("parseSent(%q) = %d, %v", val, ns, ok)
		}
		if n, ok := keyIndex(key); !ok || n != k || len(key) != len("user-0000") {
			t.Fatalf("keyIndex(%q) = %d, %v; want %d", key, n, ok, k)
		}
		seen[string(key)] = true
	}
	if len(seen) < 900 {
		t.Errorf("%d distinct keys in 1000 records of 10000 keys", len(seen))
	}
	// Same seed, same records.
	a, b := newGen(50, 64, 7), newGen(50, 64, 7)
	for range 100 {
		_, ka, va := a.next(sent)
		_, kb, vb := b.next(sent)
		if !bytes.Equal(ka, kb) || !bytes.Equal(va, vb) {
			t.Fatal("two generators with one seed differ")
		}
	}
	if _, ok := parseSent([]byte("42")); ok {
		t.Error("parseSent of a count")
	}
	if _, ok := keyIndex([]byte("other-1")); ok {
		t.Error("keyIndex of a foreign key")
	}
}

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
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median = %v, want 2", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median = %v, want 2.5", got)
	}
	if got := median(nil); got != 0 {
		t.Errorf("median(nil) = %v", got)
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
