// Package nexmarktest runs an operator over generated Nexmark bids in the
// operator harness (operators/optest), with a checkpoint and a restore
// into a fresh state directory half way, and checks its output, applied
// as an upsert stream, against the Nexmark reference (nexmark/reference).
// It is for the tests of the operators Nexmark queries need (q18 dedup,
// q19 top_n).
package nexmarktest

import (
	"testing"

	"github.com/tidemark/tidemark/expression"
	jsonfmt "github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/nexmark"
	"github.com/tidemark/tidemark/nexmark/reference"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/optest"
)

// Bids generates n events with seed and returns them, and the bids among
// them as records: the bid object as value (the view bid of design §7.3),
// its dateTime as timestamp, and the key key gives.
func Bids(t testing.TB, seed uint64, n int64, key func(bid map[string]any) []any) ([]nexmark.Event, []operators.Record) {
	t.Helper()
	cfg := nexmark.DefaultConfig()
	cfg.Seed = seed
	gen, err := nexmark.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	events := gen.Events(0, n)
	var dec jsonfmt.Decoder
	var recs []operators.Record
	var buf []byte
	for i := range events {
		ev := &events[i]
		if ev.Kind != nexmark.KindBid {
			continue
		}
		buf = nexmark.AppendJSON(buf[:0], ev)
		v, err := dec.Decode(buf)
		if err != nil {
			t.Fatal(err)
		}
		bid := v.(map[string]any)["bid"].(map[string]any)
		k := key(bid)
		var kb []byte
		if len(k) == 1 {
			kb, err = expression.AppendKey(nil, k[0])
		} else {
			kb, err = expression.AppendKey(nil, k)
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, operators.Record{Key: kb, Data: bid, Timestamp: ev.DateTime(), Topic: "nexmark", Offset: int64(i)})
	}
	return events, recs
}

// Run feeds recs to the operator in batches, takes a checkpoint half
// way, goes on for a while, restores the checkpoint into a fresh
// directory and feeds the rest again from the checkpoint on (the replay
// of a restored job). It returns the output as upsert records: +I and +U
// write the value as JSON, -D writes a tombstone, -U nothing.
func Run(t testing.TB, newOp func() operators.Operator, recs []operators.Record, opts ...optest.Option) []reference.Record {
	t.Helper()
	h := optest.New(t, newOp, opts...)
	var out []reference.Record
	take := func(outs []optest.Output, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			if o.DeadLetter || o.Port != 0 {
				t.Fatalf("unexpected output %+v", o)
			}
			r := o.Record
			switch r.Kind {
			case operators.UpdateBefore:
				continue
			case operators.Delete:
				out = append(out, reference.Record{Key: r.Key})
				continue
			}
			v, err := jsonfmt.AppendValue(nil, r.Data, nil)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, reference.Record{Key: r.Key, Value: v})
		}
	}
	const batch = 256
	feed := func(from, to int) {
		for i := from; i < to; i += batch {
			take(h.Process(0, recs[i:min(i+batch, to)]))
		}
	}
	half := len(recs) / 2
	feed(0, half)
	id, emitted, err := h.Checkpoint()
	take(emitted, err)
	committed := len(out)
	feed(half, half+len(recs)/4) // lost with the crash
	if err := h.Restore(id); err != nil {
		t.Fatal(err)
	}
	out = out[:committed]
	feed(half, len(recs))
	return out
}
