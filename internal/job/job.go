package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/crashpoint"
	"github.com/tidemark/tidemark/internal/restart"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
	"github.com/tidemark/tidemark/sink"
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
	// Graph, if set, is a job graph's physical plan (see GraphSpec);
	// NewGraphSources then makes each source stage's sources (by stage
	// name, one per task), anew for each attempt, and Description is
	// the plan's topology description (plan.Job.Description).
	// NewSources, SourceChain and Chain are not used.
	Graph           *operators.GraphSpec
	NewGraphSources func() (map[string][]operators.Source, error)
	Description     []string
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
	// StateMemory is the memory budget of the tasks' state, all of them
	// together (config key state.memory, state.Memory); 0:
	// state.DefaultMemory.
	StateMemory int64
	// Restore says what to restore on the first attempt; later attempts
	// restore the newest complete checkpoint.
	Restore checkpoint.RestoreOptions
	// Recovery, if set, examines and settles the sink transactions the
	// newest complete checkpoint left pending, before any task opens (a
	// transactional sink). Without it the target is restored as is.
	Recovery Recoverer
	// AcceptLoss restores even if sink transactions whose records precede
	// the restore point are lost (see sink.LostError).
	AcceptLoss bool
	// Owner, if set, is the job lease this instance holds: checkpoints
	// record its generation, a checkpoint's transactions commit only
	// while it holds, and a checkpoint a zombie completed is never
	// restored.
	Owner Owner
	// SinkPool is the transactional id pool of the sink, recorded in
	// every checkpoint (nil without a transactional sink); a job graph
	// records SinkPools instead, one per sink-bearing stage.
	SinkPool  *checkpoint.SinkPool
	SinkPools []checkpoint.SinkPool
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
	// Metrics, if set, records the job's metrics (NewMetrics): one per
	// job, across its attempts.
	Metrics *Metrics
}

// Recoverer settles a transactional sink's transactions at a restore:
// Examine finds out, committing nothing, what became of the newest
// checkpoint's pending transactions; Execute commits and aborts as the
// plan says (see package sink).
type Recoverer interface {
	Examine(ctx context.Context, pending []operators.Transaction) ([]sink.Examined, error)
	Execute(ctx context.Context, plan sink.Plan, examined []sink.Examined, pools []sink.Pool) error
}

// Owner is the job lease (checkpoint.Lease) as the job uses it.
type Owner interface {
	Generation() int64
	// Check returns an error wrapping checkpoint.ErrZombie once a newer
	// instance took the job over.
	Check(ctx context.Context) error
	// Fence records the newest checkpoint at the start of this
	// generation.
	Fence(ctx context.Context, newest int64) error
	// Lost is closed once a newer instance took the job over.
	Lost() <-chan struct{}
}

// Topology describes the job graph, one line per element — parallelism,
// and every operator with its type and the settings its state depends on
// — and fingerprints that description: a checkpoint is restored only into
// the same fingerprint.
func (s *Spec) Topology(sources int) (fingerprint string, desc []string) {
	desc = append(desc,
		fmt.Sprintf("max_parallelism=%d", s.MaxParallelism),
		fmt.Sprintf("parallelism=%d", s.Parallelism),
		fmt.Sprintf("source_tasks=%d", sources))
	for _, op := range s.SourceChain {
		desc = append(desc, strings.TrimSpace(fmt.Sprintf("source-operator name=%s %s", op.Name, op.Describe)))
	}
	for _, op := range s.Chain {
		desc = append(desc, strings.TrimSpace(fmt.Sprintf("operator name=%s %s", op.Name, op.Describe)))
	}
	h := sha256.New()
	for _, l := range desc {
		fmt.Fprintln(h, l)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], desc
}

// Job is a running job; Run runs it.
type Job struct {
	spec Spec

	mu      sync.Mutex
	coord   *checkpoint.Coordinator
	graph   *operators.Graph
	ready   bool
	readied bool // the current attempt became ready
	// finished: the bounded input was all processed and committed.
	finished bool
	onReady  func()
	run      runState // restart.go
	obs      observed // observe.go
	// restore is what the current attempt restored, for the restore
	// metrics: state size and bytes downloaded.
	restoreSize int64
	downloaded  atomic.Int64
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
		if !errors.Is(err, checkpoint.ErrZombie) {
			// An attempt that failed because a newer instance took the
			// job over (storage gone from under it, its transactions
			// fenced) says so, naming the new holder.
			if zerr := j.checkOwner(ctx); errors.Is(zerr, checkpoint.ErrZombie) {
				err = fmt.Errorf("%w (the job failed meanwhile: %v)", zerr, err)
			}
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
		j.spec.Metrics.restarted()
		j.spec.Log.Warn("restarting the job from its newest complete checkpoint", zap.Error(err),
			zap.Int("failures_in_a_row", strategy.InARow()), zap.Bool("made_progress", a.Progress),
			zap.Duration("ran", a.Ran), zap.Duration("after", pause))
		var lost <-chan struct{}
		if j.spec.Owner != nil {
			lost = j.spec.Owner.Lost()
		}
		select {
		case <-j.spec.After(pause):
		case <-lost:
			// A newer instance took the job over while this one waited
			// to restart (the pause grows to tens of seconds while a
			// broker or S3 is down): stop now, naming it.
			if zerr := j.checkOwner(ctx); errors.Is(zerr, checkpoint.ErrZombie) {
				j.failedAttempt(zerr, restart.Permanent, strategy.InARow(), 0)
				return zerr
			}
		case <-ctx.Done():
			j.stopped()
			return nil
		}
		if restored {
			// What to restore was asked for the first start only (a named
			// restore was recorded as a checkpoint); later attempts accept
			// no loss they were not told of.
			restore = checkpoint.RestoreOptions{Fallback: restore.Fallback, Log: restore.Log}
			j.spec.AcceptLoss = false
		}
	}
}

// checkOwner returns an error wrapping checkpoint.ErrZombie if a newer
// instance took the job over (nil without an Owner).
func (j *Job) checkOwner(ctx context.Context) error {
	if j.spec.Owner == nil {
		return nil
	}
	return j.spec.Owner.Check(ctx)
}
func (j *Job) attempt(ctx context.Context, ro checkpoint.RestoreOptions) (err error) {
	s := &j.spec
	log := s.Log
	j.mu.Lock()
	j.coord, j.graph, j.readied = nil, nil, false
	j.mu.Unlock()
	var sources []operators.Source
	var stageSources map[string][]operators.Source
	if s.Graph != nil {
		stageSources, err = s.NewGraphSources()
		for _, srcs := range stageSources {
			sources = append(sources, srcs...)
		}
	} else {
		sources, err = s.NewSources()
	}
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
	topology, desc := s.Topology(len(sources))
	if s.Graph != nil {
		desc = s.Description
		topology = fingerprint(desc)
	}
	ro.Topology, ro.Description = topology, desc
	if ro.Log == nil {
		ro.Log = log
	}
	// A newer instance may have taken the job over while this one was
	// stopped (paused, or restarting after a failure): it must not
	// recover, which commits and aborts the job's transactions.
	if err := j.checkOwner(ctx); err != nil {
		return err
	}
	if s.Owner != nil {
		if ro.Fences, err = checkpoint.LoadFences(ctx, s.Store); err != nil {
			return err
		}
	}
	plan, err := checkpoint.PlanRestore(ctx, s.Store, ro)
	if err != nil {
		return err
	}
	crashpoint.Hit(crashpoint.AfterRestorePoint)
	rec, err := j.recover(ctx, plan, ro, desc)
	if err != nil {
		return err
	}
	m := rec.restore
	j.noteRestored(m)
	j.downloaded.Store(0)
	j.restoreSize = 0
	if m != nil {
		j.restoreSize = m.StateSize()
	}
	fetch := countingStore{Store: s.Store, n: &j.downloaded}
	localDir := filepath.Join(s.StateDir, "checkpoints")
	if err := clearLocalSnapshots(localDir, m); err != nil {
		return err
	}
	restored := operators.Restored{InFlight: map[operators.TaskID][]operators.InFlight{}, Transactions: map[operators.TaskID][]operators.Transaction{}, HoldUntil: rec.holdUntil}
	for _, tx := range rec.held {
		id := operators.TaskID{Stage: "keyed", Index: tx.Task}
		if tx.Stage != "" {
			id.Stage = tx.Stage
		}
		restored.Transactions[id] = append(restored.Transactions[id], tx)
	}
	stateful := []operators.TaskID{}
	if s.Graph != nil {
		for _, st := range s.Graph.Stages {
			if st.Stateful {
				for i := range st.Tasks {
					stateful = append(stateful, operators.TaskID{Stage: st.Name, Index: i})
				}
			}
		}
	} else {
		for k := range s.Parallelism {
			stateful = append(stateful, operators.TaskID{Stage: "keyed", Index: k})
		}
	}
	backendOf := map[operators.TaskID]*state.Backend{}
	var backends []*state.Backend
	defer func() {
		for _, b := range backends {
			if cerr := b.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close state: %w", cerr)
			}
		}
	}()
	if m != nil {
		// Every source task gets every position of its source: which
		// task owns a partition may change when partitions are added.
		restored.Checkpoint = m.CheckpointID
		restored.Positions = m.Positions()
		log.Info("restoring from checkpoint", zap.Int64("checkpoint", m.CheckpointID),
			zap.String("savepoint", m.Savepoint), zap.Time("completed_at", m.CompletedAt))
	} else {
		log.Info("no checkpoint to restore: starting fresh")
	}
	tasksOf := map[string]int{}
	for _, id := range stateful {
		tasksOf[id.Stage]++
	}
	budget := s.StateMemory
	if budget == 0 {
		budget = state.DefaultMemory
	}
	mem, err := state.NewMemory(budget, len(stateful))
	if err != nil {
		return err
	}
	// Each open backend holds a reference of its own.
	defer mem.Release()
	rescaled := s.rescaled(m)
	if len(rescaled) > 0 {
		j.noteRescaled(rescaled)
		log.Info("restoring with other task counts than the checkpoint's: rescaling", zap.Int64("checkpoint", m.CheckpointID),
			zap.String("savepoint", m.Savepoint), zap.String("changes", plan.Rescale), zap.String("stages", describeRescale(rescaled)))
		byStage := map[string][]operators.TaskID{}
		for _, id := range stateful {
			if _, ok := rescaled[id.Stage]; ok {
				byStage[id.Stage] = append(byStage[id.Stage], id)
			}
		}
		for _, stage := range sortedKeys(byStage) {
			bs, inFlight, err := j.restoreRescaled(ctx, fetch, m, stage, byStage[stage], localDir, mem, log)
			if err != nil {
				for _, b := range backendOf { // not in backends yet
					_ = b.Close()
				}
				return err
			}
			maps.Copy(backendOf, bs)
			maps.Copy(restored.InFlight, inFlight)
		}
	}
	for _, id := range stateful {
		if b := backendOf[id]; b != nil {
			backends = append(backends, b) // rescaled; in task order
			continue
		}
		start, end := operators.KeyGroupRange(id.Index, s.MaxParallelism, tasksOf[id.Stage])
		opts := state.Options{MaxParallelism: s.MaxParallelism, KeyGroups: state.KeyGroupRange{Start: start, End: end}, Logger: log.Named("pebble"),
			Memory: mem}
		live := filepath.Join(s.StateDir, "live", id.String())
		var b *state.Backend
		if m == nil {
			b, err = state.Open(live, opts)
		} else {
			dest := filepath.Join(s.StateDir, "restore", id.String())
			var inFlight []operators.InFlight
			var reused int
			inFlight, reused, err = checkpoint.PrepareTask(ctx, fetch, m, id, localDir, dest)
			if err == nil {
				restored.InFlight[id] = inFlight
				b, err = state.OpenFrom(dest, live, opts)
				_ = os.RemoveAll(dest)
				log.Debug("task state restored", zap.Stringer("task", id), zap.Int("local_files_reused", reused))
			}
		}
		if err != nil {
			return fmt.Errorf("open state of %s: %w", id, err)
		}
		backends = append(backends, b)
		backendOf[id] = b
	}
	if m != nil && s.Graph != nil {
		// Stateless tasks keep in-flight data too.
		for _, ts := range m.Tasks {
			id := ts.ID()
			if _, ok := tasksOf[id.Stage]; ok || ts.InFlight == nil {
				continue
			}
			dest := filepath.Join(s.StateDir, "restore", id.String())
			inFlight, _, err := checkpoint.PrepareTask(ctx, fetch, m, id, localDir, dest)
			_ = os.RemoveAll(dest)
			if err != nil {
				return fmt.Errorf("in-flight data of %s: %w", id, err)
			}
			if c, ok := rescaled[id.Stage]; ok {
				// A stateless stage of another task count: any task
				// may take the records.
				for nid, fl := range rerouteInFlight([]checkpoint.TaskState{ts}, [][]operators.InFlight{inFlight}, id.Stage, c.to, s.MaxParallelism, false) {
					restored.InFlight[nid] = append(restored.InFlight[nid], fl...)
				}
				continue
			}
			restored.InFlight[id] = inFlight
		}
	}

	cc := s.Checkpoint
	cc.Job, cc.Topology, cc.TopologyDescription = s.Name, topology, desc
	cc.Sink, cc.Sinks = s.SinkPool, s.SinkPools
	if m != nil {
		cc.Origin = m.Origin
	}
	if s.Owner != nil {
		cc.Generation, cc.Confirm, cc.BeforeDelete = s.Owner.Generation(), s.Owner.Check, s.Owner.Check
		cc.Fence, cc.Fences = rec.fence, ro.Fences
	}
	cc.MaxParallelism, cc.Parallelism = s.MaxParallelism, s.Parallelism
	cc.LocalDir = localDir
	cc.Log, cc.Now = log.Named("checkpoint"), s.Now
	cc.Metrics = s.Metrics.checkpoint()
	coord, err := checkpoint.New(ctx, cc, s.Store, m)
	if err != nil {
		return err
	}
	gc := operators.GraphConfig{
		MaxParallelism: s.MaxParallelism, ExactlyOnce: s.ExactlyOnce, AlignmentTimeout: s.AlignmentTimeout,
		LocalDir: localDir, Log: log, Now: s.Now, Metrics: s.Metrics.tasks(),
	}
	if s.Owner != nil {
		gc.Guard = s.Owner.Check
	}
	var g *operators.Graph
	if s.Graph != nil {
		g, err = operators.NewDAG(gc, *s.Graph, stageSources, backendOf, restored, coord)
	} else {
		g, err = operators.NewGraph(gc, sources, backends, operators.Chains{Source: s.SourceChain, Keyed: s.Chain}, restored, coord)
	}
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
	if s.Owner != nil {
		eg.Go(func() error {
			select {
			case <-s.Owner.Lost():
				return s.Owner.Check(ctx)
			case <-ctx.Done():
				return nil
			}
		})
	}
	eg.Go(func() error {
		select {
		case <-g.Ended():
		case <-ctx.Done():
			return nil
		}
		// stop_at: end: every source read its last record and emitted
		// watermark +inf; the final checkpoint commits everything.
		log.Info("every source reached its end: taking the final checkpoint")
		id, err := coord.Drain(ctx)
		if err != nil {
			return fmt.Errorf("final checkpoint at the end of the input: %w", err)
		}
		if err := g.AwaitNotified(ctx, id); err != nil {
			return fmt.Errorf("final checkpoint %d: waiting for tasks to commit: %w", id, err)
		}
		log.Info("final checkpoint complete and committed: the job is done", zap.Int64("checkpoint", id))
		return errFinished
	})
	if err := eg.Wait(); !errors.Is(err, errFinished) {
		return err
	}
	j.mu.Lock()
	j.finished = true
	j.mu.Unlock()
	return nil
}

// errFinished ends an attempt whose bounded input is all processed and
// committed.
var errFinished = errors.New("job: finished")

// Finished reports whether the job ended because every source reached
// its end (stop_at: end) and the final checkpoint committed.
func (j *Job) Finished() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.finished
}

// fingerprint hashes topology description lines as Spec.Topology does.
func fingerprint(desc []string) string {
	h := sha256.New()
	for _, l := range desc {
		fmt.Fprintln(h, l)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
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

// recovered is what recover decided.
type recovered struct {
	restore   *checkpoint.Metadata // nil: start fresh
	held      []operators.Transaction
	holdUntil int64
	fence     int64 // the newest complete checkpoint once recovered
}

// recover settles the sink transactions of the newest complete checkpoint
// and decides what to restore. When that is not the newest checkpoint as
// it is — a checkpoint or savepoint named with --from, or an older one
// because some of the newest one's transactions are lost — it first writes
// the decision as a new checkpoint (checkpoint.Rebase) holding the state
// to restore and the transactions to commit, so that a crash at any later
// step restores the same thing; then it commits and aborts.
func (j *Job) recover(ctx context.Context, plan *checkpoint.RestorePlan, ro checkpoint.RestoreOptions, desc []string) (recovered, error) {
	s := &j.spec
	log := s.Log
	r := sink.Recovery{Fallbacks: plan.OlderIDs(), Named: plan.Named, AcceptLoss: s.AcceptLoss}
	for _, m := range plan.Older {
		r.Listed = append(r.Listed, m.PendingTransactions...)
	}
	var pools []sink.Pool
	// A rescale restores into other task counts: the new tasks may open
	// transactions on ids the newest checkpoint's pools do not cover
	// before a checkpoint records the new pools, so recovery fences
	// those too (and a rebase records both).
	rescale := plan.Rescale != "" || len(s.rescaled(plan.Target)) > 0
	var rescalePools []checkpoint.SinkPool
	if n := plan.Newest; n != nil {
		r.Newest, r.Pending = n.CheckpointID, n.PendingTransactions
		// Every pool the newest checkpoint records (the single-chain
		// sink's, or each sink-bearing stage's): ids a previous run
		// may have left a transaction on.
		sps := n.SinkPools()
		if rescale {
			sps = checkpoint.UnionPools(sps, s.currentPools())
			rescalePools = sps
		}
		for _, sp := range sps {
			pools = append(pools, sink.Pool{Prefix: sp.TransactionalIDPrefix, Stage: sp.Stage, Tasks: sp.Tasks, Slots: sp.PoolSize})
		}
	}
	r.Pools = pools
	if plan.Target != nil {
		r.Target = plan.Target.CheckpointID
	}
	var examined []sink.Examined
	if s.Recovery != nil {
		var err error
		if examined, err = s.Recovery.Examine(ctx, r.Pending); err != nil {
			return recovered{}, err
		}
	}
	var p sink.Plan
	if ro.Fresh {
		// Start over without state: what the newest checkpoint's
		// transactions hold is output of the old run; commit it.
		for _, e := range examined {
			if e.Verdict == sink.Committable {
				p.Commit = append(p.Commit, e.Transaction)
			}
		}
		log.Warn("--fresh: starting without state; sources start at source.start_offset and output already committed stays", zap.Int64("newest_checkpoint", r.Newest))
	} else {
		var err error
		if p, err = sink.Decide(r, examined); err != nil {
			var lost *sink.LostError
			if errors.As(err, &lost) {
				return recovered{}, Permanent(err) // output is lost: restarting cannot cure it
			}
			return recovered{}, err
		}
	}
	out := recovered{restore: plan.Target, held: r.Pending, holdUntil: r.Newest}
	newest := r.Newest
	// What follows writes a checkpoint, commits and aborts: only while
	// this instance holds the job (it may have been paused since).
	if err := j.checkOwner(ctx); err != nil {
		return recovered{}, err
	}
	if !ro.Fresh && plan.Target != nil && (plan.Named || p.Restore != r.Newest) {
		from := plan.Target
		origin := ""
		if plan.Named {
			origin = checkpoint.Origin(ro.From)
			if len(p.Duplicated) > 0 || len(p.Commit) > 0 && from.CheckpointID < r.Newest {
				log.Warn("restoring a named checkpoint: output committed after it is written again",
					zap.String("from", ro.From), zap.Int64("checkpoint", from.CheckpointID), zap.Int64("newest_checkpoint", r.Newest),
					zap.Int("transactions_committed_after_it", len(p.Duplicated)))
			} else {
				log.Info("restoring a named checkpoint: nothing was committed after it, output stays exactly-once",
					zap.String("from", ro.From), zap.Int64("checkpoint", from.CheckpointID))
			}
		} else {
			from = plan.ByID(p.Restore)
			origin = fmt.Sprintf("fallback:%d", p.Restore)
			log.Error("some transactions of the newest checkpoint are lost: restoring an older checkpoint whose output is whole; what came after it is written again",
				zap.Int64("newest_checkpoint", r.Newest), zap.Int64("checkpoint", p.Restore))
		}
		id, err := checkpoint.NextID(ctx, s.Store)
		if err != nil {
			return recovered{}, err
		}
		var gen int64
		if s.Owner != nil {
			gen = s.Owner.Generation()
		}
		sinkPool, sinkPools := s.SinkPool, s.SinkPools
		if len(rescalePools) > 0 {
			sinkPool, sinkPools = nil, rescalePools
		}
		k, err := checkpoint.Rebase(ctx, s.Store, from, id, gen, origin, p.Commit, sinkPool, sinkPools, ro.Topology, desc)
		if err != nil {
			return recovered{}, fmt.Errorf("record the restore of checkpoint %d as checkpoint %d: %w", from.CheckpointID, id, err)
		}
		log.Info("restore recorded as a new checkpoint", zap.Int64("checkpoint", id), zap.Int64("from", from.CheckpointID), zap.String("origin", origin))
		out = recovered{restore: k, held: p.Commit, holdUntil: id}
		newest = id
	}
	if s.Recovery != nil {
		if err := j.checkOwner(ctx); err != nil {
			return recovered{}, err
		}
		if err := s.Recovery.Execute(ctx, p, examined, pools); err != nil {
			return recovered{}, err
		}
		s.Metrics.sink().Settled(p)
	}
	if s.Owner != nil {
		if err := s.Owner.Fence(ctx, newest); err != nil {
			return recovered{}, err
		}
	}
	out.fence = newest
	if ro.Fresh {
		out.restore = nil
	}
	return out, nil
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
	_, err := j.DrainSavepoint(ctx, "")
	return err
}

// DrainSavepoint is Drain whose final checkpoint is also written as the
// savepoint name (stop with savepoint; "" for none). It returns the
// savepoint's directory.
func (j *Job) DrainSavepoint(ctx context.Context, name string) (string, error) {
	j.mu.Lock()
	c, g, ready := j.coord, j.graph, j.ready
	j.mu.Unlock()
	if !ready {
		return "", errors.New("job: not running")
	}
	id, dir, err := c.DrainSavepoint(ctx, name)
	if err != nil {
		return "", fmt.Errorf("final checkpoint: %w", err)
	}
	if err := g.AwaitNotified(ctx, id); err != nil {
		return "", fmt.Errorf("final checkpoint %d: waiting for tasks to commit: %w", id, err)
	}
	j.spec.Log.Info("final checkpoint complete and committed", zap.Int64("checkpoint", id), zap.String("savepoint", dir))
	return dir, nil
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
