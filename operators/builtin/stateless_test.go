package builtin_test

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/optest"
	"github.com/tidemark/tidemark/plugin"
)

// build returns a constructor of the operator the YAML entry src
// configures, through the default environment (as the job's loader does).
func build(t testing.TB, src string) func() operators.Operator {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	conf, ps := plugin.Default().Parse(&doc, "operators[0] (op)")
	if len(ps) > 0 {
		t.Fatalf("%s: %v", src, ps)
	}
	_, ctor, _ := plugin.Default().Lookup(conf.Type())
	return func() operators.Operator {
		op, err := ctor(conf, &plugin.Resources{Name: "op", Parallelism: 1})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
}

// golden runs the script testdata/<name>.txt against the operator src
// configures, then checks it for restore equivalence.
func golden(t *testing.T, name, src string, opts ...optest.Option) {
	t.Helper()
	newOp := build(t, src)
	optest.Run(t, "testdata/"+name+".txt", newOp, opts...)
	optest.RunRestoreEquivalence(t, "testdata/"+name+".txt", newOp, opts...)
	if strings.HasPrefix(src, "type: filter") || strings.HasPrefix(src, "type: map") {
		// Filters and maps may get lazy values (format/json.Raw) from a
		// source: the same script, the same output.
		t.Run("lazy", func(t *testing.T) {
			optest.Run(t, "testdata/"+name+".txt", newOp, append(opts, optest.LazyValues())...)
		})
	}
}

// TestMapPassesLazyValue: a map whose value is an expression (and that
// sets, renames and drops nothing) passes an object of a lazy value on
// undecoded, standing for the same value as with decoded input; the
// filters and maps after it read it alike.
func TestMapPassesLazyValue(t *testing.T) {
	texts := []string{
		`{"event_type":2,"bid":{"auction":1107,"price":18870,"extra":"x","a":{"b":[1,2.50]}}}`,
		`{"event_type":2,"bid":{"price":1.0,"price":2}}`, `{"event_type":2,"bid":[1,2]}`, `{"event_type":2,"bid":7}`,
		`{"event_type":2}`, `{"event_type":2,"bid":{}}`,
	}
	chain := []string{"type: map\nvalue: value.bid", "type: filter\nwhere: 'value != nil'",
		"type: map\nvalue: value\nkey: value.auction", "type: map\nfields: {p: value.price, a: value.a, all: value}"}
	run := func(text string, lazy bool) string {
		var d json.Decoder
		v, err := d.Decode([]byte(text))
		if lazy {
			v, err = d.Lazy([]byte(text))
		}
		if err != nil {
			t.Fatal(err)
		}
		recs := []operators.Record{{Key: []byte("k"), Data: v}}
		var b strings.Builder
		for i, src := range chain {
			h := optest.New(t, build(t, src))
			out, err := h.Process(0, recs)
			if err != nil {
				t.Fatal(err)
			}
			recs = recs[:0]
			for _, o := range out {
				if o.DeadLetter {
					fmt.Fprintf(&b, "step %d dead letter %s; ", i, o.Reason)
					continue
				}
				_, isRaw := o.Record.Data.(json.Raw)
				if isRaw != (lazy && i < 3 && strings.Contains(text, `"bid":{`) || lazy && i < 3 && strings.Contains(text, `"bid":[`)) {
					t.Errorf("%s, step %d (lazy %v): output value %T", text, i, lazy, o.Record.Data)
				}
				enc, err := json.Marshal(o.Record.Data)
				fmt.Fprintf(&b, "step %d key %s value %s %v; ", i, o.Record.Key, enc, err)
				recs = append(recs, o.Record)
			}
		}
		return b.String()
	}
	for _, text := range texts {
		if want, got := run(text, false), run(text, true); want != got {
			t.Errorf("%s:\ndecoded: %s\nlazy:    %s", text, want, got)
		}
	}
}

func TestFilter(t *testing.T) {
	golden(t, "filter", "type: filter\nwhere: 'value.price > 1000 && headers[\"src\"] != \"test\"'")
}

func TestMapFields(t *testing.T) {
	golden(t, "map-fields", `type: map
fields:
  auction: value.auction
  price: round_to(value.price * 0.908, 3)
set: {cheap: 'value.price < 1000'}
rename: {auction: auction_id}
drop: [cheap_unused]
key: value.auction
timestamp: 'parse_time(value.dateTime, "sql")'
headers: {src: '"nexmark"', trace: 'nil', n: value.auction}
`)
}

func TestMapValue(t *testing.T) {
	golden(t, "map-value", "type: map\nvalue: value.bid\nset: {seen: 'true'}\ndrop: [extra]")
}

func TestMapInPlace(t *testing.T) {
	golden(t, "map-inplace", "type: map\nset: {total: 'value.qty * value.unit'}\nrename: {qty: quantity}\ndrop: [unit]")
}

func TestFlatMap(t *testing.T) {
	golden(t, "flatmap", "type: flat_map\nexplode: value.lines\nas: line")
}

func TestFlatMapValue(t *testing.T) {
	golden(t, "flatmap-value", "type: flat_map\nexplode: value.lines\nvalue: '{\"order\": value.id, \"sku\": item.sku, \"n\": index + 1}'")
}

func TestKeyByExpression(t *testing.T) {
	// A list built by one expression and a list of expressions key alike.
	golden(t, "keyby-expr", "type: key_by\nkey: '[value.bidder, value.auction]'")
	golden(t, "keyby-list", "type: key_by\nkey: [value.bidder, value.auction]")
}

func TestKeyByField(t *testing.T) {
	golden(t, "keyby-field", "type: key_by\nfield: user")
}

func TestUnion(t *testing.T) {
	golden(t, "union", "type: union\nfrom: [a, b]", optest.Inputs("a", "b"))
}

// TestCopyOnWrite: map and flat_map never change the input's value,
// which may travel down other branches of the job.
func TestCopyOnWrite(t *testing.T) {
	for _, src := range []string{
		"type: map\nset: {a: '2'}\nrename: {b: c}\ndrop: [d]",
		"type: map\nvalue: value.inner\nset: {a: '2'}\ndrop: [d]",
		"type: flat_map\nexplode: value.list\nas: a",
	} {
		inner := map[string]any{"a": int64(1), "d": int64(4)}
		data := map[string]any{"a": int64(1), "b": int64(2), "d": int64(4), "inner": inner, "list": []any{int64(9)}}
		h := optest.New(t, build(t, src))
		out, err := h.Process(0, []operators.Record{{Key: []byte("k"), Data: data}})
		if err != nil || len(out) != 1 || out[0].DeadLetter {
			t.Fatalf("%s: %v, %v", src, out, err)
		}
		if len(data) != 5 || data["a"] != int64(1) || data["b"] != int64(2) || data["d"] != int64(4) ||
			len(inner) != 2 || inner["a"] != int64(1) || inner["d"] != int64(4) {
			t.Errorf("%s changed its input: %v", src, data)
		}
		if got := out[0].Record.Data.(map[string]any)["a"]; got == int64(1) {
			t.Errorf("%s: a = %v in the output", src, got)
		}
	}
}

// TestStatelessDeclarations: what the planner reads of the stateless
// built-ins: key preservation, fingerprint, inputs, changelog.
func TestStatelessDeclarations(t *testing.T) {
	env := plugin.Default()
	parse := func(src string) *plugin.ParsedConfig {
		t.Helper()
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatal(err)
		}
		conf, ps := env.Parse(&doc, "op")
		if len(ps) > 0 {
			t.Fatal(ps)
		}
		return conf
	}
	for _, c := range []struct {
		src                  string
		preserves, fingerprt bool
	}{
		{"type: filter\nwhere: 'true'", true, false},
		{"type: map\nvalue: value.bid", true, false},
		{"type: map\nkey: value.user", false, false},
		{"type: flat_map\nexplode: value.x", true, false},
		{"type: union\nfrom: [a, b, c]", true, false},
		{"type: key_by\nkey: value.user", false, true},
		{"type: key_by\nfield: user", false, true},
	} {
		conf := parse(c.src)
		if conf.Keyed() || conf.PreservesKey() != c.preserves || conf.Fingerprinted() != c.fingerprt {
			t.Errorf("%q: keyed %v, preserves key %v, fingerprinted %v", c.src, conf.Keyed(), conf.PreservesKey(), conf.Fingerprinted())
		}
		for _, in := range []plugin.Mode{plugin.Append, plugin.Updating} {
			if m, err := conf.OutputMode([]plugin.Mode{in}); err != nil || m != in {
				t.Errorf("%q over %v: %v, %v", c.src, in, m, err)
			}
		}
	}
	if m, _ := parse("type: union\nfrom: [a, b]").OutputMode([]plugin.Mode{plugin.Append, plugin.Updating}); m != plugin.Updating {
		t.Error("a union of an updating input is not updating")
	}
	if d := parse("type: key_by\nkey: [value.bidder, value.auction]").Describe(); d != `type=key_by key=["value.bidder","value.auction"]` {
		t.Errorf("key_by Describe = %q", d)
	}
	for src, want := range map[string]string{
		"type: map\nvalue: value.x\nfields: {a: value.x}": "line 3: op.fields: set value or fields, not both",
		"type: key_by\nfield: a\nkey: value.a":            "line 3: op.key: set field or key, not both",
		"type: key_by":                                    "line 1: op: set key (an expression, e.g. key: value.user) or field (a JSON field)",
		"type: flat_map\nexplode: value.x\nas: ''":        "line 3: op.as: must not be empty: the field that holds the element",
		"type: filter\nwhere: 1 + 1":                      "line 2: op.where: column 8: want a bool, got int",
		"type: union\nfrom: [a]":                          `line 2: op.from: a union takes two or more inputs: read "a" directly instead`,
		"type: union\nfrom: []":                           "line 2: op.from: needs at least one input",
	} {
		var doc yaml.Node
		_ = yaml.Unmarshal([]byte(src), &doc)
		_, ps := env.Parse(&doc, "op")
		if len(ps) != 1 || ps[0].String() != want {
			t.Errorf("%q: %v, want %s", src, ps, want)
		}
	}
}

// TestMapOutputFields: the order a sink writes a map's fields in.
func TestMapOutputFields(t *testing.T) {
	env := plugin.Default()
	for src, want := range map[string]string{
		"type: map\nfields: {auction: value.auction, bidder: value.bidder, price: value.price}":               "[auction bidder price]",
		"type: map\nfields: {a: value.a, b: value.b}\nset: {c: '1', a: '2'}\nrename: {a: z, b: c}\ndrop: [q]": "[z c]",
		"type: map\nfields: {a: value.a, b: value.b}\ndrop: [a]":                                              "[b]",
		"type: map\nvalue: value.bid": "[]",
		"type: map\nset: {a: '1'}":    "[]",
	} {
		var doc yaml.Node
		_ = yaml.Unmarshal([]byte(src), &doc)
		conf, ps := env.Parse(&doc, "op")
		if len(ps) > 0 {
			t.Fatal(ps)
		}
		if got := fmt.Sprint(conf.OutputFields()); got != want {
			t.Errorf("%q: OutputFields = %s, want %s", src, got, want)
		}
	}
}
