package join_test

import (
	"syscall"
	"testing"

	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/nexmark"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/optest"
)

// The benchmarks measure the join's cost per input record on a real
// Pebble backend, over Nexmark events prepared beforehand (decoded views,
// keys set): go test -run '^$' -bench . -benchmem ./operators/join/.
// A watermark (max event time − 4 s) follows every batch of 256. ns/op
// is wall time per record; cpu-ns/record the process's CPU time.

type input struct {
	side int
	rec  operators.Record
}

// benchJoin feeds b.N records of in (round and round, on a fresh harness
// each round) to the join configured by src.
func benchJoin(b *testing.B, src string, in []input) {
	b.Helper()
	_, newOp := joinOf(b, src)
	const batch = 256
	var h *optest.Harness
	pos := len(in)
	var wm int64
	outs := 0
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for done := 0; done < b.N; {
		if pos >= len(in) {
			b.StopTimer()
			if h != nil {
				h.Close()
			}
			h = optest.New(b, newOp, harness...)
			pos, wm = 0, 0
			b.StartTimer()
		}
		n := min(batch, b.N-done, len(in)-pos)
		// Runs of one side go in one call, as the task hands them over.
		for i := pos; i < pos+n; {
			k := i
			for k < pos+n && in[k].side == in[i].side {
				k++
			}
			recs := make([]operators.Record, 0, k-i)
			for _, x := range in[i:k] {
				recs = append(recs, x.rec)
				wm = max(wm, x.rec.Timestamp-4000)
			}
			o, err := h.Process(in[i].side, recs)
			if err != nil {
				b.Fatal(err)
			}
			outs += len(o)
			i = k
		}
		if wm > h.Watermark() {
			o, err := h.AdvanceWatermark(wm)
			if err != nil {
				b.Fatal(err)
			}
			outs += len(o)
		}
		pos += n
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/record")
	b.ReportMetric(float64(outs)/float64(b.N), "out/record")
}

// views returns the views of generated events that pick keeps, on the
// side it says, keyed for the join src.
func views(b *testing.B, src string, n, rate int64, pick func(*nexmark.Event) (int, bool)) []input {
	b.Helper()
	conf, _ := joinOf(b, src)
	var dec json.Decoder
	var in []input
	for _, ev := range generateAt(b, n, rate) {
		side, ok := pick(&ev)
		if !ok {
			continue
		}
		in = append(in, input{side: side, rec: keyed(b, conf, side, view(b, &dec, &ev))})
	}
	return in
}

const (
	q3Join = `type: join
from: [auction, person]
key: {left: value.seller, right: value.id}
select: {name: right.name, city: right.city, state: right.state, id: left.id}`
	q4Join = `type: join
from: [auction, bid]
key: {left: value.id, right: value.auction}
where: 'parse_time(left.dateTime, "sql") <= parse_time(right.dateTime, "sql") && parse_time(right.dateTime, "sql") <= parse_time(left.expires, "sql")'
retain: {left: 'parse_time(value.expires, "sql")', right: timestamp}
select: {id: left.id, category: left.category, price: right.price}`
	q7Join = `type: join
join: interval
from: [bid, maxprice]
key: {left: value.price, right: value.maxprice}
between: {lower: -10s, upper: 0s}
select: {auction: left.auction, price: left.price, bidder: left.bidder, dateTime: left.dateTime, extra: left.extra}`
	windowJoin = `type: join
join: window
window: {type: tumbling, size: 10s}
from: [person, auction]
key: {left: value.id, right: value.seller}
select: {id: left.id, name: left.name, stime: 'format_time(window.start, "sql")'}`
)

// Regular join as Nexmark q3 (every person and auction; state kept).
func BenchmarkRegularQ3(b *testing.B) {
	in := views(b, q3Join, 400_000, 0, func(ev *nexmark.Event) (int, bool) {
		switch ev.Kind {
		case nexmark.KindAuction:
			return 0, true
		case nexmark.KindPerson:
			return 1, true
		}
		return 0, false
	})
	benchJoin(b, q3Join, in)
}

// Regular join as Nexmark q4: auctions and bids, rows dropped at their
// retain time.
func BenchmarkRegularQ4(b *testing.B) {
	in := views(b, q4Join, 100_000, 0, func(ev *nexmark.Event) (int, bool) {
		switch ev.Kind {
		case nexmark.KindAuction:
			return 0, true
		case nexmark.KindBid:
			return 1, true
		}
		return 0, false
	})
	benchJoin(b, q4Join, in)
}

// Interval join as Nexmark q7: bids (left, keyed by price) and the
// maximum price of each tumbling 10 s window (right, at the window's end,
// arriving when the watermark passes the window).
func BenchmarkIntervalQ7(b *testing.B) {
	// 1,000 events per second of event time: a maximum every 9,200 bids.
	bids := views(b, q7Join, 100_000, 1000, func(ev *nexmark.Event) (int, bool) {
		return 0, ev.Kind == nexmark.KindBid
	})
	conf, _ := joinOf(b, q7Join)
	const size = 10_000
	var in []input
	var maxes []int64 // per window from the first bid's
	first := bids[0].rec.Timestamp / size * size
	next := first // the next window to close
	for _, x := range bids {
		t := x.rec.Timestamp
		for next+size-1 <= t-4000 {
			if i := (next - first) / size; i < int64(len(maxes)) {
				r := operators.Record{Data: map[string]any{"maxprice": maxes[i]}, Timestamp: next + size}
				in = append(in, input{side: 1, rec: keyed(b, conf, 1, r)})
			}
			next += size
		}
		i := (t/size*size - first) / size
		for int64(len(maxes)) <= i {
			maxes = append(maxes, 0)
		}
		maxes[i] = max(maxes[i], x.rec.Data.(map[string]any)["price"].(int64))
		in = append(in, x)
	}
	benchJoin(b, q7Join, in)
}

// Window join, tumbling 10 s, of persons and auctions by seller (q8
// without its aggregates).
func BenchmarkWindow(b *testing.B) {
	in := views(b, windowJoin, 400_000, 0, func(ev *nexmark.Event) (int, bool) {
		switch ev.Kind {
		case nexmark.KindPerson:
			return 0, true
		case nexmark.KindAuction:
			return 1, true
		}
		return 0, false
	})
	benchJoin(b, windowJoin, in)
}

// cpuTime is the process's CPU time (user and system) in ns: the machine
// the benchmarks run on is shared, so wall time says little. It counts
// every goroutine, Pebble's compactions and the GC included, and the
// rounds' set-up.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
