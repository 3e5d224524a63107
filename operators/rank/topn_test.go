package rank_test

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/optest"
	"github.com/tidemark/tidemark/operators/rank"
	"github.com/tidemark/tidemark/plugin"
)

func env(t testing.TB) *plugin.Environment {
	t.Helper()
	e := plugin.NewEnvironment()
	if err := rank.Register(e); err != nil {
		t.Fatal(err)
	}
	return e
}

func parse(t testing.TB, src string) *plugin.ParsedConfig {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	conf, ps := env(t).Parse(&doc, "operators[0] (top)")
	if len(ps) > 0 {
		t.Fatalf("%s: %v", src, ps)
	}
	return conf
}

// golden runs testdata/<name>.txt against the top_n src configures, and
// checks it for restore equivalence.
func golden(t *testing.T, name, src string) {
	t.Helper()
	conf := parse(t, src)
	newOp := func() operators.Operator {
		op, err := rank.New(conf, &plugin.Resources{Name: "top"})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	opts := []optest.Option{optest.Name("top"), optest.Outputs("late")}
	optest.Run(t, "testdata/"+name+".txt", newOp, opts...)
	optest.RunRestoreEquivalence(t, "testdata/"+name+".txt", newOp, opts...)
}

func TestTopNContinuous(t *testing.T) {
	golden(t, "continuous", `type: top_n
partition_by: {auction: value.auction}
order_by: [{expr: value.price, desc: true}]
n: 3
rank_field: rank_number
`)
}

func TestTopNContinuousWithoutRank(t *testing.T) {
	golden(t, "continuous-norank", `type: top_n
partition_by: {auction: value.auction}
order_by: [{expr: value.price}, {expr: value.bidder, desc: true}]
n: 2
`)
}

func TestTopNTumbling(t *testing.T) {
	golden(t, "tumbling", `type: top_n
partition_by: {page: value.page}
order_by: [{expr: value.views, desc: true}]
n: 2
rank_field: rank
window: {type: tumbling, size: 10s}
`)
}

func TestTopNHopping(t *testing.T) {
	golden(t, "hopping", `type: top_n
order_by: [{expr: value.v, desc: true}]
n: 1
window: {type: hopping, size: 10s, slide: 5s}
`)
}

func TestTopNAttached(t *testing.T) {
	golden(t, "attached", `type: top_n
partition_by: {}
order_by: [{expr: value.num, desc: true}, {expr: value.auction}]
n: 2
rank_field: rank
window: {type: attached}
`)
}
