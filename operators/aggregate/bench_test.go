package aggregate_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/aggregate"
	"github.com/tidemark/tidemark/operators/state"
	"github.com/tidemark/tidemark/plugin"
)

type discard struct{ n int }

func (d *discard) Emit(operators.Record)        { d.n++ }
func (d *discard) EmitTo(int, operators.Record) { d.n++ }

// benchAggregate measures the per-record cost of an aggregate on a real
// backend: batches of 1000 records over 1000 groups (keys set as the
// planner sets them: every record of a batch is its own group, so batch
// folding saves nothing), 1000 records per second of event time (10
// records per group and 10 s window), a watermark 4 s behind after every
// batch, and a checkpoint every 100 batches. One op is one record:
// allocs/op are allocations per record, firing and emitting included
// (rows/record: rows emitted per record).
func benchAggregate(b *testing.B, conf string) {
	c := parse(b, conf)
	op, err := aggregate.New(c, &plugin.Resources{Name: "agg"})
	if err != nil {
		b.Fatal(err)
	}
	be, err := state.Open(b.TempDir(), state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	ctx := context.Background()
	err = op.Open(ctx, operators.OpenContext{Name: "agg", State: be, Log: zap.NewNop(), Now: time.Now,
		Reject: func(r operators.Record, err error) { b.Fatalf("rejected %+v: %v", r, err) }})
	if err != nil {
		b.Fatal(err)
	}
	const groups, batchSize = 1000, 1000
	keys := make([][]byte, groups)
	vals := make([]map[string]any, groups)
	for i := range groups {
		keys[i] = strconv.AppendInt(nil, int64(1000+i), 10)
		vals[i] = map[string]any{"auction": int64(1000 + i), "price": int64(100 + i)}
	}
	batch := make([]operators.Record, 0, batchSize)
	out := &discard{}
	chk := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ts := int64(i) // 1000 records per second
		g := (i * 7919) % groups
		batch = append(batch, operators.Record{Key: keys[g], Timestamp: ts, Data: vals[g]})
		if len(batch) == batchSize || i == b.N-1 {
			if err := op.Process(ctx, batch, out); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
			if err := op.OnWatermark(ctx, ts-4000, out); err != nil {
				b.Fatal(err)
			}
			if chk++; chk%100 == 0 {
				if err := op.SnapshotState(ctx, int64(chk)); err != nil {
					b.Fatal(err)
				}
				if _, err := be.Checkpoint(b.TempDir() + "/chk"); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(out.n)/float64(b.N), "rows/record")
}

func BenchmarkTumblingCount(b *testing.B) {
	benchAggregate(b, `
type: aggregate
group_by: {auction: value.auction}
window: {type: tumbling, size: 10s}
aggregates: {num: {fn: count}}`)
}

func BenchmarkHoppingCount(b *testing.B) {
	benchAggregate(b, `
type: aggregate
group_by: {auction: value.auction}
window: {type: hopping, size: 10s, slide: 2s}
aggregates: {num: {fn: count}}`)
}

func BenchmarkTumblingMaxPrice(b *testing.B) {
	benchAggregate(b, `
type: aggregate
group_by: {auction: value.auction}
window: {type: tumbling, size: 10s}
aggregates: {top: {fn: max, expr: value.price}}`)
}

func BenchmarkUpdatingCount(b *testing.B) {
	benchAggregate(b, `
type: aggregate
group_by: {auction: value.auction}
aggregates: {num: {fn: count}}`)
}
