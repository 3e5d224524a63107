package config_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/config"
	_ "github.com/tidemark/tidemark/operators/builtin" // key_by, count, passthrough in plugin.Default()
	"github.com/tidemark/tidemark/plugin"
)

const graphHead = `job: {name: demo}
kafka: {brokers: [localhost:9092]}
checkpoint: {storage: file:///tmp/chk}
`

const graph = graphHead + `sources:
  - name: clicks
    topics: [clicks]
    key: value.user
operators:
  - {name: per-user, type: count, from: clicks}
sinks:
  - name: out
    from: per-user
    topic: counts
    headers: {src: topic}
output: {delivery: at_least_once}
`

func TestGraphFormDefaults(t *testing.T) {
	cfg, err := parse(t, graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.IsGraph() || len(cfg.Sources) != 1 || len(cfg.Operators) != 1 || len(cfg.Sinks) != 1 {
		t.Fatalf("graph form: %+v", cfg)
	}
	s := cfg.Sources[0]
	if s.Format != config.FormatJSON || s.StartOffset != config.StartEarliest || s.DiscoveryInterval != 30*time.Second ||
		s.EventTime.Format != config.TimeAuto || s.ConsumerGroup("demo") != "tidemark-demo" {
		t.Errorf("source defaults: %+v", s)
	}
	k := cfg.Sinks[0]
	if k.Key != "key" || k.Value != "value" || k.Timestamp != "timestamp" || k.Format != config.FormatJSON || k.Mode != config.ModeAppend {
		t.Errorf("sink defaults: %+v", k)
	}
	// output.* is the effective setting, mirrored into sink.* for code
	// that reads those.
	if cfg.Output.Delivery != config.AtLeastOnce || cfg.Sink.Delivery != config.AtLeastOnce || cfg.Output.TransactionTimeout != 15*time.Minute {
		t.Errorf("output %+v, sink %+v", cfg.Output, cfg.Sink)
	}
	if cfg.DeadLetterTopic() != "counts-dead-letters" || cfg.Sink.DeadLetterTopic != "counts-dead-letters" {
		t.Errorf("dead letters %q", cfg.DeadLetterTopic())
	}
	if !slices.Equal(cfg.SourceTopics(), []string{"clicks"}) || !slices.Equal(cfg.SinkTopics(), []string{"counts"}) {
		t.Errorf("topics: %v → %v", cfg.SourceTopics(), cfg.SinkTopics())
	}
	confs, err := cfg.ParseOperators(plugin.Default())
	if err != nil || len(confs) != 1 || confs[0].Type() != "count" || confs[0].Name() != "per-user" || !slices.Equal(confs[0].From(), []string{"clicks"}) {
		t.Fatalf("operators: %v %v", confs, err)
	}
	sx, ps := cfg.CompileSource(0)
	if len(ps) > 0 || sx.Key == nil || sx.Key.Source() != "value.user" || sx.EventTime != nil {
		t.Errorf("source exprs %+v %v", sx, ps)
	}
	kx, ps := cfg.CompileSink(0)
	if len(ps) > 0 || kx.Value.Source() != "value" || kx.TopicExpr != nil || len(kx.Headers) != 1 || kx.Headers[0].Name != "src" {
		t.Errorf("sink exprs %+v %v", kx, ps)
	}
}

// TestLegacyFormMirrorsOutput: the single chain's sink settings are the
// effective output settings.
func TestLegacyFormMirrorsOutput(t *testing.T) {
	cfg, err := parse(t, strings.Replace(minimal, "  topic: out\n", "  topic: out\n  delivery: at_least_once\n", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IsGraph() || cfg.Output.Delivery != config.AtLeastOnce {
		t.Errorf("output %+v", cfg.Output)
	}
	if !slices.Equal(cfg.SourceTopics(), []string{"in"}) || !slices.Equal(cfg.SinkTopics(), []string{"out"}) {
		t.Errorf("topics: %v → %v", cfg.SourceTopics(), cfg.SinkTopics())
	}
}

func TestGraphProblems(t *testing.T) {
	for _, tc := range []struct {
		name, yml string
		want      []string
	}{
		{"mixed forms", graph + "source: {topics: [x]}\n", []string{
			"line 16: source: the configuration mixes the job graph form (sources, operators, sinks) with the single-chain form (source, pipeline, sink): use one; `processor migrate --config FILE` prints the single chain as a graph",
		}},
		{"legacy sink section in the graph form", graph + "sink: {delivery: at_least_once}\n", []string{
			"line 16: sink: belongs to the single-chain form, but this configuration uses the job graph form (sources, operators, sinks): move its settings to sources[], operators[], sinks[] and output (see `processor migrate`)",
		}},
		{"output in the legacy form", minimal + "output: {delivery: at_least_once}\n", []string{
			"line 12: output: applies to the job graph form (sinks); in the single-chain form set sink.delivery, sink.transactional_id_prefix, sink.transaction_timeout and sink.on_rejected",
		}},
		{"entries", graphHead + `sources:
  - name: Clicks
    topics: [clicks]
    format: xml
  - {name: c2, topics: [a], topic_regex: b, stop_at: later}
  - {name: c3, topics: [out], event_time: {field: t, expr: value.t, format: iso}}
operators:
  - {name: c2, type: count, from: Clicks}
sinks:
  - {name: out, from: c2, topic: out, mode: upsrt}
  - {name: out2, topic_expr: '"x"', topic: y, value: ""}
`, []string{
			`line 5: sources[0] (Clicks).name: must be lowercase letters, digits, '_' and '-', got "Clicks"`,
			`line 7: sources[0] (Clicks).format: must be one of "json", "raw", got "xml"`,
			`line 8: sources[1] (c2).topic_regex: give topics or topic_regex, not both`,
			`line 8: sources[1] (c2).stop_at: must be one of "end", got "later"`,
			`line 9: sources[2] (c3).event_time.expr: give field or expr, not both (field: f is expr: value.f)`,
			`line 9: sources[2] (c3).event_time.format: must be one of "auto", "rfc3339", "sql", "epoch_millis", got "iso"`,
			`line 11: operators[0] (c2).name: "c2" is already the name of sources[1] (c2): names are unique among sources, operators and sinks`,
			`line 13: sinks[0] (out).topic: "out" is also sources[2] (c3).topics[0]: the job would read its own output`,
			`line 13: sinks[0] (out).mode: must be one of "append", "upsert", got "upsrt" (did you mean "upsert"?)`,
			`line 14: sinks[1] (out2).topic_expr: give topic or topic_expr, not both`,
			`line 14: sinks[1] (out2).from: is required: the name of the source, operator or side output (op.port) the sink writes`,
			`line 14: sinks[1] (out2).value: must be an expression (default "value")`,
		}},
		{"dead letters", graphHead + `sources: [{name: a, topics: [in]}]
sinks: [{name: out, from: a, topic_expr: 'value.t'}]
`, []string{
			"line 5: dead_letter.topic: is required when the first sink chooses its topic by expression (its default is <first sink's topic>-dead-letters)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range problems(t, mustErr(parse(t, tc.yml, nil))) {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestExpressionProblemsArePlacedInTheFile: an expression of a source or
// a sink that does not compile is reported at its line and column.
func TestExpressionProblemsArePlacedInTheFile(t *testing.T) {
	yml := graphHead + `sources:
  - name: a
    topics: [in]
    key: 'value.user +'
    event_time: {expr: nosuch.t}
operators:
  - name: ok
    type: count
    from: a
    extra: 1
sinks:
  - name: out
    from: ok
    topic: out
    headers: {h: 'key ++ 1'}
`
	cfg, err := parse(t, yml, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	_, ps := cfg.CompileSource(0)
	for _, p := range ps {
		got = append(got, p.String())
	}
	_, ps = cfg.CompileSink(0)
	for _, p := range ps {
		got = append(got, p.String())
	}
	_, err = cfg.ParseOperators(plugin.Default())
	for _, p := range problems(t, err) {
		got = append(got, p.String())
	}
	for i, want := range []string{
		"line 7: sources[0] (a).key: column 22: unexpected token EOF",
		"line 8: sources[0] (a).event_time.expr: column 24: unknown name nosuch",
		"line 18: sinks[0] (out).headers.h: column 23: invalid operation",
		`line 13: operators[0] (ok).extra: unknown key`,
	} {
		if i >= len(got) || !strings.HasPrefix(got[i], want) {
			t.Errorf("problem %d: got %q, want it to start with %q (all: %q)", i, at(got, i), want, got)
		}
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// TestMigrate: every single-chain example migrates to a graph-form
// configuration that loads, keeps the other sections and comments, and
// says the same thing.
func TestMigrate(t *testing.T) {
	data, err := os.ReadFile("../../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := config.Migrate(data)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("migrated.yaml", out, noEnv)
	if err != nil {
		t.Fatalf("migrated quickstart does not load: %v\n%s", err, out)
	}
	for _, want := range []string{
		"sources:\n  - name: source\n    format: raw\n    topics: [clicks]\n",
		"operators:\n  - name: key_by-0\n    type: key_by # key each click by its JSON \"user\" field\n    from: source\n    field: user\n",
		"  - name: count-1\n    type: count # running count of clicks per user, kept in state\n    from: key_by-0\n",
		"sinks:\n  - name: sink\n    from: count-1\n    format: raw\n    topic: clicks-per-user # per click: key = user, value = their count so far\n",
		"output:\n  delivery: exactly_once\n",
		"dead_letter:\n  topic: clicks-dead-letters\n",
		"# sample click events; the job counts clicks per user.",
		"  seed:\n    partitions: 4\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("migrated quickstart lacks %q:\n%s", want, out)
		}
	}
	if !cfg.IsGraph() || cfg.DeadLetterTopic() != "clicks-dead-letters" || cfg.Output.Delivery != config.ExactlyOnce {
		t.Errorf("migrated: %+v", cfg)
	}
	// Variables stay references.
	prod, err := os.ReadFile("../../configs/production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err = config.Migrate(prod)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "${KAFKA_BROKERS:-kafka:9092}") || !strings.Contains(string(out), "transactional_id_prefix: tidemark-clicks-per-user") {
		t.Errorf("migrated production:\n%s", out)
	}
	if _, err := config.Parse("migrated.yaml", out, noEnv); err != nil {
		t.Errorf("migrated production does not load: %v\n%s", err, out)
	}
	if _, err := config.Migrate(out); !errors.Is(err, config.ErrNotLegacy) {
		t.Errorf("migrating a graph: %v, want ErrNotLegacy", err)
	}
}
