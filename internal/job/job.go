package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/restart"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// Spec describes a job.
type Spec struct {
	// Name of the job.
	Name string
	// MaxParallelism is the number of key groups; Parallelism the number
	// of keyed tasks.
	MaxParallelism, Parallelism int
	// NewSources makes the source tasks' sources, anew for each attempt.
	NewSources func() ([]operators.Source, error)
	// SourceChain runs in the source tasks, before the key exchange; its
	// operators must be stateless. Chain runs in the keyed tasks.
	SourceChain []operators.OperatorSpec
	Chain       []operators.OperatorSpec
	// Store is the checkpoint storage, rooted at the job (JobStore).
	Store storage.Store
	// Checkpoint configures the coordinator; its Job, Topology,
	// parallelism, LocalDir, Log and Now fields are filled in by Run.
	Checkpoint checkpoint.Config
	// ExactlyOnce aligns barriers; AlignmentTimeout > 0 falls back to
	// unaligned checkpoints.
	ExactlyOnce      bool
	AlignmentTimeout time.Duration
	// StateDir holds live state, restores and local snapshots.
	StateDir string
	// Restore says what to restore on the first attempt; later attempts
	// restore the newest complete checkpoint.
	Restore checkpoint.RestoreOptions
	// Settle, if set, settles the sink transactions a restored checkpoint
	// left pending (m is nil on a fresh start) before any task opens;
	// committed says they are known to be committed already. When they
	// cannot be completed but an older checkpoint's outputs are whole, it
	// returns that checkpoint's id with its error, and the job restores
	// that one instead.
	Settle func(ctx context.Context, m *checkpoint.Metadata, committed bool) (fallback int64, err error)
	// Restart is the restart strategy; the zero value means
	// config.DefaultRestart().
	Restart config.Restart
	// Classify tells failures to restart after from failures to stop on;
	// default restart.Classify.
	Classify func(error) restart.Class
	Log      *zap.Logger
	// Now is the clock, After the timer the restart strategy waits on, and
	// Rand the source of its jitter (time.Now, time.After, rand.Float64
	// when nil).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	Rand  func() float64
}

// Topology fingerprints the job graph: what a checkpoint must match to be
// restored.
func (s *Spec) Topology(sources int) string {
	h := sha256.New()
	fmt.Fprintf(h, "max_parallelism=%d\nparallelism=%d\nsources=%d\n", s.MaxParallelism, s.Parallelism, sources)
	for _, op := range s.SourceChain {
		fmt.Fprintf(h, "source-op=%s\n", op.Name)
	}
	for _, op := range s.Chain {
		fmt.Fprintf(h, "op=%s\n", op.Name)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Job is a running job; Run runs it.
type Job struct {
	spec Spec

	mu      sync.Mutex
	coord   *checkpoint.Coordinator
	graph   *operators.Graph
	ready   bool
	readied bool // the current attempt became ready
	onReady func()
	run     runState // restart.go
}

// SetOnReady sets a function called each time the job has restored and
// starts processing. Call it before Run.
func (j *Job) SetOnReady(fn func()) { j.onReady = fn }

// New returns a job for spec.
func New(spec Spec) *Job {
	if spec.Log == nil {
		spec.Log = zap.NewNop()
	}
	if spec.Now == nil {
		spec.Now = time.Now
	}
	if spec.After == nil {
		spec.After = time.After
	}
	if spec.Rand == nil {
		spec.Rand = rand.Float64
	}
	if spec.Restart == (config.Restart{}) {
		spec.Restart = config.DefaultRestart()
	}
	if spec.Classify == nil {
		spec.Classify = restart.Classify
	}
	j := &Job{spec: spec}
	j.run.state, j.run.since = StateStarting, spec.Now()
	onComplete := spec.Checkpoint.OnComplete
	j.spec.Checkpoint.OnComplete = func(m *checkpoint.Metadata) {
		j.checkpointCompleted(m)
		if onComplete != nil {
			onComplete(m)
		}
	}
	return j
}

// Coordinator returns the current attempt's checkpoint coordinator, or nil
// before the job restored.
func (j *Job) Coordinator() *checkpoint.Coordinator {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.coord
}

// Ready reports whether the job has restored and is processing.
func (j *Job) Ready() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.ready
}

// Permanent marks err as one that restarting the job cannot cure (lost
// output, say): Run returns it at once.
func Permanent(err error) error { return restart.MarkPermanent(err) }

// Run runs the job until ctx is done (it returns nil) or it fails for good.
// A failure — a task's error, more checkpoint failures in a row than
// tolerated, storage or Kafka unreachable, at the first start too — that
// Spec.Classify calls transient restarts the job from its newest complete
// checkpoint after the pause the restart strategy (Spec.Restart) says; a
// permanent one (a zombie, lost transactions, corrupt metadata, missing
// topics, refused credentials, an error marked Permanent), or more
// failures than the strategy's failure-rate limit allows, ends Run with
// the error.
func (j *Job) Run(ctx context.Context) error {
	restore := j.spec.Restore
	strategy := restart.New(j.spec.Restart, j.spec.Rand)
	for {
		j.beginAttempt()
		err := j.attempt(ctx, restore)
		if err == nil || ctx.Err() != nil {
			j.stopped()
			return nil
		}
		a, restored := j.endAttempt()
		class := j.spec.Classify(err)
		if class == restart.Permanent {
			j.failedAttempt(err, class, strategy.InARow()+1, 0)
			return err
		}
		pause, lerr := strategy.Failed(j.spec.Now(), a)
		if lerr != nil {
			err = fmt.Errorf("%w; last failure: %w", lerr, err)
			j.failedAttempt(err, restart.Permanent, strategy.InARow(), 0)
			return err
		}
		j.failedAttempt(err, class, strategy.InARow(), pause)
		j.spec.Log.Warn("restarting the job from its newest complete checkpoint", zap.Error(err),
			zap.Int("failures_in_a_row", strategy.InARow()), zap.Bool("made_progress", a.Progress),
			zap.Duration("ran", a.Ran), zap.Duration("after", pause))
		select {
		case <-j.spec.After(pause):
		case <-ctx.Done():
			j.stopped()
			return nil
		}
		if restored {
			// What to restore was asked for the first start only.
			restore = checkpoint.RestoreOptions{Topology: restore.Topology, Fallback: restore.Fallback, Log: restore.Log}
		}
	}
}

func (j *Job) attempt(ctx context.Context, ro checkpoint.RestoreOptions) (err error) {
	s := &j.spec
	log := s.Log
	j.mu.Lock()
	j.coord, j.graph, j.readied = nil, nil, false
	j.mu.Unlock()
	sources, err := s.NewSources()
	if err != nil {
		return err
	}
	defer func() {
		for _, src := range sources {
			if cerr := src.Close(); cerr != nil {
				log.Warn("close source", zap.Error(cerr))
			}
		}
	}()
	topology := s.Topology(len(sources))
	ro.Topology = topology
	if ro.Log == nil {
		ro.Log = log
	}
	m, err := checkpoint.FindRestorePoint(ctx, s.Store, ro)
	if err != nil {
		return err
	}
	if m, err = j.settle(ctx, m, ro); err != nil {
		return err
	}
	j.noteRestored(m)
	localDir := filepath.Join(s.StateDir, "checkpoints")
	if err := clearLocalSnapshots(localDir, m); err != nil {
		return err
	}
	restored := operators.Restored{InFlight: map[int][]operators.Record{}, Transactions: map[int][]operators.Transaction{}}
	var backends []*state.Backend
	defer func() {
		for _, b := range backends {
			if cerr := b.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close state: %w", cerr)
			}
		}
	}()
	if m != nil {
		// Every source gets every position: which task owns a partition
		// may change when partitions are added.
		var all []operators.Position
		for _, ps := range m.Positions() {
			all = append(all, ps...)
		}
		for _, tx := range m.PendingTransactions {
			restored.Transactions[tx.Task] = append(restored.Transactions[tx.Task], tx)
		}
		restored.Positions = map[int][]operators.Position{}
		for i := range sources {
			restored.Positions[i] = all
		}
		log.Info("restoring from checkpoint", zap.Int64("checkpoint", m.CheckpointID),
			zap.String("savepoint", m.Savepoint), zap.Time("completed_at", m.CompletedAt))
	} else {
		log.Info("no checkpoint to restore: starting fresh")
	}
	for k := range s.Parallelism {
		start, end := operators.KeyGroupRange(k, s.MaxParallelism, s.Parallelism)
		opts := state.Options{MaxParallelism: s.MaxParallelism, KeyGroups: state.KeyGroupRange{Start: start, End: end}, Logger: log.Named("pebble")}
		live := filepath.Join(s.StateDir, "live", "keyed-"+strconv.Itoa(k))
		var b *state.Backend
		if m == nil {
			b, err = state.Open(live, opts)
		} else {
			dest := filepath.Join(s.StateDir, "restore", "keyed-"+strconv.Itoa(k))
			var inFlight []operators.Record
			var reused int
			inFlight, reused, err = checkpoint.PrepareTask(ctx, s.Store, m, k, localDir, dest)
			if err == nil {
				restored.InFlight[k] = inFlight
				b, err = state.OpenFrom(dest, live, opts)
				_ = os.RemoveAll(dest)
				log.Debug("task state restored", zap.Int("task", k), zap.Int("local_files_reused", reused))
			}
		}
		if err != nil {
			return fmt.Errorf("open state of keyed-%d: %w", k, err)
		}
		backends = append(backends, b)
	}

	cc := s.Checkpoint
	cc.Job, cc.Topology = s.Name, topology
	cc.MaxParallelism, cc.Parallelism = s.MaxParallelism, s.Parallelism
	cc.LocalDir = localDir
	cc.Log, cc.Now = log.Named("checkpoint"), s.Now
	coord, err := checkpoint.New(ctx, cc, s.Store, m)
	if err != nil {
		return err
	}
	g, err := operators.NewGraph(operators.GraphConfig{
		MaxParallelism: s.MaxParallelism, ExactlyOnce: s.ExactlyOnce, AlignmentTimeout: s.AlignmentTimeout,
		LocalDir: localDir, Log: log, Now: s.Now,
	}, sources, backends, operators.Chains{Source: s.SourceChain, Keyed: s.Chain}, restored, coord)
	if err != nil {
		return err
	}
	j.mu.Lock()
	j.coord, j.graph, j.ready, j.readied = coord, g, true, true
	j.mu.Unlock()
	j.becameReady()
	defer func() {
		j.mu.Lock()
		j.ready = false
		j.mu.Unlock()
	}()
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return g.Run(ctx) })
	eg.Go(func() error {
		if err := coord.Run(ctx, g); err != nil {
			return err
		}
		return nil
	})
	return eg.Wait()
}

// DeadLetters is the number of records operators rejected, over every
// attempt.
func (j *Job) DeadLetters() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.graph == nil {
		return j.run.deadLetters
	}
	return j.run.deadLetters + j.graph.DeadLetters()
}

// settle runs Spec.Settle on m, falling back to the older checkpoint it
// names if it must.
func (j *Job) settle(ctx context.Context, m *checkpoint.Metadata, ro checkpoint.RestoreOptions) (*checkpoint.Metadata, error) {
	if j.spec.Settle == nil {
		return m, nil
	}
	if m != nil && ro.From != "" {
		// A checkpoint or savepoint named by hand is usually not the
		// newest: its transactions committed (or were aborted) long ago,
		// and the output written since it was taken is written again.
		j.spec.Log.Warn("restoring a named checkpoint: output written since it was taken will be written again",
			zap.Int64("checkpoint", m.CheckpointID), zap.String("from", ro.From))
		if _, err := j.spec.Settle(ctx, m, true); err != nil {
			return nil, err
		}
		return m, nil
	}
	fallback, err := j.spec.Settle(ctx, m, false)
	if err == nil {
		return m, nil
	}
	if fallback <= 0 {
		return nil, err
	}
	j.spec.Log.Error("restoring an older checkpoint whose output is whole", zap.Int64("checkpoint", fallback), zap.Error(err))
	ro.From = strconv.FormatInt(fallback, 10)
	older, ferr := checkpoint.FindRestorePoint(ctx, j.spec.Store, ro)
	if ferr != nil {
		return nil, fmt.Errorf("%w; checkpoint %d, which would replace it, cannot be restored: %w", err, fallback, ferr)
	}
	if _, err := j.spec.Settle(ctx, older, true); err != nil {
		return nil, err
	}
	return older, nil
}

// Stats returns the newest checkpoints' statistics, oldest first, over
// every attempt (in-process restarts included).
func (j *Job) Stats() []checkpoint.Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := append([]checkpoint.Stats(nil), j.run.stats...)
	if j.coord != nil {
		out = append(out, j.coord.Stats()...)
	}
	return out[max(0, len(out)-maxStats):]
}

// Counts returns how many checkpoints completed and failed, over every
// attempt (in-process restarts included).
func (j *Job) Counts() (completed, failed int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	completed, failed = j.run.completed, j.run.failed
	if j.coord != nil {
		cc, cf := j.coord.Counts()
		completed, failed = completed+cc, failed+cf
	}
	return completed, failed
}

// Savepoint takes a savepoint named name and returns its directory,
// relative to the job's checkpoint root.
func (j *Job) Savepoint(ctx context.Context, name string) (string, error) {
	c := j.Coordinator()
	if c == nil || !j.Ready() {
		return "", errors.New("job: not running")
	}
	return c.Savepoint(ctx, name)
}

// Drain stops the job cleanly: the sources stop reading, a final
// checkpoint is taken, and Drain returns once every task has handled its
// completion (sinks committed). Cancel Run's context afterwards.
func (j *Job) Drain(ctx context.Context) error {
	j.mu.Lock()
	c, g, ready := j.coord, j.graph, j.ready
	j.mu.Unlock()
	if !ready {
		return errors.New("job: not running")
	}
	id, err := c.Drain(ctx)
	if err != nil {
		return fmt.Errorf("final checkpoint: %w", err)
	}
	if err := g.AwaitNotified(ctx, id); err != nil {
		return fmt.Errorf("final checkpoint %d: waiting for tasks to commit: %w", id, err)
	}
	j.spec.Log.Info("final checkpoint complete and committed", zap.Int64("checkpoint", id))
	return nil
}

// clearLocalSnapshots removes the local snapshots a previous run left,
// but the restored checkpoint's (local recovery reads it): their ids may
// be used again, since ids continue from what reached storage.
func clearLocalSnapshots(dir string, m *checkpoint.Metadata) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("local snapshots: %w", err)
	}
	for _, e := range ents {
		if m != nil && e.Name() == fmt.Sprintf("chk-%d", m.CheckpointID) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("local snapshots: %w", err)
		}
	}
	return nil
}
