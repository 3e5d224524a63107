package sink

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a transaction, the values of the "result" label of
// tidemark_sink_transactions_total.
const (
	// TxnCommitted: committed once its checkpoint completed.
	TxnCommitted = "committed"
	// TxnResumeCommitted: committed by recovery after a restart, with the
	// producer id and epoch stored in the restored checkpoint.
	TxnResumeCommitted = "resume_committed"
	// TxnAborted: aborted by recovery, because its records come after
	// the checkpoint restored (they are written again).
	TxnAborted = "aborted"
)

// Metrics count what the sinks of a job write: records the broker
// acknowledged by topic, and transactions by outcome. Make one per job
// with NewMetrics and give it to every committer (CommitterConfig.Metrics)
// and to recovery (Settled), so that counts run on across in-process
// restarts. A nil *Metrics counts nothing.
type Metrics struct {
	txns *prometheus.CounterVec
	out  *prometheus.CounterVec
	// byTopic caches out's counter per topic: the producer's callbacks
	// count every record.
	byTopic sync.Map // string -> prometheus.Counter
}

// NewMetrics makes the sink metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		txns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_sink_transactions_total",
			Help: "Kafka transactions of the exactly-once sinks by result: committed (once their checkpoint completed), resume_committed and aborted (by recovery after a restart).",
		}, []string{"result"}),
		out: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_sink_records_out_total",
			Help: "Records the sinks wrote and the broker acknowledged (committed or not yet), by topic; dead letters are not counted.",
		}, []string{"topic"}),
	}
	for _, r := range []string{TxnCommitted, TxnResumeCommitted, TxnAborted} {
		m.txns.WithLabelValues(r) // every result shows, at 0 until it happens
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.txns, m.out} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("sink: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Settled counts the transactions recovery committed and aborted as plan
// says; call it once they were carried out (Execute returned nil).
func (m *Metrics) Settled(plan Plan) {
	if m == nil {
		return
	}
	m.txns.WithLabelValues(TxnResumeCommitted).Add(float64(len(plan.Commit)))
	m.txns.WithLabelValues(TxnAborted).Add(float64(len(plan.Abort)))
}

func (m *Metrics) committed() {
	if m != nil {
		m.txns.WithLabelValues(TxnCommitted).Inc()
	}
}

// wrote counts a record the broker acknowledged on topic.
func (m *Metrics) wrote(topic string) {
	if m == nil {
		return
	}
	c, ok := m.byTopic.Load(topic)
	if !ok {
		c, _ = m.byTopic.LoadOrStore(topic, m.out.WithLabelValues(topic))
	}
	c.(prometheus.Counter).Inc()
}
