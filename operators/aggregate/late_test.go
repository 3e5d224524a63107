package aggregate_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/aggregate"
	"github.com/tidemark/tidemark/operators/optest"
	"github.com/tidemark/tidemark/plugin"
)

// Without late: true a late record is dropped and counted in
// tidemark_late_records_total.
func TestLateCounted(t *testing.T) {
	c := parse(t, "type: aggregate\nwindow: {type: tumbling, size: 10s}\naggregates: {n: {fn: count}}")
	reg := prometheus.NewRegistry()
	h := optest.New(t, func() operators.Operator {
		op, err := aggregate.New(c, &plugin.Resources{Name: "agg", Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}, optest.Name("agg"))
	rec := func(ts int64) []operators.Record {
		return []operators.Record{{Key: []byte("[]"), Timestamp: ts, Data: map[string]any{}}}
	}
	if _, err := h.AdvanceWatermark(20_000); err != nil {
		t.Fatal(err)
	}
	for _, ts := range []int64{5_000, 19_999, 20_001} {
		if out, err := h.Process(0, rec(ts)); err != nil || len(out) != 0 {
			t.Fatalf("Process(%d) = %v, %v", ts, out, err)
		}
	}
	if n := lateCount(t, reg); n != 2 {
		t.Errorf("tidemark_late_records_total = %v, want 2", n)
	}
	// A restored operator (a new instance per task) counts on the same
	// counter.
	if err := h.Restore(mustCheckpoint(t, h)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Process(0, rec(1)); err != nil {
		t.Fatal(err)
	}
	if n := lateCount(t, reg); n != 3 {
		t.Errorf("after a restore: tidemark_late_records_total = %v, want 3", n)
	}
}

func mustCheckpoint(t *testing.T, h *optest.Harness) int64 {
	id, _, err := h.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func lateCount(t *testing.T, reg *prometheus.Registry) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "tidemark_late_records_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
