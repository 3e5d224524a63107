package builtin

import (
	"context"
	"fmt"
	"maps"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// FlatMap explodes a list: one record per element of the list its
// explode expression gives, with the element set as a field of the
// input's value, or a value computed from the element. Records keep the
// input's key, timestamp, kind, window and headers. A result that is no
// list, or any failing expression, sends the input record to the
// dead-letter output (and none of its elements on).
type FlatMap struct {
	operators.Base
	path    string
	explode *plugin.Expr
	as      string
	value   *plugin.Expr

	env    expression.Env
	reject func(operators.Record, error)
	batch  []operators.Record
}

// Open implements operators.Operator.
func (f *FlatMap) Open(_ context.Context, oc operators.OpenContext) error {
	f.reject = rejecter(oc)
	return nil
}

// Process implements operators.Operator.
func (f *FlatMap) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for i := range recs {
		if err := f.explodeOne(&recs[i]); err != nil {
			f.reject(recs[i], err)
			continue
		}
		for _, r := range f.batch {
			out.Emit(r)
		}
	}
	f.batch = f.batch[:0]
	return nil
}

// explodeOne fills f.batch with the records of r.
func (f *FlatMap) explodeOne(r *operators.Record) error {
	f.batch = f.batch[:0]
	f.env.SetRecord(r)
	f.env.Item, f.env.Index = nil, 0
	defer func() { f.env.Item = nil }()
	v, err := f.explode.Eval(&f.env)
	if err != nil {
		return err
	}
	if v == nil {
		return nil // null explodes to nothing, as an empty list
	}
	list, ok := v.([]any)
	if !ok {
		return fmt.Errorf("%s.explode: want a list, got %s", f.path, describeValue(v))
	}
	var base map[string]any
	if f.value == nil {
		switch x := r.Data.(type) {
		case map[string]any:
			base = x
		case nil:
			if r.Value != nil {
				return fmt.Errorf("%s: the value is not decoded (format raw): set value to build each element's value", f.path)
			}
		default:
			return fmt.Errorf("%s: the value is %s, not an object to set %q in: set value to build each element's value", f.path, describeValue(x), f.as)
		}
	}
	for i, item := range list {
		out := *r
		out.Value = nil
		if f.value != nil {
			f.env.Item, f.env.Index = item, int64(i)
			x, err := f.value.Eval(&f.env)
			if err != nil {
				return err
			}
			out.Data = x
		} else {
			obj := make(map[string]any, len(base)+1)
			maps.Copy(obj, base)
			obj[f.as] = item
			out.Data = obj
		}
		f.batch = append(f.batch, out)
	}
	return nil
}

func flatMapSpec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Summary("Explodes a list: one record per element.").
		Description("Evaluates `explode` over each record; for every element of the list it gives, emits "+
			"the input's value (an object) with the element in the field `as`, or, with `value`, the "+
			"value that expression computes from `item` (the element) and `index` (its position, from 0). "+
			"An empty list or null emits nothing. A result that is not a list, a failing expression, or "+
			"(without `value`) an input value that is not an object sends the input record to the "+
			"dead-letter topic, and none of its elements on. Every record keeps the input's key, "+
			"timestamp, kind, window and headers. Stateless.").
		Fields(
			plugin.NewExprField("explode", expression.RecordContext).
				Description("The list to explode.").Example("value.items"),
			plugin.NewStringField("as").Default("item").
				Description("Without `value`: the field of the input's value that holds the element."),
			plugin.NewExprField("value", expression.ItemContext).Optional().
				Description("The value of each element's record, over `item` and `index` (and the input record's names).").
				Example(`{"order": value.id, "sku": item.sku, "line": index + 1}`),
		).
		Check(func(c *plugin.ParsedConfig) error {
			if as, _ := c.FieldString("as"); as == "" {
				return plugin.FieldErrorf("as", "must not be empty: the field that holds the element")
			}
			return nil
		}).
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Example("One record per order line", "type: flat_map\nfrom: orders\nexplode: value.lines\nas: line").
		Example("Build each element's value", "type: flat_map\nfrom: orders\nexplode: value.lines\nvalue: '{\"order\": value.id, \"sku\": item.sku, \"line\": index + 1}'")
}

func newFlatMap(c *plugin.ParsedConfig, _ *plugin.Resources) (operators.Operator, error) {
	f := &FlatMap{path: c.Path()}
	var err error
	if f.explode, err = c.FieldExpr("explode"); err != nil {
		return nil, err
	}
	if f.as, err = c.FieldString("as"); err != nil {
		return nil, err
	}
	if c.Contains("value") {
		if f.value, err = c.FieldExpr("value"); err != nil {
			return nil, err
		}
	}
	if f.path == "" {
		f.path = "flat_map"
	}
	return f, nil
}
