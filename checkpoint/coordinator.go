package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/crashpoint"
	"github.com/tidemark/tidemark/operators"
)

// Errors that end Coordinator.Run; the job restarts from its newest
// complete checkpoint, or stops.
var (
	// ErrTooManyFailures: more checkpoints failed in a row than tolerated.
	ErrTooManyFailures = errors.New("checkpoint: too many checkpoint failures in a row")
	// ErrZombie: another instance completed the same checkpoint first;
	// this one must stop.
	ErrZombie = errors.New("checkpoint: another instance has taken the job over: this instance is a zombie and stops")
)

// Config configures a Coordinator.
type Config struct {
	Job      string
	Topology string
	// TopologyDescription, Generation (the job lease's), Origin (the
	// lineage's, see Metadata), Sink and Sinks are written into every
	// checkpoint's metadata.
	TopologyDescription []string
	Generation          int64
	Origin              string
	Sink                *SinkPool
	Sinks               []SinkPool
	// Confirm, if set, is called after a checkpoint's metadata is written
	// and before any task learns that it is complete; an error wrapping
	// ErrZombie (a newer instance took the job over) stops Run without
	// notifying anyone, so no transaction of the checkpoint commits. When
	// a checkpoint's metadata exists already, Confirm decides who is the
	// zombie: if it returns nil, the other writer was, and the checkpoint
	// fails (its id skipped).
	Confirm func(ctx context.Context) error
	// Fence is the newest complete checkpoint when this generation
	// started: a complete checkpoint above it written by an older
	// generation is a zombie's, never restored, and collected.
	Fence int64
	// Fences, if set, are the fences of the lease's other generations
	// (LoadFences): a complete checkpoint they rule out (Fences.Valid) is
	// collected too, as restore never chooses it.
	Fences Fences
	// MaxParallelism and Parallelism (of keyed tasks) give each task's key
	// group range in the metadata.
	MaxParallelism, Parallelism int
	Interval, Timeout, MinPause time.Duration
	// FirstAfter is how long after the coordinator starts it triggers its
	// first checkpoint; 0 triggers it at once. The runner sets it to half
	// the Interval: a checkpoint at start, before any record was read,
	// commits nothing, so output would wait for the second one; one a whole
	// interval after start makes the first output visible only an
	// interval plus start-up plus the checkpoint's duration after start
	// (issue 11: 1.43 s at a 1 s interval).
	FirstAfter        time.Duration
	MaxConcurrent     int
	TolerableFailures int
	Retained          int
	// SavepointsRetained is how many complete savepoints are kept: older
	// ones are deleted at start and after each savepoint (savepoints.go).
	// 0 keeps every savepoint. Partial savepoints are deleted then too.
	SavepointsRetained int
	// LocalDir is where tasks put their snapshots (chk-<n>/<task>/); the
	// newest complete one stays for local recovery.
	LocalDir string
	// UploadConcurrency is the number of task snapshots uploaded at once.
	// Default 2.
	UploadConcurrency int
	// ReuseChecks is how many of the shared files a task's snapshot reuses
	// are checked to still exist in storage (one Stat each) per
	// checkpoint, round-robin, so that a file deleted behind the
	// processor's back is uploaded again within ceil(files/ReuseChecks)
	// checkpoints. Default 2; negative: no checks.
	ReuseChecks int
	// BeforeDelete, if set, is called before garbage collection deletes
	// anything from storage (before each deletion: keep it cheap). An error
	// vetoes the deletion and ends that collection; the next one tries
	// again. It is where the job's ownership of storage is checked, so
	// that an instance that lost it deletes nothing.
	BeforeDelete func(ctx context.Context) error
	Log          *zap.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// OnComplete, if set, is called with each completed checkpoint's
	// metadata, on the coordinator's goroutine: it must not block.
	OnComplete func(*Metadata)
	// OnFailure, if set, is called with the statistics of each failed
	// checkpoint, on the coordinator's goroutine: it must not block.
	OnFailure func(Stats)
	// OnGC, if set, is called after each garbage collection with its
	// error, from a background goroutine: it must not block.
	OnGC func(error)
	// Metrics, if set, records checkpoint durations, sizes and counts
	// (one per job, shared by its coordinators: see NewMetrics).
	Metrics *Metrics
}

// Graph is what the coordinator drives: a running operators.Graph.
type Graph interface {
	Tasks() []operators.TaskID
	Trigger(id int64)
	TriggerFinal(id int64)
	NotifyComplete(id int64, positions map[operators.TaskID][]operators.Position)
}

// Coordinator triggers checkpoints, collects every task's part, uploads
// keyed state in the background, completes a checkpoint by writing its
// metadata last, and notifies the tasks. It implements
// operators.Checkpointer.
type Coordinator struct {
	cfg    Config
	st     storage.Store
	log    *zap.Logger
	events *queue[event]
	hist   history

	// Owned by Run's goroutine.
	g         Graph
	sourceIDs []operators.TaskID
	taskIDs   []operators.TaskID
	stageSize map[string]int // tasks per stage
	uploaders map[operators.TaskID]*uploader
	nextID    int64
	pending   map[int64]*inFlight
	lastStart time.Time
	lastEnd   time.Time
	failures  int
	latest    *Metadata
	// reg tracks which shared files checkpoints in flight, retained
	// checkpoints and savepoint copies use: garbage collection deletes no
	// other.
	reg       *registry
	draining  bool
	gcRunning bool
	// gcReport, when set (CollectGarbage), records what collection
	// deletes; with gcDry it only records.
	gcReport   *GCReport
	gcDry      bool
	gcGone     map[string]bool // what a dry run took for deleted
	gcAgain    bool
	uploadSem  chan struct{}
	background sync.WaitGroup
	bgCtx      context.Context

	// spWriting are the savepoints being written (savepoints.go).
	spWriting writingSavepoints
}

type event struct {
	src       *operators.SourceSnapshot
	task      *operators.TaskSnapshot
	upload    *uploadDone
	decline   *decline
	savepoint *savepointRequest
	gcDone    bool
}

type uploadDone struct {
	snap operators.TaskSnapshot
	res  uploadResult
	err  error
	took time.Duration
}

type decline struct {
	task operators.TaskID
	id   int64
	err  error
}

// savepointRequest asks for a checkpoint now: a savepoint (name set) or
// the final checkpoint of a shutdown (final).
type savepointRequest struct {
	name  string
	final bool
	reply chan savepointResult
}

type savepointResult struct {
	dir string
	id  int64
	err error
}

// inFlight is a triggered checkpoint not yet complete.
type inFlight struct {
	id int64
	// ctx is the checkpoint's uploads' context: cancel ends them when the
	// checkpoint completes or fails, freeing their upload slots.
	ctx       context.Context
	cancel    context.CancelFunc
	savepoint *savepointRequest
	stats     Stats
	deadline  time.Time
	sources   map[operators.TaskID]operators.SourceSnapshot
	tasks     map[operators.TaskID]taskPart
	// maybeWritten: writing the metadata failed, but the write may have
	// happened (a lost response), so the checkpoint's files stay held
	// like a complete checkpoint's until collection finds it gone.
	maybeWritten bool
}

type taskPart struct {
	snap operators.TaskSnapshot
	res  uploadResult
}

// New returns a coordinator writing to st (rooted at the job, see
// JobStore). restored is the checkpoint the job restored from, or nil.
// Checkpoint ids continue after the highest id in st.
func New(ctx context.Context, cfg Config, st storage.Store, restored *Metadata) (*Coordinator, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UploadConcurrency <= 0 {
		cfg.UploadConcurrency = 2
	}
	if cfg.ReuseChecks == 0 {
		cfg.ReuseChecks = 2
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 1
	}
	if cfg.Retained <= 0 {
		cfg.Retained = 1
	}
	l, err := list(ctx, st)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{
		cfg: cfg, st: st, log: cfg.Log, events: newQueue[event](), hist: history{limit: 100},
		uploaders: map[operators.TaskID]*uploader{}, stageSize: map[string]int{}, nextID: l.maxID + 1, pending: map[int64]*inFlight{},
		reg: newRegistry(), latest: restored, uploadSem: make(chan struct{}, cfg.UploadConcurrency),
	}
	if restored != nil {
		if restored.Savepoint == "" {
			// A savepoint's files are its own; a checkpoint's shared files
			// are what the first checkpoints reuse.
			c.reg.hold(restored.CheckpointID, sharedKeys(restored), true)
		}
		c.nextID = max(c.nextID, restored.CheckpointID+1)
	}
	cfg.Metrics.coordinatorStarted(cfg.Interval, restored)
	return c, nil
}

// SourceSnapshot implements operators.Checkpointer.
func (c *Coordinator) SourceSnapshot(s operators.SourceSnapshot) { c.events.put(event{src: &s}) }

// TaskSnapshot implements operators.Checkpointer.
func (c *Coordinator) TaskSnapshot(s operators.TaskSnapshot) { c.events.put(event{task: &s}) }

// Decline implements operators.Checkpointer.
func (c *Coordinator) Decline(task operators.TaskID, id int64, err error) {
	c.events.put(event{decline: &decline{task: task, id: id, err: err}})
}

// Stats returns the newest checkpoints' statistics, oldest first.
func (c *Coordinator) Stats() []Stats { return c.hist.list() }

// Counts returns how many checkpoints completed and failed since start.
func (c *Coordinator) Counts() (completed, failed int64) {
	c.hist.mu.Lock()
	defer c.hist.mu.Unlock()
	return c.hist.completed, c.hist.failed
}

// Savepoint takes a checkpoint now and copies it, self-contained, to
// savepoints/<name>/. It returns the savepoint's directory key. Run must be
// running.
func (c *Coordinator) Savepoint(ctx context.Context, name string) (string, error) {
	if err := ValidateSavepointName(name); err != nil {
		return "", err
	}
	req := &savepointRequest{name: name, reply: make(chan savepointResult, 1)}
	c.events.put(event{savepoint: req})
	select {
	case r := <-req.reply:
		return r.dir, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Drain takes the job's final checkpoint: the sources stop reading after
// its barrier. It returns the checkpoint's id once it is complete and its
// completion was sent to the tasks; no checkpoint is triggered after it.
// Run must be running.
func (c *Coordinator) Drain(ctx context.Context) (int64, error) {
	id, _, err := c.DrainSavepoint(ctx, "")
	return id, err
}

// DrainSavepoint is Drain whose final checkpoint is also copied to
// savepoints/<name>/ (stop with savepoint: restoring it loses and repeats
// nothing); "" takes no savepoint. It returns the checkpoint's id and the
// savepoint's directory.
func (c *Coordinator) DrainSavepoint(ctx context.Context, name string) (int64, string, error) {
	if name != "" {
		if err := ValidateSavepointName(name); err != nil {
			return 0, "", err
		}
	}
	req := &savepointRequest{name: name, final: true, reply: make(chan savepointResult, 1)}
	c.events.put(event{savepoint: req})
	select {
	case r := <-req.reply:
		return r.id, r.dir, r.err
	case <-ctx.Done():
		return 0, "", ctx.Err()
	}
}

// Run drives checkpoints of g until ctx is done (it returns nil) or the job
// must restart (ErrTooManyFailures) or stop (ErrZombie). It first collects
// what earlier runs left behind.
func (c *Coordinator) Run(ctx context.Context, g Graph) error {
	c.g = g
	for _, t := range g.Tasks() {
		c.stageSize[t.Stage]++
	}
	for _, t := range g.Tasks() {
		if t.IsSource() {
			c.sourceIDs = append(c.sourceIDs, t)
			continue
		}
		c.taskIDs = append(c.taskIDs, t)
		var files []FileHandle
		if c.latest != nil {
			// A restored task's files are the base of its uploads only
			// if it held the same key groups: after a rescale, a task of
			// the same id was built from other tasks' files, whose
			// names may repeat with other contents.
			start, end := operators.KeyGroupRange(t.Index, c.cfg.MaxParallelism, c.stageSize[t.Stage])
			for _, ts := range c.latest.Tasks {
				if ts.ID() == t && ts.KeyGroups == [2]int{start, end} {
					files = ts.Files
				}
			}
		}
		c.uploaders[t] = newUploader(c.st, c.reg, t, c.cfg.Generation, files, c.cfg.ReuseChecks, c.log)
	}
	bgCtx, cancel := context.WithCancel(ctx)
	c.bgCtx = bgCtx
	defer func() {
		cancel()
		c.background.Wait()
		for _, p := range c.pending {
			c.fail(p, "job stopped", false)
		}
	}()
	c.verifyRestored(ctx)
	c.startGC()
	c.collectSavepointsInBackground()
	c.lastStart = c.cfg.Now().Add(min(c.cfg.FirstAfter, c.cfg.Interval) - c.cfg.Interval)

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := c.cfg.Now()
		if err := c.expire(now); err != nil {
			return err
		}
		c.maybeTrigger(now, nil)
		timer.Reset(c.nextWake(now))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-c.events.ready:
			for _, ev := range c.events.take() {
				if err := c.handle(ctx, ev); err != nil {
					return err
				}
			}
		}
	}
}

func (c *Coordinator) nextWake(now time.Time) time.Duration {
	next := c.lastStart.Add(c.cfg.Interval)
	if e := c.lastEnd.Add(c.cfg.MinPause); e.After(next) {
		next = e
	}
	for _, p := range c.pending {
		if p.deadline.Before(next) {
			next = p.deadline
		}
	}
	return max(next.Sub(now), time.Millisecond)
}

// maybeTrigger starts a checkpoint when one is due (or sp asks for one).
func (c *Coordinator) maybeTrigger(now time.Time, sp *savepointRequest) {
	if c.draining {
		if sp != nil {
			sp.reply <- savepointResult{err: errors.New("checkpoint: the job is shutting down")}
		}
		return
	}
	if sp == nil {
		if len(c.pending) >= c.cfg.MaxConcurrent || now.Before(c.lastStart.Add(c.cfg.Interval)) ||
			(!c.lastEnd.IsZero() && now.Before(c.lastEnd.Add(c.cfg.MinPause))) {
			return
		}
	}
	id := c.nextID
	c.nextID++
	p := &inFlight{
		id: id, savepoint: sp, deadline: now.Add(c.cfg.Timeout),
		sources: map[operators.TaskID]operators.SourceSnapshot{}, tasks: map[operators.TaskID]taskPart{},
		stats: Stats{ID: id, Status: StatusInProgress, TriggeredAt: now},
	}
	p.ctx, p.cancel = context.WithCancel(c.bgCtx)
	c.reg.begin(id)
	if sp != nil {
		p.stats.Savepoint = sp.name
	}
	c.pending[id] = p
	c.cfg.Metrics.pending(len(c.pending))
	c.lastStart = now
	c.hist.put(p.stats)
	if sp != nil && sp.final {
		c.draining = true
		c.log.Info("final checkpoint triggered", zap.Int64("checkpoint", id))
		c.g.TriggerFinal(id)
		return
	}
	c.log.Debug("checkpoint triggered", zap.Int64("checkpoint", id))
	c.g.Trigger(id)
}

func (c *Coordinator) expire(now time.Time) error {
	for _, p := range c.sortedPending() {
		if !now.Before(p.deadline) {
			if err := c.fail(p, fmt.Sprintf("timed out after %s", c.cfg.Timeout), true); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Coordinator) sortedPending() []*inFlight {
	ps := make([]*inFlight, 0, len(c.pending))
	for _, p := range c.pending {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].id < ps[j].id })
	return ps
}

func (c *Coordinator) handle(ctx context.Context, ev event) error {
	switch {
	case ev.src != nil:
		p := c.pending[ev.src.CheckpointID]
		if p == nil {
			return nil
		}
		p.sources[ev.src.Task] = *ev.src
		return c.tryComplete(ctx, p)
	case ev.task != nil:
		p := c.pending[ev.task.CheckpointID]
		if p == nil {
			_ = os.RemoveAll(ev.task.Dir)
			return nil
		}
		c.startUpload(p, *ev.task)
		return nil
	case ev.upload != nil:
		u := ev.upload
		p := c.pending[u.snap.CheckpointID]
		if p == nil {
			return nil
		}
		if u.err != nil {
			if c.bgCtx.Err() != nil {
				return nil // stopping: the upload was cancelled, not failed
			}
			return c.fail(p, fmt.Sprintf("upload of %s failed: %v", u.snap.Task, u.err), true)
		}
		c.uploaders[u.snap.Task].accepted(p.id, u.res.files)
		p.tasks[u.snap.Task] = taskPart{snap: u.snap, res: u.res}
		s := &p.stats
		s.SyncDuration = max(s.SyncDuration, u.snap.SyncDuration)
		s.AlignmentDuration = max(s.AlignmentDuration, u.snap.AlignDuration)
		if !u.snap.FirstBarrier.IsZero() {
			s.StartDelay = max(s.StartDelay, u.snap.FirstBarrier.Sub(s.TriggeredAt))
		}
		s.AsyncDuration = max(s.AsyncDuration, u.took)
		s.Unaligned = s.Unaligned || u.snap.Unaligned
		s.BytesUploaded += u.res.uploaded
		s.FilesUploaded += u.res.uploadN
		s.FilesReused += u.res.reusedN
		s.FilesMissing += u.res.missingN
		return c.tryComplete(ctx, p)
	case ev.decline != nil:
		p := c.pending[ev.decline.id]
		if p == nil {
			return nil
		}
		return c.fail(p, fmt.Sprintf("%s declined: %v", ev.decline.task, ev.decline.err), true)
	case ev.savepoint != nil:
		c.maybeTrigger(c.cfg.Now(), ev.savepoint)
	case ev.gcDone:
		c.gcRunning = false
		if c.gcAgain {
			c.gcAgain = false
			c.startGC()
		}
	}
	return nil
}

// startUpload uploads a task's snapshot for p in the background, in one
// of UploadConcurrency slots. The upload ends when p does: a checkpoint
// that timed out or failed gives its slots to the next one.
func (c *Coordinator) startUpload(p *inFlight, snap operators.TaskSnapshot) {
	up := c.uploaders[snap.Task]
	ctx := p.ctx
	c.background.Go(func() {
		select {
		case c.uploadSem <- struct{}{}:
		case <-ctx.Done():
			c.events.put(event{upload: &uploadDone{snap: snap, err: ctx.Err()}})
			return
		}
		defer func() { <-c.uploadSem }()
		start := c.cfg.Now()
		res, err := up.upload(ctx, snap.CheckpointID, snap)
		c.events.put(event{upload: &uploadDone{snap: snap, res: res, err: err, took: c.cfg.Now().Sub(start)}})
	})
}

func (c *Coordinator) tryComplete(ctx context.Context, p *inFlight) error {
	if len(p.sources) < len(c.sourceIDs) || len(p.tasks) < len(c.taskIDs) {
		return nil
	}
	now := c.cfg.Now()
	m := &Metadata{
		Job: c.cfg.Job, Topology: c.cfg.Topology, TopologyDescription: c.cfg.TopologyDescription,
		CheckpointID: p.id, Generation: c.cfg.Generation, Origin: c.cfg.Origin, Sink: c.cfg.Sink, Sinks: c.cfg.Sinks,
		TriggeredAt: p.stats.TriggeredAt, CompletedAt: now, MaxParallelism: c.cfg.MaxParallelism,
		Unaligned: p.stats.Unaligned,
	}
	positions := map[operators.TaskID][]operators.Position{}
	for _, id := range c.sourceIDs {
		s := p.sources[id]
		m.Sources = append(m.Sources, SourceState{Task: id.Index, Stage: stageField(id), Source: s.Source, Positions: s.Positions, Watermark: s.Watermark})
		m.PendingTransactions = append(m.PendingTransactions, s.Transactions...)
		positions[id] = s.Positions
	}
	for _, id := range c.taskIDs {
		t := p.tasks[id]
		m.PendingTransactions = append(m.PendingTransactions, t.snap.Transactions...)
		start, end := operators.KeyGroupRange(id.Index, c.cfg.MaxParallelism, c.stageSize[id.Stage])
		m.Tasks = append(m.Tasks, TaskState{Task: id.Index, Stage: stageField(id), KeyGroups: [2]int{start, end}, Files: t.res.files, InFlight: t.res.inFlight, Watermark: t.snap.Watermark})
	}
	data, err := EncodeMetadata(m)
	if err != nil {
		return c.fail(p, err.Error(), true)
	}
	if err := c.st.PutIfAbsent(ctx, MetadataKey(p.id), bytes.NewReader(data), int64(len(data))); err != nil {
		if errors.Is(err, storage.ErrExists) {
			if c.cfg.Confirm == nil {
				return fmt.Errorf("%w (checkpoint %d)", ErrZombie, p.id)
			}
			if err := c.cfg.Confirm(ctx); err != nil {
				return fmt.Errorf("checkpoint %d exists already: %w", p.id, err)
			}
			// A zombie wrote it: skip past every id it used.
			if l, lerr := list(ctx, c.st); lerr == nil {
				c.nextID = max(c.nextID, l.maxID+1)
			}
			return c.fail(p, "its id was taken by an instance that lost the job", false)
		}
		p.maybeWritten = true
		if ctx.Err() != nil {
			return nil
		}
		return c.fail(p, fmt.Sprintf("write metadata: %v", err), true)
	}
	crashpoint.Hit(crashpoint.AfterMetadata)
	if c.cfg.Confirm != nil {
		if err := c.cfg.Confirm(ctx); err != nil {
			if errors.Is(err, ErrZombie) {
				return fmt.Errorf("checkpoint %d written but not committed: %w", p.id, err)
			}
			// Ownership unknown (storage unreachable): commit nothing.
			return c.fail(p, fmt.Sprintf("confirm the job lease: %v", err), true)
		}
	}
	delete(c.pending, p.id)
	p.cancel()
	c.reg.complete(p.id)
	c.latest = m
	c.failures = 0
	c.lastEnd = now
	c.cfg.Metrics.pending(len(c.pending))
	p.stats.Status = StatusCompleted
	p.stats.Duration = now.Sub(p.stats.TriggeredAt)
	p.stats.StateSize = m.StateSize()
	c.hist.put(p.stats)
	c.cfg.Metrics.completed(p.stats, m)
	for _, u := range c.uploaders {
		u.completed(p.id)
	}
	c.log.Info("checkpoint complete",
		zap.Int64("checkpoint", p.id), zap.Duration("duration", p.stats.Duration),
		zap.Duration("start_delay", p.stats.StartDelay), zap.Duration("alignment", p.stats.AlignmentDuration),
		zap.Duration("sync", p.stats.SyncDuration), zap.Duration("async", p.stats.AsyncDuration),
		zap.Int64("bytes_uploaded", p.stats.BytesUploaded), zap.Int64("state_size", p.stats.StateSize),
		zap.Bool("unaligned", p.stats.Unaligned))
	// Older checkpoints still in flight are subsumed by this one.
	for _, o := range c.sortedPending() {
		if o.id < p.id {
			_ = c.fail(o, fmt.Sprintf("subsumed by checkpoint %d", p.id), false)
		}
	}
	c.g.NotifyComplete(p.id, positions)
	if c.cfg.OnComplete != nil {
		c.cfg.OnComplete(m)
	}
	c.removeLocalBefore(p.id)
	switch {
	case p.savepoint != nil && p.savepoint.name != "":
		c.copySavepoint(m, p.savepoint)
	case p.savepoint != nil:
		p.savepoint.reply <- savepointResult{id: p.id}
	}
	c.startGC()
	return nil
}

// fail aborts a checkpoint in flight; counted failures beyond the
// tolerated number return ErrTooManyFailures.
func (c *Coordinator) fail(p *inFlight, reason string, counts bool) error {
	delete(c.pending, p.id)
	c.cfg.Metrics.pending(len(c.pending))
	p.cancel()
	if p.maybeWritten {
		c.reg.complete(p.id)
	} else {
		c.reg.release(p.id)
	}
	now := c.cfg.Now()
	c.lastEnd = now
	p.stats.Status = StatusFailed
	p.stats.Duration = now.Sub(p.stats.TriggeredAt)
	p.stats.FailureReason = reason
	c.hist.put(p.stats)
	if c.cfg.OnFailure != nil {
		c.cfg.OnFailure(p.stats)
	}
	for _, u := range c.uploaders {
		u.aborted(p.id)
	}
	_ = os.RemoveAll(filepath.Join(c.cfg.LocalDir, localName(p.id)))
	if p.savepoint != nil {
		p.savepoint.reply <- savepointResult{err: fmt.Errorf("checkpoint %d failed: %s", p.id, reason)}
		if p.savepoint.final {
			// Sources stopped reading; nothing more can be checkpointed.
			return fmt.Errorf("checkpoint: final checkpoint %d failed: %s", p.id, reason)
		}
	}
	if !counts {
		return nil
	}
	c.failures++
	c.cfg.Metrics.failed()
	c.log.Warn("checkpoint failed", zap.Int64("checkpoint", p.id), zap.String("reason", reason),
		zap.Int("failures_in_a_row", c.failures), zap.Int("tolerable", c.cfg.TolerableFailures))
	if c.failures > c.cfg.TolerableFailures {
		return fmt.Errorf("%w: %d (tolerable %d); last: checkpoint %d %s", ErrTooManyFailures, c.failures, c.cfg.TolerableFailures, p.id, reason)
	}
	return nil
}

func localName(id int64) string { return fmt.Sprintf("chk-%d", id) }

// removeLocalBefore removes the local snapshots of checkpoints older than
// id: the newest complete one stays for local recovery.
func (c *Coordinator) removeLocalBefore(id int64) {
	ents, err := os.ReadDir(c.cfg.LocalDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		var n int64
		if _, err := fmt.Sscanf(e.Name(), "chk-%d", &n); err == nil && n < id {
			if _, inFlight := c.pending[n]; !inFlight {
				_ = os.RemoveAll(filepath.Join(c.cfg.LocalDir, e.Name()))
			}
		}
	}
}
