package sink_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/sink"
)

// TestMetricsCountRecordsAndTransactions: records the broker acknowledged
// are counted by topic (dead letters not), a transaction is counted
// committed once its checkpoint completes and not before, and what
// recovery settled is counted as resume-committed and aborted.
func TestMetricsCountRecordsAndTransactions(t *testing.T) {
	e := topicsEnv(t)
	reg := prometheus.NewPedanticRegistry()
	m, err := sink.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := sink.NewTaskCommitter(sink.CommitterConfig{Output: e.output("tidemark-sinktest"), Metrics: m}, e.base)
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Open(e.ctx, operators.OpenContext{Log: zaptest.NewLogger(t)}); err != nil {
		t.Fatal(err)
	}
	e.put(c, "a", "b", "c")
	if err := c.DeadLetters(e.ctx, []operators.DeadLetter{{Record: operators.Record{Value: []byte("{")}, Operator: "parse", Reason: "not JSON"}}); err != nil {
		t.Fatal(err)
	}
	e.preCommit(c, 1)
	check := func(want string) {
		t.Helper()
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
			t.Error(err)
		}
	}
	const head = `
# HELP tidemark_sink_records_out_total Records the sinks wrote and the broker acknowledged (committed or not yet), by topic; dead letters are not counted.
# TYPE tidemark_sink_records_out_total counter
tidemark_sink_records_out_total{topic="out"} 3
# HELP tidemark_sink_transactions_total Kafka transactions of the exactly-once sinks by result: committed (once their checkpoint completed), resume_committed and aborted (by recovery after a restart).
# TYPE tidemark_sink_transactions_total counter
`
	check(head + `tidemark_sink_transactions_total{result="aborted"} 0
tidemark_sink_transactions_total{result="committed"} 0
tidemark_sink_transactions_total{result="resume_committed"} 0
`)
	e.commit(c, 1)
	m.Settled(sink.Plan{Commit: make([]operators.Transaction, 2), Abort: make([]operators.Transaction, 1)})
	check(head + `tidemark_sink_transactions_total{result="aborted"} 1
tidemark_sink_transactions_total{result="committed"} 1
tidemark_sink_transactions_total{result="resume_committed"} 2
`)
}
