package plan_test

import (
	"errors"
	"testing"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// testEnv registers small stand-ins for the operator types of issue 9
// (their real specs are written in parallel): only their graph
// declarations matter to the planner.
func testEnv(t *testing.T) *plugin.Environment {
	t.Helper()
	env := plugin.NewEnvironment()
	ctor := func(*plugin.ParsedConfig, *plugin.Resources) (operators.Operator, error) {
		return &operators.Base{}, nil
	}
	yes := func(*plugin.ParsedConfig) bool { return true }
	window := plugin.NewObjectField("window",
		plugin.NewStringEnumField("type", "tumbling", "hopping", "session", "attached"),
		plugin.NewDurationField("size").Optional(),
		plugin.NewDurationField("slide").Optional(),
		plugin.NewDurationField("gap").Optional()).Optional().Fingerprint()
	appendOnly := func(what string) func(*plugin.ParsedConfig, []plugin.Mode) (plugin.Mode, error) {
		return func(_ *plugin.ParsedConfig, in []plugin.Mode) (plugin.Mode, error) {
			for _, m := range in {
				if m == plugin.Updating {
					return 0, errors.New(what + " needs an append input")
				}
			}
			return plugin.Append, nil
		}
	}
	specs := []struct {
		name string
		spec *plugin.ConfigSpec
	}{
		{"filter", plugin.NewConfigSpec().Field(plugin.NewExprField("where", expression.RecordContext)).PreservesKey(yes)},
		{"map", plugin.NewConfigSpec().
			Field(plugin.NewExprField("value", expression.RecordContext).Optional()).
			Field(plugin.NewExprMapField("fields", expression.RecordContext).Optional()).
			Field(plugin.NewExprField("key", expression.RecordContext).Optional()).
			PreservesKey(func(c *plugin.ParsedConfig) bool { return !c.Contains("key") })},
		{"key_by", plugin.NewConfigSpec().Field(plugin.NewExprField("key", expression.RecordContext).Fingerprint())},
		{"union", plugin.NewConfigSpec().Inputs(plugin.AnyInputs).PreservesKey(yes)},
		{"aggregate", plugin.NewConfigSpec().
			Field(plugin.NewExprMapField("group_by", expression.RecordContext).Fingerprint()).
			Field(window).
			Field(plugin.NewObjectMapField("aggregates",
				plugin.NewStringEnumField("fn", "count", "max", "sum", "avg").Fingerprint(),
				plugin.NewExprField("expr", expression.RecordContext).Optional().Fingerprint())).
			Keyed("group_by").PreservesKey(yes).Outputs("late").
			Changelog(func(c *plugin.ParsedConfig, in []plugin.Mode) (plugin.Mode, error) {
				if c.Contains("window") {
					return appendOnly("a windowed aggregate")(c, in)
				}
				return plugin.Updating, nil
			})},
		{"join", plugin.NewConfigSpec().
			Field(plugin.NewStringEnumField("join", "regular", "interval", "window").Default("regular").Fingerprint()).
			Field(window).
			Field(plugin.NewObjectField("key",
				plugin.NewExprListField("left", expression.RecordContext),
				plugin.NewExprListField("right", expression.RecordContext)).Fingerprint()).
			Field(plugin.NewExprField("where", expression.JoinContext).Optional()).
			Field(plugin.NewExprMapField("select", expression.JoinContext).Optional()).
			Inputs(2).Keyed("key.left", "key.right").PreservesKey(yes)},
		{"top_n", plugin.NewConfigSpec().
			Field(plugin.NewExprMapField("partition_by", expression.RecordContext).Fingerprint()).
			Field(plugin.NewIntField("n").Fingerprint()).
			Field(plugin.NewStringField("rank_field").Optional().Fingerprint()).
			Keyed("partition_by").
			PreservesKey(func(c *plugin.ParsedConfig) bool { return !c.Contains("rank_field") }).
			Changelog(func(*plugin.ParsedConfig, []plugin.Mode) (plugin.Mode, error) { return plugin.Updating, nil })},
		{"dedup", plugin.NewConfigSpec().
			Field(plugin.NewExprListField("key", expression.RecordContext).Fingerprint()).
			Field(plugin.NewStringEnumField("keep", "first", "last").Default("first").Fingerprint()).
			Keyed("key").PreservesKey(yes)},
		{"count", plugin.NewConfigSpec().Keyed().PreservesKey(yes).
			Changelog(func(c *plugin.ParsedConfig, in []plugin.Mode) (plugin.Mode, error) { return appendOnly("count")(c, in) })},
	}
	for _, s := range specs {
		if err := env.RegisterOperator(s.name, s.spec, ctor); err != nil {
			t.Fatalf("register %s: %v", s.name, err)
		}
	}
	return env
}
