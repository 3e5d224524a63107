package plugin_test

import (
	"strings"
	"testing"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

func passthrough(*plugin.ParsedConfig, *plugin.Resources) (operators.Operator, error) {
	return operators.Base{}, nil
}

func TestRegisterOperator(t *testing.T) {
	env := plugin.NewEnvironment()
	spec := plugin.NewConfigSpec().Field(plugin.NewStringField("field")).Example("one", "type: a_op\nfield: x")
	if err := env.RegisterOperator("a_op", spec, passthrough); err != nil {
		t.Fatal(err)
	}
	err := env.RegisterOperator("a_op", plugin.NewConfigSpec(), passthrough)
	if err == nil || !strings.Contains(err.Error(), `"a_op" is already registered`) {
		t.Errorf("duplicate: %v", err)
	}
	if err := env.RegisterOperator("b_op", plugin.NewConfigSpec(), passthrough); err != nil {
		t.Fatal(err)
	}
	got, ctor, ok := env.Lookup("a_op")
	if !ok || got != spec || ctor == nil {
		t.Errorf("Lookup(a_op) = %v %v %v", got, ctor != nil, ok)
	}
	if _, _, ok := env.Lookup("nope"); ok {
		t.Error("Lookup(nope) found")
	}
	var names []string
	env.WalkOperators(func(name string, _ *plugin.ConfigSpec) { names = append(names, name) })
	if strings.Join(names, ",") != "a_op,b_op" {
		t.Errorf("WalkOperators: %v", names)
	}
	// A clone is independent.
	c := env.Clone()
	if err := c.RegisterOperator("c_op", plugin.NewConfigSpec(), passthrough); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := env.Lookup("c_op"); ok {
		t.Error("registering in a clone changed the original")
	}
	if _, _, ok := c.Lookup("a_op"); !ok {
		t.Error("clone lacks a_op")
	}
}

// TestRegisterRefusesBadSpecs: a spec's own mistakes are found when it is
// registered, with what to fix.
func TestRegisterRefusesBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec *plugin.ConfigSpec
		want string
	}{
		{"Bad", plugin.NewConfigSpec(), "not a lowercase name"},
		{"x", nil, "nil spec"},
		{"x", plugin.NewConfigSpec().Field(plugin.NewStringField("from")), `field "from": name, type, from are common`},
		{"x", plugin.NewConfigSpec().Field(plugin.NewStringField("a")).Field(plugin.NewIntField("a")), `field "a" given twice`},
		{"x", plugin.NewConfigSpec().Field(plugin.NewStringField("Big")), `field "Big": not a lowercase name`},
		{"x", plugin.NewConfigSpec().Field(plugin.NewIntField("n").Default("ten")), `field "n": default ten: must be a whole number`},
		{"x", plugin.NewConfigSpec().Field(plugin.NewDurationField("d").Default(5)), `field "d": default 5: must be a duration`},
		{"x", plugin.NewConfigSpec().Field(plugin.NewStringEnumField("e", "a", "b").Default("c")), `default c: must be one of "a", "b"`},
		{"x", plugin.NewConfigSpec().Field(plugin.NewExprField("w", expression.RecordContext).Default("vaule.x")), `default vaule.x: expression line 1, column 1: unknown name vaule`},
		{"x", plugin.NewConfigSpec().Field(plugin.NewStringEnumField("e")), "an enum without options"},
		{"x", plugin.NewConfigSpec().Field(plugin.NewObjectField("o")), "an object without fields"},
		{"x", plugin.NewConfigSpec().Field(plugin.NewObjectField("o", plugin.NewStringField("A"))), `field "o.A": not a lowercase name`},
		{"x", plugin.NewConfigSpec().Keyed("key"), `Keyed("key"): no such field`},
		{"x", plugin.NewConfigSpec().Field(plugin.NewStringField("key")).Keyed("key"), `Keyed("key"): the field is a string, not an expression`},
		{"x", plugin.NewConfigSpec().Inputs(2), "Inputs(2) needs Keyed"},
		{"x", plugin.NewConfigSpec().Inputs(0), "Inputs(0): want 1, 2, … or AnyInputs"},
		{"x", plugin.NewConfigSpec().Inputs(2).Field(plugin.NewExprField("a", expression.RecordContext)).Keyed("a", "a", "a"), "3 key fields for 2 inputs"},
		{"x", plugin.NewConfigSpec().Outputs("late", "late"), `Outputs: "late" is not a lowercase name ([a-z][a-z0-9_]*) or is given twice`},
		{"x", plugin.NewConfigSpec().Field(plugin.NewStringField("field")).Example("bad", "type: x\nfeild: a"), `example 1 (bad): line 1: field: is required; line 2: feild: unknown key (did you mean "field"?)`},
		{"x", plugin.NewConfigSpec().Example("other type", "type: y"), `example 1 (other type): type "y", want "x"`},
		{"x", plugin.NewConfigSpec().Example("not yaml", "a: [b"), "example 1 (not yaml): yaml:"},
	} {
		err := plugin.NewEnvironment().RegisterOperator(tc.name, tc.spec, passthrough)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.want, err, tc.want)
		}
	}
}

func TestEnvironmentParse(t *testing.T) {
	env := plugin.NewEnvironment()
	if err := env.RegisterOperator("key_by", plugin.NewConfigSpec().Field(plugin.NewStringField("field")), passthrough); err != nil {
		t.Fatal(err)
	}
	if err := env.RegisterOperator("count", plugin.NewConfigSpec().Keyed(), passthrough); err != nil {
		t.Fatal(err)
	}
	conf, ps := env.Parse(node(t, "type: key_by\nfield: user"), "pipeline.operators[0]")
	if len(ps) > 0 || conf.Describe() != "type=key_by" {
		t.Errorf("Parse: %v %v", ps, conf)
	}
	for src, want := range map[string]string{
		"type: kye_by\nfield: user": `line 1: ops[1].type: unknown operator type "kye_by": want one of "count", "key_by" (did you mean "key_by"?)`,
		"field: user":               `line 1: ops[1].type: is required: one of "count", "key_by"`,
		"type: [count]":             `line 1: ops[1].type: must be an operator type (one of "count", "key_by"), got a list`,
		"- type: count":             `line 1: ops[1]: an operator must be a mapping of its keys (name, type, from and its own)`,
		"type: key_by\nfeild: user": `line 2: ops[1].feild: unknown key (did you mean "field"?)`,
	} {
		_, ps := env.Parse(node(t, src), "ops[1]")
		if len(ps) == 0 || ps[len(ps)-1].String() != want {
			t.Errorf("%q: problems %v, want last %q", src, ps, want)
		}
	}
}

func TestDefaultEnvironment(t *testing.T) {
	if a, b := plugin.Default(), plugin.Default(); a != b {
		t.Fatal("Default is not one environment")
	}
	name := "plugin_test_op"
	if err := plugin.RegisterOperator(name, plugin.NewConfigSpec(), passthrough); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := plugin.Default().Lookup(name); !ok {
		t.Error("RegisterOperator did not register in Default")
	}
	if err := plugin.RegisterOperator(name, plugin.NewConfigSpec(), passthrough); err == nil {
		t.Error("second registration in Default accepted")
	}
}
