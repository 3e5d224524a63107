package dedup_test

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/dedup"
	"github.com/tidemark/tidemark/operators/optest"
	"github.com/tidemark/tidemark/plugin"
)

func parse(t testing.TB, src string) *plugin.ParsedConfig {
	t.Helper()
	env := plugin.NewEnvironment()
	if err := dedup.Register(env); err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	conf, ps := env.Parse(&doc, "operators[0] (dd)")
	if len(ps) > 0 {
		t.Fatalf("%s: %v", src, ps)
	}
	return conf
}

func constructor(t testing.TB, src string) func() operators.Operator {
	conf := parse(t, src)
	return func() operators.Operator {
		op, err := dedup.New(conf, &plugin.Resources{Name: "dd"})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
}

// golden runs testdata/<name>.txt against the dedup src configures, and
// checks it for restore equivalence.
func golden(t *testing.T, name, src string) {
	t.Helper()
	newOp := constructor(t, src)
	optest.Run(t, "testdata/"+name+".txt", newOp, optest.Name("dd"))
	optest.RunRestoreEquivalence(t, "testdata/"+name+".txt", newOp, optest.Name("dd"))
}

func TestFirstByArrival(t *testing.T) {
	golden(t, "first-arrival", "type: dedup\nkey: value.id\nttl: 1m")
}

func TestLastByArrival(t *testing.T) {
	golden(t, "last-arrival", "type: dedup\nkey: value.id\nkeep: last")
}

func TestFirstByEventTime(t *testing.T) {
	golden(t, "first-event-time", "type: dedup\nkey: value.id\norder: event_time")
}

func TestLastByEventTime(t *testing.T) {
	golden(t, "last-event-time", "type: dedup\nkey: [value.bidder, value.auction]\nkeep: last\norder: event_time\nttl: 10m")
}

// TestSpecDeclarations: what the planner reads of dedup.
func TestSpecDeclarations(t *testing.T) {
	for src, want := range map[string]plugin.Mode{
		"type: dedup\nkey: value.id":                                plugin.Append,
		"type: dedup\nkey: value.id\nkeep: last":                    plugin.Updating,
		"type: dedup\nkey: value.id\norder: event_time":             plugin.Updating,
		"type: dedup\nkey: value.id\nkeep: last\norder: event_time": plugin.Updating,
	} {
		c := parse(t, src)
		if m, err := c.OutputMode([]plugin.Mode{plugin.Append}); err != nil || m != want {
			t.Errorf("%q: output %v, %v; want %v", src, m, err, want)
		}
		if _, err := c.OutputMode([]plugin.Mode{plugin.Updating}); err == nil {
			t.Errorf("%q accepted an updating input", src)
		}
		if !c.Keyed() || !c.PreservesKey() || !c.Fingerprinted() {
			t.Errorf("%q: keyed %v, preserves key %v, fingerprinted %v", src, c.Keyed(), c.PreservesKey(), c.Fingerprinted())
		}
	}
	c := parse(t, "type: dedup\nkey: [value.bidder, value.auction]\nkeep: last\norder: event_time\nttl: 1h")
	if got, want := c.Describe(), `type=dedup key=["value.bidder","value.auction"] keep=last order=event_time`; got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
	if c.Key(0).String() != "[value.bidder, value.auction]" {
		t.Errorf("key %s", c.Key(0))
	}
}
