package join_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/join"
	"github.com/tidemark/tidemark/operators/optest"
)

// TestRegularModel checks regular inner and left joins against a model:
// after every step of a random schedule (rows of either side in any
// order, deletes of rows present, checkpoints and restores into a fresh
// directory), the rows the output's changelog leaves are exactly the
// join of the rows present: every pair with equal keys and where true,
// and for a left join (left, null) for each left row without one.
func TestRegularModel(t *testing.T) {
	for _, how := range []string{"inner", "left"} {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("%s/seed=%d", how, seed), func(t *testing.T) {
				regularModel(t, how, seed)
			})
		}
	}
}

func regularModel(t *testing.T, how string, seed uint64) {
	newOp := newJoin(t, "how: "+how+"\nkey: {left: value.k, right: value.k}\nwhere: 'left.v != right.v'\nselect: {k: left.k, l: left.v, r: right.v}")
	h := optest.New(t, newOp, harness...)
	rng := rand.New(rand.NewPCG(seed, 7))
	type row struct {
		k string
		v int64
	}
	present := [2][]row{} // the model: rows of each side, with repeats
	view := map[string]int{}
	apply := func(outs []optest.Output, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			if o.DeadLetter || o.Port != 0 {
				t.Fatalf("unexpected output %+v", o)
			}
			v, err := json.Marshal(o.Record.Data)
			if err != nil {
				t.Fatal(err)
			}
			line := string(o.Record.Key) + " " + string(v)
			if o.Record.Kind.Retracts() {
				view[line]--
			} else {
				view[line]++
			}
			if view[line] == 0 {
				delete(view, line)
			}
		}
	}
	expected := func() map[string]int {
		want := map[string]int{}
		for _, l := range present[0] {
			matched := false
			for _, r := range present[1] {
				if l.k == r.k && l.v != r.v {
					want[fmt.Sprintf(`%s {"k":%q,"l":%d,"r":%d}`, l.k, l.k, l.v, r.v)]++
					matched = true
				}
			}
			if !matched && how == "left" {
				want[fmt.Sprintf(`%s {"k":%q,"l":%d,"r":null}`, l.k, l.k, l.v)]++
			}
		}
		return want
	}
	var ts int64
	for step := range 150 {
		ts++
		side := rng.IntN(2)
		var rec operators.Record
		switch {
		case rng.IntN(20) == 0:
			if _, _, err := h.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			// A restore forgets what came after the checkpoint: the model
			// and the view stay as they are, since nothing came.
			if err := h.Restore(h.LastCheckpoint()); err != nil {
				t.Fatal(err)
			}
			continue
		case len(present[side]) > 0 && rng.IntN(3) == 0:
			i := rng.IntN(len(present[side]))
			r := present[side][i]
			present[side] = slices.Delete(present[side], i, i+1)
			rec = operators.Record{Kind: operators.Delete, Key: []byte(r.k), Timestamp: ts, Data: map[string]any{"k": r.k, "v": r.v}}
		default:
			r := row{k: string(rune('a' + rng.IntN(3))), v: rng.Int64N(3)}
			present[side] = append(present[side], r)
			rec = operators.Record{Key: []byte(r.k), Timestamp: ts, Data: map[string]any{"k": r.k, "v": r.v}}
		}
		apply(h.Process(side, []operators.Record{rec}))
		if want := expected(); !maps.Equal(view, want) {
			t.Fatalf("step %d (%s on side %d): the output leaves\n  %v\nthe model wants\n  %v", step, optest.FormatRecord(rec), side, view, want)
		}
	}
}

// TestIntervalModel checks interval joins against a model over random
// schedules (rows of either side out of order, watermarks, restores):
// every pair of rows that were not late (t > watermark on arrival) with
// equal keys and r + lower <= l <= r + upper is emitted exactly once,
// nothing else is, and late rows go to the late output. Cleanup never
// drops a row that a row still to come could join.
//
// It runs with the default bound of rows listed in a key's meta, and
// with a bound of 3, so that keys go from listed rows to scanned ones and
// back.
func TestIntervalModel(t *testing.T) {
	def := join.SetMaxListed(0)
	defer join.SetMaxListed(def)
	for _, listed := range []int{def, 3} {
		join.SetMaxListed(listed)
		for _, b := range [][2]int64{{-2000, 1000}, {0, 0}, {1000, 3000}, {-5000, -1000}} {
			for seed := range uint64(3) {
				t.Run(fmt.Sprintf("listed=%d/between=%d,%d/seed=%d", listed, b[0], b[1], seed), func(t *testing.T) {
					intervalModel(t, b[0], b[1], seed)
				})
			}
		}
	}
}

func intervalModel(t *testing.T, lower, upper int64, seed uint64) {
	newOp := newJoin(t, fmt.Sprintf("join: interval\nkey: {left: value.k, right: value.k}\nbetween: {lower: %dms, upper: %dms}\nselect: {l: left.id, r: right.id}", lower, upper))
	h := optest.New(t, newOp, harness...)
	rng := rand.New(rand.NewPCG(seed, 11))
	type row struct {
		id, t int64
		k     string
	}
	var rows [2][]row
	got := map[string]int{}
	late := 0
	wm := int64(0)
	if _, err := h.AdvanceWatermark(wm); err != nil {
		t.Fatal(err)
	}
	for id := range int64(300) {
		switch rng.IntN(40) {
		case 0, 1, 2:
			wm += rng.Int64N(15) * 100
			if wm > h.Watermark() {
				outs, err := h.AdvanceWatermark(wm)
				if err != nil || len(outs) > 0 {
					t.Fatalf("watermark: %v %v", outs, err)
				}
			}
			continue
		case 3:
			if _, _, err := h.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			if err := h.Restore(h.LastCheckpoint()); err != nil {
				t.Fatal(err)
			}
			// The restored join keeps its watermark; the harness's starts
			// over and goes on from the next one.
			continue
		}
		side := rng.IntN(2)
		r := row{id: id, t: wm - 500 + rng.Int64N(60)*100, k: string(rune('a' + rng.IntN(3)))}
		outs, err := h.Process(side, []operators.Record{{Key: []byte(r.k), Timestamp: r.t, Data: map[string]any{"k": r.k, "id": r.id}}})
		if err != nil {
			t.Fatal(err)
		}
		if r.t <= wm {
			if len(outs) != 1 || outs[0].Port != 1 {
				t.Fatalf("late row %+v (watermark %d): %+v", r, wm, outs)
			}
			late++
			continue
		}
		rows[side] = append(rows[side], r)
		for _, o := range outs {
			if o.Port != 0 || o.DeadLetter {
				t.Fatalf("row %+v (watermark %d): %+v", r, wm, o)
			}
			m := o.Record.Data.(map[string]any)
			got[fmt.Sprintf("%d-%d", m["l"], m["r"])]++
		}
	}
	want := map[string]int{}
	for _, l := range rows[0] {
		for _, r := range rows[1] {
			if l.k == r.k && r.t+lower <= l.t && l.t <= r.t+upper {
				want[fmt.Sprintf("%d-%d", l.id, r.id)]++
			}
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("pairs emitted %v\nthe model wants %v", got, want)
	}
	if len(want) < 10 || late == 0 {
		t.Fatalf("a weak schedule: %d pairs, %d late rows", len(want), late)
	}
}

// TestWindowModel checks window joins of every outer-ness against a model
// over random schedules (rows out of order, watermarks, restores, hopping
// windows): each window's output is the join of the rows that reached it
// while it was open.
func TestWindowModel(t *testing.T) {
	for _, how := range []string{"inner", "left", "right", "full", "semi", "anti"} {
		for seed := range uint64(2) {
			t.Run(fmt.Sprintf("%s/seed=%d", how, seed), func(t *testing.T) {
				windowModel(t, how, seed)
			})
		}
	}
}

func windowModel(t *testing.T, how string, seed uint64) {
	const size, slide = 2000, 1000
	newOp := newJoin(t, fmt.Sprintf(`join: window
how: %s
window: {type: hopping, size: %dms, slide: %dms}
key: {left: value.k, right: value.k}
where: 'left.v != right.v'
select: {l: left.id, r: right.id, w: window.start}`, how, size, slide))
	h := optest.New(t, newOp, harness...)
	rng := rand.New(rand.NewPCG(seed, 13))
	type row struct {
		id, v int64
		k     string
	}
	// The model: per key and window start, the rows of each side that
	// reached it while it was open.
	type win struct {
		k     string
		start int64
	}
	rows := map[win]*[2][]row{}
	got := map[string]int{}
	collectOut := func(outs []optest.Output, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			if o.DeadLetter {
				t.Fatalf("dead letter %+v", o)
			}
			if o.Port != 0 {
				continue
			}
			m := o.Record.Data.(map[string]any)
			if m["w"] != o.Record.WindowStart || o.Record.Timestamp != o.Record.WindowEnd-1 {
				t.Fatalf("output %s: window or timestamp wrong", optest.FormatRecord(o.Record))
			}
			got[fmt.Sprintf("%s@%d:%v-%v", o.Record.Key, m["w"], m["l"], m["r"])]++
		}
	}
	wm := int64(0)
	collectOut(h.AdvanceWatermark(wm))
	late := 0
	for id := range int64(250) {
		switch rng.IntN(30) {
		case 0, 1, 2:
			wm += rng.Int64N(8) * 250
			if rng.IntN(2) == 0 {
				wm = floorDiv(wm, slide)*slide + slide - 1 // a window's end − 1
			}
			if wm > h.Watermark() {
				collectOut(h.AdvanceWatermark(wm))
			}
			continue
		case 3:
			_, outs, err := h.Checkpoint()
			collectOut(outs, err)
			if err := h.Restore(h.LastCheckpoint()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		side := rng.IntN(2)
		r := row{id: id, v: rng.Int64N(2), k: string(rune('a' + rng.IntN(2)))}
		ts := wm - 1500 + rng.Int64N(5000)
		open := false
		for s := floorDiv(ts, slide) * slide; s > ts-size; s -= slide {
			if s+size-1 <= wm {
				continue
			}
			open = true
			w := win{r.k, s}
			if rows[w] == nil {
				rows[w] = &[2][]row{}
			}
			rows[w][side] = append(rows[w][side], r)
		}
		outs, err := h.Process(side, []operators.Record{{Key: []byte(r.k), Timestamp: ts, Data: map[string]any{"k": r.k, "id": r.id, "v": r.v}}})
		if err != nil {
			t.Fatal(err)
		}
		if !open {
			late++
			if len(outs) != 1 || outs[0].Port != 1 {
				t.Fatalf("late row at %d (watermark %d): %+v", ts, wm, outs)
			}
			continue
		}
		if len(outs) > 0 {
			t.Fatalf("row at %d (watermark %d) emitted %+v", ts, wm, outs)
		}
	}
	collectOut(h.AdvanceWatermark(1 << 62))
	want := map[string]int{}
	add := func(w win, l, r any) { want[fmt.Sprintf("%s@%d:%v-%v", w.k, w.start, l, r)]++ }
	for w, sides := range rows {
		rmatched := make([]bool, len(sides[1]))
		for _, l := range sides[0] {
			matched := false
			for i, r := range sides[1] {
				if l.v != r.v {
					matched, rmatched[i] = true, true
					if how != "semi" && how != "anti" {
						add(w, l.id, r.id)
					}
				}
			}
			switch {
			case how == "semi" && matched, how == "anti" && !matched,
				!matched && (how == "left" || how == "full"):
				add(w, l.id, nil)
			}
		}
		for i, r := range sides[1] {
			if !rmatched[i] && (how == "right" || how == "full") {
				add(w, nil, r.id)
			}
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("emitted %v\nthe model wants %v", got, want)
	}
	if len(want) < 10 || late == 0 {
		t.Fatalf("a weak schedule: %d rows, %d late", len(want), late)
	}
	if lines, err := h.StateLines(); err != nil || len(lines) != 1 {
		t.Errorf("state left after every window fired: %v %v", lines, err)
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// TestRegularRetainModel checks an inner regular join with retain
// against a model over random schedules (watermarks, checkpoints and
// restores, equal rows again after theirs were dropped, rows past their
// retain time on arrival): each arriving
// row joins exactly the other side's rows of its key whose retain time
// the watermark has not reached, each as many times as it arrived
// (equal rows share one entry: the latest retain time of them counts).
func TestRegularRetainModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			newOp := newJoin(t, "key: {left: value.k, right: value.k}\nwhere: 'left.v != right.v'\n"+
				"retain: {left: timestamp, right: timestamp}\nselect: {l: left.v, r: right.v}")
			h := optest.New(t, newOp, harness...)
			rng := rand.New(rand.NewPCG(seed, 17))
			type row struct {
				k      string
				v, exp int64
			}
			var stored [2][]row
			wm := int64(0)
			if _, err := h.AdvanceWatermark(wm); err != nil {
				t.Fatal(err)
			}
			matched := 0
			for step := range 300 {
				switch rng.IntN(12) {
				case 0:
					wm += rng.Int64N(5) * 100
					if wm > h.Watermark() {
						if _, err := h.AdvanceWatermark(wm); err != nil {
							t.Fatal(err)
						}
					}
					continue
				case 1:
					if _, _, err := h.Checkpoint(); err != nil {
						t.Fatal(err)
					}
					if err := h.Restore(h.LastCheckpoint()); err != nil {
						t.Fatal(err)
					}
					continue
				}
				s := rng.IntN(2)
				r := row{k: string(rune('a' + rng.IntN(2))), v: rng.Int64N(3), exp: wm - 100 + rng.Int64N(8)*100}
				want := map[string]int{}
				for _, o := range stored[1-s] {
					if o.k == r.k && o.v != r.v && o.exp > wm {
						l, rr := r.v, o.v
						if s == 1 {
							l, rr = o.v, r.v
						}
						want[fmt.Sprintf("%d-%d", l, rr)]++
					}
				}
				if r.exp > wm {
					// Equal rows share one entry, kept until the latest
					// retain time of them; one past its retain time is
					// gone (even before the cleanup drops it).
					stored[s] = slices.DeleteFunc(stored[s], func(o row) bool { return o.k == r.k && o.v == r.v && o.exp <= wm })
					for i, o := range stored[s] {
						if o.k == r.k && o.v == r.v {
							r.exp = max(r.exp, o.exp)
							stored[s][i].exp = r.exp
						}
					}
					stored[s] = append(stored[s], r)
				}
				// retain is the timestamp, not in the value: an equal row
				// comes again after the first was dropped.
				outs, err := h.Process(s, []operators.Record{{Key: []byte(r.k), Timestamp: r.exp,
					Data: map[string]any{"k": r.k, "v": r.v}}})
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]int{}
				for _, o := range outs {
					if o.DeadLetter || o.Port != 0 || o.Record.Kind != operators.Insert {
						t.Fatalf("step %d: unexpected output %+v", step, o)
					}
					m := o.Record.Data.(map[string]any)
					got[fmt.Sprintf("%d-%d", m["l"], m["r"])]++
				}
				if !maps.Equal(got, want) {
					t.Fatalf("step %d: row %+v on side %d (watermark %d) joined %v, the model wants %v", step, r, s, wm, got, want)
				}
				matched += len(outs)
			}
			if matched < 20 {
				t.Fatalf("a weak schedule: %d pairs", matched)
			}
		})
	}
}
