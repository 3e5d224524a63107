package checkpoint

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the checkpoint coordinator's Prometheus metrics. Make one
// per job with NewMetrics and give it to every coordinator of the job
// (Config.Metrics), so that counts run on across in-process restarts. A
// nil *Metrics records nothing.
type Metrics struct {
	duration, sync, async, alignment, startDelay prometheus.Histogram
	completedN, failedN                          prometheus.Counter
	uploaded                                     prometheus.Counter
	full, incremental                            prometheus.Gauge
	stateSize                                    *prometheus.GaugeVec

	inProgress    atomic.Int64
	interval      atomic.Int64 // nanoseconds
	lastCompleted atomic.Int64 // unix nanoseconds; 0: none known
	started       time.Time
	now           func() time.Time

	mu     sync.Mutex
	tasksN map[string]bool // state size series set by the newest checkpoint
}

// DurationBuckets are the buckets of the checkpoint duration histograms:
// milliseconds to minutes.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// NewMetrics makes the coordinator's metrics and registers them on reg,
// reading time from now (time.Now when nil).
func NewMetrics(reg prometheus.Registerer, now func() time.Time) (*Metrics, error) {
	if now == nil {
		now = time.Now
	}
	hist := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: DurationBuckets})
	}
	m := &Metrics{
		duration:   hist("tidemark_checkpoint_duration_seconds", "Time from the trigger of a completed checkpoint to its completion."),
		sync:       hist("tidemark_checkpoint_sync_duration_seconds", "Synchronous part of a completed checkpoint: the longest pause of a task for its local snapshot."),
		async:      hist("tidemark_checkpoint_async_duration_seconds", "Asynchronous part of a completed checkpoint: the longest upload of a task's snapshot."),
		alignment:  hist("tidemark_checkpoint_alignment_duration_seconds", "Barrier alignment of a completed checkpoint: the longest time a task took from its first barrier to its last."),
		startDelay: hist("tidemark_checkpoint_start_delay_seconds", "Start delay of a completed checkpoint: the longest time from its trigger until a task got its first barrier."),
		completedN: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_checkpoints_completed_total",
			Help: "Checkpoints completed (savepoints and final checkpoints included), over in-process restarts.",
		}),
		failedN: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_checkpoints_failed_total",
			Help: "Checkpoints that failed or timed out and count against checkpoint.tolerable_failures (subsumed ones are not counted).",
		}),
		uploaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_checkpoint_uploaded_bytes_total",
			Help: "Bytes completed checkpoints uploaded to checkpoint storage (the sum of their incremental sizes).",
		}),
		full: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_checkpoint_full_size_bytes",
			Help: "Full size of the state the newest completed checkpoint references.",
		}),
		incremental: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_checkpoint_incremental_size_bytes",
			Help: "Bytes the newest completed checkpoint uploaded: what changed since the checkpoints before it.",
		}),
		stateSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tidemark_task_state_size_bytes",
			Help: "Size of a task's state (and in-flight records) in the newest completed checkpoint, by task.",
		}, []string{"task"}),
		started: now(),
		now:     now,
		tasksN:  map[string]bool{},
	}
	cs := []prometheus.Collector{m.duration, m.sync, m.async, m.alignment, m.startDelay, m.completedN, m.failedN, m.uploaded, m.full, m.incremental, m.stateSize,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tidemark_checkpoints_in_progress",
			Help: "Checkpoints triggered and neither completed nor failed yet.",
		}, func() float64 { return float64(m.inProgress.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tidemark_checkpoint_interval_seconds",
			Help: "The configured checkpoint.interval, for alerts counted in intervals.",
		}, func() float64 { return time.Duration(m.interval.Load()).Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tidemark_checkpoint_last_completed_timestamp_seconds",
			Help: "When the newest checkpoint completed (the restored one's time until one completes in this process), in seconds since the Unix epoch; 0 if none.",
		}, func() float64 { return float64(m.lastCompleted.Load()) / 1e9 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tidemark_checkpoint_since_last_completed_seconds",
			Help: "Seconds since the newest checkpoint completed (since the restored one's completion, or since the process started if there was none).",
		}, m.sinceLastCompleted),
	}
	if reg != nil {
		for _, c := range cs {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("checkpoint: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *Metrics) sinceLastCompleted() float64 {
	last := m.started
	if ns := m.lastCompleted.Load(); ns != 0 {
		last = time.Unix(0, ns)
	}
	return max(m.now().Sub(last).Seconds(), 0)
}

// coordinatorStarted records a coordinator's start: its interval, and the checkpoint
// it restored (nil: none), so that the time since the last completed
// checkpoint counts from there after a restart.
func (m *Metrics) coordinatorStarted(interval time.Duration, restored *Metadata) {
	if m == nil {
		return
	}
	m.interval.Store(int64(interval))
	m.inProgress.Store(0)
	if restored != nil && !restored.CompletedAt.IsZero() {
		ns := restored.CompletedAt.UnixNano()
		for {
			old := m.lastCompleted.Load()
			if old >= ns || m.lastCompleted.CompareAndSwap(old, ns) {
				break
			}
		}
	}
}

// pending records the number of checkpoints in flight.
func (m *Metrics) pending(n int) {
	if m != nil {
		m.inProgress.Store(int64(n))
	}
}

// failed records a failed checkpoint that counts.
func (m *Metrics) failed() {
	if m != nil {
		m.failedN.Inc()
	}
}

// completed records completed checkpoint md with statistics s.
func (m *Metrics) completed(s Stats, md *Metadata) {
	if m == nil {
		return
	}
	m.completedN.Inc()
	m.duration.Observe(s.Duration.Seconds())
	m.sync.Observe(s.SyncDuration.Seconds())
	m.async.Observe(s.AsyncDuration.Seconds())
	m.alignment.Observe(s.AlignmentDuration.Seconds())
	m.startDelay.Observe(s.StartDelay.Seconds())
	m.uploaded.Add(float64(s.BytesUploaded))
	m.full.Set(float64(s.StateSize))
	m.incremental.Set(float64(s.BytesUploaded))
	m.mu.Lock()
	seen := map[string]bool{}
	for _, t := range md.Tasks {
		var size int64
		for _, f := range t.Files {
			size += f.Size
		}
		if t.InFlight != nil {
			size += t.InFlight.Size
		}
		id := t.ID().String()
		seen[id] = true
		m.stateSize.WithLabelValues(id).Set(float64(size))
	}
	for id := range m.tasksN {
		if !seen[id] {
			m.stateSize.DeleteLabelValues(id) // a task gone with a change of parallelism
		}
	}
	m.tasksN = seen
	m.mu.Unlock()
	m.lastCompleted.Store(md.CompletedAt.UnixNano())
}
