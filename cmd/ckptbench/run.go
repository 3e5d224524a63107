package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/benchfmt"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/internal/restart"
	"github.com/tidemark/tidemark/operators"
)

// uploadConcurrency is the coordinator's default number of task snapshots
// uploaded at once; the plain copy uses the same.
const uploadConcurrency = 2

// result is what one case (state size × backend) measured.
type result struct {
	backend string
	size    int64 // target: keys × value size
	keys    int64
	updates int // keys updated between two checkpoints

	build time.Duration
	// full is the build's final checkpoint: the whole state uploaded.
	full checkpoint.Stats
	// copies are the plain full copies, after the build and at the end.
	copies []time.Duration
	// incr are the measured incremental checkpoints.
	incr []checkpoint.Stats
	// failed counts checkpoints that failed; lagging the measured
	// checkpoints' barriers that queued behind unprocessed updates.
	failed, lagging int64
}

// runCase runs one case; the store and state it used are removed
// afterwards unless o.keep.
func runCase(ctx context.Context, o options, be backend, size int64, log *zap.Logger) (res result, err error) {
	name := sizeLabel(size)
	keys := size / int64(o.valueSize)
	updates := max(1, int(float64(keys)*o.update))
	res = result{backend: be.name, size: size, keys: keys, updates: updates}
	caseDir := filepath.Join(o.dir, "state", be.name+"-"+name)
	root, err := be.open(ctx, name)
	if err != nil {
		return res, err
	}
	defer func() {
		if !o.keep {
			if rerr := be.remove(context.WithoutCancel(ctx), root, name); rerr != nil && err == nil {
				err = fmt.Errorf("remove stored data: %w", rerr)
			}
			if rerr := os.RemoveAll(caseDir); rerr != nil && err == nil {
				err = rerr
			}
		}
		if cerr := root.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	st := checkpoint.JobStore(root, "job")
	progress := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%-6s %-9s "+format+"\n", append([]any{be.name, name}, args...)...)
	}

	// Part 1: build the state, then take the full checkpoint.
	c := &counters{}
	spec := jobSpec(o, st, caseDir, c, log, func() operators.Source {
		return newBuildSource(keys, o.valueSize, 1024, o.seed, c)
	})
	// One checkpoint at start (empty state), then none until Drain.
	spec.Checkpoint.Interval = 24 * time.Hour
	progress("building %d keys × %d B ...", keys, o.valueSize)
	run := startJob(ctx, spec)
	start := time.Now()
	if err := run.waitFor(ctx, func() bool { return c.done.Load() && c.processed.Load() == keys }); err != nil {
		return res, fmt.Errorf("build: %w", err)
	}
	res.build = time.Since(start)
	progress("built in %s; full checkpoint ...", res.build.Round(time.Millisecond))
	if err := run.j.Drain(ctx); err != nil {
		_ = run.stop()
		return res, fmt.Errorf("build: %w", err)
	}
	if err := run.stop(); err != nil {
		return res, fmt.Errorf("build: %w", err)
	}
	stats := run.j.Stats()
	_, failed := run.j.Counts()
	res.failed += failed
	for _, s := range stats {
		if s.Status == checkpoint.StatusCompleted && s.ID > res.full.ID {
			res.full = s
		}
	}
	if res.full.ID == 0 {
		return res, errors.New("build: no completed checkpoint")
	}
	progress("full checkpoint %d: %s in %s; plain copy ...", res.full.ID, benchfmt.Bytes(res.full.BytesUploaded), benchfmt.Dur(res.full.Duration))

	// copyOnce copies the local snapshot of checkpoint id, which the
	// coordinator keeps for local recovery as the newest complete one.
	copyOnce := func(n int, id int64) error {
		local := filepath.Join(caseDir, "checkpoints", fmt.Sprintf("chk-%d", id))
		prefix := fmt.Sprintf("plain-copy-%d", n)
		took, bytes, err := plainCopy(ctx, root, prefix, local, uploadConcurrency)
		if err != nil {
			return fmt.Errorf("plain copy: %w", err)
		}
		res.copies = append(res.copies, took)
		progress("plain copy of %s: %s", benchfmt.Bytes(bytes), benchfmt.Dur(took))
		return removeAll(ctx, root, prefix+"/")
	}
	if err := copyOnce(1, res.full.ID); err != nil {
		return res, err
	}

	// Part 2: restart from the full checkpoint and update a share of the
	// keys between checkpoints.
	c = &counters{}
	spec = jobSpec(o, st, caseDir, c, log, func() operators.Source {
		return newUpdateSource(keys, o.valueSize, updates, o.seed, c)
	})
	spec.Checkpoint.Interval = o.pause
	spec.Checkpoint.MinPause = o.pause
	want := o.warmup + o.checkpoints
	progress("%d warm-up + %d measured checkpoints, %d updates (%.2g %%) between two ...", o.warmup, o.checkpoints, updates, 100*o.update)
	run = startJob(ctx, spec)
	// A trigger (Positions) after the warm-up ones starts a measured
	// checkpoint: count those that queue behind unprocessed updates.
	var lagBefore int64 = -1
	err = run.waitFor(ctx, func() bool {
		n := completedAfter(run.j.Stats(), res.full.ID)
		if lagBefore < 0 && n >= o.warmup {
			lagBefore = c.lagging.Load()
		}
		return n >= want
	})
	if err != nil {
		return res, fmt.Errorf("updates: %w", err)
	}
	res.lagging = c.lagging.Load() - max(lagBefore, 0)
	if err := run.stop(); err != nil {
		return res, fmt.Errorf("updates: %w", err)
	}
	stats = run.j.Stats()
	_, failed = run.j.Counts()
	res.failed += failed
	var done []checkpoint.Stats
	for _, s := range stats {
		if s.Status == checkpoint.StatusCompleted && s.ID > res.full.ID {
			done = append(done, s)
		}
	}
	sort.Slice(done, func(i, j int) bool { return done[i].ID < done[j].ID })
	if len(done) < want {
		return res, fmt.Errorf("updates: %d checkpoints completed, want %d", len(done), want)
	}
	res.incr = done[o.warmup:want]
	if err := copyOnce(2, done[len(done)-1].ID); err != nil {
		return res, err
	}
	return res, nil
}

// jobSpec is the benchmark job: one generating source, keyed tasks that
// write every record into value state.
func jobSpec(o options, st storage.Store, dir string, c *counters, log *zap.Logger, src func() operators.Source) job.Spec {
	return job.Spec{
		Name: "ckptbench", MaxParallelism: 128, Parallelism: o.parallelism,
		NewSources: func() ([]operators.Source, error) { return []operators.Source{src()}, nil },
		Chain: []operators.OperatorSpec{{Name: "write", New: func(int) (operators.Operator, error) {
			return &writer{c: c}, nil
		}}},
		Store:       st,
		ExactlyOnce: true,
		StateDir:    dir,
		Checkpoint: checkpoint.Config{
			Timeout: o.timeout, MaxConcurrent: 1, TolerableFailures: 3, Retained: 3,
			UploadConcurrency: uploadConcurrency,
		},
		// A failed checkpoint is reported, not retried from scratch.
		Classify: func(error) restart.Class { return restart.Permanent },
		Log:      log,
	}
}

// running is a job running in the background.
type running struct {
	j      *job.Job
	cancel context.CancelFunc
	errc   chan error
}

func startJob(ctx context.Context, spec job.Spec) *running {
	ctx, cancel := context.WithCancel(ctx)
	r := &running{j: job.New(spec), cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- r.j.Run(ctx) }()
	return r
}

// waitFor polls cond until it holds, the job ends or ctx is done.
func (r *running) waitFor(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case err := <-r.errc:
			r.errc <- err
			r.cancel()
			if err == nil {
				err = errors.New("the job stopped")
			}
			return err
		case <-ctx.Done():
			r.cancel()
			<-r.errc
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// stop cancels the job and waits for it.
func (r *running) stop() error {
	r.cancel()
	return <-r.errc
}

func completedAfter(stats []checkpoint.Stats, id int64) int {
	n := 0
	for _, s := range stats {
		if s.Status == checkpoint.StatusCompleted && s.ID > id {
			n++
		}
	}
	return n
}
