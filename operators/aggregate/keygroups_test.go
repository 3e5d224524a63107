package aggregate_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/aggregate"
	"github.com/tidemark/tidemark/operators/state"
	"github.com/tidemark/tidemark/plugin"
)

type collect struct{ recs, late []operators.Record }

func (c *collect) Emit(r operators.Record) { c.recs = append(c.recs, r) }
func (c *collect) EmitTo(port int, r operators.Record) {
	if port == 1 {
		c.late = append(c.late, r)
		return
	}
	c.recs = append(c.recs, r)
}

// A task's backend holds only its key groups (as the runtime opens it):
// the operator keeps its watermark under a key of its own key groups, and
// a restore into such a backend still judges lateness as before.
func TestWatermarkOnPartOfTheKeyGroups(t *testing.T) {
	c := parse(t, "type: aggregate\nwindow: {type: tumbling, size: 10s}\nlate: true\naggregates: {n: {fn: count}}")
	opts := state.Options{MaxParallelism: 128, KeyGroups: state.KeyGroupRange{Start: 100, End: 128}}
	var key []byte // a group key of those key groups
	for i := 0; key == nil; i++ {
		if k := []byte{byte('a' + i%26), byte(i / 26)}; opts.KeyGroups.Contains(state.KeyGroup(k, 128)) {
			key = k
		}
	}
	dir := t.TempDir()
	ctx := context.Background()
	open := func(b *state.Backend) operators.Operator {
		op, err := aggregate.New(c, &plugin.Resources{Name: "agg"})
		if err != nil {
			t.Fatal(err)
		}
		if err := op.Open(ctx, operators.OpenContext{Name: "agg", State: b, Log: zap.NewNop(), Now: time.Now,
			Reject: func(r operators.Record, err error) { t.Errorf("rejected %+v: %v", r, err) }}); err != nil {
			t.Fatal(err)
		}
		return op
	}
	b, err := state.Open(filepath.Join(dir, "live1"), opts)
	if err != nil {
		t.Fatal(err)
	}
	op := open(b)
	out := &collect{}
	rec := []operators.Record{{Key: key, Timestamp: 5000, Data: map[string]any{}}}
	if err := op.Process(ctx, rec, out); err != nil {
		t.Fatal(err)
	}
	if err := op.OnWatermark(ctx, 9999, out); err != nil {
		t.Fatal(err)
	}
	if len(out.recs) != 1 {
		t.Fatalf("fired %v", out.recs)
	}
	if err := op.SnapshotState(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Checkpoint(filepath.Join(dir, "chk")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = state.OpenFrom(filepath.Join(dir, "chk"), filepath.Join(dir, "live2"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	op = open(b)
	out = &collect{}
	// The runtime's watermark starts over after a restore.
	if err := op.OnWatermark(ctx, math.MinInt64+1, out); err != nil {
		t.Fatal(err)
	}
	if err := op.Process(ctx, rec, out); err != nil {
		t.Fatal(err)
	}
	if len(out.late) != 1 || len(out.recs) != 0 {
		t.Errorf("after the restore a record of the fired window: late %v, emitted %v", out.late, out.recs)
	}
}
