package aggregate_test

import (
	"math"
	"slices"
	"testing"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/nexmark"
	"github.com/tidemark/tidemark/nexmark/reference"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/aggregate"
	"github.com/tidemark/tidemark/operators/optest"
	"github.com/tidemark/tidemark/plugin"
)

// The Nexmark queries the aggregate takes part in, run through the
// operator harness on generated events and checked with the reference
// (nexmark/reference) by its own Check: the aggregates run as the
// queries' configs run them; the joins around them (q4, q5, q7, q8) are
// done here in plain Go. Events arrive in the reference's order with its
// watermark model (per partition the largest dateTime − 4 s, the minimum
// over partitions, advanced after every event); each run checkpoints and
// restores into a fresh directory half way.

// stage is one aggregate of a query.
type stage struct {
	t    *testing.T
	h    *optest.Harness
	key  *plugin.Key
	env  expression.Env
	outs []operators.Record // everything it emitted
}

func newStage(t *testing.T, name, conf string) *stage {
	c := parse(t, conf)
	s := &stage{t: t, key: c.Key(0)}
	s.h = optest.New(t, func() operators.Operator {
		op, err := aggregate.New(c, &plugin.Resources{Name: name})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return op
	}, optest.Name(name), optest.Outputs("late"))
	return s
}

// keyed sets each record's key to the stage's key, as the planner does.
func (s *stage) keyed(recs []operators.Record) []operators.Record {
	out := make([]operators.Record, len(recs))
	for i, r := range recs {
		s.env.SetRecord(&r)
		k, err := s.key.Append(&s.env, nil)
		if err != nil {
			s.t.Fatalf("key of %+v: %v", r, err)
		}
		r.Key = k
		out[i] = r
	}
	return out
}

func (s *stage) take(outs []optest.Output, err error) []operators.Record {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
	var recs []operators.Record
	for _, o := range outs {
		if o.DeadLetter || o.Port != 0 {
			s.t.Fatalf("unexpected output: %+v", o)
		}
		recs = append(recs, o.Record)
	}
	s.outs = append(s.outs, recs...)
	return recs
}

func (s *stage) process(recs []operators.Record) []operators.Record {
	if len(recs) == 0 {
		return nil
	}
	return s.take(s.h.Process(0, s.keyed(recs)))
}

func (s *stage) watermark(wm int64) []operators.Record {
	if wm <= s.h.Watermark() {
		return nil
	}
	return s.take(s.h.AdvanceWatermark(wm))
}

func (s *stage) checkpoint() []operators.Record {
	_, outs, err := s.h.Checkpoint()
	return s.take(outs, err)
}

// chain is a query's aggregates, each fed by the one before it.
type chain []*stage

func (c chain) process(recs []operators.Record) {
	for _, s := range c {
		recs = s.process(recs)
	}
}

// watermark passes wm through the chain: what a stage emits on it reaches
// the next stage before the watermark does.
func (c chain) watermark(wm int64) {
	var carry []operators.Record
	for _, s := range c {
		carry = append(s.process(carry), s.watermark(wm)...)
	}
}

func (c chain) checkpoint() {
	var carry []operators.Record
	for _, s := range c {
		carry = append(s.process(carry), s.checkpoint()...)
	}
}

func (c chain) restore() {
	for _, s := range c {
		if err := s.h.Restore(s.h.LastCheckpoint()); err != nil {
			s.t.Fatal(err)
		}
	}
}

// feed runs in through the chain in the reference's order and watermark
// model, records of one view (toRec false: not in the view) batched while
// the watermark stands still; a checkpoint and a restore into a fresh
// directory half way; watermark +∞ at the end, as a bounded run.
func feed(t *testing.T, in reference.Input, c chain, toRec func(ev *nexmark.Event, dec *json.Decoder) (operators.Record, bool)) {
	p := max(in.Partitions, 1)
	maxs := make([]int64, p)
	for i := range maxs {
		maxs[i] = math.MinInt64
	}
	wm := int64(math.MinInt64)
	var batch []operators.Record
	var dec json.Decoder
	for i := range in.Events {
		if i == len(in.Events)/2 {
			c.process(batch)
			batch = nil
			c.checkpoint()
			c.restore()
		}
		if r, ok := toRec(&in.Events[i], &dec); ok {
			batch = append(batch, r)
		}
		q := i % p
		maxs[q] = max(maxs[q], in.Events[i].DateTime())
		low := slices.Min(maxs)
		if low != math.MinInt64 && low-reference.WatermarkDelay > wm {
			wm = low - reference.WatermarkDelay
			c.process(batch)
			batch = nil
			c.watermark(wm)
		}
	}
	c.process(batch)
	c.watermark(math.MaxInt64)
	c.checkpoint()
}

// view returns the records of one kind of event as the configs' views
// make them: value = the event's object, timestamp = its dateTime.
func view(kind nexmark.Kind) func(ev *nexmark.Event, dec *json.Decoder) (operators.Record, bool) {
	name := map[nexmark.Kind]string{nexmark.KindPerson: "person", nexmark.KindAuction: "auction", nexmark.KindBid: "bid"}[kind]
	return func(ev *nexmark.Event, dec *json.Decoder) (operators.Record, bool) {
		if ev.Kind != kind {
			return operators.Record{}, false
		}
		v, err := dec.Decode(nexmark.AppendJSON(nil, ev))
		if err != nil {
			panic(err)
		}
		return operators.Record{Timestamp: ev.DateTime(), Data: v.(map[string]any)[name]}, true
	}
}

// inputs are the event sets every query runs on: in order, and out of
// order beyond the watermark's 4 s (late records on both sides).
func inputs(t *testing.T) map[string]reference.Input {
	gen := func(mod func(*nexmark.Config)) []nexmark.Event {
		cfg := nexmark.DefaultConfig()
		cfg.Seed = 9
		cfg.Rate = 250 // 10,000 events: 40 s of event time
		if mod != nil {
			mod(&cfg)
		}
		g, err := nexmark.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return g.Events(0, 10_000)
	}
	ordered := gen(nil)
	shuffled := gen(func(c *nexmark.Config) { c.OutOfOrderGroup = 2000 }) // 8 s groups
	in := map[string]reference.Input{
		"ordered/3":  {Events: ordered, Partitions: 3},
		"shuffled/2": {Events: shuffled, Partitions: 2},
	}
	if late := reference.BehindWatermark(in["shuffled/2"]); len(late) == 0 {
		t.Fatal("the shuffled input has no late event")
	}
	return in
}

func forInputs(t *testing.T, fn func(t *testing.T, in reference.Input)) {
	if testing.Short() {
		t.Skip("Nexmark runs take a few seconds")
	}
	for name, in := range inputs(t) {
		t.Run(name, func(t *testing.T) { fn(t, in) })
	}
}

func encode(t *testing.T, row map[string]any) []byte {
	b, err := json.AppendValue(nil, row, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appendRecords are the rows of append outputs.
func appendRecords(t *testing.T, rows []map[string]any) []reference.Record {
	out := make([]reference.Record, len(rows))
	for i, r := range rows {
		out[i] = reference.Record{Value: encode(t, r)}
	}
	return out
}

// upsertRecords is what an upsert sink writes of a changelog: +I and +U
// the row under its key, -D a tombstone, -U nothing.
func upsertRecords(t *testing.T, recs []operators.Record, project func(map[string]any) map[string]any) []reference.Record {
	var out []reference.Record
	for _, r := range recs {
		switch r.Kind {
		case operators.Insert, operators.UpdateAfter:
			out = append(out, reference.Record{Key: r.Key, Value: encode(t, project(r.Data.(map[string]any)))})
		case operators.Delete:
			out = append(out, reference.Record{Key: r.Key})
		}
	}
	return out
}

func check(t *testing.T, want *reference.Result, got []reference.Record) {
	t.Helper()
	if len(want.Rows) == 0 && len(want.Final) == 0 {
		t.Fatal("the reference's result is empty: the test checks nothing")
	}
	if err := want.Check(got); err != nil {
		t.Error(err)
	}
}

func TestNexmarkQ5(t *testing.T) {
	forInputs(t, func(t *testing.T, in reference.Input) {
		counts := newStage(t, "counts", `
type: aggregate
group_by: {auction: value.auction}
window: {type: hopping, size: 10s, slide: 2s}
aggregates: {num: {fn: count}}`)
		maxn := newStage(t, "maxn", `
type: aggregate
group_by: {starttime: window.start}
window: {type: attached}
aggregates: {maxn: {fn: max, expr: value.num}}`)
		feed(t, in, chain{counts, maxn}, view(nexmark.KindBid))
		// The window join on (window, num >= maxn).
		maxes := map[[2]int64]int64{}
		for _, r := range maxn.outs {
			maxes[[2]int64{r.WindowStart, r.WindowEnd}] = r.Data.(map[string]any)["maxn"].(int64)
		}
		var rows []map[string]any
		for _, r := range counts.outs {
			v := r.Data.(map[string]any)
			if m, ok := maxes[[2]int64{r.WindowStart, r.WindowEnd}]; ok && v["num"].(int64) >= m {
				rows = append(rows, map[string]any{"auction": v["auction"], "num": v["num"]})
			}
		}
		check(t, reference.Q5(in), appendRecords(t, rows))
	})
}

func TestNexmarkQ7(t *testing.T) {
	forInputs(t, func(t *testing.T, in reference.Input) {
		maxes := newStage(t, "max", `
type: aggregate
window: {type: tumbling, size: 10s}
aggregates: {maxprice: {fn: max, expr: value.price}}`)
		feed(t, in, chain{maxes}, view(nexmark.KindBid))
		// The interval join: bids with price = maxprice and dateTime in
		// [window end − 10 s, window end].
		var rows []map[string]any
		for _, ev := range in.Events {
			if ev.Kind != nexmark.KindBid {
				continue
			}
			b := ev.Bid
			for _, m := range maxes.outs {
				v := m.Data.(map[string]any)
				if v["maxprice"] == b.Price && m.WindowEnd-10_000 <= b.DateTime && b.DateTime <= m.WindowEnd {
					rows = append(rows, map[string]any{"auction": b.Auction, "price": b.Price, "bidder": b.Bidder,
						"dateTime": nexmark.FormatTime(b.DateTime), "extra": b.Extra})
				}
			}
		}
		check(t, reference.Q7(in), appendRecords(t, rows))
	})
}

func TestNexmarkQ8(t *testing.T) {
	forInputs(t, func(t *testing.T, in reference.Input) {
		persons := newStage(t, "persons", `
type: aggregate
group_by: {id: value.id, name: value.name}
window: {type: tumbling, size: 10s}`)
		sellers := newStage(t, "sellers", `
type: aggregate
group_by: {seller: value.seller}
window: {type: tumbling, size: 10s}`)
		feed(t, in, chain{persons}, view(nexmark.KindPerson))
		feed(t, in, chain{sellers}, view(nexmark.KindAuction))
		type ws struct{ start, seller int64 }
		has := map[ws]bool{}
		for _, r := range sellers.outs {
			has[ws{r.WindowStart, r.Data.(map[string]any)["seller"].(int64)}] = true
		}
		var rows []map[string]any
		for _, r := range persons.outs {
			v := r.Data.(map[string]any)
			if has[ws{r.WindowStart, v["id"].(int64)}] {
				rows = append(rows, map[string]any{"id": v["id"], "name": v["name"], "stime": nexmark.FormatTime(r.WindowStart)})
			}
		}
		check(t, reference.Q8(in), appendRecords(t, rows))
	})
}

func TestNexmarkQ11(t *testing.T) {
	forInputs(t, func(t *testing.T, in reference.Input) {
		sessions := newStage(t, "sessions", `
type: aggregate
group_by: {bidder: value.bidder}
window: {type: session, gap: 10s}
aggregates: {bid_count: {fn: count}}`)
		feed(t, in, chain{sessions}, view(nexmark.KindBid))
		var rows []map[string]any
		for _, r := range sessions.outs {
			v := r.Data.(map[string]any)
			rows = append(rows, map[string]any{"bidder": v["bidder"], "bid_count": v["bid_count"],
				"starttime": nexmark.FormatTime(v["window_start"].(int64)), "endtime": nexmark.FormatTime(v["window_end"].(int64))})
		}
		check(t, reference.Q11(in), appendRecords(t, rows))
	})
}

func TestNexmarkQ15(t *testing.T) {
	forInputs(t, func(t *testing.T, in reference.Input) {
		day := newStage(t, "q15", `
type: aggregate
group_by: {day: 'format_time(timestamp, "date")'}
emit: on_checkpoint
aggregates:
  total_bids: {fn: count}
  rank1_bids: {fn: count, filter: value.price < 10000}
  rank2_bids: {fn: count, filter: value.price >= 10000 && value.price < 1000000}
  rank3_bids: {fn: count, filter: value.price >= 1000000}
  total_bidders: {fn: count_distinct, expr: value.bidder}
  rank1_bidders: {fn: count_distinct, expr: value.bidder, filter: value.price < 10000}
  rank2_bidders: {fn: count_distinct, expr: value.bidder, filter: value.price >= 10000 && value.price < 1000000}
  rank3_bidders: {fn: count_distinct, expr: value.bidder, filter: value.price >= 1000000}
  total_auctions: {fn: count_distinct, expr: value.auction}
  rank1_auctions: {fn: count_distinct, expr: value.auction, filter: value.price < 10000}
  rank2_auctions: {fn: count_distinct, expr: value.auction, filter: value.price >= 10000 && value.price < 1000000}
  rank3_auctions: {fn: count_distinct, expr: value.auction, filter: value.price >= 1000000}`)
		// The base time is midnight: move it to end the run past a day
		// boundary, so there are two days.
		evs := slices.Clone(in.Events)
		for i := range evs {
			if b := evs[i].Bid; b != nil {
				nb := *b
				nb.DateTime -= 24_000
				evs[i].Bid = &nb
			}
		}
		in.Events = evs
		feed(t, in, chain{day}, view(nexmark.KindBid))
		want := reference.Q15(in)
		if len(want.Final) != 2 {
			t.Fatalf("%d days, want 2", len(want.Final))
		}
		check(t, want, upsertRecords(t, day.outs, func(m map[string]any) map[string]any { return m }))
	})
}

func TestNexmarkQ4(t *testing.T) {
	forInputs(t, func(t *testing.T, in reference.Input) {
		maxes := newStage(t, "q4_max", `
type: aggregate
group_by: {id: value.id, category: value.category}
aggregates: {final: {fn: max, expr: value.price}}`)
		avg := newStage(t, "q4_avg", `
type: aggregate
group_by: {category: value.category}
aggregates: {final: {fn: avg, expr: value.final}}`)
		// The regular inner join auction ⋈ bid on id = auction with
		// a.dateTime <= b.dateTime <= a.expires, in arrival order: a row
		// arriving matches every stored row of the other side.
		auctions := map[int64][]*nexmark.Auction{}
		bids := map[int64][]*nexmark.Bid{}
		joined := func(a *nexmark.Auction, b *nexmark.Bid) (operators.Record, bool) {
			if a.DateTime <= b.DateTime && b.DateTime <= a.Expires {
				return operators.Record{Timestamp: max(a.DateTime, b.DateTime),
					Data: map[string]any{"id": a.ID, "category": a.Category, "price": b.Price}}, true
			}
			return operators.Record{}, false
		}
		c := chain{maxes, avg}
		for i := range in.Events {
			var out []operators.Record
			switch ev := in.Events[i]; ev.Kind {
			case nexmark.KindAuction:
				a := ev.Auction
				auctions[a.ID] = append(auctions[a.ID], a)
				for _, b := range bids[a.ID] {
					if r, ok := joined(a, b); ok {
						out = append(out, r)
					}
				}
			case nexmark.KindBid:
				b := ev.Bid
				bids[b.Auction] = append(bids[b.Auction], b)
				for _, a := range auctions[b.Auction] {
					if r, ok := joined(a, b); ok {
						out = append(out, r)
					}
				}
			}
			c.process(out)
			if i == len(in.Events)/2 {
				c.checkpoint()
				c.restore()
			}
		}
		if len(maxes.outs) == 0 {
			t.Fatal("no join output")
		}
		check(t, reference.Q4(in), upsertRecords(t, avg.outs, func(m map[string]any) map[string]any {
			return map[string]any{"id": m["category"], "final": m["final"]}
		}))
	})
}
