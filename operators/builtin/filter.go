package builtin

import (
	"context"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// Filter keeps the records for which its condition is true, unchanged
// (kind included). A condition that fails or gives no bool sends the
// record to the dead-letter output, with the expression's position in the
// reason.
type Filter struct {
	operators.Base
	where  *plugin.Expr
	env    expression.Env
	reject func(operators.Record, error)
}

// NewFilter returns a filter on the condition where (compiled for
// expression.RecordContext).
func NewFilter(where *plugin.Expr) *Filter { return &Filter{where: where} }

// Open implements operators.Operator.
func (f *Filter) Open(_ context.Context, oc operators.OpenContext) error {
	f.reject = rejecter(oc)
	return nil
}

// Process implements operators.Operator.
func (f *Filter) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for i := range recs {
		r := &recs[i]
		f.env.SetRecord(r)
		keep, err := f.where.EvalBool(&f.env)
		if err != nil {
			f.reject(*r, err)
			continue
		}
		if keep {
			out.Emit(*r)
		}
	}
	return nil
}

// rejecter returns oc.Reject, or, for an operator opened without one, a
// function that drops the record.
func rejecter(oc operators.OpenContext) func(operators.Record, error) {
	if oc.Reject != nil {
		return oc.Reject
	}
	return func(operators.Record, error) {}
}

func filterSpec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Summary("Keeps the records for which a condition is true.").
		Description("Evaluates `where` over each record (its `value`, `key`, `headers`, `timestamp`, "+
			"`window`, …) and forwards the record unchanged when it is `true`, drops it when `false`. "+
			"A condition that fails (`value.price > 1` on a record without `price` compares null) or "+
			"gives anything but a bool sends the record to the dead-letter topic, its `tidemark.error` "+
			"naming the operator and the expression's line and column. Stateless: changing the condition "+
			"keeps checkpoints restorable.").
		Field(plugin.NewExprField("where", expression.RecordContext, expression.Bool()).
			Description("The condition, a bool expression.").
			Example(`value.event_type == 2`)).
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Example("Keep the bids of a Nexmark stream", "name: bids\ntype: filter\nfrom: events\nwhere: 'value.event_type == 2'").
		Example("Keep large orders from the web", "type: filter\nfrom: orders\nwhere: 'value.total >= 100 && headers[\"src\"] == \"web\"'")
}

func newFilter(c *plugin.ParsedConfig, _ *plugin.Resources) (operators.Operator, error) {
	where, err := c.FieldExpr("where")
	if err != nil {
		return nil, err
	}
	return NewFilter(where), nil
}
