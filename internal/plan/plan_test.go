package plan_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/plan"
	"github.com/tidemark/tidemark/plugin"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

const header = `job: {name: test, parallelism: 2}
kafka: {brokers: ["localhost:9092"]}
checkpoint: {storage: "file:///tmp/chk", interval: 1s}
`

// build parses header+body and plans it with the test environment.
func build(t *testing.T, env *plugin.Environment, body string) (*plan.Job, error) {
	t.Helper()
	cfg, err := config.Parse("job.yaml", []byte(header+body), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	return plan.Build(&cfg, env)
}

func mustBuild(t *testing.T, env *plugin.Environment, body string) *plan.Job {
	t.Helper()
	j, err := build(t, env, body)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return j
}

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

// render is what the golden files hold: the plan explained, then the
// description lines and the fingerprint.
func render(j *plan.Job) string {
	fp, desc := j.Topology()
	return j.Explain() + "--- description\n" + strings.Join(desc, "\n") + "\n--- fingerprint " + fp + "\n"
}

// problems returns the problems of err, a *config.Error, as strings.
func problems(t *testing.T, err error) []string {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want a *config.Error, got %v", err)
	}
	var out []string
	for _, p := range ce.Problems {
		out = append(out, p.String())
	}
	return out
}

const q5 = `
sources:
  - name: events
    topics: [nexmark]
    event_time:
      expr: 'value.event_type == 0 ? value.person.dateTime : value.event_type == 1 ? value.auction.dateTime : value.bid.dateTime'
      format: sql
    watermark: {max_out_of_orderness: 3999ms}

operators:
  - {name: bids, type: filter, from: events, where: 'value.event_type == 2'}
  - {name: bid,  type: map,    from: bids,   value: 'value.bid'}
  - name: counts
    type: aggregate
    from: bid
    group_by: {auction: value.auction}
    window: {type: hopping, size: 10s, slide: 2s}
    aggregates: {num: {fn: count}}
  - name: maxn
    type: aggregate
    from: counts
    group_by: {starttime: window.start}
    window: {type: attached}
    aggregates: {maxn: {fn: max, expr: value.num}}
  - name: hot
    type: join
    join: window
    window: {type: attached}
    from: [counts, maxn]
    key: {left: window.start, right: key}
    where: 'left.num >= right.maxn'
    select: {auction: left.auction, num: left.num}

sinks:
  - {name: out, from: hot, topic: nexmark-q5, format: json, mode: append}
dead_letter: {topic: nexmark-dead-letters}
`

// TestQ5 is the plan of design §3.1's diagram: the source stage chains
// the filter and the map, counts is keyed by auction behind a hash edge,
// maxn by window start behind another, and the join reads maxn in its
// task (maxn preserves its key, which is the join's right key) and
// counts through a hash edge by window start; the sink is chained.
func TestQ5(t *testing.T) {
	j := mustBuild(t, testEnv(t), q5)
	golden(t, "q5.txt", render(j))
	var names []string
	for _, st := range j.Stages {
		names = append(names, st.Name)
	}
	if got := strings.Join(names, " "); got != "source:events counts maxn" {
		t.Errorf("stages %s", got)
	}
	hot := j.Node("hot")
	if hot == nil || hot.Stage.Name != "maxn" || len(hot.Ins) != 2 {
		t.Fatalf("hot: %+v", hot)
	}
	if e := hot.Ins[0]; e.Kind != plan.Hash || e.Key == nil || e.Key.String() != "window.start" || e.From.Name != "counts" {
		t.Errorf("hot's left input: %s %v from %s", e.Kind, e.Key, e.FromName())
	}
	if e := hot.Ins[1]; e.Kind != plan.Chain || e.Key != nil || e.From.Name != "maxn" {
		t.Errorf("hot's right input: %s %v from %s", e.Kind, e.Key, e.FromName())
	}
	if st := j.Stage("maxn"); !st.Stateful || !st.SinkBearing || len(st.Inputs) != 2 {
		t.Errorf("stage maxn: stateful %v sink %v inputs %d", st.Stateful, st.SinkBearing, len(st.Inputs))
	}
	if st := j.Stage("source:events"); st.Stateful || st.SinkBearing || len(st.Outputs) != 1 || st.Outputs[0].Key.String() != "value.auction" {
		t.Errorf("source stage: %+v", st)
	}
	if len(j.Sinks) != 1 || j.Sinks[0].Name != "out" || j.DeadLetterTopic != "nexmark-dead-letters" {
		t.Errorf("sinks %v, dead letters %q", j.Sinks, j.DeadLetterTopic)
	}
	if j.Sources[0].EventTime == nil || j.Sources[0].Key != nil {
		t.Errorf("source expressions: event time %v key %v", j.Sources[0].EventTime, j.Sources[0].Key)
	}
}

// TestConfigsPlan plans every graph-form example of configs/ with the
// operators registered in plugin.Default() (single-chain ones are
// checked by TestLegacyDescriptionUnchanged).
func TestConfigsPlan(t *testing.T) {
	files, _ := filepath.Glob("../../configs/*.yaml")
	more, _ := filepath.Glob("../../configs/*/*.yaml")
	for _, f := range append(files, more...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse(f, data, noEnv)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if _, err := plan.Build(&cfg, plugin.Default()); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }
