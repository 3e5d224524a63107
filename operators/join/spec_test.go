package join_test

import (
	"strings"
	"testing"

	"github.com/tidemark/tidemark/operators/join"
	"github.com/tidemark/tidemark/plugin"
)

// TestSpecDeclarations: what the planner and the fingerprint read of a
// join.
func TestSpecDeclarations(t *testing.T) {
	conf, ps := parse(t, `type: join
name: q3
from: [auctions, persons]
key: {left: value.seller, right: value.id}
where: 'right.state == "OR"'
select: {name: right.name, id: left.id}
`)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if !conf.Keyed() || !conf.PreservesKey() || !conf.Fingerprinted() || conf.Inputs() != 2 {
		t.Errorf("keyed %v, preserves key %v, fingerprinted %v, inputs %d", conf.Keyed(), conf.PreservesKey(), conf.Fingerprinted(), conf.Inputs())
	}
	if got := conf.Key(0).String() + " | " + conf.Key(1).String(); got != "value.seller | value.id" {
		t.Errorf("keys: %s", got)
	}
	if p, ok := conf.Port("late"); !ok || p != 1 {
		t.Errorf("late port: %d %v", p, ok)
	}
	// The fingerprint holds the kind, the outer-ness and the keys; not
	// where or select, which change output only.
	want := `type=join join=regular how=inner key.left=["value.seller"] key.right=["value.id"]`
	if got := conf.Describe(); got != want {
		t.Errorf("Describe() = %s\nwant         %s", got, want)
	}
	for src, want := range map[string]string{
		"join: interval\nbetween: {lower: -10s, upper: 0s}":            `type=join join=interval how=inner key.left=["value.k"] key.right=["value.k"] between.lower=-10s between.upper=0s`,
		"join: window\nhow: left\nwindow: {type: tumbling, size: 10s}": `type=join join=window how=left key.left=["value.k"] key.right=["value.k"] window.type=tumbling window.size=10s window.offset=0s`,
		"join: window\nwindow: {type: attached}":                       `type=join join=window how=inner key.left=["value.k"] key.right=["value.k"] window.type=attached window.offset=0s`,
		"ttl: 1h\nretain: {left: timestamp}":                           `type=join join=regular how=inner key.left=["value.k"] key.right=["value.k"]`,
	} {
		conf, ps := parse(t, "type: join\nfrom: [a, b]\nkey: {left: value.k, right: value.k}\n"+src)
		if len(ps) > 0 {
			t.Errorf("%s: %v", src, ps)
			continue
		}
		if got := conf.Describe(); got != want {
			t.Errorf("%s:\nDescribe() = %s\nwant         %s", src, got, want)
		}
	}
}

func TestChangelog(t *testing.T) {
	A, U := plugin.Append, plugin.Updating
	for _, c := range []struct {
		config string
		in     []plugin.Mode
		want   plugin.Mode
		err    string
	}{
		{"", []plugin.Mode{A, A}, A, ""},
		{"", []plugin.Mode{A, U}, U, ""},
		{"", []plugin.Mode{U, A}, U, ""},
		{"how: left", []plugin.Mode{A, A}, U, ""},
		{"join: interval\nbetween: {lower: 0s, upper: 1s}", []plugin.Mode{A, A}, A, ""},
		{"join: interval\nbetween: {lower: 0s, upper: 1s}", []plugin.Mode{A, U}, 0, "needs append inputs"},
		{"join: window\nwindow: {type: attached}", []plugin.Mode{A, A}, A, ""},
		{"join: window\nwindow: {type: attached}", []plugin.Mode{U, A}, 0, "needs append inputs"},
	} {
		conf, ps := parse(t, "type: join\nfrom: [a, b]\nkey: {left: key, right: key}\n"+c.config)
		if len(ps) > 0 {
			t.Fatalf("%s: %v", c.config, ps)
		}
		got, err := conf.OutputMode(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q over %v: error %v, want %q", c.config, c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q over %v: %v, %v; want %v", c.config, c.in, got, err, c.want)
		}
	}
}

// TestConfigProblems: combinations that make no sense are refused,
// naming the key.
func TestConfigProblems(t *testing.T) {
	for config, want := range map[string]string{
		"how: semi": "how: join: regular takes how: inner, left, not semi",
		"join: interval\nhow: left\nbetween: {lower: 0s, upper: 1s}": "how: join: interval takes how: inner, not left",
		"join: interval": "between: is required for an interval join",
		"join: interval\nbetween: {lower: 2s, upper: 1s}":                            "lower (2s) is above upper (1s)",
		"join: interval\nbetween: {lower: 0s}":                                       "between.upper",
		"join: window":                                                               "window: is required for a window join",
		"join: window\nwindow: {type: tumbling}":                                     "window.size: a tumbling window needs a size > 0",
		"join: window\nwindow: {type: hopping, size: 10s, slide: 3s}":                "window.size: 10s is not a multiple of the slide 3s",
		"join: window\nwindow: {type: attached, size: 10s}":                          "an attached window takes no size",
		"join: window\nwindow: {type: sliding}":                                      "window.type",
		"join: window\nwindow: {type: attached}\nttl: 1m":                            "ttl: applies to join: regular only",
		"window: {type: attached}":                                                   "window: applies to join: window only",
		"between: {lower: 0s, upper: 1s}":                                            "between: applies to join: interval only",
		"join: interval\nbetween: {lower: 0s, upper: 1s}\nretain: {left: timestamp}": "retain: applies to join: regular only",
		"ttl: -1s":                    "ttl: must not be negative",
		"where: 'left.x +'":           "where",
		"where: 'value.x > 1 && foo'": "where",
		"select: {a: item}":           "item is not available here",
		"key: {left: value.k}":        "key.right",
	} {
		src := "type: join\nfrom: [a, b]\n"
		if !strings.HasPrefix(config, "key:") {
			src += "key: {left: value.k, right: value.k}\n"
		}
		_, ps := parse(t, src+config)
		var all []string
		for _, p := range ps {
			all = append(all, p.String())
		}
		if got := strings.Join(all, "; "); !strings.Contains(got, want) {
			t.Errorf("%q: problems %q, want one with %q", config, got, want)
		}
	}
}

// Every example of the spec parses (RegisterOperator checks it too) and
// builds an operator.
func TestExamples(t *testing.T) {
	spec, ctor, ok := env(t).Lookup("join")
	if !ok {
		t.Fatal("join not registered")
	}
	if len(spec.Examples()) < 4 {
		t.Errorf("%d examples", len(spec.Examples()))
	}
	for _, ex := range spec.Examples() {
		conf, ps := parse(t, ex.Config)
		if len(ps) > 0 {
			t.Errorf("%s: %v", ex.Title, ps)
			continue
		}
		if _, err := ctor(conf, &plugin.Resources{Name: "j"}); err != nil {
			t.Errorf("%s: %v", ex.Title, err)
		}
	}
	md := spec.Markdown("join")
	for _, want := range []string{"### `join`", "Inputs: two", "`key.left` / `key.right`", "`late`", "between"} {
		if !strings.Contains(md, want) {
			t.Errorf("docs lack %q", want)
		}
	}
	if err := env(t).RegisterOperator("join", spec, ctor); err == nil {
		t.Error("registered twice")
	}
}

func TestFieldOrder(t *testing.T) {
	conf, ps := parse(t, "type: join\nfrom: [a, b]\nkey: {left: key, right: key}\nselect: {name: right.name, city: right.city, id: left.id}")
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if got, err := join.FieldOrder(conf); err != nil || strings.Join(got, ",") != "name,city,id" {
		t.Errorf("FieldOrder = %v, %v", got, err)
	}
	conf, _ = parse(t, "type: join\nfrom: [a, b]\nkey: {left: key, right: key}")
	if got, err := join.FieldOrder(conf); err != nil || got != nil {
		t.Errorf("FieldOrder without select = %v, %v", got, err)
	}
}
