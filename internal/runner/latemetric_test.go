package runner

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/config"
)

// TestOperatorsRegisterOnTheJobRegistry: a job graph's operators get the
// job's registry (plugin.Resources.Metrics), so that their own metrics —
// the event-time operators' late-records counter — are served with the
// rest; tasks of every attempt share the one counter per operator.
func TestOperatorsRegisterOnTheJobRegistry(t *testing.T) {
	cfg, err := config.Load("../../configs/quickstart-windowed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	ms, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := specWith(nil, &cfg, nil, storage.NewMem(), nil, ms, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	made := 0
	for attempt := 0; attempt < 2; attempt++ {
		for _, st := range spec.Graph.Stages {
			for _, n := range st.Nodes {
				if n.Name != "per_page" && n.Name != "top_pages" {
					continue
				}
				for task := range st.Tasks {
					if _, err := n.New(task); err != nil {
						t.Fatalf("attempt %d: make %s for task %d: %v", attempt, n.Name, task, err)
					}
					made++
				}
			}
		}
	}
	if made == 0 {
		t.Fatal("no windowed operator made")
	}
	want := `
# HELP tidemark_late_records_total Records an event-time operator received after the watermark had passed them: dropped, or sent to its late side output.
# TYPE tidemark_late_records_total counter
tidemark_late_records_total{operator="per_page"} 0
tidemark_late_records_total{operator="top_pages"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tidemark_late_records_total"); err != nil {
		t.Error(err)
	}
}
