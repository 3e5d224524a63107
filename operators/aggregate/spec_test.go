package aggregate_test

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/operators/aggregate"
	"github.com/tidemark/tidemark/plugin"
)

func TestRegister(t *testing.T) {
	env := plugin.NewEnvironment()
	if err := aggregate.Register(env); err != nil {
		t.Fatal(err)
	}
	spec, _, ok := env.Lookup("aggregate")
	if !ok {
		t.Fatal("aggregate not registered")
	}
	if len(spec.Examples()) < 4 {
		t.Errorf("%d examples", len(spec.Examples()))
	}
	if err := aggregate.Register(env); err == nil {
		t.Error("registered twice")
	}
}

// The topology description holds what the state depends on: group_by,
// window, aggregates; not lateness, side outputs, emit or field names.
func TestDescribe(t *testing.T) {
	c := parse(t, `
type: aggregate
group_by: {auction: value.auction}
window: {type: hopping, size: 10s, slide: 2s}
aggregates: {num: {fn: count}, top: {fn: max, expr: value.price, filter: value.price > 0}}
allowed_lateness: 1s
late: true
window_fields: {start: s}`)
	want := `type=aggregate group_by={"auction":"value.auction"} window.type=hopping window.size=10s window.slide=2s window.offset=0s ` +
		`aggregates.num.fn=count aggregates.top.fn=max aggregates.top.expr=value.price aggregates.top.filter=value.price > 0`
	if got := c.Describe(); got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
	if !c.Keyed() || !c.PreservesKey() || c.Key(0).String() != "value.auction" {
		t.Errorf("Keyed %v, PreservesKey %v, key %v", c.Keyed(), c.PreservesKey(), c.Key(0))
	}
	if port, ok := c.Port("late"); !ok || port != 1 {
		t.Errorf("port late = %d, %v", port, ok)
	}
	if got, err := aggregate.FieldOrder(c); err != nil || strings.Join(got, ",") != "auction,s,window_end,num,top" {
		t.Errorf("FieldOrder = %v, %v", got, err)
	}
	global := parse(t, "type: aggregate\nwindow: {type: tumbling, size: 1m}\naggregates: {m: {fn: max, expr: value.price}}")
	if k := global.Key(0).String(); k != "[]" {
		t.Errorf("global key %q", k)
	}
}

func TestChangelog(t *testing.T) {
	for _, tc := range []struct {
		conf string
		in   plugin.Mode
		want plugin.Mode
		err  string
	}{
		{"window: {type: tumbling, size: 1s}", plugin.Append, plugin.Append, ""},
		{"window: {type: tumbling, size: 1s}\nallowed_lateness: 1s", plugin.Append, plugin.Updating, ""},
		{"window: {type: session, gap: 1s}", plugin.Updating, 0, "needs an append input"},
		{"aggregates: {n: {fn: count}}", plugin.Append, plugin.Updating, ""},
		{"aggregates: {n: {fn: count}}", plugin.Updating, plugin.Updating, ""},
		{"aggregates: {f: {fn: first, expr: value.x}}", plugin.Updating, 0, "aggregates.f: first needs an append input"},
		{"aggregates: {f: {fn: last, expr: value.x}}", plugin.Append, plugin.Updating, ""},
	} {
		c := parse(t, "type: aggregate\n"+tc.conf)
		got, err := c.OutputMode([]plugin.Mode{tc.in})
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s from %s: error %v, want %q", tc.conf, tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s from %s: %s, %v; want %s", tc.conf, tc.in, got, err, tc.want)
		}
	}
}

func TestConfigProblems(t *testing.T) {
	for conf, want := range map[string]string{
		"window: {type: tumbling}":                                               "window: a tumbling window needs size",
		"window: {type: hopping, size: 10s}":                                     "needs slide",
		"window: {type: hopping, size: 10s, slide: 3s}":                          "window.size: 10s is not a multiple of slide 3s",
		"window: {type: tumbling, size: 10s, gap: 1s}":                           "window.gap: a tumbling window takes no gap",
		"window: {type: session, gap: 0s}":                                       "window.gap: must be positive",
		"window: {type: session, gap: 1s, size: 1s}":                             "a session window takes no size",
		"window: {type: attached, offset: 1s}":                                   "an attached window takes no offset",
		"window: {type: tumbling, size: 1500us}":                                 "not a whole number of milliseconds",
		"window: {type: sliding, size: 1s}":                                      "sliding",
		"aggregates: {s: {fn: sum}}":                                             "aggregates.s: sum needs expr",
		"aggregates: {s: {fn: median, expr: value.x}}":                           "median",
		"aggregates: {s: {fn: count, filter: 1 + 1}}":                            "want a bool",
		"aggregates: {s: {fn: count, expr: 'value.'}}":                           "aggregates.s.expr",
		"group_by: {k: value.k}\naggregates: {k: {fn: count}}":                   `output field "k" is given twice`,
		"window: {type: tumbling, size: 1s}\nwindow_fields: {end: window_start}": `output field "window_start" is given twice`,
		"window: {type: tumbling, size: 1s}\nemit: on_checkpoint":                "emit: a windowed aggregate emits when its windows fire",
		"window: {type: tumbling, size: 1s}\nttl: 1m":                            "ttl: a windowed aggregate drops a window",
		"allowed_lateness: 1s":                                                   "allowed_lateness: only a windowed aggregate",
		"late: true":                                                             "late: only a windowed aggregate",
		"window: {type: tumbling, size: 1s}\nallowed_lateness: -1s":              "must not be negative",
		"ttl: -1s": "ttl: must not be negative",
		"window: {type: tumbling, size: 1s}\nlateness: 1s": "lateness",
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("type: aggregate\n"+conf), &doc); err != nil {
			t.Fatal(err)
		}
		_, problems := aggregate.Spec().Parse(&doc, "operators[0]")
		got := fmt.Sprint(problems)
		if len(problems) == 0 || !strings.Contains(got, want) {
			t.Errorf("%s:\n got %s\nwant a problem with %q", conf, got, want)
		}
	}
}
