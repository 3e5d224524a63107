package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint/inspect"
	"github.com/tidemark/tidemark/checkpoint/storage"
)

// Results of a drill, as the runs metric labels them.
const (
	ResultPassed = "passed" // the checkpoint restores
	ResultFailed = "failed" // it does not: Report.Problems say why
	ResultError  = "error"  // the drill could not be carried out
)

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	// Store is the job's checkpoint storage, rooted at the job.
	Store storage.Store
	// Interval between two drills (the first one comes one interval after
	// Run starts); positive.
	Interval time.Duration
	// ScratchDir is the scheduler's own directory (state.dir/drill): Run
	// empties it at start, and each drill works in a directory of its own
	// inside it.
	ScratchDir string
	// BytesPerSecond paces the downloads (0: no limit), so that a drill
	// takes little of the storage's and the network's bandwidth from the
	// job.
	BytesPerSecond int64
	// Registerer, if set, receives the drill's metrics.
	Registerer prometheus.Registerer
	Log        *zap.Logger
	// After is the timer Run waits on; time.After when nil.
	After func(time.Duration) <-chan time.Time
}

// Status is the outcome of the last drill.
type Status struct {
	// Result is ResultPassed, ResultFailed or ResultError.
	Result string `json:"result"`
	// Error says why a drill could not be carried out (ResultError).
	Error string `json:"error,omitempty"`
	// At is when it started.
	At time.Time `json:"at"`
	// Report is the drill's report (nil with ResultError).
	Report *Report `json:"report,omitempty"`
	// LastPassedAt is when the newest drill that passed started.
	LastPassedAt time.Time `json:"last_passed_at,omitzero"`
}

// Scheduler runs the recovery drill on a schedule: on the checkpoint a
// restart would restore, one drill at a time, downloads paced, in a scratch
// directory; it keeps the last outcome and exports it as metrics.
type Scheduler struct {
	cfg SchedulerConfig
	m   metrics

	mu         sync.Mutex
	last       *Status
	lastPassed time.Time
}

type metrics struct {
	runs         *prometheus.CounterVec
	success      prometheus.Gauge
	lastRun      prometheus.Gauge
	lastPassed   prometheus.Gauge
	duration     prometheus.Gauge
	checkpointID prometheus.Gauge
	bytes        prometheus.Gauge
	keys         prometheus.Gauge
}

// NewScheduler returns a scheduler for cfg, its metrics registered with
// cfg.Registerer.
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.Interval <= 0 {
		return nil, fmt.Errorf("drill: interval must be positive, got %s", cfg.Interval)
	}
	if cfg.ScratchDir == "" {
		return nil, errors.New("drill: no scratch directory")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	s := &Scheduler{cfg: cfg, m: metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_drill_runs_total",
			Help: "Recovery drills run, by result: passed, failed (the checkpoint does not restore), error (the drill could not be carried out).",
		}, []string{"result"}),
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_drill_last_success",
			Help: "1 if the last recovery drill passed, 0 if it failed or could not be carried out.",
		}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_drill_last_run_timestamp_seconds",
			Help: "When the last recovery drill started, in seconds since the Unix epoch.",
		}),
		lastPassed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_drill_last_passed_timestamp_seconds",
			Help: "When the last recovery drill that passed started, in seconds since the Unix epoch.",
		}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_drill_last_duration_seconds",
			Help: "How long the last recovery drill took.",
		}),
		checkpointID: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_drill_last_checkpoint_id",
			Help: "The id of the checkpoint the last recovery drill verified.",
		}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_drill_last_bytes",
			Help: "Bytes the last recovery drill downloaded and checked.",
		}),
		keys: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_drill_last_keys",
			Help: "State keys the last recovery drill counted, over every task and operator.",
		}),
	}}
	for _, r := range []string{ResultPassed, ResultFailed, ResultError} {
		s.m.runs.WithLabelValues(r) // every result shows, at 0 until it happens
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.m.runs, s.m.success, s.m.lastRun, s.m.lastPassed, s.m.duration, s.m.checkpointID, s.m.bytes, s.m.keys} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("drill: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Last returns the outcome of the last drill; false before the first.
func (s *Scheduler) Last() (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return Status{}, false
	}
	return *s.last, true
}

// Run drills every Interval until ctx is done; it then returns nil. A drill
// under way when ctx ends is abandoned (its scratch directory removed).
func (s *Scheduler) Run(ctx context.Context) error {
	// Whatever a drill interrupted by a crash left.
	if err := os.RemoveAll(s.cfg.ScratchDir); err != nil {
		return fmt.Errorf("drill: clear %s: %w", s.cfg.ScratchDir, err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.After(s.cfg.Interval):
		}
		s.RunOnce(ctx)
	}
}

// expiredRetries is how often a drill starts again on the newest
// checkpoint when the one it verified expired meanwhile.
const expiredRetries = 2

// RunOnce runs one drill now, on the checkpoint a restart would restore,
// records its outcome and returns it; false if there was nothing to
// verify (no complete checkpoint yet) or ctx ended.
func (s *Scheduler) RunOnce(ctx context.Context) (Status, bool) {
	log := s.cfg.Log
	start := time.Now()
	var rep *Report
	var err error
	for attempt := 0; ; attempt++ {
		m, rerr := inspect.Resolve(ctx, s.cfg.Store, "")
		if errors.Is(rerr, inspect.ErrNoCheckpoint) {
			log.Debug("recovery drill: no complete checkpoint yet")
			return Status{}, false
		}
		if rerr != nil {
			err = rerr
			break
		}
		if err = os.MkdirAll(s.cfg.ScratchDir, 0o700); err != nil {
			err = fmt.Errorf("drill: %w", err)
			break
		}
		rep, err = Verify(ctx, s.cfg.Store, m, Options{ScratchDir: s.cfg.ScratchDir, BytesPerSecond: s.cfg.BytesPerSecond, Log: log})
		if !errors.Is(err, ErrExpired) || attempt == expiredRetries {
			break
		}
		log.Info("recovery drill: the checkpoint expired while it was verified; verifying the newest one", zap.Error(err))
	}
	if ctx.Err() != nil {
		return Status{}, false
	}
	st := Status{At: start, Report: rep}
	switch {
	case err != nil:
		st.Result, st.Error = ResultError, err.Error()
		log.Warn("recovery drill could not be carried out", zap.Error(err), zap.Duration("took", time.Since(start)))
	case rep.Passed:
		st.Result = ResultPassed
		log.Info("recovery drill passed", zap.String("checkpoint", rep.Checkpoint), zap.Duration("took", rep.Duration),
			zap.Int("files", rep.Files), zap.Int64("bytes", rep.Bytes), zap.Int64("keys", rep.keys()))
	default:
		st.Result = ResultFailed
		log.Error("recovery drill failed: the checkpoint would not restore", zap.String("checkpoint", rep.Checkpoint),
			zap.String("reason", rep.Reason), zap.Strings("problems", rep.Problems), zap.Duration("took", rep.Duration))
	}
	return s.record(st), true
}

// record keeps st as the last outcome, completed, and exports it.
func (s *Scheduler) record(st Status) Status {
	s.mu.Lock()
	if st.Result == ResultPassed {
		s.lastPassed = st.At
	}
	st.LastPassedAt = s.lastPassed
	s.last = &st
	s.mu.Unlock()
	s.m.runs.WithLabelValues(st.Result).Inc()
	s.m.lastRun.Set(float64(st.At.UnixNano()) / 1e9)
	s.m.success.Set(0)
	if st.Result == ResultPassed {
		s.m.success.Set(1)
		s.m.lastPassed.Set(float64(st.At.UnixNano()) / 1e9)
	}
	if r := st.Report; r != nil {
		s.m.duration.Set(r.Duration.Seconds())
		s.m.checkpointID.Set(float64(r.CheckpointID))
		s.m.bytes.Set(float64(r.Bytes))
		s.m.keys.Set(float64(r.keys()))
	}
	return st
}

// keys is the number of keys counted over every task.
func (r *Report) keys() int64 {
	var n int64
	for _, t := range r.Tasks {
		n += t.Keys
	}
	return n
}
