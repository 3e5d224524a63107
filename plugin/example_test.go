package plugin_test

import (
	"context"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// upper is a stateless operator: it upper-cases one field of every
// record's value.
type upper struct {
	operators.Base
	field string
}

func (u *upper) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for _, r := range recs {
		if v, ok := r.Data.(map[string]any); ok {
			if s, ok := v[u.field].(string); ok {
				c := make(map[string]any, len(v)) // copy on write
				for k, x := range v {
					c[k] = x
				}
				c[u.field] = strings.ToUpper(s)
				r.Data = c
			}
		}
		out.Emit(r)
	}
	return nil
}

func Example() {
	spec := plugin.NewConfigSpec().
		Summary("Upper-cases a field of the value.").
		Field(plugin.NewStringField("field").Description("The field to upper-case.")).
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Example("Shout the city", "type: upper\nfrom: people\nfield: city")
	env := plugin.NewEnvironment()
	err := env.RegisterOperator("upper", spec, func(c *plugin.ParsedConfig, _ *plugin.Resources) (operators.Operator, error) {
		f, err := c.FieldString("field")
		return &upper{field: f}, err
	})
	if err != nil {
		panic(err)
	}

	// What the job's loader does with an entry of operators:
	var doc yaml.Node
	_ = yaml.Unmarshal([]byte("name: loud\ntype: upper\nfrom: people\nfeild: city\n"), &doc)
	if _, problems := env.Parse(&doc, "operators[0] (loud)"); problems != nil {
		for _, p := range problems {
			fmt.Println(p)
		}
	}
	_ = yaml.Unmarshal([]byte("name: loud\ntype: upper\nfrom: people\nfield: city\n"), &doc)
	conf, _ := env.Parse(&doc, "operators[0] (loud)")
	_, newOp, _ := env.Lookup(conf.Type())
	op, _ := newOp(conf, &plugin.Resources{Name: conf.Name()})

	var out collector
	_ = op.Process(context.Background(), []operators.Record{{Data: map[string]any{"city": "Oslo"}}}, &out)
	fmt.Println(out[0].Data, conf.PreservesKey(), conf.Fingerprinted())
	// Output:
	// line 1: operators[0] (loud).field: is required
	// line 4: operators[0] (loud).feild: unknown key (did you mean "field"?)
	// map[city:OSLO] true false
}

type collector []operators.Record

func (c *collector) Emit(r operators.Record) { *c = append(*c, r) }
