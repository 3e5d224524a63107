package checkpoint_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/promtest"
	"github.com/tidemark/tidemark/operators"
)

// TestMetricsFollowCheckpoints: two checkpoints complete and one is
// declined; the counts, histograms, sizes, per-task state size, in-progress
// gauge and the time since the last completed checkpoint follow, and a
// second coordinator (an in-process restart) restored from the newest
// checkpoint carries the counts on and measures from its completion.
func TestMetricsFollowCheckpoints(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg := prometheus.NewPedanticRegistry()
	var clockNS atomic.Int64
	clockNS.Store(time.Unix(1_800_000_000, 0).UnixNano())
	now := func() time.Time { return time.Unix(0, clockNS.Load()) }
	advance := func(d time.Duration) { clockNS.Add(int64(d)) }
	m, err := checkpoint.NewMetrics(reg, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.NewMetrics(reg, now); err == nil {
		t.Error("a second registration on the same registry did not fail")
	}
	st := storage.NewMem()
	cfg := checkpoint.Config{
		Job: "metrics", MaxParallelism: 128, Parallelism: 2, Interval: time.Millisecond, Timeout: time.Minute,
		MaxConcurrent: 1, TolerableFailures: 1, Retained: 2, LocalDir: t.TempDir(), Log: zap.NewNop(), Metrics: m, Now: now,
	}
	completed := make(chan *checkpoint.Metadata, 16)
	cfg.OnComplete = func(md *checkpoint.Metadata) { completed <- md }
	failed := make(chan checkpoint.Stats, 16)
	cfg.OnFailure = func(s checkpoint.Stats) { failed <- s }
	c, err := checkpoint.New(ctx, cfg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(gaugeFunc(t, reg, "tidemark_checkpoint_interval_seconds")); v != 0.001 {
		t.Errorf("interval %v, want 0.001", v)
	}
	g := newFakeGraph(2)
	stop := runCoordinator(ctx, c, g)
	rng := rand.New(rand.NewPCG(1, 2))
	files := newContents()
	dbs := make([]simDB, 2)
	var last *checkpoint.Metadata
	for i := range 3 {
		advance(time.Second) // the interval passed
		id, err := g.next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v := value(t, reg, "tidemark_checkpoints_in_progress"); v != 1 {
			t.Errorf("checkpoint %d in flight: in progress %v, want 1", id, v)
		}
		if i == 1 {
			c.Decline(operators.TaskID{Stage: "keyed", Index: 1}, id, errors.New("declined by the test"))
			<-failed
			continue
		}
		for k := range dbs {
			dbs[k].flush(files, rng)
			c.TaskSnapshot(dbs[k].mustSnapshot(t, files, cfg.LocalDir, id, k))
		}
		c.SourceSnapshot(sourcePart(id))
		last = <-completed
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"tidemark_checkpoints_completed_total":                 2,
		"tidemark_checkpoints_failed_total":                    1,
		"tidemark_checkpoints_in_progress":                     0,
		"tidemark_checkpoint_full_size_bytes":                  float64(last.StateSize()),
		"tidemark_checkpoint_last_completed_timestamp_seconds": float64(now().Unix()),
		"tidemark_checkpoint_since_last_completed_seconds":     0,
	} {
		if v := value(t, reg, name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if v := value(t, reg, "tidemark_checkpoint_incremental_size_bytes"); v <= 0 || v > float64(last.StateSize()) {
		t.Errorf("incremental size %v: want in (0, full size %d]", v, last.StateSize())
	}
	for _, h := range []string{"tidemark_checkpoint_duration_seconds", "tidemark_checkpoint_sync_duration_seconds",
		"tidemark_checkpoint_async_duration_seconds", "tidemark_checkpoint_alignment_duration_seconds",
		"tidemark_checkpoint_start_delay_seconds"} {
		if n := promtest.HistogramCount(t, reg, h); n != 2 {
			t.Errorf("%s counted %d checkpoints, want 2", h, n)
		}
	}
	if n := testutil.CollectAndCount(reg, "tidemark_task_state_size_bytes"); n != 2 {
		t.Errorf("%d task state size series, want one per keyed task (2)", n)
	}
	var sum float64
	for _, k := range []string{"keyed-0", "keyed-1"} {
		v := promtest.Labelled(t, reg, "tidemark_task_state_size_bytes", "task", k)
		if v <= 0 {
			t.Errorf("state size of %s: %v", k, v)
		}
		sum += v
	}
	if sum != float64(last.StateSize()) {
		t.Errorf("task state sizes sum to %v, want the checkpoint's %d", sum, last.StateSize())
	}

	// An in-process restart: a new coordinator restored from the newest
	// checkpoint, a minute later.
	advance(time.Minute)
	if v := value(t, reg, "tidemark_checkpoint_since_last_completed_seconds"); v != 60 {
		t.Errorf("a minute later: since last completed %v, want 60", v)
	}
	c2, err := checkpoint.New(ctx, cfg, st, last)
	if err != nil {
		t.Fatal(err)
	}
	_ = c2
	if v := value(t, reg, "tidemark_checkpoints_completed_total"); v != 2 {
		t.Errorf("after a restart: completed %v, want the 2 before", v)
	}
	if v := value(t, reg, "tidemark_checkpoint_since_last_completed_seconds"); v != 60 {
		t.Errorf("after a restart: since last completed %v, want 60 (from the restored checkpoint)", v)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// value returns the value of the unlabelled gauge or counter name in reg.
func value(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	return promtest.Labelled(t, reg, name, "", "")
}

// gaugeFunc wraps the gauge name of reg as a collector for testutil.
func gaugeFunc(t *testing.T, reg prometheus.Gatherer, name string) prometheus.Collector {
	v := value(t, reg, name)
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x", Help: "x"}, func() float64 { return v })
}
