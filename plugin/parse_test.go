package plugin_test

import (
	"testing"
	"time"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/plugin"
)

// windowSpec has a field of every kind.
func windowSpec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Field(plugin.NewStringField("label").Default("none")).
		Field(plugin.NewIntField("n").Default(10)).
		Field(plugin.NewFloatField("ratio").Optional()).
		Field(plugin.NewBoolField("late").Default(false)).
		Field(plugin.NewDurationField("ttl").Default(time.Minute)).
		Field(plugin.NewStringEnumField("emit", "on_change", "on_checkpoint").Default("on_change")).
		Field(plugin.NewStringListField("drop").Optional()).
		Field(plugin.NewExprField("where", expression.RecordContext, expression.Bool()).Default("true")).
		Field(plugin.NewExprListField("key", expression.RecordContext).Optional()).
		Field(plugin.NewExprMapField("group_by", expression.RecordContext)).
		Field(plugin.NewObjectField("window",
			plugin.NewStringEnumField("type", "tumbling", "hopping"),
			plugin.NewDurationField("size"),
			plugin.NewDurationField("offset").Default("0s"))).
		Field(plugin.NewObjectListField("order_by",
			plugin.NewExprField("expr", expression.RecordContext),
			plugin.NewBoolField("desc").Default(false)).Optional()).
		Field(plugin.NewObjectMapField("aggregates",
			plugin.NewStringEnumField("fn", "count", "sum", "max"),
			plugin.NewExprField("expr", expression.RecordContext).Optional()).Default(map[string]any{}))
}

func TestParseValuesAndDefaults(t *testing.T) {
	conf := parse(t, windowSpec(), `
name: counts
type: window_test
from: bids
n: 3
ratio: 2
drop: [a, b]
key: value.user
group_by: {auction: value.auction, day: 'format_time(timestamp, "date")'}
window: {type: hopping, size: 10s}
order_by:
  - {expr: value.price, desc: true}
  - expr: value.t
aggregates:
  num: {fn: count}
  top: {fn: max, expr: value.price}
`)
	if conf.Name() != "counts" || conf.Type() != "window_test" || len(conf.From()) != 1 || conf.From()[0] != "bids" {
		t.Errorf("common keys: %q %q %q", conf.Name(), conf.Type(), conf.From())
	}
	str := func(path ...string) string {
		t.Helper()
		s, err := conf.FieldString(path...)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := str("label"); s != "none" {
		t.Errorf("label default %q", s)
	}
	if s := str("emit"); s != "on_change" {
		t.Errorf("emit default %q", s)
	}
	if s := str("window", "type"); s != "hopping" {
		t.Errorf("window.type %q", s)
	}
	if n, err := conf.FieldInt("n"); err != nil || n != 3 {
		t.Errorf("n = %d, %v", n, err)
	}
	if f, err := conf.FieldFloat("ratio"); err != nil || f != 2 {
		t.Errorf("ratio = %v, %v (an int is a number)", f, err)
	}
	if b, err := conf.FieldBool("late"); err != nil || b {
		t.Errorf("late = %v, %v", b, err)
	}
	if d, err := conf.FieldDuration("ttl"); err != nil || d != time.Minute {
		t.Errorf("ttl = %v, %v", d, err)
	}
	if d, err := conf.FieldDuration("window", "size"); err != nil || d != 10*time.Second {
		t.Errorf("window.size = %v, %v", d, err)
	}
	if d, err := conf.FieldDuration("window", "offset"); err != nil || d != 0 {
		t.Errorf("window.offset = %v, %v", d, err)
	}
	if l, err := conf.FieldStringList("drop"); err != nil || len(l) != 2 || l[1] != "b" {
		t.Errorf("drop = %v, %v", l, err)
	}
	if e, err := conf.FieldExpr("where"); err != nil || e.Source() != "true" {
		t.Errorf("where default = %v, %v", e, err)
	}
	if l, err := conf.FieldExprList("key"); err != nil || len(l) != 1 || l[0].Source() != "value.user" {
		t.Errorf("key = %v, %v (a single expression is a list of one)", l, err)
	}
	m, err := conf.FieldExprMap("group_by")
	if err != nil || len(m) != 2 || m[0].Name != "auction" || m[1].Name != "day" || m[1].Expr.Source() != `format_time(timestamp, "date")` {
		t.Errorf("group_by = %+v, %v (in the order written)", m, err)
	}
	ob, err := conf.FieldObjectList("order_by")
	if err != nil || len(ob) != 2 {
		t.Fatalf("order_by = %v, %v", ob, err)
	}
	if d, _ := ob[0].FieldBool("desc"); !d {
		t.Error("order_by[0].desc false")
	}
	if d, err := ob[1].FieldBool("desc"); err != nil || d {
		t.Errorf("order_by[1].desc = %v, %v (default false)", d, err)
	}
	if ob[1].Path() != "op.order_by[1]" {
		t.Errorf("order_by[1] path %q", ob[1].Path())
	}
	aggs, err := conf.FieldObjectMap("aggregates")
	if err != nil || len(aggs) != 2 || aggs[0].Name != "num" || aggs[1].Name != "top" {
		t.Fatalf("aggregates = %+v, %v", aggs, err)
	}
	if aggs[0].Config.Contains("expr") || !aggs[1].Config.Contains("expr") {
		t.Error("aggregates: Contains(expr) wrong")
	}
	if conf.Contains("ratio") != true || conf.Contains("nope") || windowSpecNoRatio(t) {
		t.Error("Contains wrong")
	}
	// Accessors refuse a path or a type the spec does not have.
	if _, err := conf.FieldInt("label"); err == nil {
		t.Error("FieldInt of a string field: no error")
	}
	if _, err := conf.FieldString("nope"); err == nil {
		t.Error("FieldString of an unknown field: no error")
	}
	if _, err := conf.FieldString("label", "x"); err == nil {
		t.Error("a path through a string: no error")
	}
	if _, err := conf.FieldFloat("window", "nope"); err == nil {
		t.Error("unknown nested field: no error")
	}
}

func windowSpecNoRatio(t *testing.T) bool {
	conf := parse(t, windowSpec(), "group_by: {}\nwindow: {type: tumbling, size: 1s}")
	return conf.Contains("ratio") || conf.Contains("order_by") || !conf.Contains("window", "offset")
}

// TestParseReportsEveryProblem: unknown keys (did you mean), duplicates,
// wrong types, bad enum values, missing required fields, all at once,
// each with its key and line.
func TestParseReportsEveryProblem(t *testing.T) {
	got := problems(t, windowSpec(), `name: counts
type: window_test
labl: x
n: ten
n: 11
late: "yes please"
ttl: 5
emit: on_chekpoint
drop: a
ratio: [1]
window: {type: hopping, sise: 10s}
order_by:
  - {expr: value.price, desc: 1}
  - 7
aggregates:
  num: {fn: cnt}
  top: count
`)
	sameLines(t, got, []string{
		`line 1: op.group_by: is required`,
		`line 3: op.labl: unknown key (did you mean "label"?)`,
		`line 4: op.n: must be a whole number, got "ten"`,
		`line 5: op.n: duplicate key: also set at line 4; YAML keeps only one of them, so remove or merge the other`,
		`line 6: op.late: must be true or false, got "yes please"`,
		`line 7: op.ttl: must be a duration with a unit, such as 500ms, 10s or 1m30s, got "5"`,
		`line 8: op.emit: must be one of "on_change", "on_checkpoint", got "on_chekpoint" (did you mean "on_checkpoint"?)`,
		`line 9: op.drop: must be a list ([a, b], or one "- item" per line), got "a"`,
		`line 10: op.ratio: must be a number, got a list`,
		`line 11: op.window.sise: unknown key (did you mean "size"?)`,
		`line 11: op.window.size: is required`,
		`line 13: op.order_by[0].desc: must be true or false, got "1"`,
		`line 14: op.order_by[1]: must be a section of keys (a mapping), got "7"`,
		`line 16: op.aggregates.num.fn: must be one of "count", "sum", "max", got "cnt" (did you mean "count"?)`,
		`line 17: op.aggregates.top: must be a section of keys (a mapping), got "count"`,
	})
}

func TestParseNotAMapping(t *testing.T) {
	got := problems(t, windowSpec(), "[a, b]")
	sameLines(t, got, []string{`line 1: op: an operator must be a mapping of its keys (name, type, from and its own), got a list`})
	// An empty entry is an entry without keys: its required fields are missing.
	got = problems(t, windowSpec(), "")
	sameLines(t, got, []string{"op.group_by: is required", "op.window.type: is required", "op.window.size: is required"})
}

// TestParseNullIsAbsent: a key without a value takes the default, and is
// missing if required.
func TestParseNullIsAbsent(t *testing.T) {
	conf := parse(t, windowSpec(), "n:\nlabel: ~\ngroup_by: {}\nwindow: {type: tumbling, size: 1s}")
	if n, _ := conf.FieldInt("n"); n != 10 {
		t.Errorf("n = %d, want the default 10", n)
	}
	got := problems(t, windowSpec(), "group_by:\nwindow: {type: tumbling, size: 1s}")
	sameLines(t, got, []string{"line 1: op.group_by: is required"})
}

// TestParseExpressionErrors: an expression that does not compile is a
// problem at its line and column in the file, whether plain, quoted or a
// block scalar.
func TestParseExpressionErrors(t *testing.T) {
	spec := plugin.NewConfigSpec().
		Field(plugin.NewExprField("where", expression.RecordContext, expression.Bool())).
		Field(plugin.NewExprMapField("select", expression.JoinContext).Optional()).
		Field(plugin.NewExprField("value", expression.ItemContext).Optional()).
		Field(plugin.NewExprField("key", expression.RecordContext).Optional())
	got := problems(t, spec, `name: bids
where: value.price > 1 && vaule.x
select:
  a: 'left.x + rihgt.y'
value: |
  item.x +
    undefinedname
key: value.price + 1 ==
`)
	sameLines(t, got, []string{
		`line 2: op.where: column 27: unknown name vaule`,
		`line 4: op.select.a: column 16: unknown name rihgt`,
		`line 7: op.value: expression line 2, column 3: unknown name undefinedname`,
		`line 8: op.key: column 23: unexpected token EOF`,
	})
	// A condition that cannot be a bool.
	got = problems(t, spec, "where: 1 + 2\n")
	sameLines(t, got, []string{`line 1: op.where: column 8: want a bool, got int`})
	// Names of the wrong context.
	got = problems(t, spec, "where: left.x > 1\n")
	sameLines(t, got, []string{`line 1: op.where: column 8: left is not available here (only in join where and select)`})
}

func TestExprRuntimeErrorPlacedInFile(t *testing.T) {
	spec := plugin.NewConfigSpec().Field(plugin.NewExprField("where", expression.RecordContext))
	conf := parse(t, spec, "name: x\nwhere:   value.a.b > 1\n")
	e, err := conf.FieldExpr("where")
	if err != nil {
		t.Fatal(err)
	}
	var env expression.Env
	env.Reset()
	env.Value = map[string]any{"a": int64(3)}
	_, err = e.EvalBool(&env)
	var ee *plugin.ExprError
	if !asExprError(err, &ee) {
		t.Fatalf("err = %v, want an *ExprError", err)
	}
	if ee.Key != "op.where" || ee.Line != 2 || ee.Col < 10 {
		t.Errorf("ExprError %+v: want key op.where, line 2, a column past 9", ee)
	}
	if got := err.Error(); got[:len("op.where: line 2, column ")] != "op.where: line 2, column " {
		t.Errorf("message %q", got)
	}
	if e.Line() != 2 || e.Key() != "op.where" {
		t.Errorf("Expr at %d %q", e.Line(), e.Key())
	}
}

func TestFromMustFitInputs(t *testing.T) {
	one := plugin.NewConfigSpec()
	sameLines(t, problems(t, one, "from: [a, b]"), []string{"line 1: op.from: takes one input, got 2 (merge streams with a union)"})
	if conf := parse(t, one, "from: a"); conf.From()[0] != "a" {
		t.Error("from a")
	}
	two := plugin.NewConfigSpec().Inputs(2).Keyed()
	sameLines(t, problems(t, two, "from: a"), []string{"line 1: op.from: takes 2 inputs ([left, right] for two), got 1"})
	parse(t, two, "from: [a, b]")
	anyIn := plugin.NewConfigSpec().Inputs(plugin.AnyInputs)
	sameLines(t, problems(t, anyIn, "from: []"), []string{"line 1: op.from: needs at least one input"})
	parse(t, anyIn, "from: [a, b, c]")
	sameLines(t, problems(t, one, "from: {a: 1}\nname: [x]"), []string{
		`line 1: op.from: must be an input's name, or a list of them, got a mapping`,
		`line 2: op.name: must be a single value (quote it if it holds special characters), got a list`,
	})
	// Without from (a legacy pipeline entry), nothing to check.
	parse(t, two, "name: j")
}

func TestChecks(t *testing.T) {
	spec := plugin.NewConfigSpec().
		Field(plugin.NewExprField("value", expression.RecordContext).Optional()).
		Field(plugin.NewExprMapField("fields", expression.RecordContext).Optional()).
		Field(plugin.NewObjectField("window", plugin.NewDurationField("size").Default("1s"))).
		Check(func(c *plugin.ParsedConfig) error {
			if c.Contains("value") && c.Contains("fields") {
				return plugin.FieldErrorf("fields", "set value or fields, not both")
			}
			return nil
		}).
		Check(func(c *plugin.ParsedConfig) error {
			if d, _ := c.FieldDuration("window", "size"); d <= 0 {
				return plugin.FieldErrorf("window.size", "must be positive, got %v", d)
			}
			return nil
		}).
		Check(func(c *plugin.ParsedConfig) error {
			if !c.Contains("value") && !c.Contains("fields") {
				return errNeither
			}
			return nil
		})
	sameLines(t, problems(t, spec, "name: m\nvalue: value.x\nfields: {a: value.a}\nwindow:\n  size: -1s\n"), []string{
		"line 3: op.fields: set value or fields, not both",
		"line 5: op.window.size: must be positive, got -1s",
	})
	sameLines(t, problems(t, spec, "name: m\nwindow: {size: 0s}"), []string{
		"line 1: op: set value or fields",
		"line 2: op.window.size: must be positive, got 0s",
	})
	// Checks do not run while fields have problems.
	sameLines(t, problems(t, spec, "name: m\nvalue: [x]"), []string{
		"line 2: op.value: must be an expression (a single value; quote it if it holds special characters), got a list",
	})
}

var errNeither = errorString("set value or fields")

type errorString string

func (e errorString) Error() string { return string(e) }
