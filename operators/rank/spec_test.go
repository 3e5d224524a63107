package rank_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/optest"
	"github.com/tidemark/tidemark/operators/rank"
	"github.com/tidemark/tidemark/plugin"
)

// TestSpecDeclarations: what the planner reads of top_n.
func TestSpecDeclarations(t *testing.T) {
	cont := parse(t, "type: top_n\npartition_by: {auction: value.auction}\norder_by: [{expr: value.price, desc: true}]\nn: 10\nrank_field: rank_number")
	if !cont.Keyed() || cont.Key(0).String() != "value.auction" || cont.PreservesKey() || !cont.Fingerprinted() {
		t.Errorf("continuous with rank_field: keyed %v key %s preserves %v", cont.Keyed(), cont.Key(0), cont.PreservesKey())
	}
	if got, want := cont.Describe(), `type=top_n partition_by={"auction":"value.auction"} order_by[0].expr=value.price order_by[0].desc=true n=10`; got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
	if m, err := cont.OutputMode([]plugin.Mode{plugin.Append}); err != nil || m != plugin.Updating {
		t.Errorf("continuous output %v, %v", m, err)
	}
	if _, err := cont.OutputMode([]plugin.Mode{plugin.Updating}); err == nil {
		t.Error("top_n accepted an updating input")
	}
	if p, ok := cont.Port("late"); !ok || p != 1 {
		t.Error("no late port")
	}
	norank := parse(t, "type: top_n\norder_by: [{expr: value.price}]\nn: 1")
	if !norank.PreservesKey() || norank.Key(0).String() != "[]" {
		t.Errorf("without rank_field: preserves %v, key %s", norank.PreservesKey(), norank.Key(0))
	}
	win := parse(t, "type: top_n\norder_by: [{expr: value.price}]\nn: 1\nrank_field: r\nwindow: {type: tumbling, size: 1m}")
	if !win.PreservesKey() {
		t.Error("windowed top_n does not preserve the key")
	}
	if m, err := win.OutputMode([]plugin.Mode{plugin.Append}); err != nil || m != plugin.Append {
		t.Errorf("windowed output %v, %v", m, err)
	}
	if got, want := win.Describe(), `type=top_n partition_by={} order_by[0].expr=value.price order_by[0].desc=false n=1 window.type=tumbling window.size=1m0s window.offset=0s`; got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}

	for src, want := range map[string]string{
		"type: top_n\norder_by: []\nn: 1":                                                               "line 2: op.order_by: needs at least one {expr, desc}",
		"type: top_n\norder_by: [{expr: value.x}]\nn: 0":                                                "line 3: op.n: must be 1 to 1000, got 0",
		"type: top_n\norder_by: [{expr: value.x}]\nn: 1\nwindow: {type: hopping, size: 10s}":            "line 4: op.window.slide: a hopping window needs a slide of whole milliseconds, at least 1ms",
		"type: top_n\norder_by: [{expr: value.x}]\nn: 1\nwindow: {type: hopping, size: 10s, slide: 3s}": "line 4: op.window.size: must be a multiple of window.slide (3s), got 10s",
		"type: top_n\norder_by: [{expr: value.x}]\nn: 1\nwindow: {type: tumbling}":                      "line 4: op.window.size: a tumbling window needs a size of whole milliseconds, at least 1ms",
		"type: top_n\norder_by: [{expr: value.x}]\nn: 1\nwindow: {type: attached, size: 1s}":            "line 4: op.window.type: an attached window takes the window each record carries: leave out size and slide",
		"type: top_n\norder_by: [{expr: value.x}]\nn: 1\nrank_field: ''":                                "line 4: op.rank_field: must not be empty (leave it out for no row number)",
	} {
		var doc yaml.Node
		_ = yaml.Unmarshal([]byte(src), &doc)
		_, ps := env(t).Parse(&doc, "op")
		if len(ps) != 1 || ps[0].String() != want {
			t.Errorf("%q: %v\nwant %s", src, ps, want)
		}
	}
}

// TestLateCounter: a windowed top_n counts its late records in
// tidemark_late_records_total, shared with other operators of the
// registry.
func TestLateCounter(t *testing.T) {
	reg := prometheus.NewRegistry()
	conf := parse(t, "type: top_n\norder_by: [{expr: value.v}]\nn: 1\nwindow: {type: tumbling, size: 10s}")
	newOp := func() operators.Operator {
		op, err := rank.New(conf, &plugin.Resources{Name: "top", Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	h := optest.New(t, newOp)
	if _, err := h.AdvanceWatermark(10_000); err != nil {
		t.Fatal(err)
	}
	out, err := h.Process(0, []operators.Record{{Key: []byte("[]"), Timestamp: 5, Data: map[string]any{"v": int64(1)}}})
	if err != nil || len(out) != 1 || out[0].Port != 1 {
		t.Fatalf("late record: %+v, %v", out, err)
	}
	newOp() // a second instance shares the counter
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "tidemark_late_records_total" || mfs[0].GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Errorf("metrics: %v, %v", mfs, err)
	}
}
