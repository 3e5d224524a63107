package plan_test

import (
	"strings"
	"testing"

	"github.com/tidemark/tidemark/internal/plan"
	"github.com/tidemark/tidemark/operators/builtin"
	"github.com/tidemark/tidemark/plugin"
)

// TestGraphProblems: every problem of the graph is reported at once,
// naming the operator, the key and the line.
func TestGraphProblems(t *testing.T) {
	env := testEnv(t)
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"inputs", `sources:
  - {name: events, topics: [in]}
  - {name: unused, topics: [in2]}
operators:
  - {name: f, type: filter, from: evnts, where: 'true'}
  - {name: g, type: filter, from: events.late, where: 'true'}
  - {name: h, type: filter, from: agg.lat, where: 'true'}
  - {name: i, type: filter, from: f.late, where: 'true'}
  - {name: agg, type: aggregate, from: events, group_by: {k: value.k}, aggregates: {n: {fn: count}}}
  - {name: j, type: filter, from: out, where: 'true'}
  - {name: m, type: map, from: [f, g], value: value}
sinks:
  - {name: out, from: agg.nosuch, topic: out, mode: upsert}
`, []string{
			`line 8: operators[0] (f).from: no source or operator is named "evnts" (did you mean "events"?)`,
			`line 9: operators[1] (g).from: source "events" has no side outputs: read it as "events"`,
			`line 10: operators[2] (h).from: operator "agg" (aggregate) has no side output "lat": it has "late" (did you mean "agg.late"?)`,
			`line 11: operators[3] (i).from: operator "f" (filter) has no side output "late": it has only its main output, read as "f"`,
			`line 13: operators[5] (j).from: "out" is a sink: nothing can read a sink`,
			`line 14: operators[6] (m).from: takes one input, got 2 (merge streams with a union)`,
			`line 16: sinks[0] (out).from: operator "agg" (aggregate) has no side output "nosuch": it has "late"`,
		}},
		// An unused source is found once every operator parses.
		{"unused source", `sources:
  - {name: events, topics: [in]}
  - {name: unused, topics: [in2]}
sinks: [{name: out, from: events, topic: out}]
`, []string{
			`line 6: sources[1] (unused): no operator or sink reads source "unused": remove it or read it (from: unused)`,
		}},
		{"cycle", `sources: [{name: s, topics: [in]}]
operators:
  - {name: a, type: filter, from: [u], where: 'true'}
  - {name: u, type: union, from: [s, b]}
  - {name: b, type: filter, from: a, where: 'true'}
  - {name: self, type: filter, from: self, where: 'true'}
sinks: [{name: out, from: b, topic: out}]
`, []string{
			`line 9: operators[3] (self).from: operator "self" reads itself: a cycle`,
		}},
		{"cycle through a union", `sources: [{name: s, topics: [in]}]
operators:
  - {name: a, type: filter, from: [u], where: 'true'}
  - {name: u, type: union, from: [s, b]}
  - {name: b, type: filter, from: a, where: 'true'}
sinks: [{name: out, from: b, topic: out}]
`, []string{
			`line 6: operators[0] (a).from[0]: the operators a, u, b read each other in a cycle: a job graph must be acyclic`,
		}},
		{"operator settings", `sources: [{name: s, topics: [in]}]
operators:
  - {name: a, type: filtr, from: s, where: 'true'}
  - name: counts
    type: aggregate
    from: s
    group_by: {k: value.k}
    aggregates:
      num: {fn: count, expr: 'value.x +* 2'}
  - {type: filter, from: s, where: 'true'}
  - {name: nofrom, type: filter, where: 'true'}
sinks: [{name: out, from: counts, topic: out}]
`, []string{
			`line 6: operators[0] (a).type: unknown operator type "filtr": want one of "aggregate", "count", "dedup", "filter", "join", "key_by", "map", "top_n", "union" (did you mean "filter"?)`,
			`line 12: operators[1] (counts).aggregates.num.expr: column 40: unexpected token Operator("*")`,
			`line 13: operators[2].name: is required: a unique name (lowercase letters, digits, '_' and '-'), which from: refers to and which identifies the operator's state`,
			`line 14: operators[3] (nofrom).from: is required: the name of the source, operator or side output (op.port) the operator reads, or a list of them`,
		}},
		{"changelog modes", `sources: [{name: s, topics: [in]}]
operators:
  - {name: totals, type: aggregate, from: s, group_by: {k: value.k}, aggregates: {n: {fn: count}}}
  - {name: f, type: filter, from: totals, where: 'true'}
  - {name: c, type: count, from: f}
  - {name: w, type: aggregate, from: [u], group_by: {k: key}, window: {type: tumbling, size: 1s}, aggregates: {n: {fn: count}}}
  - {name: u, type: union, from: [s, totals]}
sinks:
  - {name: out, from: f, topic: out}
  - {name: ok, from: f, topic: ok, mode: upsert}
  - {name: late, from: w.late, topic: late}
  - {name: counted, from: c, topic: counted}
`, []string{
			`line 8: operators[2] (c): count needs an append input`,
			`line 9: operators[3] (w): a windowed aggregate needs an append input`,
			`line 12: sinks[0] (out).mode: operator f emits updates (update-before, update-after, delete): set mode: upsert, so that the Kafka key is the record key and a delete a tombstone`,
			`line 14: sinks[2] (late).mode: operator w emits updates (update-before, update-after, delete): set mode: upsert, so that the Kafka key is the record key and a delete a tombstone`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := build(t, env, tc.body)
			got := problems(t, err)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestPlans are golden plans of shapes the planner must get right: see
// the comment of each.
func TestPlans(t *testing.T) {
	env := testEnv(t)
	for _, tc := range []struct{ name, body string }{
		// Two sources merged by a union, then a stateless map and a
		// keyed aggregate: the union is virtual, the map runs once in
		// each source stage (map@source:a, map@source:b), each sends
		// through its own hash edge.
		{"union-of-sources", `sources:
  - {name: a, topics: [ta]}
  - {name: b, topics: [tb]}
operators:
  - {name: u, type: union, from: [a, b]}
  - {name: m, type: map, from: u, value: value.x}
  - {name: agg, type: aggregate, from: m, group_by: {k: value.k}, window: {type: tumbling, size: 1m}, aggregates: {n: {fn: count}}}
sinks:
  - {name: out, from: agg, topic: out}
  - {name: raw, from: u, topic: raw}
`},
		// key_by decides the key, so the aggregate keyed by the record
		// key reads it through a hash edge routed by the key as it is;
		// the dedup after it, keyed by the key it preserves, is chained;
		// the top_n with a rank field breaks the key, so the next dedup
		// needs an exchange again.
		{"key-by-and-rank", `sources: [{name: s, topics: [in], key: value.id}]
operators:
  - {name: k, type: key_by, from: s, key: value.user}
  - {name: agg, type: aggregate, from: k, group_by: {user: key}, aggregates: {n: {fn: count}}}
  - {name: d1, type: dedup, from: agg, key: key, keep: last}
  - {name: top, type: top_n, from: d1, partition_by: {user: key}, n: 3, rank_field: rank}
  - {name: d2, type: dedup, from: top, key: key}
sinks: [{name: out, from: d2, topic: out, mode: upsert}]
`},
		// A union of two keyed stages into an operator keyed by the key
		// both preserve: no exchange, so the three share one stage.
		{"union-of-keyed-stages", `sources: [{name: s, topics: [in]}]
operators:
  - {name: a1, type: aggregate, from: s, group_by: {k: value.k}, window: {type: tumbling, size: 1s}, aggregates: {n: {fn: count}}}
  - {name: a2, type: aggregate, from: s, group_by: {k: value.k}, window: {type: tumbling, size: 1m}, aggregates: {n: {fn: count}}}
  - {name: u, type: union, from: [a1, a2]}
  - {name: d, type: dedup, from: u, key: key}
sinks: [{name: out, from: d, topic: out}]
`},
		// A self-join: the left side is keyed by the key the aggregate
		// preserves, the right by a field. Chaining the join into the
		// aggregate's stage would make that stage exchange records with
		// itself (its barriers would wait for themselves), so both sides
		// go through an exchange into the join's own stage.
		{"self-join", `sources: [{name: s, topics: [in]}]
operators:
  - {name: a, type: aggregate, from: s, group_by: {k: value.k}, window: {type: tumbling, size: 1s}, aggregates: {n: {fn: count}}}
  - {name: j, type: join, join: window, window: {type: attached}, from: [a, a], key: {left: key, right: value.other}}
sinks: [{name: out, from: j, topic: out}]
`},
		// A union of a source and a keyed stage, then a map and an
		// operator keyed by the record key: the map runs in both stages;
		// its keyed-stage instance feeds the dedup in-task (the key is
		// preserved), its source-stage instance through an exchange.
		{"union-mixed", `sources: [{name: s, topics: [in]}, {name: t, topics: [in2], key: value.id}]
operators:
  - {name: a, type: aggregate, from: s, group_by: {k: value.k}, aggregates: {n: {fn: count}}}
  - {name: u, type: union, from: [t, a]}
  - {name: m, type: map, from: u, fields: {k: value.k}}
  - {name: d, type: dedup, from: m, key: key}
sinks: [{name: out, from: d, topic: out, mode: upsert}]
`},
		// A stateless job runs in the source stage only (q0-q2).
		{"stateless", `sources: [{name: s, topics: [in]}]
operators:
  - {name: f, type: filter, from: s, where: 'value.price > 10'}
  - {name: m, type: map, from: f, fields: {price: value.price}}
sinks: [{name: out, from: m, topic_expr: '"out-" + key'}]
dead_letter: {topic: dl}
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, tc.name+".txt", render(mustBuild(t, env, tc.body)))
		})
	}
}

// TestWarnings: an operator nothing reads is planned, with a warning.
func TestWarnings(t *testing.T) {
	j := mustBuild(t, testEnv(t), `sources: [{name: s, topics: [in]}]
operators:
  - {name: f, type: filter, from: s, where: 'true'}
  - {name: dangling, type: filter, from: s, where: 'true'}
sinks: [{name: out, from: f, topic: out}]
`)
	if len(j.Warnings) != 1 || j.Warnings[0].String() != `line 7: operators[1] (dangling): nothing reads the output of operator "dangling": its records are dropped` {
		t.Errorf("warnings %v", j.Warnings)
	}
}

// TestNew: nodes build their operators with their spec's constructor, a
// legacy job's as before.
func TestNew(t *testing.T) {
	j := mustBuild(t, testEnv(t), `sources: [{name: s, topics: [in]}]
operators:
  - {name: f, type: filter, from: s, where: 'true'}
sinks: [{name: out, from: f, topic: out}]
`)
	if op, err := j.Node("f").New(&plugin.Resources{Task: 1}); err != nil || op == nil {
		t.Errorf("filter: %v %v", op, err)
	}
	if _, err := j.Node("out").New(nil); err == nil || !strings.Contains(err.Error(), "sinks are built by the runtime") {
		t.Errorf("sink New: %v", err)
	}
	j = mustBuild(t, testEnv(t), `source: {topics: [in]}
sink: {topic: out}
pipeline: {operators: [{type: key_by, field: u}, {type: count, name: c}, {type: passthrough}]}
`)
	for name, want := range map[string]any{"key_by-0": &builtin.KeyBy{Field: "u"}, "c": &builtin.Count{}, "passthrough-2": &builtin.Passthrough{}} {
		op, err := j.Node(name).New(nil)
		if err != nil {
			t.Fatal(err)
		}
		if ty := typeName(op); ty != typeName(want) {
			t.Errorf("%s: %s, want %s", name, ty, typeName(want))
		}
	}
	if kb, _ := j.Node("key_by-0").New(nil); kb.(*builtin.KeyBy).Field != "u" {
		t.Errorf("key_by field %q", kb.(*builtin.KeyBy).Field)
	}
	if !j.Node("c").Stateful || j.Node("c").Stage.Name != plan.LegacyKeyedStage || j.Node("key_by-0").Stage.Name != plan.LegacySourceStage {
		t.Errorf("legacy placement")
	}
}
