package builtin_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/runner"
	"github.com/tidemark/tidemark/operators"
	_ "github.com/tidemark/tidemark/operators/builtin" // registers the built-ins
	"github.com/tidemark/tidemark/plugin"
)

var update = flag.Bool("update", false, "rewrite the README's generated operator reference")

// TestDescribeMatchesRunner: for the legacy pipeline, the built-in specs'
// Describe() gives exactly the topology description the runner gives
// today ("type=key_by field=user", "type=count"), so that building the
// chain from the registry later keeps existing checkpoints restorable.
func TestDescribeMatchesRunner(t *testing.T) {
	files := []string{"../../configs/quickstart.yaml", "../../configs/production.yaml"}
	inline := `job: {name: describe}
kafka: {brokers: ["127.0.0.1:9092"]}
source: {topics: [in]}
pipeline:
  operators:
    - {type: passthrough}
    - {type: key_by, field: "user name"}
    - {type: key_by, name: by-id, field: "42"}
    - {name: counter, type: count}
    - {type: passthrough, name: last}
sink: {topic: out}
checkpoint: {storage: "file:///tmp/describe"}
`
	sources := map[string][]byte{"inline": []byte(inline)}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources[f] = b
	}
	compared := 0
	for name, src := range sources {
		t.Run(filepath.Base(name), func(t *testing.T) {
			cfg, err := config.Parse(name, src, func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			spec, err := runner.Spec(&cfg, nil, nil, nil, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]string{}
			for _, op := range append(append([]operators.OperatorSpec{}, spec.SourceChain...), spec.Chain...) {
				byName[op.Name] = op.Describe
			}
			var doc yaml.Node
			if err := yaml.Unmarshal(src, &doc); err != nil {
				t.Fatal(err)
			}
			ops := lookup(t, doc.Content[0], "pipeline", "operators")
			if len(ops.Content) != len(cfg.Pipeline.Operators) {
				t.Fatalf("%d operator nodes for %d operators", len(ops.Content), len(cfg.Pipeline.Operators))
			}
			for i, n := range ops.Content {
				path := fmt.Sprintf("pipeline.operators[%d]", i)
				conf, ps := plugin.Default().Parse(n, path)
				if len(ps) > 0 {
					t.Fatalf("%s: %v", path, ps)
				}
				op := cfg.Pipeline.Operators[i]
				opName := op.Name
				if opName == "" {
					opName = fmt.Sprintf("%s-%d", op.Type, i)
				}
				want, ok := byName[opName]
				if !ok {
					t.Fatalf("%s: the runner has no operator %q", path, opName)
				}
				if got := conf.Describe(); got != want {
					t.Errorf("%s: Describe() = %q, the runner describes it as %q", path, got, want)
				}
				compared++
			}
		})
	}
	if compared < 7 {
		t.Errorf("compared %d operators, want at least 7", compared)
	}
}

func lookup(t *testing.T, n *yaml.Node, keys ...string) *yaml.Node {
	t.Helper()
	for _, k := range keys {
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			t.Fatalf("no key %q", k)
		}
		n = next
	}
	return n
}

// TestBuiltinGraphDeclarations: what the planner will read of the
// built-ins.
func TestBuiltinGraphDeclarations(t *testing.T) {
	env := plugin.Default()
	parse := func(src string) *plugin.ParsedConfig {
		t.Helper()
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatal(err)
		}
		conf, ps := env.Parse(&doc, "op")
		if len(ps) > 0 {
			t.Fatal(ps)
		}
		return conf
	}
	keyBy := parse("type: key_by\nfield: user")
	if keyBy.Keyed() || keyBy.PreservesKey() || !keyBy.Fingerprinted() {
		t.Errorf("key_by: keyed %v, preserves key %v, fingerprinted %v", keyBy.Keyed(), keyBy.PreservesKey(), keyBy.Fingerprinted())
	}
	count := parse("type: count")
	if !count.Keyed() || !count.Key(0).IsRecordKey() || !count.PreservesKey() || !count.Fingerprinted() {
		t.Error("count: want keyed by the record key, key preserving, fingerprinted")
	}
	if _, err := count.OutputMode([]plugin.Mode{plugin.Updating}); err == nil {
		t.Error("count accepted an updating input")
	}
	if m, err := count.OutputMode([]plugin.Mode{plugin.Append}); err != nil || m != plugin.Append {
		t.Errorf("count over append: %v %v", m, err)
	}
	pass := parse("type: passthrough")
	if pass.Keyed() || !pass.PreservesKey() || pass.Fingerprinted() {
		t.Error("passthrough: want stateless, key preserving, not fingerprinted")
	}
	// key_by refuses an empty field, as the configuration does today.
	var doc yaml.Node
	_ = yaml.Unmarshal([]byte("type: key_by\nfield: ''"), &doc)
	if _, ps := env.Parse(&doc, "op"); len(ps) != 1 || ps[0].String() != "line 2: op.field: must not be empty: the JSON field to key records by" {
		t.Errorf("empty field: %v", ps)
	}
	// The constructors build today's operators.
	for src, want := range map[string]string{
		"type: key_by\nfield: user": "*builtin.KeyBy",
		"type: count":               "*builtin.Count",
		"type: passthrough":         "*builtin.Passthrough",
	} {
		conf := parse(src)
		_, ctor, _ := env.Lookup(conf.Type())
		op, err := ctor(conf, &plugin.Resources{Name: "x"})
		if err != nil || fmt.Sprintf("%T", op) != want {
			t.Errorf("%q built %T, %v; want %s", src, op, err, want)
		}
	}
}

// TestExamplesParse: every registered operator's examples parse with the
// validator (the environment's Parse) without a problem.
func TestExamplesParse(t *testing.T) {
	n := 0
	plugin.Default().WalkOperators(func(name string, spec *plugin.ConfigSpec) {
		if len(spec.Examples()) == 0 {
			t.Errorf("%s: no example", name)
		}
		for _, ex := range spec.Examples() {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(ex.Config), &doc); err != nil {
				t.Errorf("%s: example %q: %v", name, ex.Title, err)
				continue
			}
			conf, ps := plugin.Default().Parse(&doc, name)
			if len(ps) > 0 {
				t.Errorf("%s: example %q: %v", name, ex.Title, ps)
				continue
			}
			if conf.Type() != name {
				t.Errorf("%s: example %q has type %q", name, ex.Title, conf.Type())
			}
			n++
		}
	})
	if n < 3 {
		t.Errorf("parsed %d examples, want at least one per built-in", n)
	}
}

// TestReadmeOperatorReference: the README's operator reference is what
// the specs generate. After changing a spec, regenerate it with
//
//	go test ./operators/builtin -run TestReadmeOperatorReference -update
func TestReadmeOperatorReference(t *testing.T) {
	const readme = "../../README.md"
	doc, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	want, err := plugin.Default().UpdateOperatorDocs(doc)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(readme, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(doc, want) {
		t.Errorf("README.md's operator reference is not what the specs generate: run\n" +
			"  go test ./operators/builtin -run TestReadmeOperatorReference -update\n" +
			"and commit the README")
	}
}
