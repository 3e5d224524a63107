package join_test

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/nexmark"
	"github.com/tidemark/tidemark/nexmark/reference"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/join"
	"github.com/tidemark/tidemark/operators/optest"
	"github.com/tidemark/tidemark/plugin"
)

// The Nexmark tests run the joins of q3 and q8 (design §7.4) over
// generated events, feeding them as the job would (the views and
// upstream operators are done here, in the test), and compare the output
// with nexmark/reference, with a checkpoint and a restore into a fresh
// state directory half-way.

const partitions = 4

var generated = map[[2]int64][]nexmark.Event{}

// generate returns events 0 … n−1 of seed 9 at the default rate (10,000
// events per second of event time).
func generate(t testing.TB, n int64) []nexmark.Event { return generateAt(t, n, 0) }

// generateAt returns events 0 … n−1 of seed 9 at rate events per second
// (0: the default), cached: benchmarks ask again and again, and the tests
// run one after the other.
func generateAt(t testing.TB, n, rate int64) []nexmark.Event {
	t.Helper()
	if evs, ok := generated[[2]int64{n, rate}]; ok {
		return evs
	}
	cfg := nexmark.DefaultConfig()
	cfg.Seed = 9
	if rate > 0 {
		cfg.Rate = int(rate)
	}
	g, err := nexmark.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	evs := g.Events(0, n)
	generated[[2]int64{n, rate}] = evs
	return evs
}

// view returns the record of event ev as the view of its kind (filter
// event_type, map value: value.<kind>) gives it: the decoded object, at
// its dateTime.
func view(t testing.TB, dec *json.Decoder, ev *nexmark.Event) operators.Record {
	t.Helper()
	v, err := dec.Decode(nexmark.AppendJSON(nil, ev))
	if err != nil {
		t.Fatal(err)
	}
	name := map[nexmark.Kind]string{nexmark.KindPerson: "person", nexmark.KindAuction: "auction", nexmark.KindBid: "bid"}[ev.Kind]
	return operators.Record{Data: v.(map[string]any)[name], Timestamp: ev.DateTime()}
}

// keyed sets r's key as the planner does for input i of conf.
func keyed(t testing.TB, conf *plugin.ParsedConfig, i int, r operators.Record) operators.Record {
	t.Helper()
	var env expression.Env
	env.Reset()
	env.SetRecord(&r)
	k, err := conf.Key(i).Append(&env, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Key = k
	return r
}

// joinOf parses a join entry and returns it with a constructor.
func joinOf(t testing.TB, src string) (*plugin.ParsedConfig, func() operators.Operator) {
	t.Helper()
	conf, ps := parse(t, src)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	return conf, func() operators.Operator {
		op, err := join.New(conf, &plugin.Resources{Name: "j"})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
}

// collect keeps the main output as the sink would write it (fields in
// order), failing on anything else.
func collect(t testing.TB, outs []optest.Output, err error, fields []string, into *[]reference.Record) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if o.DeadLetter || o.Port != 0 || o.Record.Kind != operators.Insert {
			t.Fatalf("unexpected output %+v", o)
		}
		v, err := json.AppendValue(nil, o.Record.Data, fields)
		if err != nil {
			t.Fatal(err)
		}
		*into = append(*into, reference.Record{Value: v})
	}
}

// arrivals returns the order events arrive in at the join: partitions
// (event i in partition i mod P) interleaved in random runs, each
// partition in its own order.
func arrivals(n, seed int) []int {
	next := make([]int, partitions)
	for p := range next {
		next[p] = p
	}
	r := rand.New(rand.NewPCG(uint64(seed), 1))
	var order []int
	for len(order) < n {
		p := r.IntN(partitions)
		for run := 1 + r.IntN(50); run > 0 && next[p] < n; run-- {
			order = append(order, next[p])
			next[p] += partitions
		}
	}
	return order
}

// TestNexmarkQ3: auctions of category 10 ⋈ their sellers from OR, ID or
// CA (a regular inner join keeping both sides), sides arriving in any
// order.
func TestNexmarkQ3(t *testing.T) {
	events := generate(t, 60_000)
	conf, newOp := joinOf(t, `type: join
name: q3
from: [auction, person]
key: {left: value.seller, right: value.id}
select: {name: right.name, city: right.city, state: right.state, id: left.id}
`)
	h := optest.New(t, newOp, harness...)
	var dec json.Decoder
	var got []reference.Record
	fields := []string{"name", "city", "state", "id"}
	order := arrivals(len(events), 3)
	for i, n := range order {
		ev := &events[n]
		if i == len(order)/2 {
			if _, _, err := h.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			if err := h.Restore(h.LastCheckpoint()); err != nil {
				t.Fatal(err)
			}
		}
		switch {
		case ev.Kind == nexmark.KindAuction && ev.Auction.Category == 10:
			outs, err := h.Process(0, []operators.Record{keyed(t, conf, 0, view(t, &dec, ev))})
			collect(t, outs, err, fields, &got)
		case ev.Kind == nexmark.KindPerson && slices.Contains([]string{"OR", "ID", "CA"}, ev.Person.State):
			outs, err := h.Process(1, []operators.Record{keyed(t, conf, 1, view(t, &dec, ev))})
			collect(t, outs, err, fields, &got)
		}
	}
	want := reference.Q3(reference.Input{Events: events, Partitions: partitions})
	if len(want.Rows) < 20 {
		t.Fatalf("the reference has %d rows: too few to test anything", len(want.Rows))
	}
	if err := want.Check(got); err != nil {
		t.Fatal(err)
	}
	t.Logf("q3: %d rows agree with the reference", len(got))
}

// TestNexmarkQ8: persons and sellers per tumbling 10 s window (the two
// window aggregates, done here as the aggregate does them: a group per
// (key, window), emitted with its window when the watermark reaches its
// end − 1, before the join sees that watermark) joined in the attached
// window.
func TestNexmarkQ8(t *testing.T) {
	events := generateAt(t, 60_000, 2000)
	conf, newOp := joinOf(t, `type: join
name: q8
join: window
window: {type: attached}
from: [p, a]
key: {left: value.id, right: value.seller}
select: {id: left.id, name: left.name, stime: 'format_time(window.start, "sql")'}
`)
	h := optest.New(t, newOp, harness...)
	var dec json.Decoder
	var got []reference.Record
	fields := []string{"id", "name", "stime"}

	const size = 10_000
	type group struct {
		side  int
		start int64
		key   string // id and name, or seller, as JSON
	}
	groups := map[group]map[string]any{}
	open := map[int64][]group{} // by window start
	var starts []int64          // of open, ascending
	// fire emits the groups of windows the watermark wm closed, by window
	// and key (an aggregate emits in key order per timer), then the
	// watermark.
	fire := func(wm int64) {
		for len(starts) > 0 && starts[0]+size-1 <= wm {
			due := open[starts[0]]
			delete(open, starts[0])
			starts = starts[1:]
			slices.SortFunc(due, func(a, b group) int { return strings.Compare(a.key, b.key) })
			for _, g := range due {
				r := operators.Record{Data: groups[g], Timestamp: g.start + size - 1, WindowStart: g.start, WindowEnd: g.start + size}
				delete(groups, g)
				outs, err := h.Process(g.side, []operators.Record{keyed(t, conf, g.side, r)})
				collect(t, outs, err, fields, &got)
			}
		}
		outs, err := h.AdvanceWatermark(wm)
		collect(t, outs, err, fields, &got)
	}

	// The reference's watermark: per partition the largest dateTime − 4 s,
	// the minimum over partitions once every one has had an event.
	maxs := make([]int64, partitions)
	for i := range maxs {
		maxs[i] = math.MinInt64
	}
	wm := int64(math.MinInt64)
	for i := range events {
		ev := &events[i]
		if i == len(events)/2 {
			if _, _, err := h.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			if err := h.Restore(h.LastCheckpoint()); err != nil {
				t.Fatal(err)
			}
		}
		t0 := ev.DateTime()
		start := t0 - t0%size
		if ev.Kind != nexmark.KindBid && !(wm != math.MinInt64 && start+size-1 <= wm) {
			r := view(t, &dec, ev)
			m := r.Data.(map[string]any)
			var g group
			var row map[string]any
			if ev.Kind == nexmark.KindPerson {
				g = group{side: 0, start: start, key: string(must(json.Marshal([]any{m["id"], m["name"]})))}
				row = map[string]any{"id": m["id"], "name": m["name"], "window_start": start, "window_end": start + size}
			} else {
				g = group{side: 1, start: start, key: string(must(json.Marshal(m["seller"])))}
				row = map[string]any{"seller": m["seller"], "window_start": start, "window_end": start + size}
			}
			if _, ok := groups[g]; !ok {
				groups[g] = row
				if _, ok := open[start]; !ok {
					i, _ := slices.BinarySearch(starts, start)
					starts = slices.Insert(starts, i, start)
				}
				open[start] = append(open[start], g)
			}
		}
		p := i % partitions
		maxs[p] = max(maxs[p], t0)
		low := slices.Min(maxs)
		if low != math.MinInt64 && low-reference.WatermarkDelay > wm {
			wm = low - reference.WatermarkDelay
			fire(wm)
		}
	}
	fire(math.MaxInt64)
	want := reference.Q8(reference.Input{Events: events, Partitions: partitions})
	if len(want.Rows) < 20 {
		t.Fatalf("the reference has %d rows: too few to test anything", len(want.Rows))
	}
	if err := want.Check(got); err != nil {
		t.Fatal(err)
	}
	if lines, err := h.StateLines(); err != nil || len(lines) != 1 {
		t.Errorf("state left after the last window: %v %v", lines, err)
	}
	t.Logf("q8: %d rows agree with the reference", len(got))
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestNexmarkQ7: bids ⋈ the maximum price of each tumbling 10 s window
// (the aggregate and the map setting the timestamp to the window's end
// done here), an interval join of 10 s before the maximum's time, both
// ends inclusive.
//
// At 10,000 events per second a 10 s window holds 100,000 events and has
// one maximum; 100 per second gives many windows in few events. The
// watermark goes to the join every 256 events, as a task passes it on per
// batch, and whenever a window closes.
func TestNexmarkQ7(t *testing.T) {
	events := generateAt(t, 20_000, 100)
	conf, newOp := joinOf(t, `type: join
name: q7
join: interval
from: [bid, maxprice]
key: {left: value.price, right: value.maxprice}
between: {lower: -10s, upper: 0s}
select: {auction: left.auction, price: left.price, bidder: left.bidder, dateTime: left.dateTime, extra: left.extra}
`)
	h := optest.New(t, newOp, harness...)
	var dec json.Decoder
	var got []reference.Record
	fields := []string{"auction", "price", "bidder", "dateTime", "extra"}

	const size = 10_000
	maxes := map[int64]int64{} // window start → max price
	var starts []int64         // of maxes, ascending
	fire := func(wm int64) {
		for len(starts) > 0 && starts[0]+size-1 <= wm {
			s := starts[0]
			starts = starts[1:]
			r := operators.Record{Data: map[string]any{"maxprice": maxes[s]}, Timestamp: s + size}
			delete(maxes, s)
			outs, err := h.Process(1, []operators.Record{keyed(t, conf, 1, r)})
			collect(t, outs, err, fields, &got)
		}
		outs, err := h.AdvanceWatermark(wm)
		collect(t, outs, err, fields, &got)
	}
	maxs := make([]int64, partitions)
	for i := range maxs {
		maxs[i] = math.MinInt64
	}
	wm := int64(math.MinInt64)
	for i := range events {
		ev := &events[i]
		if i == len(events)/2 {
			if _, _, err := h.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			if err := h.Restore(h.LastCheckpoint()); err != nil {
				t.Fatal(err)
			}
		}
		t0 := ev.DateTime()
		if ev.Kind == nexmark.KindBid {
			s := t0 - t0%size
			if wm == math.MinInt64 || s+size-1 > wm {
				if m, ok := maxes[s]; !ok || ev.Bid.Price > m {
					if !ok {
						i, _ := slices.BinarySearch(starts, s)
						starts = slices.Insert(starts, i, s)
					}
					maxes[s] = ev.Bid.Price
				}
			}
			outs, err := h.Process(0, []operators.Record{keyed(t, conf, 0, view(t, &dec, ev))})
			collect(t, outs, err, fields, &got)
		}
		p := i % partitions
		maxs[p] = max(maxs[p], t0)
		low := slices.Min(maxs)
		if low != math.MinInt64 && low-reference.WatermarkDelay > wm {
			wm = low - reference.WatermarkDelay
			if i%256 == 0 || len(starts) > 0 && starts[0]+size-1 <= wm {
				fire(wm)
			}
		}
	}
	fire(math.MaxInt64)
	want := reference.Q7(reference.Input{Events: events, Partitions: partitions})
	if len(want.Rows) < 10 {
		t.Fatalf("the reference has %d rows: too few to test anything", len(want.Rows))
	}
	if err := want.Check(got); err != nil {
		t.Fatal(err)
	}
	if lines, err := h.StateLines(); err != nil || len(lines) != 1 {
		t.Errorf("state left at the end: %v %v", lines, err)
	}
	t.Logf("q7: %d rows agree with the reference", len(got))
}

// TestNexmarkQ5: bid counts per auction per hopping window (10 s every
// 2 s) and the largest count per window (the two aggregates done here as
// the aggregate does them: emitted with their window when the watermark
// reaches its end − 1), joined in the attached window where the count is
// the largest.
func TestNexmarkQ5(t *testing.T) {
	events := generateAt(t, 30_000, 1000)
	conf, newOp := joinOf(t, `type: join
name: hot
join: window
window: {type: attached}
from: [counts, maxn]
key: {left: window.start, right: key}
where: 'left.num >= right.maxn'
select: {auction: left.auction, num: left.num}
`)
	h := optest.New(t, newOp, harness...)
	var got []reference.Record
	fields := []string{"auction", "num"}

	const size, slide = 10_000, 2_000
	counts := map[int64]map[int64]int64{} // window start → auction → bids
	var starts []int64                    // of counts, ascending
	fire := func(wm int64) {
		for len(starts) > 0 && starts[0]+size-1 <= wm {
			s := starts[0]
			starts = starts[1:]
			c := counts[s]
			delete(counts, s)
			var maxn int64
			for _, a := range slices.Sorted(maps.Keys(c)) {
				maxn = max(maxn, c[a])
				r := operators.Record{Data: map[string]any{"auction": a, "num": c[a], "window_start": s, "window_end": s + size},
					Timestamp: s + size - 1, WindowStart: s, WindowEnd: s + size}
				outs, err := h.Process(0, []operators.Record{keyed(t, conf, 0, r)})
				collect(t, outs, err, fields, &got)
			}
			r := operators.Record{Key: []byte(strconv.FormatInt(s, 10)), Data: map[string]any{"starttime": s, "maxn": maxn},
				Timestamp: s + size - 1, WindowStart: s, WindowEnd: s + size}
			outs, err := h.Process(1, []operators.Record{keyed(t, conf, 1, r)})
			collect(t, outs, err, fields, &got)
		}
		outs, err := h.AdvanceWatermark(wm)
		collect(t, outs, err, fields, &got)
	}
	maxs := make([]int64, partitions)
	for i := range maxs {
		maxs[i] = math.MinInt64
	}
	wm := int64(math.MinInt64)
	for i := range events {
		ev := &events[i]
		if i == len(events)/2 {
			if _, _, err := h.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			if err := h.Restore(h.LastCheckpoint()); err != nil {
				t.Fatal(err)
			}
		}
		t0 := ev.DateTime()
		if ev.Kind == nexmark.KindBid {
			for s := t0 - t0%slide; s > t0-size; s -= slide {
				if wm != math.MinInt64 && s+size-1 <= wm {
					continue
				}
				if counts[s] == nil {
					counts[s] = map[int64]int64{}
					i, _ := slices.BinarySearch(starts, s)
					starts = slices.Insert(starts, i, s)
				}
				counts[s][ev.Bid.Auction]++
			}
		}
		p := i % partitions
		maxs[p] = max(maxs[p], t0)
		low := slices.Min(maxs)
		if low != math.MinInt64 && low-reference.WatermarkDelay > wm {
			wm = low - reference.WatermarkDelay
			if i%256 == 0 || len(starts) > 0 && starts[0]+size-1 <= wm {
				fire(wm)
			}
		}
	}
	fire(math.MaxInt64)
	want := reference.Q5(reference.Input{Events: events, Partitions: partitions})
	if len(want.Rows) < 10 {
		t.Fatalf("the reference has %d rows: too few to test anything", len(want.Rows))
	}
	if err := want.Check(got); err != nil {
		t.Fatal(err)
	}
	if lines, err := h.StateLines(); err != nil || len(lines) != 1 {
		t.Errorf("state left at the end: %v %v", lines, err)
	}
	t.Logf("q5: %d rows agree with the reference", len(got))
}
