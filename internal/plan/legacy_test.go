package plan_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/plan"
	"github.com/tidemark/tidemark/internal/runner"
	"github.com/tidemark/tidemark/plugin"
)

// env for configs/: the example files' variables take their defaults.
func noEnv(string) (string, bool) { return "", false }

// TestLegacyDescriptionUnchanged: for every single-chain configuration
// of configs/ (and a few more shapes), the plan's description lines are
// byte for byte those internal/job computes today from the runner's
// Spec, so that checkpoints taken before the upgrade restore after it.
func TestLegacyDescriptionUnchanged(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("configs: %v %v", files, err)
	}
	cases := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if cfg, err := config.Parse(f, data, noEnv); err == nil && !cfg.IsGraph() {
			cases[filepath.Base(f)] = data // graph-form examples are planned by TestConfigsPlan
		}
	}
	base := `job: {name: shapes, parallelism: 3, max_parallelism: 64}
kafka: {brokers: ["localhost:9092"]}
source: {topics: [in]}
sink: {topic: out}
checkpoint: {storage: "file:///tmp/chk"}
`
	cases["no operators"] = []byte(base)
	cases["count by kafka key"] = []byte(base + "pipeline: {operators: [{type: count}]}\n")
	cases["passthrough first"] = []byte(base + "pipeline: {operators: [{type: passthrough}, {type: key_by, field: u, name: k}, {type: count, name: c}, {type: passthrough}]}\n")
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse(name, data, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			j, err := plan.Build(&cfg, plugin.Default())
			if err != nil {
				t.Fatal(err)
			}
			spec, err := runner.Spec(&cfg, nil, nil, nil, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			wantFP, want := spec.Topology(cfg.Job.Parallelism)
			gotFP, got := j.Topology()
			if strings.Join(got, "\n") != strings.Join(want, "\n") || gotFP != wantFP {
				t.Errorf("description:\n got %s %s\nwant %s %s", gotFP, strings.Join(got, " | "), wantFP, strings.Join(want, " | "))
			}
			if !j.Legacy || j.Stages[0].Name != "source" || j.Stages[1].Name != "keyed" {
				t.Errorf("legacy stages: %v", j.Stages)
			}
		})
	}
}

// TestLegacyQuickstartGolden pins the quickstart's description and
// fingerprint (the one `lead` computes), independently of the runner
// (which will build its job from the plan).
func TestLegacyQuickstartGolden(t *testing.T) {
	data, err := os.ReadFile("../../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("quickstart.yaml", data, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	j, err := plan.Build(&cfg, plugin.Default())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "legacy-quickstart.txt", render(j))
}
