package exprbench

import (
	"flag"
	"fmt"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
)

var rounds = flag.Int("rounds", 1, "interleaved rounds of TestCPUTable (the machine is shared: use 7 or more)")

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCPUTable prints CPU ns per operation measured with the thread's own
// CPU clock, so that other processes on the shared machine do not count;
// the subjects run interleaved, round after round, and the median is
// printed: go test -run TestCPUTable -rounds 9 -v.
func TestCPUTable(t *testing.T) {
	m, err := ParseMap(BidJSON)
	if err != nil {
		t.Fatal(err)
	}
	bid, err := ParseBid(BidJSON)
	if err != nil {
		t.Fatal(err)
	}
	type subject struct {
		name string
		run  func()
		ns   []float64
	}
	var subs []*subject
	add := func(name string, f func() error) {
		subs = append(subs, &subject{name: name, run: func() {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		}})
	}
	for _, c := range Cases {
		for _, cp := range compilers {
			ev, err := cp.compile(c)
			if err != nil {
				t.Fatal(err)
			}
			add(c.Name+"/map/"+cp.name, func() error { _, err := ev.EvalMap(m, &Sample); return err })
			add(c.Name+"/typed/"+cp.name, func() error { _, err := ev.EvalBid(&bid, &Sample); return err })
		}
	}
	for _, cp := range compilers {
		var evs []Evaluator
		for _, c := range []Case{Cases[0], Cases[2], Cases[4]} {
			ev, err := cp.compile(c)
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		add("record(parse+3)/map/"+cp.name, func() error {
			m, err := ParseMap(BidJSON)
			for _, ev := range evs {
				if err == nil {
					_, err = ev.EvalMap(m, &Sample)
				}
			}
			return err
		})
		add("record(parse+3)/typed/"+cp.name, func() error {
			b, err := ParseBid(BidJSON)
			for _, ev := range evs {
				if err == nil {
					_, err = ev.EvalBid(&b, &Sample)
				}
			}
			return err
		})
	}
	add("parse/map", func() error { _, err := ParseMap(BidJSON); return err })
	add("parse/typed", func() error { _, err := ParseBid(BidJSON); return err })
	add("parse/map/goccy", func() error { _, err := ParseMapGoccy(BidJSON); return err })
	var fp FastParser
	add("parse/map/fastjson", func() error { _, err := fp.ParseMap(BidJSON); return err })
	add("parse/typed/fastjson", func() error { _, err := fp.ParseBid(BidJSON); return err })
	for _, cp := range compilers {
		var evs []Evaluator
		for _, c := range []Case{Cases[0], Cases[2], Cases[4]} {
			ev, err := cp.compile(c)
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		add("record(fastjson+3)/map/"+cp.name, func() error {
			m, err := fp.ParseMap(BidJSON)
			for _, ev := range evs {
				if err == nil {
					_, err = ev.EvalMap(m, &Sample)
				}
			}
			return err
		})
		add("record(fastjson+3)/typed/"+cp.name, func() error {
			b, err := fp.ParseBid(BidJSON)
			for _, ev := range evs {
				if err == nil {
					_, err = ev.EvalBid(&b, &Sample)
				}
			}
			return err
		})
	}
	add("compile/expr", func() error { return CompileExprMap(Cases[0].Expr) })
	add("compile/cel", func() error { return CompileCELMap(Cases[0].CEL) })

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const budget = 40 * time.Millisecond // CPU per subject per round
	for range *rounds {
		for _, s := range subs {
			// Calibrate n so that a round costs about budget.
			n := 1
			for {
				start := threadCPU()
				for range n {
					s.run()
				}
				d := threadCPU() - start
				if d >= budget || n >= 1<<24 {
					s.ns = append(s.ns, float64(d.Nanoseconds())/float64(n))
					break
				}
				n *= 4
			}
		}
	}
	for _, s := range subs {
		slices.Sort(s.ns)
		med := s.ns[len(s.ns)/2]
		allocs := testing.AllocsPerRun(100, s.run)
		t.Logf("%-32s %9.0f ns CPU (median of %d, min %.0f)  %6.2f M/s per core  %5.0f allocs", s.name, med, len(s.ns), s.ns[0], 1e3/med, allocs)
		if med <= 0 {
			t.Errorf("%s: no CPU time measured", s.name)
		}
	}
	fmt.Println()
}
