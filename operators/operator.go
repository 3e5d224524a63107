package operators

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/operators/state"
)

// Collector receives the records an operator emits.
type Collector interface {
	Emit(Record)
}

// OpenContext is what an operator is opened with.
type OpenContext struct {
	// Name identifies the operator's state; unique within the job.
	Name string
	// Task is the index of the keyed task running the operator, among
	// Parallelism tasks.
	Task, Parallelism int
	// State is the task's keyed state, already restored.
	State *state.Backend
	// Log is the operator's logger.
	Log *zap.Logger
	// Now is the clock (processing time).
	Now func() time.Time
	// Reject sends a record the operator cannot handle (it cannot decode
	// it, say) to the dead-letter output instead of failing the job. The
	// record goes no further down the chain.
	Reject func(r Record, reason error)
	// RestoredCheckpoint is the id of the checkpoint the task's state was
	// restored from (0 on a fresh start).
	RestoredCheckpoint int64
	// Guard, if set, returns an error (wrapping checkpoint.ErrZombie)
	// once a newer instance took the job over. A committer calls it before
	// it initialises a transactional id, which would fence (and abort)
	// that instance's pending transaction on the same id.
	Guard func(ctx context.Context) error
	// PendingTransactions are this task's sink transactions that the newest
	// complete checkpoint (HoldUntil) lists as pending; recovery settled
	// them already. Their ids must start no new transaction until a
	// checkpoint after HoldUntil completes, so that a recovery of
	// HoldUntil after another crash finds them as they are.
	PendingTransactions []Transaction
	HoldUntil           int64
	// Committer is the transactional output of the task when the task
	// bears sinks (design §3.6), nil otherwise. Sink operators write
	// through it (Write, DeadLetters); the task drives its transaction
	// lifecycle (PreCommit, NotifyCheckpointComplete, Close), never an
	// operator.
	Committer TaskCommitter
}

// DeadLetterSink is implemented by the operator that ends a chain when it
// can write dead letters (the Kafka sink writes them to a dead-letter
// topic, in the same transaction as its output). Without one, dead letters
// are logged and dropped.
type DeadLetterSink interface {
	DeadLetters(ctx context.Context, dls []DeadLetter) error
}

// Transaction is a sink transaction pre-committed in a checkpoint: it
// commits once the checkpoint completes, or at recovery.
type Transaction struct {
	Task int `json:"task"`
	// Stage is the stage of the task that pre-committed it; empty for a
	// legacy job's stage "keyed" (and in checkpoints before stages).
	Stage           string `json:"stage,omitempty"`
	TransactionalID string `json:"transactional_id"`
	ProducerID      int64  `json:"producer_id"`
	ProducerEpoch   int16  `json:"producer_epoch"`
	// TxnVersion is the cluster's transaction.version when it was opened.
	TxnVersion int16 `json:"txn_version"`
	// Checkpoint is the barrier the transaction was pre-committed on;
	// After is the barrier before its first record (0: none).
	Checkpoint int64 `json:"checkpoint"`
	After      int64 `json:"after"`
}

// Committer is implemented by sinks whose output commits with checkpoints:
// after SnapshotState(n) the task asks it for every transaction not yet
// committed, to store in checkpoint n.
type Committer interface {
	PendingTransactions() []Transaction
}

// SinkRecord is one record a sink operator hands to its task's
// committer: encoded and routed, ready to produce.
type SinkRecord struct {
	// Topic is where the record goes.
	Topic string
	// Key and Value are the Kafka record's key and value; a nil Value is
	// a tombstone (an upsert sink's delete).
	Key, Value []byte
	Headers    []Header
	// Timestamp is the Kafka record's timestamp in ms; 0 leaves it to the
	// producer (the time of writing).
	Timestamp int64
	// Source is the record the output was made from: the committer names
	// it (its source topic, partition and offset) in a dead letter or an
	// error when the output cannot be written.
	Source Record
	// Sink names the sink that made the record: a dead letter of it
	// names it (tidemark.operator); "" names it "sink".
	Sink string
}

// TaskCommitter is the exactly-once output of one sink-bearing task
// (design §3.6): one transactional producer whose open transaction every
// sink of the task and the task's dead letters write into; pre-committed
// on each checkpoint's barrier, committed once the checkpoint completes,
// settled by recovery after a failure. It is implemented by the sink
// package.
//
// All methods are called on the task's goroutine. Sink operators call
// Write and DeadLetters; the task calls the rest.
type TaskCommitter interface {
	// Write adds recs to the open transaction, beginning one when none
	// is open. Records are produced asynchronously: a failure to produce
	// one shows in a later Write or in PreCommit. A record the topic would
	// refuse (too large, topic missing) goes to the dead-letter topic
	// instead, in the same transaction; an error is returned only when
	// the task cannot go on.
	Write(ctx context.Context, recs []SinkRecord) error
	// DeadLetters writes rejected records to the job's dead-letter topic,
	// in the same transaction as the output.
	DeadLetters(ctx context.Context, dls []DeadLetter) error
	// PreCommit is the committer's part of checkpoint id, after every
	// operator of the task has snapshotted: it flushes the open
	// transaction and records it as pending; later writes go into a new
	// transaction. A *TaskFailure fails the task; another error declines
	// the checkpoint.
	PreCommit(ctx context.Context, id int64) error
	// PendingTransactions are the transactions pre-committed and not yet
	// committed, for the task's snapshot of the checkpoint just
	// pre-committed.
	PendingTransactions() []Transaction
	// NotifyCheckpointComplete commits every transaction pre-committed
	// up to checkpoint id.
	NotifyCheckpointComplete(ctx context.Context, id int64) error
	// Close releases the producer; open transactions stay open for
	// recovery to settle.
	Close() error
}

// MultiInput is implemented by operators with more than one input (a
// join: input 0 is left, 1 is right). The task calls ProcessInput instead
// of Process, with the index of the input the records arrived on, in the
// order of the operator's `from` list.
type MultiInput interface {
	ProcessInput(ctx context.Context, input int, recs []Record, out Collector) error
}

// PortCollector is implemented by every Collector the runtime hands to an
// operator. An operator with side outputs type-asserts its collector to
// PortCollector and emits to a port: 0 is the main output (the same as
// Emit), port i ≥ 1 the i-th side output its spec declares (`late` of an
// aggregate is port 1). A port nothing reads drops its records.
type PortCollector interface {
	Collector
	EmitTo(port int, r Record)
}

// SnapshotEmitter is implemented by operators that emit when a checkpoint
// is taken (an aggregate with `emit: on_checkpoint` flushes its changed
// rows). On a complete alignment the task calls BeforeSnapshot on every
// such operator, in topological order, and runs what each emits through
// its successors, before any operator's SnapshotState.
type SnapshotEmitter interface {
	BeforeSnapshot(ctx context.Context, id int64, out Collector) error
}

// Operator is one step of a keyed task's chain. All methods are called on
// the task's goroutine, never concurrently.
type Operator interface {
	// Open prepares the operator; its state is already restored.
	Open(ctx context.Context, oc OpenContext) error
	// Process handles one batch of records, emitting results to out.
	Process(ctx context.Context, recs []Record, out Collector) error
	// OnWatermark is called when the task's event-time watermark (the
	// minimum over its inputs) advances to wm; event-time timers fire here.
	OnWatermark(ctx context.Context, wm int64, out Collector) error
	// SnapshotState is the synchronous part of checkpoint id: write any
	// state kept outside the state backend into it (a sink flushes and
	// pre-commits here). It must be quick.
	SnapshotState(ctx context.Context, id int64) error
	// NotifyCheckpointComplete says checkpoint id and every one before it
	// are complete and durable (a sink commits here).
	NotifyCheckpointComplete(ctx context.Context, id int64) error
	// Close releases the operator's resources.
	Close() error
}

// TaskFailure marks an error after which an operator cannot go on (a sink
// whose open transaction the broker made unusable, say). Returned from
// SnapshotState it fails the task, and so the job attempt, instead of only
// declining the checkpoint. Make one with Fail.
type TaskFailure struct{ Err error }

func (e *TaskFailure) Error() string { return e.Err.Error() }

func (e *TaskFailure) Unwrap() error { return e.Err }

// Fail marks err as a TaskFailure (nil stays nil).
func Fail(err error) error {
	if err == nil {
		return nil
	}
	return &TaskFailure{Err: err}
}

// Base is an Operator that does nothing; embed it and override what you
// need.
type Base struct{}

// Open implements Operator.
func (Base) Open(context.Context, OpenContext) error { return nil }

// Process implements Operator by forwarding every record.
func (Base) Process(_ context.Context, recs []Record, out Collector) error {
	for _, r := range recs {
		out.Emit(r)
	}
	return nil
}

// OnWatermark implements Operator.
func (Base) OnWatermark(context.Context, int64, Collector) error { return nil }

// SnapshotState implements Operator.
func (Base) SnapshotState(context.Context, int64) error { return nil }

// NotifyCheckpointComplete implements Operator.
func (Base) NotifyCheckpointComplete(context.Context, int64) error { return nil }

// Close implements Operator.
func (Base) Close() error { return nil }

// Source reads records for one source task. All methods are called on the
// task's goroutine.
type Source interface {
	// Open positions the source: at the restored positions where given,
	// at its configured start elsewhere.
	Open(ctx context.Context, restored []Position) error
	// Poll returns the next records, waiting until some arrive or ctx is
	// done (then it returns what it has, possibly nothing, and no error).
	// It also returns the source's current watermark, or math.MinInt64.
	Poll(ctx context.Context) ([]Record, int64, error)
	// Positions is the source's position in each of its partitions just
	// after the last record Poll returned: its state for a checkpoint.
	Positions() []Position
	// NotifyCheckpointComplete says the checkpoint holding positions is
	// complete (a Kafka source commits its offsets to the group here).
	NotifyCheckpointComplete(ctx context.Context, id int64, positions []Position) error
	// Close releases the source.
	Close() error
}

// Forwarder is implemented by an operator whose Process emits every record
// it gets on port 0, unchanged and in order, and does nothing else (a
// passthrough): the task hands its input straight to its successors
// instead of copying it through a collector.
type Forwarder interface {
	Operator
	ForwardsUnchanged()
}
