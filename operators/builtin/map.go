package builtin

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// Map computes a new record from each record: its value (a whole new
// value, or exactly a list of fields), fields set, renamed and dropped,
// and its key, timestamp and headers. Every expression sees the input
// record. A failing expression, or set/rename/drop on a value that is no
// object, sends the record to the dead-letter output. Map never changes a
// record's kind or window.
type Map struct {
	operators.Base
	path      string
	value     *plugin.Expr
	fields    []plugin.NamedExpr
	hasFields bool
	set       []plugin.NamedExpr
	rename    []plugin.NamedString
	drop      []string
	key       *plugin.Expr
	timestamp *plugin.Expr
	headers   []plugin.NamedExpr

	env    expression.Env
	reject func(operators.Record, error)
}

// Open implements operators.Operator.
func (m *Map) Open(_ context.Context, oc operators.OpenContext) error {
	m.reject = rejecter(oc)
	return nil
}

// Process implements operators.Operator.
func (m *Map) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for i := range recs {
		r, err := m.apply(&recs[i])
		if err != nil {
			m.reject(recs[i], err)
			continue
		}
		out.Emit(r)
	}
	return nil
}

func (m *Map) changesValue() bool {
	return m.value != nil || m.hasFields || len(m.set) > 0 || len(m.rename) > 0 || len(m.drop) > 0
}

// apply computes the output record of r.
func (m *Map) apply(r *operators.Record) (operators.Record, error) {
	m.env.SetRecord(r)
	out := *r
	if m.changesValue() {
		v, err := m.newValue(r)
		if err != nil {
			return out, err
		}
		out.Data, out.Value = v, nil
	}
	if m.key != nil {
		k, err := m.key.EvalKey(&m.env, nil)
		if err != nil {
			return out, err
		}
		out.Key = k
	}
	if m.timestamp != nil {
		v, err := m.timestamp.Eval(&m.env)
		if err != nil {
			return out, err
		}
		ts, err := toMillis(v)
		if err != nil {
			return out, fmt.Errorf("%s.timestamp: %w", m.path, err)
		}
		out.Timestamp = ts
	}
	if len(m.headers) > 0 {
		hs, err := m.newHeaders(r.Headers)
		if err != nil {
			return out, err
		}
		out.Headers = hs
	}
	return out, nil
}

func (m *Map) newValue(r *operators.Record) (any, error) {
	var v any
	fresh := false // v is a map this record owns
	reshapes := len(m.set) > 0 || len(m.rename) > 0 || len(m.drop) > 0
	switch {
	case m.value != nil && !reshapes:
		// The value as it is: an object or list of a lazy input stays
		// lazy (format/json.Raw), decoded only where it is read.
		var err error
		if v, err = m.value.EvalLazy(&m.env); err != nil {
			return nil, err
		}
	case m.value != nil:
		var err error
		if v, err = m.value.Eval(&m.env); err != nil {
			return nil, err
		}
	case m.hasFields:
		obj := make(map[string]any, len(m.fields)+len(m.set))
		for _, f := range m.fields {
			x, err := f.Expr.Eval(&m.env)
			if err != nil {
				return nil, err
			}
			obj[f.Name] = x
		}
		v, fresh = obj, true
	default:
		v = r.Data
		if v == nil && r.Value != nil {
			v = string(r.Value)
		}
	}
	if !reshapes {
		return v, nil
	}
	if raw, ok := v.(json.Raw); ok {
		// set, rename and drop work on a map: a lazy input's own,
		// freshly decoded.
		var err error
		if v, err = raw.Decode(); err != nil {
			return nil, err
		}
		fresh = true
	}
	obj, ok := v.(map[string]any)
	switch {
	case v == nil:
		obj, fresh = make(map[string]any, len(m.set)), true
	case !ok:
		return nil, fmt.Errorf("%s: set, rename and drop need an object value, got %s", m.path, describeValue(v))
	case !fresh:
		obj = maps.Clone(obj) // copy on write: the input's map may travel other branches
	}
	for _, s := range m.set {
		x, err := s.Expr.Eval(&m.env)
		if err != nil {
			return nil, err
		}
		obj[s.Name] = x
	}
	for _, rn := range m.rename {
		if x, ok := obj[rn.Name]; ok {
			delete(obj, rn.Name)
			obj[rn.Value] = x
		}
	}
	for _, d := range m.drop {
		delete(obj, d)
	}
	return obj, nil
}

// newHeaders returns in with the map's headers set (the last of equal
// names replaced, a null one removed).
func (m *Map) newHeaders(in []operators.Header) ([]operators.Header, error) {
	out := make([]operators.Header, 0, len(in)+len(m.headers))
	vals := make([][]byte, len(m.headers))
	set := make([]bool, len(m.headers))
	for i, h := range m.headers {
		x, err := h.Expr.Eval(&m.env)
		if err != nil {
			return nil, err
		}
		if x == nil {
			continue
		}
		b, err := expression.AppendKey(nil, x)
		if err != nil {
			return nil, fmt.Errorf("%s.headers.%s: %w", m.path, h.Name, err)
		}
		if b == nil {
			b = []byte{}
		}
		vals[i], set[i] = b, true
	}
	named := func(k string) bool {
		for _, h := range m.headers {
			if h.Name == k {
				return true
			}
		}
		return false
	}
	for _, h := range in {
		if !named(h.Key) {
			out = append(out, h)
		}
	}
	for i, h := range m.headers {
		if set[i] {
			out = append(out, operators.Header{Key: h.Name, Value: vals[i]})
		}
	}
	return out, nil
}

// toMillis reads an expression's result as a timestamp in ms.
func toMillis(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		if math.IsNaN(x) || x >= math.MaxInt64 || x < math.MinInt64 {
			return 0, fmt.Errorf("%v is no time in ms", x)
		}
		return int64(x), nil
	}
	return 0, fmt.Errorf("want a number of ms since the epoch, got %s (read a text time with parse_time(s, \"auto\"))", describeValue(v))
}

// describeValue names v's type (and value when short) for a reason.
func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("the bool %v", x)
	case int64, float64:
		return fmt.Sprintf("the number %v", x)
	}
	return fmt.Sprintf("a %T", v)
}

func mapSpec() *plugin.ConfigSpec {
	rec := expression.RecordContext
	return plugin.NewConfigSpec().
		Summary("Computes each record's value, key, timestamp and headers from expressions.").
		Description("The new value is `value` (any expression: `value.bid` unwraps a field), or exactly "+
			"the `fields` listed, in their order (the order a sink writes them in), or else the input's "+
			"value; then `set` adds or overwrites fields, `rename` renames them and `drop` removes them, "+
			"in this order. `key`, `timestamp` and `headers` replace the record's key (by the key rules: "+
			"a string as is, a number in decimal, a list as JSON), event time (ms) and headers (a null "+
			"header removes it). Every expression sees the input record, not the one being built. "+
			"A failing expression, or `set`/`rename`/`drop` on a value that is not an object, sends the "+
			"record to the dead-letter topic. The record's kind and window are kept. Stateless; setting "+
			"`key` re-keys the stream (a stateful operator after it reads it through a key exchange).").
		Fields(
			plugin.NewExprField("value", rec).Optional().
				Description("The new value.").Example("value.bid"),
			plugin.NewExprMapField("fields", rec).Optional().
				Description("The new value is an object of exactly these fields (name → expression), in this order.").
				Example(map[string]string{"auction": "value.auction", "price": "value.price"}),
			plugin.NewExprMapField("set", rec).Optional().
				Description("Fields to add or overwrite (name → expression).").
				Example(map[string]string{"price": "round_to(value.price * 0.908, 3)"}),
			plugin.NewStringMapField("rename").Optional().
				Description("Fields to rename (old → new); absent ones are left alone.").
				Example(map[string]string{"dateTime": "date_time"}),
			plugin.NewStringListField("drop").Optional().
				Description("Fields to remove.").Example([]string{"extra"}),
			plugin.NewExprField("key", rec).Optional().
				Description("The new record key.").Example("value.user"),
			plugin.NewExprField("timestamp", rec).Optional().
				Description("The new event time, ms since the epoch (a number).").
				Example(`parse_time(value.created, "rfc3339")`),
			plugin.NewExprMapField("headers", rec).Optional().
				Description("Headers to set (name → expression; a string as is, other values by the key rules; null removes the header). Other headers are kept."),
		).
		Check(func(c *plugin.ParsedConfig) error {
			if c.Contains("value") && c.Contains("fields") {
				return plugin.FieldErrorf("fields", "set value or fields, not both")
			}
			return nil
		}).
		PreservesKey(func(c *plugin.ParsedConfig) bool { return !c.Contains("key") }).
		OutputFields(mapOutputFields).
		Example("Unwrap the bid of a Nexmark event", "name: bid\ntype: map\nfrom: bids\nvalue: value.bid").
		Example("Nexmark q1: prices in euros", "type: map\nfrom: bid\nfields:\n  auction: value.auction\n  bidder: value.bidder\n  price: round_to(value.price * 0.908, 3)\n  dateTime: value.dateTime\n  extra: value.extra").
		Example("Re-key, stamp and tidy", "type: map\nfrom: clicks\nkey: value.user\ntimestamp: 'parse_time(value.at, \"rfc3339\")'\nset: {day: 'format_time(timestamp, \"date\")'}\nrename: {at: clicked_at}\ndrop: [debug]\nheaders: {src: '\"web\"', trace: 'nil'}")
}

// mapOutputFields is the order of a map's output fields when it lists
// them (fields): those, then the fields set, renamed and without the
// dropped ones. Otherwise the value's fields are not known.
func mapOutputFields(c *plugin.ParsedConfig) []string {
	if !c.Contains("fields") {
		return nil
	}
	var names []string
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	fields, _ := c.FieldExprMap("fields")
	for _, f := range fields {
		add(f.Name)
	}
	if c.Contains("set") {
		set, _ := c.FieldExprMap("set")
		for _, f := range set {
			add(f.Name)
		}
	}
	if c.Contains("rename") {
		rename, _ := c.FieldStringMap("rename")
		for _, rn := range rename {
			if i := slices.Index(names, rn.Name); i >= 0 {
				names = slices.Delete(names, i, i+1)
				if j := slices.Index(names, rn.Value); j >= 0 {
					names = slices.Delete(names, j, j+1)
				}
				names = append(names, rn.Value)
			}
		}
	}
	if c.Contains("drop") {
		drop, _ := c.FieldStringList("drop")
		names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(drop, n) })
	}
	return names
}

func newMap(c *plugin.ParsedConfig, _ *plugin.Resources) (operators.Operator, error) {
	m := &Map{path: c.Path()}
	var err error
	get := func(path string, fn func() error) {
		if err == nil && c.Contains(path) {
			err = fn()
		}
	}
	get("value", func() (e error) { m.value, e = c.FieldExpr("value"); return })
	get("fields", func() (e error) { m.fields, e = c.FieldExprMap("fields"); m.hasFields = true; return })
	get("set", func() (e error) { m.set, e = c.FieldExprMap("set"); return })
	get("rename", func() (e error) { m.rename, e = c.FieldStringMap("rename"); return })
	get("drop", func() (e error) { m.drop, e = c.FieldStringList("drop"); return })
	get("key", func() (e error) { m.key, e = c.FieldExpr("key"); return })
	get("timestamp", func() (e error) { m.timestamp, e = c.FieldExpr("timestamp"); return })
	get("headers", func() (e error) { m.headers, e = c.FieldExprMap("headers"); return })
	if err != nil {
		return nil, err
	}
	if m.path == "" {
		m.path = "map"
	}
	return m, nil
}
