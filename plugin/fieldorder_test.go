package plugin_test

import (
	"slices"
	"testing"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/plugin"
)

func TestOutputFields(t *testing.T) {
	spec := plugin.NewConfigSpec().
		Field(plugin.NewExprMapField("fields", expression.RecordContext)).
		OutputFields(func(c *plugin.ParsedConfig) []string {
			fs, _ := c.FieldExprMap("fields")
			var names []string
			for _, f := range fs {
				names = append(names, f.Name)
			}
			return names
		})
	conf := parse(t, spec, "type: x\nfields: {zeta: value.z, alpha: value.a}")
	if got := conf.OutputFields(); !slices.Equal(got, []string{"zeta", "alpha"}) {
		t.Errorf("OutputFields = %v", got)
	}
	plain := parse(t, plugin.NewConfigSpec(), "type: y")
	if got := plain.OutputFields(); got != nil {
		t.Errorf("undeclared OutputFields = %v", got)
	}
}
