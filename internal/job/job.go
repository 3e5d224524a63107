package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
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
	// MaxRestarts bounds restarts in a row (without a checkpoint
	// completing in between) after ErrTooManyFailures. Default 3.
	MaxRestarts int
	Log         *zap.Logger
	Now         func() time.Time
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
	if spec.MaxRestarts == 0 {
		spec.MaxRestarts = 3
	}
	return &Job{spec: spec}
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

// permanent marks an error that no restart can cure.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Permanent marks err as one that restarting the job cannot cure (lost
// output, say): Run returns it at once.
func Permanent(err error) error { return permanent{err} }

// Run runs the job until ctx is done (it returns nil) or it fails. Once it
// has been running, a failure — a task's error, more checkpoint failures in
// a row than tolerated, storage or Kafka unreachable while restoring —
// restarts it from the newest complete checkpoint, after a growing pause
// (1 s, 2 s, 4 s, at most 10 s), up to MaxRestarts times in a row. The
// first start, a zombie and a Permanent error end Run at once.
func (j *Job) Run(ctx context.Context) error {
	restore := j.spec.Restore
	started := false
	// restarts counts restarts in a row: an attempt that completed a
	// checkpoint made progress, and starts the count again.
	for restarts := 0; ; restarts++ {
		err := j.attempt(ctx, restore)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if completed, _ := j.Counts(); completed > 0 {
			restarts = 0
		}
		started = started || j.wasReady()
		var p permanent
		if !started || errors.Is(err, checkpoint.ErrZombie) || errors.As(err, &p) || restarts >= j.spec.MaxRestarts {
			return err
		}
		pause := min(time.Second<<restarts, 10*time.Second)
		j.spec.Log.Warn("restarting the job from its newest complete checkpoint", zap.Error(err),
			zap.Int("restarts_in_a_row", restarts+1), zap.Duration("after", pause))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return nil
		}
		restore = checkpoint.RestoreOptions{Topology: restore.Topology, Fallback: restore.Fallback, Log: restore.Log}
	}
}

// wasReady reports whether the last attempt got as far as processing.
func (j *Job) wasReady() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.readied
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
	localDir := filepath.Join(s.StateDir, "checkpoints")
	if err := clearLocalSnapshots(localDir, m); err != nil {
		return err
	}
	restored := operators.Restored{InFlight: map[int][]operators.InFlight{}, Transactions: map[int][]operators.Transaction{}}
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
			var inFlight []operators.InFlight
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
	if j.onReady != nil {
		j.onReady()
	}
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

// DeadLetters is the number of records operators rejected in the current
// attempt.
func (j *Job) DeadLetters() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.graph == nil {
		return 0
	}
	return j.graph.DeadLetters()
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

// Stats returns the current attempt's checkpoint statistics.
func (j *Job) Stats() []checkpoint.Stats {
	if c := j.Coordinator(); c != nil {
		return c.Stats()
	}
	return nil
}

// Counts returns how many checkpoints completed and failed in the current
// attempt.
func (j *Job) Counts() (completed, failed int64) {
	if c := j.Coordinator(); c != nil {
		return c.Counts()
	}
	return 0, 0
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
