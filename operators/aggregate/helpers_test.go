package aggregate_test

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/aggregate"
	"github.com/tidemark/tidemark/plugin"
)

// parse parses an aggregate's configuration, failing the test on a
// problem.
func parse(t testing.TB, conf string) *plugin.ParsedConfig {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(conf), &doc); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	c, problems := aggregate.Spec().Parse(&doc, "operators[0]")
	if len(problems) > 0 {
		t.Fatalf("config problems: %v", problems)
	}
	return c
}

// ctor returns a constructor of aggregates configured by conf.
func ctor(t testing.TB, conf string) func() operators.Operator {
	t.Helper()
	c := parse(t, conf)
	return func() operators.Operator {
		op, err := aggregate.New(c, &plugin.Resources{Name: "agg"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return op
	}
}
