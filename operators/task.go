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

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/operators/state"
)

// ProcessingTimer is implemented by operators with processing-time timers:
// the task calls OnProcessingTime about every Config.ProcessingTimeInterval.
type ProcessingTimer interface {
	OnProcessingTime(ctx context.Context, now time.Time, out Collector) error
}

// IdleSource is implemented by sources that know when they have nothing
// to read (every partition idle, or none assigned): the task then marks
// its outputs idle (design §3.4), so that downstream watermarks leave it
// out until it sends a record or a watermark again.
type IdleSource interface {
	Idle() bool
}

// BoundedSource is implemented by sources that can end (stop_at: end):
// Ended reports that the source has returned its last record. The task
// then emits watermark math.MaxInt64 (every window and event-time timer
// fires) and reads nothing more; once every source of the graph ended,
// Graph.Ended is closed and the job takes its final checkpoint.
type BoundedSource interface {
	Ended() bool
}

// RejectingSource is implemented by sources that reject records they
// cannot read (a value that is not JSON, a key expression that fails):
// after each Poll the task takes them and writes them as dead letters,
// in the transaction of the checkpoint their positions belong to.
type RejectingSource interface {
	TakeRejects() []DeadLetter
}

// task runs one parallel instance of a stage (design §3.2): its input side
// is either a Source or channels from upstream tasks (each with the node
// and input port it feeds); the stage's nodes run in topological order,
// calling each other directly; hash edges leave through exchanges; a
// stateful stage has a state backend, a sink-bearing one a committer.
type task struct {
	id   TaskID
	ckpt Checkpointer
	log  *zap.Logger
	now  func() time.Time
	mail *mailbox

	nodes []taskNode
	// exchanges are the task's hash edges out, in the order of the
	// stage's edges; the first also carries dead letters when the task
	// has nowhere to write them.
	exchanges []*exchange

	// Source side.
	src        Source
	srcName    string
	srcOuts    []target
	mu         sync.Mutex
	cancelPoll context.CancelFunc // wakes a blocked Poll; nil outside Poll
	drained    bool               // the final barrier is out: read nothing more
	ended      bool               // a bounded source returned its last record
	onEnded    func()

	// Channel side.
	inputs       []input
	exactlyOnce  bool
	alignTimeout time.Duration
	procInterval time.Duration
	replay       []InFlight
	release      []chan struct{} // per input: let its forwarder go on after a barrier
	held         []bool          // inputs held for the current alignment
	al           *alignment
	queued       []arrival // barriers of later checkpoints, their inputs held
	wms          []int64
	idle         []bool // inputs whose last element was idle
	outIdle      bool   // the task told its outputs it is idle

	backend   *state.Backend
	committer TaskCommitter
	localDir  string
	wm        int64
	rejects   []DeadLetter // collected during one run through the nodes
	dlSink    DeadLetterSink
	dlCount   *atomic.Int64
	metrics   *Metrics           // nil: not counted
	srcIn     prometheus.Counter // records the source read; nil without metrics
	wmCell    *atomic.Int64      // the task's watermark for its lag metric; nil without metrics
	failure   error              // an operator's TaskFailure: the task ends with it
	notified  *notifyTracker
}

// taskNode is one operator of a task.
type taskNode struct {
	name  string
	op    Operator
	multi MultiInput
	// outs are the node's successors by output port.
	outs [][]target
	buf  portCollector
	// counts are its records in and out (nil counters without metrics).
	counts nodeCounters
}

// target is where records go: a node of the task and its input port, or
// an exchange (x != nil). key, on a chain edge into a stateful node,
// computes the node's key in the task.
type target struct {
	node, port int
	x          *exchange
	key        func(Record) ([]byte, error)
	keyOf      string
	keyed      []Record // reused buffer of re-keyed records
}

// input is one channel into a task and the node and port it feeds.
type input struct {
	ch         <-chan element
	node, port int
}

type arrival struct {
	input int
	e     element
}

// alignment is the state of one checkpoint at a channel task between its
// first and its last barrier.
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

// portCollector collects a node's output by port; it is the
// PortCollector every operator gets.
type portCollector struct{ ports [][]Record }

func (c *portCollector) Emit(r Record) { c.EmitTo(0, r) }

func (c *portCollector) EmitTo(port int, r Record) {
	for len(c.ports) <= port {
		c.ports = append(c.ports, nil)
	}
	c.ports[port] = append(c.ports[port], r)
}

func (c *portCollector) reset() {
	for i := range c.ports {
		c.ports[i] = c.ports[i][:0]
	}
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// --- running records through the nodes ---

// push runs recs through node n (on its input port) and its successors.
func (t *task) push(ctx context.Context, n, port int, recs []Record) error {
	nd := &t.nodes[n]
	if _, ok := nd.op.(Forwarder); ok && nd.multi == nil {
		if nd.counts.in != nil {
			nd.counts.in.Add(float64(len(recs)))
			nd.counts.out.Add(float64(len(recs)))
		}
		if len(nd.outs) == 0 {
			return nil
		}
		return t.deliver(ctx, nd.outs[0], recs)
	}
	c := &nd.buf
	c.reset()
	var err error
	if nd.multi != nil {
		err = nd.multi.ProcessInput(ctx, port, recs, c)
	} else {
		err = nd.op.Process(ctx, recs, c)
	}
	if err != nil {
		return err
	}
	nd.counts.count(len(recs), c)
	return t.emitFrom(ctx, nd, c)
}

// emitFrom hands what node nd emitted into c to its successors.
func (t *task) emitFrom(ctx context.Context, nd *taskNode, c *portCollector) error {
	for p, recs := range c.ports {
		if len(recs) == 0 || p >= len(nd.outs) {
			continue // a port nothing reads drops its records
		}
		if err := t.deliver(ctx, nd.outs[p], recs); err != nil {
			return err
		}
	}
	return nil
}

// deliver sends recs to every target.
func (t *task) deliver(ctx context.Context, to []target, recs []Record) error {
	for i := range to {
		tg := &to[i]
		if tg.x != nil {
			// send copies: recs is a reused buffer, the receiving task
			// owns what it gets.
			if err := tg.x.send(ctx, recs, t.rejectKey); err != nil {
				return err
			}
			continue
		}
		in := recs
		if tg.key != nil {
			tg.keyed = tg.keyed[:0]
			for _, r := range recs {
				k, err := tg.key(r)
				if err != nil {
					t.rejects = append(t.rejects, DeadLetter{Record: r, Operator: tg.keyOf, Reason: err.Error()})
					continue
				}
				r.Key = k
				tg.keyed = append(tg.keyed, r)
			}
			in = tg.keyed
			if len(in) == 0 {
				continue
			}
		}
		if err := t.push(ctx, tg.node, tg.port, in); err != nil {
			return err
		}
	}
	return nil
}

// runNodes runs recs through node n's input port and then hands what was
// rejected on.
func (t *task) runNodes(ctx context.Context, n, port int, recs []Record) error {
	if len(recs) > 0 {
		if err := t.push(ctx, n, port, recs); err != nil {
			return err
		}
	}
	return t.flushRejects(ctx)
}

// reject is the OpenContext.Reject of operator name.
func (t *task) reject(name string) func(Record, error) {
	return func(r Record, reason error) {
		t.rejects = append(t.rejects, DeadLetter{Record: r, Operator: name, Reason: reason.Error()})
	}
}

// rejectKey rejects a record whose key a hash edge could not compute.
func (t *task) rejectKey(x *exchange, r Record, err error) {
	t.rejects = append(t.rejects, DeadLetter{Record: r, Operator: x.keyOf, Reason: err.Error()})
}

// flushRejects writes the dead letters collected so far: to the task's
// committer, or the dead-letter sink ending its chain, or else in-band on
// its first output edge to a task that has one; a task with none of these
// logs and drops them.
func (t *task) flushRejects(ctx context.Context) error {
	if len(t.rejects) == 0 {
		return nil
	}
	dls := t.rejects
	t.rejects = nil
	switch {
	case t.committer != nil:
		t.dlCount.Add(int64(len(dls)))
		t.metrics.rejected(dls)
		if err := t.committer.DeadLetters(ctx, dls); err != nil {
			return fmt.Errorf("write dead letters: %w", err)
		}
	case t.dlSink != nil:
		t.dlCount.Add(int64(len(dls)))
		t.metrics.rejected(dls)
		if err := t.dlSink.DeadLetters(ctx, dls); err != nil {
			return fmt.Errorf("write dead letters: %w", err)
		}
	case len(t.exchanges) > 0:
		x := t.exchanges[0]
		if err := x.put(ctx, x.taskOf(dls[0].Record.Key), element{deadLetters: dls}); err != nil {
			return ignoreCanceled(err)
		}
	default:
		t.dlCount.Add(int64(len(dls)))
		t.metrics.rejected(dls)
		for _, d := range dls {
			t.log.Warn("record rejected and dropped (no dead-letter sink)", zap.String("operator", d.Operator),
				zap.String("reason", d.Reason), zap.String("topic", d.Record.Topic), zap.Int32("partition", d.Record.Partition), zap.Int64("offset", d.Record.Offset))
		}
	}
	return nil
}

// broadcast sends e on every output channel.
func (t *task) broadcast(ctx context.Context, e element) error {
	for _, x := range t.exchanges {
		if err := x.broadcast(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// advanceWatermark makes wm the task's watermark: every node sees it in
// topological order, what a node emits runs through its successors before
// they see it, then it goes to every output.
func (t *task) advanceWatermark(ctx context.Context, wm int64) error {
	t.wm = wm
	if t.wmCell != nil {
		t.wmCell.Store(wm)
	}
	for i := range t.nodes {
		nd := &t.nodes[i]
		var out portCollector
		if err := nd.op.OnWatermark(ctx, wm, &out); err != nil {
			return err
		}
		nd.counts.count(0, &out)
		if err := t.emitFrom(ctx, nd, &out); err != nil {
			return err
		}
	}
	if err := t.flushRejects(ctx); err != nil {
		return err
	}
	t.outIdle = false
	return ignoreCanceled(t.broadcast(ctx, element{watermark: wm, hasWM: true}))
}

// --- the source side ---

// wake interrupts a blocked Poll so the task sees its mailbox.
func (t *task) wake() {
	t.mu.Lock()
	if t.cancelPoll != nil {
		t.cancelPoll()
	}
	t.mu.Unlock()
}

func (t *task) runSource(ctx context.Context) error {
	t.wm = math.MinInt64
	for {
		if err := t.handleSourceMail(ctx); err != nil {
			return err
		}
		if t.failure != nil {
			return fmt.Errorf("%s: %w", t.id, t.failure)
		}
		if t.drained || t.ended {
			select {
			case <-t.mail.ready:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		if err := t.checkIdle(ctx); err != nil {
			return err
		}
		pctx, cancel := context.WithCancel(ctx)
		t.mu.Lock()
		t.cancelPoll = cancel
		t.mu.Unlock()
		// A message that arrived before cancelPoll was set must not wait
		// for the next record.
		if t.mail.pending() {
			cancel()
		}
		recs, wm, err := t.src.Poll(pctx)
		t.mu.Lock()
		t.cancelPoll = nil
		t.mu.Unlock()
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: poll: %w", t.id, err)
		}
		read := len(recs)
		if rs, ok := t.src.(RejectingSource); ok {
			taken := rs.TakeRejects()
			read += len(taken)
			t.rejects = append(t.rejects, taken...)
		}
		if t.srcIn != nil && read > 0 {
			t.srcIn.Add(float64(read))
		}
		if len(recs) > 0 || len(t.rejects) > 0 {
			t.outIdle = false
			if len(recs) > 0 {
				if err := t.deliver(ctx, t.srcOuts, recs); err != nil {
					return t.taskErr(err)
				}
			}
			if err := t.flushRejects(ctx); err != nil {
				return t.taskErr(err)
			}
		}
		if b, ok := t.src.(BoundedSource); ok && b.Ended() {
			wm = math.MaxInt64
			t.ended = true
		}
		if wm > t.wm {
			if err := t.advanceWatermark(ctx, wm); err != nil {
				return t.taskErr(err)
			}
		}
		if t.ended {
			t.log.Info("source reached its end: watermark +inf, reading nothing more")
			if t.onEnded != nil {
				t.onEnded()
			}
		}
	}
}

// checkIdle tells the outputs when the source became idle.
func (t *task) checkIdle(ctx context.Context) error {
	is, ok := t.src.(IdleSource)
	if !ok || t.outIdle || !is.Idle() {
		return nil
	}
	t.outIdle = true
	return ignoreCanceled(t.broadcast(ctx, element{idle: true}))
}

func (t *task) taskErr(err error) error {
	if err == nil || ctx0(err) {
		return nil
	}
	return fmt.Errorf("%s: %w", t.id, err)
}

// ctx0 reports a cancellation: the job is stopping, not failing.
func ctx0(err error) bool { return errors.Is(err, context.Canceled) }

func (t *task) handleSourceMail(ctx context.Context) error {
	for _, c := range t.mail.take() {
		switch {
		case c.trigger > 0:
			if err := t.sourceBarrier(ctx, c.trigger); err != nil {
				return t.taskErr(err)
			}
			if c.final {
				t.drained = true
				t.log.Info("source stopped for the final checkpoint", zap.Int64("checkpoint", c.trigger))
			}
		case c.complete > 0:
			if err := t.src.NotifyCheckpointComplete(ctx, c.complete, c.positions); err != nil {
				// Offsets in the group are for monitoring only; a failed
				// commit is logged, never fatal.
				t.log.Warn("commit source positions", zap.Int64("checkpoint", c.complete), zap.Error(err))
			}
			if err := t.notifyNodes(ctx, c.complete); err != nil {
				return t.taskErr(err)
			}
		}
	}
	return nil
}

// sourceBarrier takes a source task's part of checkpoint id between two
// polls: flush what emits on snapshots, snapshot the nodes, pre-commit,
// record positions, then barrier on every output.
func (t *task) sourceBarrier(ctx context.Context, id int64) error {
	pos := t.src.Positions()
	txns, err := t.snapshotNodes(ctx, id)
	if err != nil {
		var tf *TaskFailure
		if errors.As(err, &tf) {
			return tf.Err
		}
		t.log.Warn("checkpoint declined", zap.Int64("checkpoint", id), zap.Error(err))
		t.ckpt.Decline(t.id, id, err)
	} else {
		t.ckpt.SourceSnapshot(SourceSnapshot{Task: t.id, Source: t.srcName, CheckpointID: id, Positions: pos, Watermark: t.wm, Transactions: txns})
	}
	return ignoreCanceled(t.broadcast(ctx, element{barrier: id}))
}

// --- the channel side ---

func (t *task) runChannels(ctx context.Context) error {
	n := len(t.inputs)
	t.release = make([]chan struct{}, n)
	t.held = make([]bool, n)
	t.wms = make([]int64, n)
	t.idle = make([]bool, n)
	for i := range t.wms {
		t.wms[i] = math.MinInt64
	}
	t.wm = math.MinInt64

	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	merged := make(chan arrival)
	for i, in := range t.inputs {
		t.release[i] = make(chan struct{}, 1)
		wg.Go(func() { forward(fctx, i, in.ch, merged, t.release[i]) })
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
			err = t.onArrival(ctx, a)
			if a.e.barrier > 0 {
				syncTimer()
			}
		case <-alignC:
			alignTimer, alignC, timerFor = nil, nil, 0
			err = t.goUnaligned(ctx)
		case <-procTick:
			err = t.onProcessingTime(ctx)
		case <-t.mail.ready:
			err = t.applyCompletions(ctx)
		}
		if err == nil {
			err = t.failure
		}
		if err != nil {
			if ctx.Err() != nil && ctx0(err) {
				return nil
			}
			return fmt.Errorf("%s: %w", t.id, err)
		}
	}
}

func (t *task) onArrival(ctx context.Context, a arrival) error {
	in := t.inputs[a.input]
	switch {
	case a.e.barrier > 0:
		return t.onBarrier(ctx, a)
	case a.e.hasWM:
		return t.onWatermark(ctx, a.input, a.e.watermark)
	case a.e.idle:
		return t.onIdle(ctx, a.input)
	case len(a.e.deadLetters) > 0:
		if t.inFlight(a.input) {
			t.al.inflight = append(t.al.inflight, InFlight{DeadLetters: a.e.deadLetters})
		}
		t.rejects = append(t.rejects, a.e.deadLetters...)
		return t.flushRejects(ctx)
	default:
		if t.idle[a.input] {
			t.idle[a.input] = false
		}
		if t.inFlight(a.input) {
			t.al.addInFlightRecords(t.nodes[in.node].name, in.port, a.e.records)
		}
		err := t.runNodes(ctx, in.node, in.port, a.e.records)
		a.e.done()
		return err
	}
}

// inFlight reports whether an element arriving now on input belongs to the
// in-flight data of the unaligned checkpoint being taken: it came after the
// snapshot but before the input's barrier.
func (t *task) inFlight(input int) bool {
	return t.al != nil && t.al.unaligned && !t.al.got[input]
}

// addInFlightRecords appends records for node's port to the in-flight
// data, to the last element when that holds records for the same target.
func (al *alignment) addInFlightRecords(node string, port int, recs []Record) {
	if n := len(al.inflight); n > 0 {
		last := &al.inflight[n-1]
		if last.DeadLetters == nil && last.Node == node && last.Port == port {
			last.Records = append(last.Records, recs...)
			return
		}
	}
	al.inflight = append(al.inflight, InFlight{Node: node, Port: port, Records: append([]Record(nil), recs...)})
}

// replayInFlight replays the in-flight data of the unaligned checkpoint
// the task was restored from, in the order it arrived: records through the
// node and port they were on their way to (in batches), dead letters to
// where the task writes them. Records of a checkpoint written before
// targets were stored go to the node the task's first input feeds.
func (t *task) replayInFlight(ctx context.Context) error {
	for _, e := range t.replay {
		if len(e.DeadLetters) > 0 {
			t.rejects = append(t.rejects, e.DeadLetters...)
			if err := t.flushRejects(ctx); err != nil {
				return err
			}
		}
		if len(e.Records) == 0 {
			continue
		}
		node, port, err := t.replayTarget(e)
		if err != nil {
			return err
		}
		for recs := e.Records; len(recs) > 0; {
			b := recs[:min(len(recs), 1024)]
			recs = recs[len(b):]
			if err := t.runNodes(ctx, node, port, b); err != nil {
				return err
			}
		}
	}
	t.replay = nil
	return nil
}

func (t *task) replayTarget(e InFlight) (node, port int, err error) {
	if e.Node == "" {
		if len(t.inputs) == 0 {
			return 0, 0, errors.New("in-flight records but the task has no input")
		}
		return t.inputs[0].node, t.inputs[0].port, nil
	}
	for i := range t.nodes {
		if t.nodes[i].name == e.Node {
			return i, e.Port, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: the checkpoint holds in-flight records for operator %q, which this job's stage %s no longer has; restore a checkpoint taken with the operator, or start with --fresh", ErrInFlightTarget, e.Node, t.id.Stage)
}

// ErrInFlightTarget: an unaligned checkpoint's in-flight records are for an
// operator the job no longer has.
var ErrInFlightTarget = errors.New("operators: in-flight records have no target")

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

// onWatermark records input's watermark; the task's watermark is the
// minimum over its inputs that are not idle.
func (t *task) onWatermark(ctx context.Context, input int, wm int64) error {
	t.idle[input] = false
	if wm > t.wms[input] {
		t.wms[input] = wm
	}
	return t.recomputeWatermark(ctx)
}

// onIdle leaves input out of the watermark until its next record or
// watermark; when every input is idle, so is the task's output.
func (t *task) onIdle(ctx context.Context, input int) error {
	t.idle[input] = true
	return t.recomputeWatermark(ctx)
}

func (t *task) recomputeWatermark(ctx context.Context) error {
	low := int64(math.MaxInt64)
	active := false
	for i, w := range t.wms {
		if t.idle[i] {
			continue
		}
		active = true
		low = min(low, w)
	}
	if !active {
		if t.outIdle {
			return nil
		}
		t.outIdle = true
		return ignoreCanceled(t.broadcast(ctx, element{idle: true}))
	}
	if low <= t.wm {
		return nil
	}
	return t.advanceWatermark(ctx, low)
}

func (t *task) hasProcessingTimers() bool {
	for i := range t.nodes {
		if _, ok := t.nodes[i].op.(ProcessingTimer); ok {
			return true
		}
	}
	return false
}

func (t *task) onProcessingTime(ctx context.Context) error {
	now := t.now()
	for i := range t.nodes {
		nd := &t.nodes[i]
		pt, ok := nd.op.(ProcessingTimer)
		if !ok {
			continue
		}
		var out portCollector
		if err := pt.OnProcessingTime(ctx, now, &out); err != nil {
			return err
		}
		nd.counts.count(0, &out)
		if err := t.emitFrom(ctx, nd, &out); err != nil {
			return err
		}
	}
	return t.flushRejects(ctx)
}

func (t *task) onBarrier(ctx context.Context, a arrival) error {
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

// goUnaligned is the alignment timeout: snapshot now, forward the barrier,
// let every input go on, and keep the records that still arrive before
// their barrier as the checkpoint's in-flight data.
func (t *task) goUnaligned(ctx context.Context) error {
	if t.al == nil || t.al.unaligned {
		return nil
	}
	t.log.Info("barrier alignment timed out: checkpoint becomes unaligned",
		zap.Int64("checkpoint", t.al.id), zap.Duration("timeout", t.alignTimeout))
	if err := t.snapshot(ctx); err != nil {
		return err
	}
	t.al.unaligned = true
	t.releaseHeld()
	return nil
}

// snapshotNodes is a task's synchronous part of checkpoint id, up to its
// state backend: what the nodes emit on a snapshot runs through their
// successors, then every node snapshots, then the committer pre-commits.
// It returns the transactions to record with the checkpoint.
func (t *task) snapshotNodes(ctx context.Context, id int64) ([]Transaction, error) {
	if t.src == nil {
		// A channel task's mail holds completions only: apply those
		// already announced before snapshotting, so that this snapshot
		// does not list a transaction whose checkpoint is complete and
		// every task commits checkpoint N-1 before it acknowledges N. A
		// crash right after N's metadata then never leaves N-1's commits
		// split between tasks (which, after a downtime longer than the
		// transaction timeout, no fallback could repair). Source tasks
		// read their mail in order already (handleSourceMail).
		if err := t.applyCompletions(ctx); err != nil {
			return nil, err
		}
	}
	for i := range t.nodes {
		nd := &t.nodes[i]
		se, ok := nd.op.(SnapshotEmitter)
		if !ok {
			continue
		}
		var out portCollector
		if err := se.BeforeSnapshot(ctx, id, &out); err != nil {
			return nil, fmt.Errorf("%s: before snapshot: %w", nd.name, err)
		}
		if err := t.emitFrom(ctx, nd, &out); err != nil {
			return nil, err
		}
	}
	if err := t.flushRejects(ctx); err != nil {
		return nil, err
	}
	for i := range t.nodes {
		if err := t.nodes[i].op.SnapshotState(ctx, id); err != nil {
			var tf *TaskFailure
			if errors.As(err, &tf) {
				return nil, err
			}
			return nil, fmt.Errorf("snapshot operator state: %w", err)
		}
	}
	var txns []Transaction
	if t.committer != nil {
		if err := t.committer.PreCommit(ctx, id); err != nil {
			var tf *TaskFailure
			if errors.As(err, &tf) {
				return nil, err
			}
			return nil, fmt.Errorf("pre-commit: %w", err)
		}
		txns = append(txns, t.committer.PendingTransactions()...)
	}
	for i := range t.nodes {
		if c, ok := t.nodes[i].op.(Committer); ok {
			txns = append(txns, c.PendingTransactions()...)
		}
	}
	if t.id.Stage != "keyed" {
		for i := range txns {
			if txns[i].Stage == "" {
				txns[i].Stage = t.id.Stage
			}
		}
	}
	return txns, nil
}

// snapshot takes the synchronous part of the checkpoint being aligned and
// forwards its barrier. An error is returned only when the task must end.
func (t *task) snapshot(ctx context.Context) error {
	al := t.al
	start := t.now()
	al.snapshot = true
	txns, err := t.snapshotNodes(ctx, al.id)
	if err != nil {
		var tf *TaskFailure
		if errors.As(err, &tf) {
			// The task ends with the error (the attempt with it):
			// declining would race it with the coordinator's
			// too-many-failures, which hides what went wrong.
			al.failed = true
			if t.failure == nil {
				t.failure = tf.Err
			}
			return nil
		}
		if ctx0(err) {
			return err
		}
		t.decline(err)
		return t.forwardBarrier(ctx, al.id)
	}
	al.txns = txns
	if t.backend != nil {
		al.dir = filepath.Join(t.localDir, fmt.Sprintf("chk-%d", al.id), t.id.String())
		// A snapshot of this id left by an earlier, failed attempt goes.
		if err := os.RemoveAll(al.dir); err != nil {
			t.decline(err)
			return t.forwardBarrier(ctx, al.id)
		}
		if err := os.MkdirAll(filepath.Dir(al.dir), 0o700); err != nil {
			t.decline(err)
			return t.forwardBarrier(ctx, al.id)
		}
		if _, err := t.backend.Checkpoint(al.dir); err != nil {
			t.decline(err)
			return t.forwardBarrier(ctx, al.id)
		}
	}
	al.syncDur = t.now().Sub(start)
	return t.forwardBarrier(ctx, al.id)
}

// forwardBarrier sends barrier id on every output: downstream tasks take
// their part of the checkpoint (a declined one fails at the coordinator
// anyway).
func (t *task) forwardBarrier(ctx context.Context, id int64) error {
	return ignoreCanceled(t.broadcast(ctx, element{barrier: id}))
}

func (t *task) decline(err error) {
	t.al.failed = true
	t.log.Warn("checkpoint declined", zap.Int64("checkpoint", t.al.id), zap.Error(err))
	t.ckpt.Decline(t.id, t.al.id, err)
}

func (t *task) releaseHeld() {
	for i, h := range t.held {
		if h {
			t.held[i] = false
			t.release[i] <- struct{}{}
		}
	}
}

// finish completes this task's part of the checkpoint once every input
// delivered its barrier.
func (t *task) finish(ctx context.Context) error {
	al := t.al
	if !al.snapshot {
		if err := t.snapshot(ctx); err != nil {
			return err
		}
	}
	if !al.failed {
		t.ckpt.TaskSnapshot(TaskSnapshot{
			Transactions: al.txns,
			Task:         t.id, CheckpointID: al.id, Dir: al.dir,
			Unaligned: al.unaligned, InFlight: al.inflight, Watermark: t.wm,
			SyncDuration: al.syncDur, AlignDuration: t.now().Sub(al.started),
			FirstBarrier: al.started,
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

// applyCompletions handles the completions in a channel task's mail.
func (t *task) applyCompletions(ctx context.Context) error {
	var err error
	for _, c := range t.mail.take() {
		if c.complete > 0 && err == nil {
			err = t.notifyNodes(ctx, c.complete)
		}
	}
	return err
}

// notifyNodes tells every node and the committer that checkpoint id is
// complete.
func (t *task) notifyNodes(ctx context.Context, id int64) error {
	for i := range t.nodes {
		if err := t.nodes[i].op.NotifyCheckpointComplete(ctx, id); err != nil {
			return fmt.Errorf("checkpoint %d complete: %w", id, err)
		}
	}
	if t.committer != nil {
		if err := t.committer.NotifyCheckpointComplete(ctx, id); err != nil {
			return fmt.Errorf("checkpoint %d complete: commit: %w", id, err)
		}
	}
	t.notified.report(t.id, id)
	return nil
}

func (t *task) run(ctx context.Context) error {
	if t.src != nil {
		return t.runSource(ctx)
	}
	return t.runChannels(ctx)
}
