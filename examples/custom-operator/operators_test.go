package main

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/optest"
	"github.com/tidemark/tidemark/plugin"
)

// build parses an operator entry with this program's environment and
// returns a constructor of its operator, as the runtime makes one per
// task: the test goes through the spec (fields, defaults, checks) as a
// job does.
func build(t *testing.T, entry string) func() operators.Operator {
	t.Helper()
	env := plugin.NewEnvironment()
	if err := register(env); err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(entry), &doc); err != nil {
		t.Fatal(err)
	}
	conf, problems := env.Parse(&doc, "operators[0]")
	if len(problems) > 0 {
		t.Fatalf("%q: %v", entry, problems)
	}
	_, ctor, _ := env.Lookup(conf.Type())
	return func() operators.Operator {
		op, err := ctor(conf, &plugin.Resources{Name: conf.Name()})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
}

const runningMaxEntry = "name: latest\ntype: running_max\nfrom: clicks\nkey: value.user\nvalue: value.seq\nfield: latest_seq"

// TestRunningMax: the golden script (with a checkpoint and a restore into
// a fresh state directory in the middle), and restore equivalence: a
// checkpoint and restore between every two steps changes no output.
func TestRunningMax(t *testing.T) {
	newOp := build(t, runningMaxEntry)
	optest.Run(t, "testdata/running_max.txt", newOp, optest.Name("latest"))
	optest.RunRestoreEquivalence(t, "testdata/running_max.txt", newOp, optest.Name("latest"))
}

func TestRedact(t *testing.T) {
	optest.Run(t, "testdata/redact.txt", build(t, "name: masked\ntype: redact\nfrom: clicks\nfields: [page, user]\nkeep: 4"))
}

// TestSpecs: what the planner and the docs read of the specs, and the
// problems validate reports for them.
func TestSpecs(t *testing.T) {
	env := plugin.NewEnvironment()
	if err := register(env); err != nil {
		t.Fatal(err)
	}
	parse := func(entry string) (*plugin.ParsedConfig, []plugin.Problem) {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(entry), &doc); err != nil {
			t.Fatal(err)
		}
		return env.Parse(&doc, "operators[0]")
	}
	rm, ps := parse(runningMaxEntry)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if !rm.Keyed() || rm.Key(0).IsRecordKey() || !rm.PreservesKey() || !rm.Fingerprinted() {
		t.Errorf("running_max: keyed %v, by the record key %v, preserves key %v, fingerprinted %v; want keyed by value.user, key preserving, fingerprinted",
			rm.Keyed(), rm.Key(0).IsRecordKey(), rm.PreservesKey(), rm.Fingerprinted())
	}
	if _, err := rm.OutputMode([]plugin.Mode{plugin.Updating}); err == nil {
		t.Error("running_max accepted an updating input")
	}
	if got, want := rm.Describe(), "type=running_max key=value.user"; got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
	rd, ps := parse("name: m\ntype: redact\nfrom: x\nfields: [card]")
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if rd.Keyed() || !rd.PreservesKey() || rd.Fingerprinted() {
		t.Error("redact: want stateless, key preserving, not fingerprinted")
	}
	for entry, want := range map[string]string{
		"name: m\ntype: running_max\nfrom: x\nkey: value.user\nvalu: value.seq":    `line 5: operators[0].valu: unknown key (did you mean "value"?)`,
		"name: m\ntype: running_max\nfrom: x\nkey: value.user\nvalue: value.seq +": "line 5: operators[0].value: column 18: unexpected token EOF",
		"name: m\ntype: redact\nfrom: x\nfields: [card]\nkeep: -1":                 "line 5: operators[0].keep: must be 0 or more, got -1",
		"name: m\ntype: redact\nfrom: x\nfields: []":                               "operators[0].fields: must name at least one field",
	} {
		_, ps := parse(entry)
		found := false
		for _, p := range ps {
			found = found || strings.Contains(p.String(), want)
		}
		if !found {
			t.Errorf("%q: problems %v, want %q", entry, ps, want)
		}
	}
}
