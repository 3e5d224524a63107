package plugin_test

import (
	"testing"

	"github.com/tidemark/tidemark/plugin"
)

// TestStringMapField: names to strings in the order written, problems
// for values that are no string and for duplicate names, Describe in
// braces, Default as a map[string]string.
func TestStringMapField(t *testing.T) {
	spec := plugin.NewConfigSpec().
		Field(plugin.NewStringMapField("rename").Optional().Fingerprint()).
		Field(plugin.NewStringMapField("labels").Default(map[string]string{"a": "b"}))
	conf := parse(t, spec, "type: x\nrename: {zeta: z, alpha: a}\n")
	got, err := conf.FieldStringMap("rename")
	if err != nil || len(got) != 2 || got[0] != (plugin.NamedString{Name: "zeta", Value: "z"}) || got[1].Name != "alpha" {
		t.Errorf("rename = %v, %v", got, err)
	}
	if d, err := conf.FieldStringMap("labels"); err != nil || len(d) != 1 || d[0].Value != "b" {
		t.Errorf("labels default = %v, %v", d, err)
	}
	if want := `type=x rename={"zeta":"z","alpha":"a"}`; conf.Describe() != want {
		t.Errorf("Describe = %s, want %s", conf.Describe(), want)
	}
	sameLines(t, problems(t, spec, "type: x\nrename:\n  a: [1]\n  b: c\n"), []string{
		"line 3: op.rename.a: must be a single value (quote it if it holds special characters), got a list",
	})
	sameLines(t, problems(t, spec, "type: x\nrename:\n  b: c\n  b: d\n"), []string{
		"line 4: op.rename.b: duplicate key: also set at line 3; YAML keeps only one of them, so remove or merge the other",
	})
	sameLines(t, problems(t, spec, "type: x\nrename: [a]\n"), []string{"line 2: op.rename: must be a section of keys (a mapping), got a list"})
	if _, err := conf.FieldString("rename"); err == nil {
		t.Error("FieldString read a string map")
	}
}
