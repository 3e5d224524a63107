package runner

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint/drill"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/sink"
	"github.com/tidemark/tidemark/source"
)

// metrics are what the parts of one job record into, all registered on
// one registry (Options.Metrics). A nil *metrics records nothing.
type metrics struct {
	reg    prometheus.Registerer
	job    *job.Metrics
	source *source.Metrics
}

// newMetrics makes the job's metrics on reg; nil for a nil reg.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	jm, err := job.NewMetrics(reg, nil)
	if err != nil {
		return nil, err
	}
	sm, err := source.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &metrics{reg: reg, job: jm, source: sm}, nil
}

func (m *metrics) registerer() prometheus.Registerer {
	if m == nil {
		return nil
	}
	return m.reg
}

func (m *metrics) jobMetrics() *job.Metrics {
	if m == nil {
		return nil
	}
	return m.job
}

func (m *metrics) sourceMetrics() *source.Metrics {
	if m == nil {
		return nil
	}
	return m.source
}

func (m *metrics) sinkMetrics() *sink.Metrics {
	if m == nil {
		return nil
	}
	return m.job.Sink
}

// updateLag refreshes the sources' consumer lag from the cluster.
func (m *metrics) updateLag(ctx context.Context, update func(context.Context, *source.Metrics) error, log *zap.Logger) {
	if m == nil {
		return
	}
	if err := update(ctx, m.source); err != nil && ctx.Err() == nil {
		log.Debug("consumer lag not refreshed", zap.Error(err))
	}
}

// newDrill returns the scheduled recovery drill of cfg on the job's
// storage (nil when drill.interval is 0), its metrics on reg.
func newDrill(cfg *config.Config, jobStore storage.Store, reg prometheus.Registerer, log *zap.Logger) (*drill.Scheduler, error) {
	if cfg.Drill.Interval <= 0 {
		return nil, nil
	}
	s, err := drill.NewScheduler(drill.SchedulerConfig{
		Store: jobStore, Interval: cfg.Drill.Interval, ScratchDir: filepath.Join(cfg.State.Dir, "drill"),
		BytesPerSecond: cfg.Drill.MaxBytesPerSecond, Registerer: reg, Log: log.Named("drill"),
	})
	if err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	log.Info("recovery drill scheduled", zap.Duration("interval", cfg.Drill.Interval), zap.Int64("max_bytes_per_second", cfg.Drill.MaxBytesPerSecond))
	return s, nil
}
