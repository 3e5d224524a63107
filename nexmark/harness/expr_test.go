package harness

import (
	"fmt"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/nexmark"
	"github.com/tidemark/tidemark/nexmark/reference"
	"github.com/tidemark/tidemark/operators"
)

// A query's configuration as plain YAML values.
type rawConfig struct {
	Sources []struct {
		EventTime struct {
			Expr string `yaml:"expr"`
		} `yaml:"event_time"`
	} `yaml:"sources"`
	Operators []map[string]any `yaml:"operators"`
}

func loadRaw(t *testing.T, q string) rawConfig {
	t.Helper()
	data, err := ReadConfig(root, q)
	if err != nil {
		t.Fatal(err)
	}
	var c rawConfig
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// expr is one expression of a configuration, where it is and how it is
// compiled.
type expr struct {
	path string
	src  string
	ctx  expression.Context
	bool bool
}

// expressions lists the expressions of an operator by the design's keys
// (docs/design/pipelines.md §4).
func expressions(t *testing.T, op map[string]any) []expr {
	t.Helper()
	name := fmt.Sprint(op["name"])
	var out []expr
	add := func(path string, v any, ctx expression.Context, isBool bool) {
		switch v := v.(type) {
		case nil:
		case string:
			out = append(out, expr{name + "." + path, v, ctx, isBool})
		case []any:
			for i, x := range v {
				out = append(out, expr{fmt.Sprintf("%s.%s[%d]", name, path, i), fmt.Sprint(x), ctx, isBool})
			}
		default:
			t.Fatalf("%s.%s: %T is not an expression", name, path, v)
		}
	}
	each := func(key string, ctx expression.Context) {
		m, _ := op[key].(map[string]any)
		for k, v := range m {
			add(key+"."+k, v, ctx, false)
		}
	}
	rec, join := expression.RecordContext, expression.JoinContext
	switch op["type"] {
	case "filter":
		add("where", op["where"], rec, true)
	case "map":
		add("value", op["value"], rec, false)
		add("key", op["key"], rec, false)
		add("timestamp", op["timestamp"], rec, false)
		each("fields", rec)
		each("set", rec)
	case "aggregate":
		each("group_by", rec)
		aggs, _ := op["aggregates"].(map[string]any)
		for k, v := range aggs {
			a := v.(map[string]any)
			add("aggregates."+k+".expr", a["expr"], rec, false)
			add("aggregates."+k+".filter", a["filter"], rec, true)
		}
	case "join":
		key := op["key"].(map[string]any)
		add("key.left", key["left"], rec, false)
		add("key.right", key["right"], rec, false)
		add("where", op["where"], join, true)
		each("select", join)
		if r, ok := op["retain"].(map[string]any); ok {
			add("retain.left", r["left"], rec, false)
			add("retain.right", r["right"], rec, false)
		}
	case "dedup":
		add("key", op["key"], rec, false)
	case "top_n":
		each("partition_by", rec)
		for i, o := range op["order_by"].([]any) {
			add(fmt.Sprintf("order_by[%d].expr", i), o.(map[string]any)["expr"], rec, false)
		}
	default:
		t.Fatalf("operator %s: type %v not known to this test", name, op["type"])
	}
	return out
}

// TestConfigExpressions compiles every expression of every query in its
// context (records, or a join's left and right), and evaluates the
// source's event time on an event of each kind: the kind's dateTime.
func TestConfigExpressions(t *testing.T) {
	gen, err := nexmark.New(nexmark.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var dec json.Decoder
	for _, q := range reference.Names {
		c := loadRaw(t, q)
		et, err := expression.Compile(c.Sources[0].EventTime.Expr, expression.RecordContext)
		if err != nil {
			t.Fatalf("%s: event_time.expr: %v", q, err)
		}
		kinds := map[nexmark.Kind]bool{}
		var env expression.Env
		for n := int64(0); len(kinds) < 3; n++ {
			ev := gen.Event(n)
			v, err := dec.Decode(nexmark.AppendJSON(nil, &ev))
			if err != nil {
				t.Fatal(err)
			}
			env.SetRecord(&operators.Record{Data: v})
			got, err := et.Eval(&env)
			if err != nil || got != nexmark.FormatTime(ev.DateTime()) {
				t.Fatalf("%s: event time of %s event %d = %v, %v; want %s", q, ev.Kind, n, got, err, nexmark.FormatTime(ev.DateTime()))
			}
			kinds[ev.Kind] = true
		}
		for _, op := range c.Operators {
			for _, e := range expressions(t, op) {
				var opts []expression.Option
				if e.bool {
					opts = append(opts, expression.Bool())
				}
				if _, err := expression.Compile(e.src, e.ctx, opts...); err != nil {
					t.Errorf("%s: %s %q: %v", q, e.path, e.src, err)
				}
			}
		}
	}
}

// TestStatelessQueries runs the queries made of filters and maps only (q0,
// q1, q2) the way the runtime will, with this repository's expression
// and JSON packages: each event decoded as a source does, the operators'
// expressions in file order, the result encoded in the map's field order;
// the rows must equal the reference's.
func TestStatelessQueries(t *testing.T) {
	cfg := nexmark.DefaultConfig()
	cfg.Seed = 3
	gen, err := nexmark.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	evs := gen.Events(0, 10_000)
	for _, q := range []string{"q0", "q1", "q2"} {
		t.Run(q, func(t *testing.T) {
			ops := compileStateless(t, q)
			want, err := reference.Query(q, reference.Input{Events: evs})
			if err != nil {
				t.Fatal(err)
			}
			var dec json.Decoder
			var env expression.Env
			var out []reference.Record
			for i := range evs {
				v, err := dec.Decode(nexmark.AppendJSON(nil, &evs[i]))
				if err != nil {
					t.Fatal(err)
				}
				rec, keep := &operators.Record{Data: v}, true
				for _, op := range ops {
					env.SetRecord(rec)
					if rec, keep = op.apply(t, &env, rec); !keep {
						break
					}
				}
				if !keep {
					continue
				}
				b, err := json.AppendValue(nil, rec.Data, ops[len(ops)-1].order)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, reference.Record{Value: b})
			}
			if err := want.Check(out); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d rows equal to the reference", q, len(out))
		})
	}
}

// statelessOp is a compiled filter or map.
type statelessOp struct {
	name   string
	where  *expression.Program   // filter
	value  *expression.Program   // map value
	fields []*expression.Program // map fields, in order
	order  []string              // their names
}

// compileStateless compiles the operators of query q, all filters and
// maps, from the file (so the fields keep their order).
func compileStateless(t *testing.T, q string) []statelessOp {
	t.Helper()
	data, err := ReadConfig(root, q)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Operators []struct {
			Name   string    `yaml:"name"`
			Type   string    `yaml:"type"`
			Where  string    `yaml:"where"`
			Value  string    `yaml:"value"`
			Fields yaml.Node `yaml:"fields"`
		} `yaml:"operators"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	var ops []statelessOp
	for _, o := range c.Operators {
		op := statelessOp{name: o.Name}
		switch o.Type {
		case "filter":
			op.where = expression.MustCompile(o.Where, expression.RecordContext, expression.Bool())
		case "map":
			if o.Value != "" {
				op.value = expression.MustCompile(o.Value, expression.RecordContext)
			}
			for i := 0; i+1 < len(o.Fields.Content); i += 2 {
				op.order = append(op.order, o.Fields.Content[i].Value)
				op.fields = append(op.fields, expression.MustCompile(o.Fields.Content[i+1].Value, expression.RecordContext))
			}
		default:
			t.Fatalf("%s: %s is a %s, not a filter or a map", q, o.Name, o.Type)
		}
		ops = append(ops, op)
	}
	return ops
}

// apply runs the operator on rec (env holds it).
func (op statelessOp) apply(t *testing.T, env *expression.Env, rec *operators.Record) (*operators.Record, bool) {
	t.Helper()
	if op.where != nil {
		ok, err := op.where.EvalBool(env)
		if err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		return rec, ok
	}
	out := *rec
	if op.value != nil {
		v, err := op.value.Eval(env)
		if err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		out.Data = v
	}
	if op.fields != nil {
		m := make(map[string]any, len(op.fields))
		for i, p := range op.fields {
			v, err := p.Eval(env)
			if err != nil {
				t.Fatalf("%s.fields.%s: %v", op.name, op.order[i], err)
			}
			m[op.order[i]] = v
		}
		out.Data = m
	}
	return &out, true
}
