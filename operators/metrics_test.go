package operators_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tidemark/tidemark/operators"
)

// splitter emits every record twice and rejects those whose value is "bad".
type splitter struct {
	operators.Base
	reject func(operators.Record, error)
}

func (s *splitter) Open(_ context.Context, oc operators.OpenContext) error {
	s.reject = oc.Reject
	return nil
}

func (s *splitter) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for _, r := range recs {
		if string(r.Value) == "bad" {
			s.reject(r, errors.New("bad record"))
			continue
		}
		out.Emit(r)
		out.Emit(r)
	}
	return nil
}

// TestMetricsCountRecords: a source's records, an operator's records in
// and out, the records it rejects and the tasks' watermark lag show in the
// registry the graph was given, and a second graph of the same job (an
// in-process restart) counts on.
func TestMetricsCountRecords(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	now := func() time.Time { return time.UnixMilli(10_000) }
	m, err := operators.NewMetrics(reg, now)
	if err != nil {
		t.Fatal(err)
	}
	spec := operators.GraphSpec{Stages: []operators.StageSpec{
		{Name: "source:a", Source: "a", IsSource: true, Tasks: 1, SourceOuts: []operators.Edge{{Stage: "work", To: "split"}}},
		{Name: "work", Tasks: 1, Nodes: []operators.NodeSpec{{Name: "split", New: func(int) (operators.Operator, error) { return &splitter{}, nil }}}},
	}}
	for attempt := 1; attempt <= 2; attempt++ {
		src := newGate(t, false)
		g, err := operators.NewDAG(operators.GraphConfig{Metrics: m, Now: now}, spec,
			map[string][]operators.Source{"source:a": {src}}, nil, operators.Restored{}, &acks{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		src.batches <- batch{recs: []operators.Record{rec("a"), rec("bad"), rec("b")}, wm: 4_000}
		want := float64(2 * attempt)
		waitFor(t, "the records counted", func() bool {
			return testutil.ToFloat64(counter(reg, t, "tidemark_records_dead_lettered_total", "split")) == float64(attempt) &&
				testutil.ToFloat64(counter(reg, t, "tidemark_operator_records_out_total", "split")) == 2*want
		})
		waitFor(t, "the watermark", func() bool { return testutil.CollectAndCount(reg, "tidemark_watermark_lag_seconds") == 2 })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	exp := `
# HELP tidemark_operator_records_in_total Records an operator (sinks included) took in, by operator name, over all its tasks.
# TYPE tidemark_operator_records_in_total counter
tidemark_operator_records_in_total{operator="split"} 6
# HELP tidemark_operator_records_out_total Records an operator emitted, by operator name, over all its tasks.
# TYPE tidemark_operator_records_out_total counter
tidemark_operator_records_out_total{operator="split"} 8
# HELP tidemark_records_dead_lettered_total Records rejected and sent to the dead-letter topic (or dropped when there is none), by the source, operator or sink that rejected them.
# TYPE tidemark_records_dead_lettered_total counter
tidemark_records_dead_lettered_total{operator="a"} 0
tidemark_records_dead_lettered_total{operator="split"} 2
# HELP tidemark_source_records_in_total Records a source read (before any was rejected), by source name, over all its tasks.
# TYPE tidemark_source_records_in_total counter
tidemark_source_records_in_total{source="a"} 6
# HELP tidemark_watermark_lag_seconds Wall-clock time minus a task's watermark (event time), by task, while it has one.
# TYPE tidemark_watermark_lag_seconds gauge
tidemark_watermark_lag_seconds{task="source:a-0"} 6
tidemark_watermark_lag_seconds{task="work-0"} 6
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// counter returns the series of name labelled value as a collector.
func counter(reg prometheus.Gatherer, t *testing.T, name, value string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := -1.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			if s.GetLabel()[0].GetValue() == value {
				v = s.GetCounter().GetValue()
			}
		}
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x", Help: "x"}, func() float64 { return v })
}
