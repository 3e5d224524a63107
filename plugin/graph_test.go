package plugin_test

import (
	"errors"
	"testing"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

func aggregateSpec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Field(plugin.NewExprMapField("group_by", expression.RecordContext).Fingerprint()).
		Field(plugin.NewObjectField("window",
			plugin.NewStringEnumField("type", "tumbling", "hopping"),
			plugin.NewDurationField("size"),
			plugin.NewDurationField("offset").Default("0s")).Optional().Fingerprint()).
		Field(plugin.NewObjectMapField("aggregates",
			plugin.NewStringEnumField("fn", "count", "max").Fingerprint(),
			plugin.NewExprField("expr", expression.RecordContext).Optional().Fingerprint(),
			plugin.NewStringField("comment").Optional())).
		Field(plugin.NewDurationField("allowed_lateness").Default("0s")).
		Field(plugin.NewStringListField("tags").Optional().Fingerprint()).
		Field(plugin.NewStringField("note").Default("a b\nc").Fingerprint()).
		Keyed("group_by").
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Outputs("late", "dropped").
		Changelog(func(c *plugin.ParsedConfig, in []plugin.Mode) (plugin.Mode, error) {
			if in[0] == plugin.Updating && c.Contains("window") {
				return 0, errors.New("a window needs an append input")
			}
			if c.Contains("window") {
				return plugin.Append, nil
			}
			return plugin.Updating, nil
		})
}

// TestDescribe: the type, then the fingerprinted fields in spec order,
// nested ones dotted, defaults included, absent optional ones left out,
// other fields never.
func TestDescribe(t *testing.T) {
	conf := parse(t, aggregateSpec(), `type: aggregate
name: counts
from: bid
group_by: {auction: value.auction, day: "format_time(timestamp, \"date\")"}
window: {type: hopping, size: 10s}
aggregates:
  num: {fn: count, comment: not in}
  top: {fn: max, expr: value.price}
allowed_lateness: 5s
`)
	want := `type=aggregate group_by={"auction":"value.auction","day":"format_time(timestamp, \"date\")"} window.type=hopping window.size=10s window.offset=0s aggregates.num.fn=count aggregates.top.fn=max aggregates.top.expr=value.price note="a b\nc"`
	if got := conf.Describe(); got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
	if !conf.Fingerprinted() {
		t.Error("a keyed operator is not Fingerprinted")
	}
	conf = parse(t, aggregateSpec(), "group_by: {}\naggregates: {}\ntags: [x, 'y z']\nnote: plain")
	if got, want := conf.Describe(), `group_by={} tags=["x","y z"] note=plain`; got != want {
		t.Errorf("Describe without type:\n got %s\nwant %s", got, want)
	}
	stateless := plugin.NewConfigSpec().Field(plugin.NewExprField("where", expression.RecordContext))
	conf = parse(t, stateless, "type: filter\nwhere: value.x > 1")
	if conf.Fingerprinted() || conf.Describe() != "type=filter" {
		t.Errorf("stateless filter: Fingerprinted %v, Describe %q", conf.Fingerprinted(), conf.Describe())
	}
	keyBy := plugin.NewConfigSpec().Field(plugin.NewExprField("key", expression.RecordContext).Fingerprint())
	conf = parse(t, keyBy, "type: key_by\nkey: value.user")
	if !conf.Fingerprinted() || conf.Describe() != "type=key_by key=value.user" {
		t.Errorf("key_by: Fingerprinted %v, Describe %q", conf.Fingerprinted(), conf.Describe())
	}
}

func TestGraphDeclarations(t *testing.T) {
	conf := parse(t, aggregateSpec(), "from: x\ngroup_by: {a: value.a}\naggregates: {}\nwindow: {type: tumbling, size: 1s}")
	if conf.Inputs() != 1 || !conf.Keyed() || !conf.PreservesKey() {
		t.Errorf("Inputs %d Keyed %v PreservesKey %v", conf.Inputs(), conf.Keyed(), conf.PreservesKey())
	}
	if p, ok := conf.Port("late"); !ok || p != 1 {
		t.Errorf("Port(late) = %d %v", p, ok)
	}
	if p, ok := conf.Port("dropped"); !ok || p != 2 {
		t.Errorf("Port(dropped) = %d %v", p, ok)
	}
	if p, ok := conf.Port(""); !ok || p != 0 {
		t.Errorf("Port() = %d %v", p, ok)
	}
	if _, ok := conf.Port("nope"); ok {
		t.Error("Port(nope) found")
	}
	if ports := conf.OutputPorts(); len(ports) != 2 || ports[0] != "late" {
		t.Errorf("OutputPorts %v", ports)
	}
	if m, err := conf.OutputMode([]plugin.Mode{plugin.Append}); err != nil || m != plugin.Append {
		t.Errorf("windowed OutputMode = %v, %v", m, err)
	}
	if _, err := conf.OutputMode([]plugin.Mode{plugin.Updating}); err == nil {
		t.Error("windowed over updating: no error")
	}
	plain := parse(t, plugin.NewConfigSpec(), "from: x")
	if plain.PreservesKey() || plain.Keyed() || plain.Inputs() != 1 || plain.OutputPorts() != nil {
		t.Error("defaults of an empty spec wrong")
	}
	for in, want := range map[plugin.Mode]plugin.Mode{plugin.Append: plugin.Append, plugin.Updating: plugin.Updating} {
		if m, err := plain.OutputMode([]plugin.Mode{plugin.Append, in}); err != nil || m != want {
			t.Errorf("default OutputMode(append, %v) = %v, %v", in, m, err)
		}
	}
	if plugin.Append.String() != "append" || plugin.Updating.String() != "updating" {
		t.Error("Mode names")
	}
}

// TestKeys: the key of each input comes from the field Keyed names; a
// map or a list of several is composite (a JSON list), of one a single
// key; none is the record key.
func TestKeys(t *testing.T) {
	rec := &operators.Record{Key: []byte("k1"), Data: map[string]any{"a": "x", "b": int64(7), "id": int64(3)}}
	var env expression.Env
	env.SetRecord(rec)
	key := func(k *plugin.Key) string {
		t.Helper()
		b, err := k.Append(&env, nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	agg := parse(t, aggregateSpec(), "group_by: {a: value.a, b: value.b}\naggregates: {}")
	if k := agg.Key(0); key(k) != `["x",7]` || k.IsRecordKey() || k.String() != "[value.a, value.b]" {
		t.Errorf("composite key %q %v %q", key(k), k.IsRecordKey(), k.String())
	}
	if agg.Key(1) != nil {
		t.Error("Key(1) of a one-input operator")
	}
	agg = parse(t, aggregateSpec(), "group_by: {a: value.a}\naggregates: {}")
	if k := agg.Key(0); key(k) != "x" || k.String() != "value.a" {
		t.Errorf("single key %q %q", key(k), k.String())
	}
	agg = parse(t, aggregateSpec(), "group_by: {}\naggregates: {}")
	if k := agg.Key(0); key(k) != "[]" {
		t.Errorf("global key %q", key(k))
	}

	count := parse(t, plugin.NewConfigSpec().Keyed(), "type: count")
	if k := count.Key(0); !k.IsRecordKey() || key(k) != "k1" || k.String() != "key" {
		t.Errorf("record key %v %q", k.IsRecordKey(), key(k))
	}
	join := plugin.NewConfigSpec().Inputs(2).
		Field(plugin.NewObjectField("key",
			plugin.NewExprListField("left", expression.RecordContext),
			plugin.NewExprListField("right", expression.RecordContext)).Fingerprint()).
		Keyed("key.left", "key.right")
	j := parse(t, join, "from: [a, b]\nkey: {left: value.id, right: ' key '}")
	if k := j.Key(0); key(k) != "3" || k.IsRecordKey() {
		t.Errorf("left key %q", key(k))
	}
	if k := j.Key(1); !k.IsRecordKey() || key(k) != "k1" {
		t.Errorf("right key %v %q", k.IsRecordKey(), key(k))
	}
	if k := j.Key(2); k != nil {
		t.Error("Key(2) of a join")
	}
	stateless := parse(t, plugin.NewConfigSpec(), "")
	if stateless.Key(0) != nil {
		t.Error("Key of an unkeyed operator")
	}
	// An evaluation error is placed in the file.
	bad := parse(t, aggregateSpec(), "group_by: {a: value.a.b.c}\naggregates: {}")
	env.SetRecord(&operators.Record{Data: map[string]any{"a": int64(1)}})
	if _, err := bad.Key(0).Append(&env, nil); err == nil {
		t.Error("no error")
	} else if ee := (*plugin.ExprError)(nil); !asExprError(err, &ee) || ee.Key != "op.group_by.a" || ee.Line != 1 {
		t.Errorf("error %v", err)
	}
}
