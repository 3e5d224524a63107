package operators

import (
	"strconv"
	"strings"
	"time"
)

// TaskID names a task: its stage and index. A legacy job's stages are
// "source" and "keyed"; a source stage of a job graph is "source:<name>".
type TaskID struct {
	Stage string
	Index int
}

func (t TaskID) String() string { return t.Stage + "-" + strconv.Itoa(t.Index) }

// IsSource reports whether the task reads a source: its part of a
// checkpoint is a SourceSnapshot.
func (t TaskID) IsSource() bool {
	return t.Stage == "source" || strings.HasPrefix(t.Stage, "source:")
}

// SourceSnapshot is a source task's part of a checkpoint.
type SourceSnapshot struct {
	Task TaskID
	// Source names the source the positions are in ("" in a legacy job:
	// its one source).
	Source       string
	CheckpointID int64
	Positions    []Position
	Watermark    int64
	// Transactions are the task's sink transactions not yet committed,
	// when its stage bears sinks.
	Transactions []Transaction
}

// TaskSnapshot is the synchronous part of a keyed task's snapshot: a
// Pebble checkpoint in Dir, and for an unaligned checkpoint the in-flight
// elements (records and dead letters) that reached the task before their
// barrier but after the snapshot.
type TaskSnapshot struct {
	Task         TaskID
	CheckpointID int64
	// Dir holds the task's state checkpoint (hard links of its SSTs).
	Dir string
	// Unaligned says the barrier was not aligned (alignment timed out);
	// InFlight then holds what to replay on restore, in arrival order.
	Unaligned bool
	InFlight  []InFlight
	Watermark int64
	// Transactions are the task's sink transactions not yet committed.
	Transactions []Transaction
	// SyncDuration is how long processing paused for the snapshot;
	// AlignDuration is from the first barrier to the last one.
	SyncDuration, AlignDuration time.Duration
	// FirstBarrier is when the first barrier of the checkpoint reached the
	// task: the coordinator's trigger time subtracted, how long the
	// barrier queued behind records (the checkpoint's start delay).
	FirstBarrier time.Time
}

// InFlight is one element of an unaligned checkpoint's in-flight data: a
// batch of records for input Port of operator Node, or a batch of dead
// letters that upstream tasks rejected (exactly one of the two is set). A
// restore replays the elements in order: records through the same node
// and port, dead letters to where the task writes them. Node is empty in
// checkpoints written before targets were stored: their records go to the
// node the task's first input feeds.
type InFlight struct {
	Node        string
	Port        int
	Records     []Record
	DeadLetters []DeadLetter
}

// Checkpointer receives tasks' snapshots. It is implemented by the
// checkpoint coordinator. Its methods are called from task goroutines and
// must not block: uploads happen in the background.
type Checkpointer interface {
	SourceSnapshot(SourceSnapshot)
	TaskSnapshot(TaskSnapshot)
	// Decline says a task could not take its part of checkpoint id.
	Decline(task TaskID, id int64, err error)
}
