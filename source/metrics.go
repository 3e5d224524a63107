package source

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"
)

// Metrics export the consumer lag of every partition the Kafka sources of
// a job read. Make one per job with NewMetrics and give it to every
// source (WithMetrics), so that it lives across in-process restarts. A
// source updates it once per partition per poll; the lag is computed when
// Prometheus scrapes.
//
// A partition's lag is its last stable offset (where a read_committed
// consumer can read to) minus the source's next offset. Last stable
// offsets come with every fetch and, so that the lag keeps growing while
// the job is stalled or a partition returns nothing, from
// UpdateEndOffsets.
type Metrics struct {
	mu    sync.RWMutex
	parts map[partKey]*partMetrics
	desc  *prometheus.Desc
}

type partKey struct {
	source string
	tp
}

type partMetrics struct {
	next atomic.Int64 // -1: not known yet
	end  atomic.Int64 // -1: not known yet
}

// NewMetrics makes the source metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		parts: map[partKey]*partMetrics{},
		desc: prometheus.NewDesc("tidemark_source_consumer_lag_records",
			"Records of a partition the source has not read yet: the partition's last stable offset minus the source's next offset, by source, topic and partition.",
			[]string{"source", "topic", "partition"}, nil),
	}
	if reg != nil {
		if err := reg.Register(m); err != nil {
			return nil, fmt.Errorf("source: register metrics: %w", err)
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	keys := make([]partKey, 0, len(m.parts))
	for k := range m.parts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].source != keys[j].source {
			return keys[i].source < keys[j].source
		}
		return compareTP(keys[i].tp, keys[j].tp) < 0
	})
	for _, k := range keys {
		pm := m.parts[k]
		if next, end := pm.next.Load(), pm.end.Load(); next >= 0 && end >= 0 {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, float64(max(end-next, 0)),
				k.source, k.topic, strconv.Itoa(int(k.partition)))
		}
	}
}

// partition returns p's metrics, made on first use.
func (m *Metrics) partition(source string, p tp) *partMetrics {
	k := partKey{source, p}
	m.mu.RLock()
	pm := m.parts[k]
	m.mu.RUnlock()
	if pm != nil {
		return pm
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if pm = m.parts[k]; pm == nil {
		pm = &partMetrics{}
		pm.next.Store(-1)
		pm.end.Store(-1)
		m.parts[k] = pm
	}
	return pm
}

// UpdateEndOffsets asks the cluster for the last stable offset of every
// partition the sources read, so that the lag is current even when no
// fetch returns (the job stalled, or the partition is idle).
func (m *Metrics) UpdateEndOffsets(ctx context.Context, adm *kadm.Client) error {
	m.mu.RLock()
	var topics []string
	for k := range m.parts {
		if !slices.Contains(topics, k.topic) {
			topics = append(topics, k.topic)
		}
	}
	m.mu.RUnlock()
	if len(topics) == 0 {
		return nil
	}
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("source metrics: list end offsets of %v: %w", topics, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for k, pm := range m.parts {
		if o, ok := ends.Lookup(k.topic, k.partition); ok && o.Err == nil && o.Offset >= 0 {
			pm.end.Store(o.Offset)
		}
	}
	return nil
}

// WithMetrics makes the source export its partitions' consumer lag in m.
// Default none.
func WithMetrics(m *Metrics) Option {
	return func(k *Kafka) { k.metrics = m }
}

// position records where the source reads p next (next) and, if known
// (end >= 0), p's last stable offset.
func (k *Kafka) position(p tp, next, end int64) {
	if k.metrics == nil {
		return
	}
	name := "source"
	if k.graph != nil {
		name = k.graph.name
	}
	pm := k.metrics.partition(name, p)
	pm.next.Store(next)
	if end >= 0 {
		pm.end.Store(end)
	}
}

// lagAtAssign records the last stable offset of the partitions ps just
// assigned (starting at start), so that their lag shows before their
// first fetch returns. A failure only leaves it to the fetches.
func (k *Kafka) lagAtAssign(ctx context.Context, ps []tp, start map[tp]int64) {
	if k.metrics == nil || k.adm == nil {
		return
	}
	var topics []string
	for _, p := range ps {
		if !slices.Contains(topics, p.topic) {
			topics = append(topics, p.topic)
		}
	}
	ends, err := k.adm.ListCommittedOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		k.log.Debug("source: end offsets for the lag metric not listed", zap.Error(err))
		return
	}
	for _, p := range ps {
		if o, ok := ends.Lookup(p.topic, p.partition); ok && o.Err == nil && o.Offset >= 0 {
			k.position(p, start[p], o.Offset)
		}
	}
}
