package operators

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count what a job's tasks do: records each source read, records
// each operator took in and emitted, records rejected (dead letters) by
// the source, operator or sink that rejected them, and each task's
// watermark lag. Make one per job with NewMetrics and give it to every
// graph of the job (GraphConfig.Metrics), so that counts run on across
// in-process restarts. Tasks add their counts once per batch, never per
// record. A nil *Metrics counts nothing.
type Metrics struct {
	sourceIn, in, out, dead *prometheus.CounterVec
	wmDesc                  *prometheus.Desc
	now                     func() time.Time

	mu  sync.Mutex
	wms map[string]*atomic.Int64 // per task: its watermark, ms; MinInt64: none
}

// NewMetrics makes the task metrics and registers them on reg, computing
// watermark lag against now (time.Now when nil).
func NewMetrics(reg prometheus.Registerer, now func() time.Time) (*Metrics, error) {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		sourceIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_source_records_in_total",
			Help: "Records a source read (before any was rejected), by source name, over all its tasks.",
		}, []string{"source"}),
		in: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_operator_records_in_total",
			Help: "Records an operator (sinks included) took in, by operator name, over all its tasks.",
		}, []string{"operator"}),
		out: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_operator_records_out_total",
			Help: "Records an operator emitted, by operator name, over all its tasks.",
		}, []string{"operator"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_records_dead_lettered_total",
			Help: "Records rejected and sent to the dead-letter topic (or dropped when there is none), by the source, operator or sink that rejected them.",
		}, []string{"operator"}),
		wmDesc: prometheus.NewDesc("tidemark_watermark_lag_seconds",
			"Wall-clock time minus a task's watermark (event time), by task, while it has one.", []string{"task"}, nil),
		now: now,
		wms: map[string]*atomic.Int64{},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.sourceIn, m.in, m.out, m.dead, wmCollector{m}} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("operators: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// wmCollector exports the watermark lag, computed when scraped.
type wmCollector struct{ m *Metrics }

func (c wmCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.wmDesc }

func (c wmCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.m.now().UnixMilli()
	c.m.mu.Lock()
	tasks := make([]string, 0, len(c.m.wms))
	for t := range c.m.wms {
		tasks = append(tasks, t)
	}
	sort.Strings(tasks)
	for _, t := range tasks {
		if w := c.m.wms[t].Load(); w != math.MinInt64 && w != math.MaxInt64 {
			ch <- prometheus.MustNewConstMetric(c.m.wmDesc, prometheus.GaugeValue, float64(now-w)/1000, t)
		}
	}
	c.m.mu.Unlock()
}

// watermark returns task's watermark cell, reset to none (a task of a new
// attempt starts without one).
func (m *Metrics) watermark(task TaskID) *atomic.Int64 {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.wms[task.String()]
	if w == nil {
		w = &atomic.Int64{}
		m.wms[task.String()] = w
	}
	w.Store(math.MinInt64)
	return w
}

// nodeCounters are one node's counters; nil without metrics.
type nodeCounters struct{ in, out prometheus.Counter }

func (m *Metrics) node(name string) nodeCounters {
	if m == nil {
		return nodeCounters{}
	}
	m.dead.WithLabelValues(name) // shows at 0 until it rejects one
	return nodeCounters{in: m.in.WithLabelValues(name), out: m.out.WithLabelValues(name)}
}

func (c nodeCounters) count(in int, out *portCollector) {
	if c.in == nil {
		return
	}
	c.in.Add(float64(in))
	n := 0
	for _, p := range out.ports {
		n += len(p)
	}
	c.out.Add(float64(n))
}

// source returns the records-read counter of source name (nil without
// metrics).
func (m *Metrics) source(name string) prometheus.Counter {
	if m == nil {
		return nil
	}
	if name == "" {
		name = "source" // a single-chain job's one source
	}
	m.dead.WithLabelValues(name)
	return m.sourceIn.WithLabelValues(name)
}

// rejected counts dead letters by the operator that rejected each.
func (m *Metrics) rejected(dls []DeadLetter) {
	if m == nil {
		return
	}
	for i := 0; i < len(dls); {
		j := i + 1
		for j < len(dls) && dls[j].Operator == dls[i].Operator {
			j++
		}
		name := dls[i].Operator
		if name == "" {
			name = "source"
		}
		m.dead.WithLabelValues(name).Add(float64(j - i))
		i = j
	}
}
