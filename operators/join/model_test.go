package join_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
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
