package operators

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/operators/state"
)

// ProcessingTimer is implemented by operators with processing-time timers:
// the task calls OnProcessingTime about every Config.ProcessingTimeInterval.
type ProcessingTimer interface {
	OnProcessingTime(ctx context.Context, now time.Time, out Collector) error
}

// keyedTask runs a chain of operators on its keyed state, fed by one input
// channel per source task, and aligns barriers across those inputs.
type keyedTask struct {
	id           TaskID
	inputs       []<-chan element
	ops          []Operator
	backend      *state.Backend
	ckpt         Checkpointer
	exactlyOnce  bool
	alignTimeout time.Duration
	procInterval time.Duration
	localDir     string
	log          *zap.Logger
	now          func() time.Time
	mail         *mailbox
	notified     *notifyTracker
	replay       []InFlight

	release []chan struct{} // per input: let its forwarder go on after a barrier
	held    []bool          // inputs held for the current alignment
	al      *alignment
	queued  []arrival // barriers of later checkpoints, their inputs held
	wms     []int64
	wm      int64
	bufs    []collector
	rejects []DeadLetter // collected during one chain run
	dlSink  DeadLetterSink
	dlCount *atomic.Int64
	failure error // an operator's TaskFailure: the task ends with it
}

type arrival struct {
	input int
	e     element
}

// alignment is the state of one checkpoint at this task between its first
// and its last barrier.
type alignment struct {
	id        int64
	started   time.Time
	got       []bool
	n         int
	snapshot  bool // the synchronous part was taken
	failed    bool
	unaligned bool
	syncDur   time.Duration
	dir       string
	inflight  []InFlight
	txns      []Transaction
}

type collector struct{ recs []Record }

func (c *collector) Emit(r Record) { c.recs = append(c.recs, r) }

func (t *keyedTask) run(ctx context.Context) error {
	n := len(t.inputs)
	t.release = make([]chan struct{}, n)
	t.held = make([]bool, n)
	t.wms = make([]int64, n)
	for i := range t.wms {
		t.wms[i] = math.MinInt64
	}
	t.wm = math.MinInt64
	t.bufs = make([]collector, len(t.ops))

	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	merged := make(chan arrival)
	for i, in := range t.inputs {
		t.release[i] = make(chan struct{}, 1)
		wg.Go(func() { forward(fctx, i, in, merged, t.release[i]) })
	}

	if err := t.replayInFlight(ctx); err != nil {
		return fmt.Errorf("%s: replay in-flight data: %w", t.id, err)
	}

	var procTick <-chan time.Time
	if t.procInterval > 0 && t.hasProcessingTimers() {
		tk := time.NewTicker(t.procInterval)
		defer tk.Stop()
		procTick = tk.C
	}
	// The alignment timer runs for the checkpoint being aligned, if any.
	var alignTimer *time.Timer
	var alignC <-chan time.Time
	var timerFor int64
	syncTimer := func() {
		switch {
		case t.al == nil || !t.exactlyOnce || t.alignTimeout <= 0 || t.al.unaligned:
			if alignTimer != nil {
				alignTimer.Stop()
				alignTimer, alignC, timerFor = nil, nil, 0
			}
		case timerFor != t.al.id:
			if alignTimer != nil {
				alignTimer.Stop()
			}
			alignTimer = time.NewTimer(t.alignTimeout - t.now().Sub(t.al.started))
			alignC, timerFor = alignTimer.C, t.al.id
		}
	}
	defer func() {
		if alignTimer != nil {
			alignTimer.Stop()
		}
	}()
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case a := <-merged:
			switch {
			case a.e.barrier > 0:
				err = t.onBarrier(ctx, a)
				syncTimer()
			case a.e.hasWM:
				err = t.onWatermark(ctx, a.input, a.e.watermark)
			case len(a.e.deadLetters) > 0:
				if t.inFlight(a.input) {
					t.al.inflight = append(t.al.inflight, InFlight{DeadLetters: a.e.deadLetters})
				}
				t.rejects = append(t.rejects, a.e.deadLetters...)
				err = t.flushRejects(ctx)
			default:
				if t.inFlight(a.input) {
					t.al.addInFlightRecords(a.e.records)
				}
				err = t.chain(ctx, 0, a.e.records)
			}
		case <-alignC:
			alignTimer, alignC, timerFor = nil, nil, 0
			t.goUnaligned(ctx)
		case <-procTick:
			err = t.onProcessingTime(ctx)
		case <-t.mail.ready:
			for _, c := range t.mail.take() {
				if c.complete > 0 && err == nil {
					err = t.notifyComplete(ctx, c.complete)
				}
			}
		}
		if err == nil {
			err = t.failure
		}
		if err != nil {
			return fmt.Errorf("%s: %w", t.id, err)
		}
	}
}

// inFlight reports whether an element arriving now on input belongs to the
// in-flight data of the unaligned checkpoint being taken: it came after the
// snapshot but before the input's barrier.
func (t *keyedTask) inFlight(input int) bool {
	return t.al != nil && t.al.unaligned && !t.al.got[input]
}

// addInFlightRecords appends records to the in-flight data, to the last
// element when that holds records too.
func (al *alignment) addInFlightRecords(recs []Record) {
	if n := len(al.inflight); n > 0 && al.inflight[n-1].DeadLetters == nil {
		al.inflight[n-1].Records = append(al.inflight[n-1].Records, recs...)
		return
	}
	al.inflight = append(al.inflight, InFlight{Records: append([]Record(nil), recs...)})
}

// replayInFlight replays the in-flight data of the unaligned checkpoint
// the task was restored from, in the order it arrived: records through the
// chain (in batches), dead letters to the dead-letter sink.
func (t *keyedTask) replayInFlight(ctx context.Context) error {
	for _, e := range t.replay {
		if len(e.DeadLetters) > 0 {
			t.rejects = append(t.rejects, e.DeadLetters...)
			if err := t.flushRejects(ctx); err != nil {
				return err
			}
		}
		for recs := e.Records; len(recs) > 0; {
			b := recs[:min(len(recs), 1024)]
			recs = recs[len(b):]
			if err := t.chain(ctx, 0, b); err != nil {
				return err
			}
		}
	}
	t.replay = nil
	return nil
}

// forward moves elements of one input into merged, and after each barrier
// waits until the task releases the input.
func forward(ctx context.Context, i int, in <-chan element, merged chan<- arrival, release <-chan struct{}) {
	for {
		var e element
		select {
		case e = <-in:
		case <-ctx.Done():
			return
		}
		select {
		case merged <- arrival{input: i, e: e}:
		case <-ctx.Done():
			return
		}
		if e.barrier > 0 {
			select {
			case <-release:
			case <-ctx.Done():
				return
			}
		}
	}
}

// chain runs recs through the operators from index from on, then hands
// what they rejected to the dead-letter sink.
func (t *keyedTask) chain(ctx context.Context, from int, recs []Record) error {
	for k := from; k < len(t.ops) && len(recs) > 0; k++ {
		buf := &t.bufs[k]
		buf.recs = buf.recs[:0]
		if err := t.ops[k].Process(ctx, recs, buf); err != nil {
			return err
		}
		recs = buf.recs
	}
	return t.flushRejects(ctx)
}

// reject is the OpenContext.Reject of operator name.
func (t *keyedTask) reject(name string) func(Record, error) {
	return func(r Record, reason error) {
		t.rejects = append(t.rejects, DeadLetter{Record: r, Operator: name, Reason: reason.Error()})
	}
}

func (t *keyedTask) flushRejects(ctx context.Context) error {
	if len(t.rejects) == 0 {
		return nil
	}
	dls := t.rejects
	t.rejects = nil
	t.dlCount.Add(int64(len(dls)))
	if t.dlSink == nil {
		for _, d := range dls {
			t.log.Warn("record rejected and dropped (no dead-letter sink)", zap.String("operator", d.Operator),
				zap.String("reason", d.Reason), zap.String("topic", d.Record.Topic), zap.Int32("partition", d.Record.Partition), zap.Int64("offset", d.Record.Offset))
		}
		return nil
	}
	if err := t.dlSink.DeadLetters(ctx, dls); err != nil {
		return fmt.Errorf("write dead letters: %w", err)
	}
	return nil
}

func (t *keyedTask) onWatermark(ctx context.Context, input int, wm int64) error {
	if wm <= t.wms[input] {
		return nil
	}
	t.wms[input] = wm
	low := int64(math.MaxInt64)
	for _, w := range t.wms {
		low = min(low, w)
	}
	if low <= t.wm {
		return nil
	}
	t.wm = low
	for k, op := range t.ops {
		var out collector
		if err := op.OnWatermark(ctx, low, &out); err != nil {
			return err
		}
		if err := t.chain(ctx, k+1, out.recs); err != nil {
			return err
		}
	}
	return t.flushRejects(ctx)
}

func (t *keyedTask) hasProcessingTimers() bool {
	for _, op := range t.ops {
		if _, ok := op.(ProcessingTimer); ok {
			return true
		}
	}
	return false
}

func (t *keyedTask) onProcessingTime(ctx context.Context) error {
	now := t.now()
	for k, op := range t.ops {
		pt, ok := op.(ProcessingTimer)
		if !ok {
			continue
		}
		var out collector
		if err := pt.OnProcessingTime(ctx, now, &out); err != nil {
			return err
		}
		if err := t.chain(ctx, k+1, out.recs); err != nil {
			return err
		}
	}
	return nil
}

func (t *keyedTask) onBarrier(ctx context.Context, a arrival) error {
	id := a.e.barrier
	if t.al == nil {
		t.al = &alignment{id: id, started: t.now(), got: make([]bool, len(t.inputs))}
	}
	switch {
	case id > t.al.id:
		// A later checkpoint's barrier: the input waits until this one is
		// done.
		t.queued = append(t.queued, a)
		return nil
	case id < t.al.id || t.al.got[a.input]:
		t.log.Warn("unexpected barrier", zap.Int64("barrier", id), zap.Int64("aligning", t.al.id), zap.Int("input", a.input))
		t.release[a.input] <- struct{}{}
		return nil
	}
	t.al.got[a.input] = true
	t.al.n++
	if t.exactlyOnce && !t.al.unaligned {
		t.held[a.input] = true
	} else {
		t.release[a.input] <- struct{}{}
	}
	if t.al.n < len(t.inputs) {
		return nil
	}
	return t.finish(ctx)
}

// goUnaligned is the alignment timeout: snapshot now, let every input go
// on, and keep the records that still arrive before their barrier as the
// checkpoint's in-flight data.
func (t *keyedTask) goUnaligned(ctx context.Context) {
	if t.al == nil || t.al.unaligned {
		return
	}
	t.log.Info("barrier alignment timed out: checkpoint becomes unaligned",
		zap.Int64("checkpoint", t.al.id), zap.Duration("timeout", t.alignTimeout))
	t.snapshot(ctx)
	t.al.unaligned = true
	t.releaseHeld()
}

// snapshot takes the synchronous part of the checkpoint being aligned.
func (t *keyedTask) snapshot(ctx context.Context) {
	al := t.al
	start := t.now()
	al.snapshot = true
	for _, op := range t.ops {
		if err := op.SnapshotState(ctx, al.id); err != nil {
			var tf *TaskFailure
			if errors.As(err, &tf) {
				// The task ends with the error (the attempt with it):
				// declining would race it with the coordinator's
				// too-many-failures, which hides what went wrong.
				al.failed = true
				if t.failure == nil {
					t.failure = tf.Err
				}
				return
			}
			t.decline(fmt.Errorf("snapshot operator state: %w", err))
			return
		}
	}
	for _, op := range t.ops {
		if c, ok := op.(Committer); ok {
			al.txns = append(al.txns, c.PendingTransactions()...)
		}
	}
	al.dir = filepath.Join(t.localDir, fmt.Sprintf("chk-%d", al.id), t.id.String())
	// A snapshot of this id left by an earlier, failed attempt goes.
	if err := os.RemoveAll(al.dir); err != nil {
		t.decline(err)
		return
	}
	if err := os.MkdirAll(filepath.Dir(al.dir), 0o700); err != nil {
		t.decline(err)
		return
	}
	if _, err := t.backend.Checkpoint(al.dir); err != nil {
		t.decline(err)
		return
	}
	al.syncDur = t.now().Sub(start)
}

func (t *keyedTask) decline(err error) {
	t.al.failed = true
	t.log.Warn("checkpoint declined", zap.Int64("checkpoint", t.al.id), zap.Error(err))
	t.ckpt.Decline(t.id, t.al.id, err)
}

func (t *keyedTask) releaseHeld() {
	for i, h := range t.held {
		if h {
			t.held[i] = false
			t.release[i] <- struct{}{}
		}
	}
}

// finish completes this task's part of the checkpoint once every input
// delivered its barrier.
func (t *keyedTask) finish(ctx context.Context) error {
	al := t.al
	if !al.snapshot {
		t.snapshot(ctx)
	}
	if !al.failed {
		t.ckpt.TaskSnapshot(TaskSnapshot{
			Transactions: al.txns,
			Task:         t.id, CheckpointID: al.id, Dir: al.dir,
			Unaligned: al.unaligned, InFlight: al.inflight, Watermark: t.wm,
			SyncDuration: al.syncDur, AlignDuration: t.now().Sub(al.started),
		})
	}
	t.releaseHeld()
	t.al = nil
	queued := t.queued
	t.queued = nil
	for _, a := range queued {
		if err := t.onBarrier(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

func (t *keyedTask) notifyComplete(ctx context.Context, id int64) error {
	for _, op := range t.ops {
		if err := op.NotifyCheckpointComplete(ctx, id); err != nil {
			return fmt.Errorf("checkpoint %d complete: %w", id, err)
		}
	}
	t.notified.report(t.id, id)
	return nil
}
