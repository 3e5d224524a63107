package main

import (
	"context"
	"fmt"
	"maps"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
	"github.com/tidemark/tidemark/plugin"
)

// runningMaxSpec declares running_max: its fields, its documentation and
// its place in the graph. Keyed("key") tells the planner that the
// operator keeps state per value of its key expression: the planner routes
// records by that key to the task that owns it and sets Record.Key to it.
func runningMaxSpec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Summary("Adds to each record the largest value seen so far for its key.").
		Description("Evaluates `value`, an integer expression, for every record and keeps, per key "+
			"(`key`), the largest result so far in keyed state (restored from checkpoints). "+
			"Emits the record with `field` set to that maximum (a value that is not an object "+
			"becomes `{field: max}`), keeping its key and timestamp. A record whose `value` is "+
			"not an integer goes to the dead-letter topic. Part of examples/custom-operator: "+
			"an operator compiled into a program of its own.").
		Fields(
			plugin.NewExprField("key", expression.RecordContext).
				Description("The key the maximum is kept per.").
				Example("value.user").
				Fingerprint(),
			plugin.NewExprField("value", expression.RecordContext).
				Description("The integer whose maximum is kept.").
				Example("value.amount"),
			plugin.NewStringField("field").
				Description("The value's field the maximum is written to.").
				Default("max"),
		).
		Keyed("key").
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Changelog(func(_ *plugin.ParsedConfig, in []plugin.Mode) (plugin.Mode, error) {
			if in[0] == plugin.Updating {
				return 0, fmt.Errorf("running_max needs an append input: a maximum cannot take back an update")
			}
			return plugin.Append, nil
		}).
		Check(func(c *plugin.ParsedConfig) error {
			if f, _ := c.FieldString("field"); f == "" {
				return plugin.FieldErrorf("field", "must not be empty: the field to write the maximum to")
			}
			return nil
		}).
		Example("Largest payment per user so far",
			"name: largest\ntype: running_max\nfrom: payments\nkey: value.user\nvalue: value.amount\nfield: largest_amount")
}

// newRunningMax is running_max's constructor, called once per task.
func newRunningMax(c *plugin.ParsedConfig, _ *plugin.Resources) (operators.Operator, error) {
	value, err := c.FieldExpr("value")
	if err != nil {
		return nil, err
	}
	field, err := c.FieldString("field")
	if err != nil {
		return nil, err
	}
	return &runningMax{value: value, field: field}, nil
}

// runningMax is one task's instance of running_max.
type runningMax struct {
	operators.Base
	value *plugin.Expr
	field string

	max    *state.Value[int64]
	reject func(operators.Record, error)
	env    expression.Env // one per task: not safe for concurrent use
}

// Open implements operators.Operator: the state is named after the
// operator (oc.Name), so two running_max operators of a job keep theirs
// apart.
func (m *runningMax) Open(_ context.Context, oc operators.OpenContext) error {
	m.max = state.NewValue(oc.State, oc.Name, "max", state.Int64{})
	m.reject = oc.Reject
	return nil
}

// Process implements operators.Operator. Records arrive keyed by the
// spec's key expression (Record.Key).
func (m *runningMax) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for i := range recs {
		r := &recs[i]
		m.env.SetRecord(r)
		v, err := m.value.Eval(&m.env)
		if err != nil {
			m.reject(*r, err) // names the expression's key, line and column
			continue
		}
		n, ok := v.(int64)
		if !ok {
			m.reject(*r, fmt.Errorf("%s: %s is not an integer", m.value.Key(), describe(v)))
			continue
		}
		cur, found, err := m.max.Get(r.Key)
		if err != nil {
			return err // a state error fails the task: it restarts from the checkpoint
		}
		if !found || n > cur {
			cur = n
			if err := m.max.Put(r.Key, cur); err != nil {
				return err
			}
		}
		// Records are never modified: build a new value (copy on write).
		obj := map[string]any{}
		if in, ok := r.Data.(map[string]any); ok {
			obj = maps.Clone(in)
		}
		obj[m.field] = cur
		o := *r
		o.Data, o.Value = obj, nil
		out.Emit(o)
	}
	return nil
}

// describe shows v as the reason of a dead letter: null, a quoted string,
// a number as it is.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", v)
	case float64:
		return fmt.Sprintf("%g", v)
	}
	return fmt.Sprintf("%v (%T)", v, v)
}
