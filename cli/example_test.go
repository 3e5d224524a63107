package cli_test

import (
	"context"
	"os"

	"github.com/tidemark/tidemark/cli"
	"github.com/tidemark/tidemark/operators"
	_ "github.com/tidemark/tidemark/operators/builtin" // the built-ins
	"github.com/tidemark/tidemark/plugin"
)

// mask replaces one field of each record's value by "****".
type mask struct {
	operators.Base
	field string
}

func (m *mask) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for _, r := range recs {
		if v, ok := r.Data.(map[string]any); ok {
			if _, ok := v[m.field]; ok {
				c := make(map[string]any, len(v)) // copy on write
				for k, x := range v {
					c[k] = x
				}
				c[m.field] = "****"
				r.Data = c
			}
		}
		out.Emit(r)
	}
	return nil
}

// A program with an operator of its own: Run (Main in a real main, with
// os.Args) validates a configuration that uses it by name.
func Example() {
	spec := plugin.NewConfigSpec().Summary("Masks a field.").
		Field(plugin.NewStringField("field").Description("Field to mask.")).
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Example("Mask the card", "type: mask\nfrom: payments\nfield: card")
	env := plugin.Default().Clone() // the built-ins, and ours (plugin.Default() itself in a real main)
	if err := env.RegisterOperator("mask", spec, func(c *plugin.ParsedConfig, _ *plugin.Resources) (operators.Operator, error) {
		f, err := c.FieldString("field")
		return &mask{field: f}, err
	}); err != nil {
		panic(err)
	}
	cli.Run(context.Background(), env, []string{"validate", "--config", "testdata/mask.yaml"}, os.Stdout, os.Stderr)
	// Output:
	// testdata/mask.yaml: valid (job "masked-payments", exactly_once, 1 sources, 1 operators, 1 sinks, dead letters to payments-masked-dead-letters)
	// stage source:payments (source, 2 tasks, sink)
	//   source payments topics=payments
	//   masked mask append ← payments chain
	//   out sink topic=payments-masked append ← masked chain
}
