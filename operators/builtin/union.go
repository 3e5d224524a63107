package builtin

import (
	"context"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// Union merges its inputs into one stream, records unchanged. The planner
// never runs it (design §3.1: each input is wired straight to the union's
// consumers); it exists for the spec, and forwards whatever it is given
// should a runtime run it.
type Union struct{ operators.Base }

// ProcessInput implements operators.MultiInput.
func (Union) ProcessInput(_ context.Context, _ int, recs []operators.Record, out operators.Collector) error {
	for _, r := range recs {
		out.Emit(r)
	}
	return nil
}

var _ operators.MultiInput = Union{}

func unionSpec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Summary("Merges two or more streams into one.").
		Description("Records of every input go on unchanged, in no particular order between inputs. "+
			"A union is virtual: the planner wires each input straight to the operators reading the "+
			"union, so it costs nothing and holds no state. Its output is updating if any input is. "+
			"To join streams by key, use a join.").
		Inputs(plugin.AnyInputs).
		Check(func(c *plugin.ParsedConfig) error {
			if len(c.From()) == 1 {
				return plugin.FieldErrorf("from", "a union takes two or more inputs: read %q directly instead", c.From()[0])
			}
			return nil
		}).
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Example("Merge clicks from two sources", "name: clicks\ntype: union\nfrom: [web_clicks, app_clicks]")
}

func newUnion(*plugin.ParsedConfig, *plugin.Resources) (operators.Operator, error) {
	return Union{}, nil
}
