package runner

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/plan"
	"github.com/tidemark/tidemark/plugin"
)

// TestLazySource: a source hands lazy values (format/json.Raw) only to
// jobs whose records reach filters, maps and sinks while they may hold
// one: the stateless Nexmark queries, not the others (joins, aggregates,
// key exchanges), nor a flat_map, nor a raw-format source.
func TestLazySource(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	plans := func(t *testing.T, name string, data []byte) *plan.Job {
		t.Helper()
		cfg, err := config.Parse(name, data, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		p, err := plan.Build(&cfg, plugin.Default())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	lazy := map[string]bool{"q0": true, "q1": true, "q2": true}
	files, _ := filepath.Glob("../../configs/nexmark/q*.yaml")
	if len(files) < 12 {
		t.Fatalf("found %d Nexmark configurations", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		q := filepath.Base(f)
		q = q[:len(q)-len(".yaml")]
		p := plans(t, q, data)
		for _, s := range p.Sources {
			if got := lazySource(s); got != lazy[q] {
				t.Errorf("%s: lazySource(%s) = %v, want %v", q, s.Name, got, lazy[q])
			}
		}
	}
	const header = "job: {name: t, parallelism: 2}\nkafka: {brokers: [\"localhost:9092\"]}\ncheckpoint: {storage: \"file:///tmp/c\", interval: 1s}\n"
	for body, want := range map[string]bool{
		"sources: [{name: in, topics: [a], format: json}]\noperators: [{name: f, type: filter, from: in, where: 'value.x > 1'}]\nsinks: [{name: o, from: f, topic: b}]":                                                    true,
		"sources: [{name: in, topics: [a], format: json}]\nsinks: [{name: o, from: in, topic: b}]":                                                                                                                         true,
		"sources: [{name: in, topics: [a], format: raw}]\noperators: [{name: f, type: filter, from: in, where: 'value != \"\"'}]\nsinks: [{name: o, from: f, topic: b}]":                                                   false,
		"sources: [{name: in, topics: [a], format: json}]\noperators: [{name: m, type: map, from: in, value: value.x}, {name: e, type: flat_map, from: m, explode: value.l}]\nsinks: [{name: o, from: e, topic: b}]":       false,
		"sources: [{name: in, topics: [a], format: json}]\noperators: [{name: m, type: map, from: in, fields: {l: value.l}}, {name: e, type: flat_map, from: m, explode: value.l}]\nsinks: [{name: o, from: e, topic: b}]": true,
		"sources: [{name: in, topics: [a], format: json}]\noperators: [{name: k, type: key_by, from: in, key: value.x}]\nsinks: [{name: o, from: k, topic: b}]":                                                            false,
	} {
		p := plans(t, "job.yaml", []byte(header+body))
		if got := lazySource(p.Sources[0]); got != want {
			t.Errorf("lazySource = %v, want %v, for\n%s", got, want, body)
		}
	}
}
