package sink

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/crashpoint"
	"github.com/tidemark/tidemark/operators"
)

// PoolSize is the smallest number of transactional ids each sink-bearing
// task may use: <prefix>-<stage>-<task>-<slot> (<prefix>-<task>-<slot> for
// the legacy stage), slot in [0, pool size). An id is reused only once the
// transaction it held is committed and no checkpoint a restore may choose
// lists it any more. The pool of a job is PoolSizeFor its checkpoint
// settings, at least PoolSize; checkpoints record it (see Pool), and
// recovery aborts lingering transactions on every id of the configured
// pool, of the restored checkpoint's, and every id of the exact form the
// broker lists as open, so a pool that shrinks leaves nothing behind.
const PoolSize = 8

// PoolSizeFor is the pool size of a job whose checkpoints run up to
// maxConcurrent at once and tolerate tolerable failures in a row: room
// for MaxPendingFor transactions waiting for their checkpoints, as many
// ids held after their commit, the open transaction and one spare.
func PoolSizeFor(maxConcurrent, tolerable int) int {
	return max(PoolSize, 2*MaxPendingFor(maxConcurrent, tolerable)+2)
}

// MaxPendingFor is how many pre-committed transactions a task may have to
// keep waiting before the job restarts anyway: one per checkpoint that may
// fail in a row without a restart (tolerable + 1), one per other
// checkpoint in flight (maxConcurrent - 1), and one for a savepoint, which
// does not wait for max_concurrent. At least MaxPending.
func MaxPendingFor(maxConcurrent, tolerable int) int {
	return max(MaxPending, tolerable+max(maxConcurrent, 1)+1)
}

// ConfiguredPoolSize is the pool size of cfg's sink-bearing tasks.
func ConfiguredPoolSize(cfg *config.Config) int {
	return PoolSizeFor(cfg.Checkpoint.MaxConcurrent, cfg.Checkpoint.TolerableFailures)
}

// TransactionalID is the id of slot of task task of a single-chain
// config's sink: <prefix>-<task>-<slot>.
func TransactionalID(cfg *config.Config, task, slot int) string {
	return StageTransactionalID(cfg.TxnIDPrefix(), LegacyStage, task, slot)
}

// MaxPending is the fewest pre-committed transactions a task's committer
// keeps waiting for their checkpoints, (PoolSize-2)/2; a pool of n ids
// keeps up to (n-2)/2. Together with the ids held after a commit (see
// slot.held) and the open transaction it leaves an id free for the next
// transaction. When none is free, the checkpoint is declined
// (ErrPoolExhausted) and the open transaction carries on.
const MaxPending = (PoolSize - 2) / 2

// ErrPoolExhausted: the most transactions a task's pool allows already
// wait for their checkpoints (which failed); the checkpoint is declined
// and the open transaction carries on to the next one. With the pool
// PoolSizeFor the job's settings this happens only after more checkpoint
// failures in a row than checkpoint.tolerable_failures, when the job
// restarts from its newest complete checkpoint anyway.
var ErrPoolExhausted = errors.New("sink: every transactional id holds a transaction waiting for a checkpoint")

// CommitterConfig configures the committer of one sink-bearing task.
type CommitterConfig struct {
	// Output is the job's output block.
	Output Output
	// Stage is the task's stage: its transactional ids are
	// <prefix>-<stage>-<task>-<slot>, or <prefix>-<task>-<slot> for
	// LegacyStage (or "").
	Stage string
	// Topics are the fixed topics the task's sinks write to, checked when
	// the committer opens (the dead-letter topic is checked too). Topics
	// chosen per record are checked when first met.
	Topics []Topic
	// Written counts output records the broker acknowledged (not yet
	// necessarily committed; dead letters not counted), when set.
	Written *atomic.Int64
	// Metrics, if set, counts records written and transactions committed.
	Metrics *Metrics
	// PoolSize is the number of transactional ids of the task (PoolSize
	// when below it).
	PoolSize int
}

// TaskCommitter is the exactly-once output of one sink-bearing task
// (operators.TaskCommitter), a two-phase commit in the manner of Flink's:
// every sink of the task and the task's dead letters write into one Kafka
// transaction; on barrier n the task pre-commits it (PreCommit: flushed and
// recorded as pending in checkpoint n; later records go into the next
// transaction, on the next id of the pool); once checkpoint n is complete
// the pending transactions up to n commit. Recovery (Settler) commits the
// pending transactions of the restored checkpoint and aborts every other
// one before the committer opens.
type TaskCommitter struct {
	cc   CommitterConfig
	base []kgo.Opt

	task       int
	log        *zap.Logger
	guard      func(context.Context) error // OpenContext.Guard
	txnVersion int16
	slots      []slot
	cur        int
	barrier    int64 // the last barrier seen
	pending    []operators.Transaction
	err        atomic.Pointer[error]
	route      router
	meta       *kgo.Client // metadata of topics met first in a record
	opened     bool
	openErr    error
}

var _ operators.TaskCommitter = (*TaskCommitter)(nil)

type slot struct {
	id      string
	cl      *kgo.Client
	open    bool  // a transaction is open on it
	records int   // records in the open transaction
	after   int64 // the barrier before the open transaction's first record
	busy    bool  // its transaction is pre-committed, waiting
	// listed is the newest checkpoint whose snapshot listed this id's
	// transaction as pending.
	listed int64
	// held: the id's last transaction ended (committed), but a checkpoint
	// that lists it may still complete, or is the newest complete one, so
	// a restore may examine it and resume-commit it with its stored
	// producer id and epoch. The id starts no new transaction (which would
	// bump the epoch, or be committed in its place) until a checkpoint
	// after listed completes: one whose snapshot no longer lists it.
	held bool
}

// NewTaskCommitter returns the committer of a task; base are the shared
// client options. Open it before use.
func NewTaskCommitter(cc CommitterConfig, base []kgo.Opt) *TaskCommitter {
	return &TaskCommitter{cc: cc, base: base, slots: make([]slot, max(cc.PoolSize, PoolSize))}
}

// Open prepares the committer of task oc.Task: it checks that the topics
// exist, reads their limits, and holds the ids of oc.PendingTransactions
// (those of this task's pool; others are ignored, so a runtime may pass
// every pending transaction of the restored checkpoint) until a checkpoint
// after oc.HoldUntil completes. New transactions hold records after
// oc.RestoredCheckpoint. Recovery has settled every transaction of the
// job's pools already.
//
// Only the first call opens; later ones return its result. So each sink
// node of the task may open its committer (KafkaSink.Open does) when the
// runtime does not.
func (t *TaskCommitter) Open(ctx context.Context, oc operators.OpenContext) error {
	if t.opened {
		return t.openErr
	}
	t.opened = true
	t.openErr = t.open(ctx, oc)
	return t.openErr
}

func (t *TaskCommitter) open(ctx context.Context, oc operators.OpenContext) error {
	t.task, t.log, t.guard = oc.Task, oc.Log, oc.Guard
	if t.log == nil {
		t.log = zap.NewNop()
	}
	for i := range t.slots {
		t.slots[i].id = StageTransactionalID(t.cc.Output.TransactionalIDPrefix, t.cc.Stage, t.task, i)
	}
	cl, err := kgo.NewClient(t.base...)
	if err != nil {
		return fmt.Errorf("sink: client: %w", err)
	}
	t.meta = cl
	if t.txnVersion, err = TxnVersion(ctx, cl); err != nil {
		return err
	}
	topics := append(append([]Topic(nil), t.cc.Topics...), Topic{Name: t.cc.Output.DeadLetterTopic, Key: t.cc.Output.DeadLetterKey})
	limits, err := preflight(ctx, cl, topics, t.log)
	if err != nil {
		return err
	}
	t.route = router{out: t.cc.Output, limits: limits, log: t.log, lookup: func(ctx context.Context, topic string) (bool, error) {
		return limits.lookup(ctx, t.meta, topic, t.log)
	}}
	// New transactions hold records after the restored checkpoint's
	// barrier: a recovery that finds one lost can fall back to it.
	t.barrier = oc.RestoredCheckpoint
	for _, tx := range oc.PendingTransactions {
		// Held until a checkpoint after the newest complete one (which
		// lists them) completes. Ids of another prefix or stage (the
		// setting changed since) are not this task's to use anyway.
		if i := slotOf(tx.TransactionalID, t.slots); i >= 0 {
			t.slots[i].held = true
			t.slots[i].listed = max(t.slots[i].listed, oc.HoldUntil)
		}
	}
	// Start on the lowest id the restored checkpoint does not hold (a
	// task holds fewer pending transactions than ids).
	for t.slots[t.cur].held {
		t.cur++
	}
	return nil
}

// Require checks, once the committer is open, that topics exist (a
// *MissingTopicError otherwise) and reads their limits: a sink node
// requires its fixed topic when it opens.
func (t *TaskCommitter) Require(ctx context.Context, topics []Topic) error {
	if t.meta == nil {
		return errors.New("sink: committer not open")
	}
	return require(ctx, t.meta, t.route.limits, topics, t.log)
}

// require checks topics and adds their limits to l.
func require(ctx context.Context, cl *kgo.Client, l *Limits, topics []Topic, log *zap.Logger) error {
	var todo []Topic
	for _, tp := range topics {
		if exists, _ := l.state(tp.Name, time.Now()); !exists {
			todo = append(todo, tp)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	got, err := preflight(ctx, cl, todo, log)
	if err != nil {
		return err
	}
	l.merge(got)
	return nil
}

// IDs are the transactional ids of the committer's pool, once open.
func (t *TaskCommitter) IDs() []string {
	ids := make([]string, len(t.slots))
	for i := range t.slots {
		ids[i] = t.slots[i].id
	}
	return ids
}

// maxBufferedRecords bounds the records a task's producer holds before
// the broker has them (franz-go's default is 50 000): Produce blocks the
// task beyond it. Each holds its output record and the task's bookkeeping
// until acknowledged (issue 11: a tenth of the live heap of a keyed count).
const maxBufferedRecords = 32768

func (t *TaskCommitter) client(s *slot) (*kgo.Client, error) {
	if s.cl != nil {
		return s.cl, nil
	}
	opts := append(append([]kgo.Opt{}, t.base...),
		kgo.TransactionalID(s.id),
		kgo.TransactionTimeout(t.cc.Output.TransactionTimeout),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytesFn(t.route.limits.BatchMax),
		kgo.MaxBufferedRecords(maxBufferedRecords),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("sink: client for %s: %w", s.id, err)
	}
	s.cl = cl
	return cl, nil
}

func (t *TaskCommitter) failed() error {
	if p := t.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (t *TaskCommitter) fail(err error) { t.err.CompareAndSwap(nil, &err) }

// begin makes sure the current slot has an open transaction.
func (t *TaskCommitter) begin(ctx context.Context) (*slot, error) {
	if err := t.failed(); err != nil {
		return nil, err
	}
	s := &t.slots[t.cur]
	if s.open {
		return s, nil
	}
	cl, err := t.freshEpoch(ctx, s)
	if err != nil {
		return nil, err
	}
	if err := cl.BeginTransaction(); err != nil {
		return nil, fmt.Errorf("sink: begin transaction on %s: %w", s.id, err)
	}
	s.open, s.records, s.after = true, 0, t.barrier
	return s, nil
}

// EpochLimit is the highest producer epoch a transaction starts at. Ending
// a transaction bumps the epoch under transaction.version 2, and past
// 32766 the broker moves the id to a new producer id: a transaction that
// ended that way leaves recovery nothing to recognise it by on brokers that
// do not describe how it ended (kfake), and brokers have had bugs exactly
// there (KAFKA-18660, KAFKA-20090; FLINK-40689 in Flink's sink). So a slot
// whose epoch reached the limit is initialised again, until the broker
// moves it to a new producer id, before its next transaction starts.
const EpochLimit = math.MaxInt16 - 4

// freshEpoch returns the slot's client, initialised again first while its
// epoch is at or above EpochLimit.
func (t *TaskCommitter) freshEpoch(ctx context.Context, s *slot) (*kgo.Client, error) {
	for range 8 {
		if s.cl == nil && t.guard != nil {
			// A new client initialises the id: fencing whoever holds it.
			if err := t.guard(ctx); err != nil {
				return nil, fmt.Errorf("sink: not initialising %s: %w", s.id, err)
			}
		}
		cl, err := t.client(s)
		if err != nil {
			return nil, err
		}
		_, epoch, err := cl.ProducerID(ctx)
		if err != nil {
			return nil, fmt.Errorf("sink: producer id of %s: %w", s.id, err)
		}
		if epoch < EpochLimit {
			return cl, nil
		}
		t.log.Info("producer epoch near its limit: initialising the transactional id again for a new producer id",
			zap.String("transactional_id", s.id), zap.Int16("epoch", epoch))
		cl.Close()
		s.cl = nil
	}
	return nil, fmt.Errorf("sink: %s: the broker kept its producer epoch at the limit", s.id)
}

// Write implements operators.TaskCommitter: recs go into the open
// transaction (one begins if none is open). A record its topic would
// refuse (too large, the topic missing, not a topic name) goes to the
// dead-letter topic in the same transaction, or, with on_rejected: fail,
// fails the committer with a *RejectedError. Write does not keep recs (it
// keeps their keys, values and headers until they are produced).
func (t *TaskCommitter) Write(ctx context.Context, recs []operators.SinkRecord) error {
	if len(recs) == 0 {
		return t.failed()
	}
	s, err := t.begin(ctx)
	if err != nil {
		return err
	}
	// A record the broker refuses would leave the transaction able only to
	// abort: records it would refuse are routed before they are produced.
	ps := newProduced(len(recs))
	t.route.startBatch()
	for i := range recs {
		kr, _, err := t.route.output(ctx, &recs[i], &ps[i].kr)
		if err != nil {
			t.fail(err)
			return err
		}
		withSource(ctx, &ps[i].rc, kr, recs[i].Source)
		s.cl.Produce(ctx, kr, t.promise)
		s.records++
	}
	return nil
}

// DeadLetters implements operators.TaskCommitter (and
// operators.DeadLetterSink): dead letters go into the same transaction as
// the output, truncated if the dead-letter topic would refuse them whole.
func (t *TaskCommitter) DeadLetters(ctx context.Context, dls []operators.DeadLetter) error {
	if len(dls) == 0 {
		return t.failed()
	}
	s, err := t.begin(ctx)
	if err != nil {
		return err
	}
	rcs := make([]recordCtx, len(dls))
	for i, d := range dls {
		kr, err := t.route.deadLetter(d)
		if err != nil {
			t.fail(err)
			return err
		}
		withSource(ctx, &rcs[i], kr, d.Record)
		s.cl.Produce(ctx, kr, t.promise)
		s.records++
	}
	return nil
}

func (t *TaskCommitter) promise(r *kgo.Record, err error) {
	if err != nil {
		t.fail(produceError(r, err))
		return
	}
	if r.Topic != t.cc.Output.DeadLetterTopic {
		if t.cc.Written != nil {
			t.cc.Written.Add(1)
		}
		t.cc.Metrics.wrote(r.Topic)
	}
}

// PreCommit implements operators.TaskCommitter: it pre-commits the open
// transaction (flushes it and records it as pending) and moves on to the
// next id, or declines the checkpoint if no id is free. A committer that
// failed returns a *operators.TaskFailure: its open transaction can only
// be aborted.
func (t *TaskCommitter) PreCommit(ctx context.Context, id int64) error {
	if err := t.failed(); err != nil {
		// The open transaction can only be aborted: the task fails.
		return operators.Fail(err)
	}
	// Checkpoint id lists every transaction pending after this call.
	defer func() {
		for _, tx := range t.pending {
			if i := slotOf(tx.TransactionalID, t.slots); i >= 0 {
				t.slots[i].listed = max(t.slots[i].listed, id)
			}
		}
	}()
	s := &t.slots[t.cur]
	if !s.open || s.records == 0 {
		t.barrier = id
		if s.open { // nothing written: the next records start after id
			s.after = id
		}
		return nil
	}
	// The lowest free id: usually two ids alternate, and their clients
	// stay warm (a new transactional client's first transaction waits for
	// its producer id).
	next := -1
	if len(t.pending) >= (len(t.slots)-2)/2 {
		return fmt.Errorf("checkpoint %d: %w (%d pending)", id, ErrPoolExhausted, len(t.pending))
	}
	for j := range t.slots {
		if j != t.cur && !t.slots[j].busy && !t.slots[j].open && !t.slots[j].held {
			next = j
			break
		}
	}
	if next < 0 {
		return fmt.Errorf("checkpoint %d: %w (%d pending)", id, ErrPoolExhausted, len(t.pending))
	}
	if err := s.cl.Flush(ctx); err != nil {
		return fmt.Errorf("sink: flush %s for checkpoint %d: %w", s.id, id, err)
	}
	if err := t.failed(); err != nil {
		return operators.Fail(err)
	}
	pid, epoch, err := s.cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("sink: producer id of %s: %w", s.id, err)
	}
	t.pending = append(t.pending, operators.Transaction{
		Task: t.task, TransactionalID: s.id, ProducerID: pid, ProducerEpoch: epoch,
		TxnVersion: t.txnVersion, Checkpoint: id, After: s.after,
	})
	s.busy = true
	t.cur = next
	t.barrier = id
	crashpoint.Hit(crashpoint.SinkAfterPreCommit)
	return nil
}

// PendingTransactions implements operators.TaskCommitter.
func (t *TaskCommitter) PendingTransactions() []operators.Transaction {
	return append([]operators.Transaction(nil), t.pending...)
}

// NotifyCheckpointComplete implements operators.TaskCommitter: it commits
// every transaction pre-committed up to checkpoint id. A failed commit
// fails the task: recovery then completes or reports it.
func (t *TaskCommitter) NotifyCheckpointComplete(ctx context.Context, id int64) error {
	// Checkpoint id is now the one a restore would choose; a held id it
	// does not list is free. (No older checkpoint can complete after it.)
	for i := range t.slots {
		if s := &t.slots[i]; s.held && s.listed < id {
			s.held = false
		}
	}
	var keep []operators.Transaction
	for _, tx := range t.pending {
		if tx.Checkpoint > id {
			keep = append(keep, tx)
			continue
		}
		s := &t.slots[slotOf(tx.TransactionalID, t.slots)]
		if err := s.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return fmt.Errorf("sink: commit %s (checkpoint %d): %w", tx.TransactionalID, tx.Checkpoint, err)
		}
		t.cc.Metrics.committed()
		crashpoint.Hit(crashpoint.SinkAfterCommit)
		// Checkpoint id and maybe later ones in flight list it: held
		// until one after s.listed completes.
		s.open, s.busy, s.records = false, false, 0
		s.held = true
	}
	t.pending = keep
	return nil
}

// slotOf returns the index of the slot of id, or -1.
func slotOf(id string, slots []slot) int {
	for i := range slots {
		if slots[i].id == id {
			return i
		}
	}
	return -1
}

// Close implements operators.TaskCommitter. Transactions still open stay
// open: recovery commits those a complete checkpoint holds and aborts the
// rest.
func (t *TaskCommitter) Close() error {
	for i := range t.slots {
		if cl := t.slots[i].cl; cl != nil {
			cl.Close()
			t.slots[i].cl = nil
		}
	}
	if t.meta != nil {
		t.meta.Close()
		t.meta = nil
	}
	return nil
}
