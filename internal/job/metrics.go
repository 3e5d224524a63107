package job

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/sink"
)

// Metrics are a job's Prometheus metrics: the coordinator's, the tasks',
// the sinks' and the job's own restore metrics, all registered on one
// registry. Make one per job with NewMetrics (Spec.Metrics): they live
// across in-process restarts. A nil *Metrics records nothing.
type Metrics struct {
	Checkpoint *checkpoint.Metrics
	Tasks      *operators.Metrics
	Sink       *sink.Metrics

	restoreDuration prometheus.Histogram
	restoreBytes    prometheus.Counter
	restoreSize     prometheus.Gauge
	restarts        prometheus.Counter
}

// NewMetrics makes a job's metrics and registers them on reg, reading
// time from now (time.Now when nil).
func NewMetrics(reg prometheus.Registerer, now func() time.Time) (*Metrics, error) {
	m := &Metrics{
		restoreDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tidemark_restore_duration_seconds",
			Help:    "Time an attempt took from its start (find the checkpoint, settle sink transactions, download and open state) until it processed records.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		restoreBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_restore_downloaded_bytes_total",
			Help: "Bytes restores read from checkpoint storage (files found in the local copy of the checkpoint are not read).",
		}),
		restoreSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_restore_state_size_bytes",
			Help: "Size of the state the newest restore brought back (0 after a start without a checkpoint).",
		}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_job_restarts_total",
			Help: "In-process restarts of the job from its newest complete checkpoint after a transient failure.",
		}),
	}
	var err error
	if m.Checkpoint, err = checkpoint.NewMetrics(reg, now); err != nil {
		return nil, err
	}
	if m.Tasks, err = operators.NewMetrics(reg, now); err != nil {
		return nil, err
	}
	if m.Sink, err = sink.NewMetrics(reg); err != nil {
		return nil, err
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.restoreDuration, m.restoreBytes, m.restoreSize, m.restarts} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("job: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *Metrics) checkpoint() *checkpoint.Metrics {
	if m == nil {
		return nil
	}
	return m.Checkpoint
}

func (m *Metrics) tasks() *operators.Metrics {
	if m == nil {
		return nil
	}
	return m.Tasks
}

func (m *Metrics) sink() *sink.Metrics {
	if m == nil {
		return nil
	}
	return m.Sink
}

// restored records a restore that took d and read downloaded bytes from
// storage, of state of size bytes.
func (m *Metrics) restored(d time.Duration, downloaded, size int64) {
	if m == nil {
		return
	}
	m.restoreDuration.Observe(d.Seconds())
	m.restoreBytes.Add(float64(downloaded))
	m.restoreSize.Set(float64(size))
}

func (m *Metrics) restarted() {
	if m != nil {
		m.restarts.Inc()
	}
}

// countingStore counts the bytes read through its Gets.
type countingStore struct {
	storage.Store
	n *atomic.Int64
}

func (s countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return countingReader{ReadCloser: rc, n: s.n}, nil
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	return n, err
}
