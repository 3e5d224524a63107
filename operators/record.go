package operators

import (
	"fmt"

	"golang.org/x/sync/semaphore"
)

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Kind is a record's changelog kind (design §2.4). An append stream holds
// only inserts; an updating stream also retracts: an update is
// UpdateBefore(old row) then UpdateAfter(new row) with the same key, and a
// row that goes away is a Delete. The values are stored in checkpoints'
// in-flight files: they never change.
type Kind int8

// The changelog kinds.
const (
	// Insert adds a row; every source record is an insert.
	Insert Kind = 0
	// UpdateBefore retracts the previous row of an update.
	UpdateBefore Kind = 1
	// UpdateAfter is the new row of an update.
	UpdateAfter Kind = 2
	// Delete retracts a row for good.
	Delete Kind = 3
)

// String returns the kind's short name, as Flink prints a RowKind: +I,
// -U, +U, -D.
func (k Kind) String() string {
	switch k {
	case Insert:
		return "+I"
	case UpdateBefore:
		return "-U"
	case UpdateAfter:
		return "+U"
	case Delete:
		return "-D"
	}
	return fmt.Sprintf("Kind(%d)", int8(k))
}

// Retracts reports whether a record of kind k takes a row away
// (UpdateBefore or Delete) rather than adding one.
func (k Kind) Retracts() bool { return k == UpdateBefore || k == Delete }

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "+I":
		return Insert, nil
	case "-U":
		return UpdateBefore, nil
	case "+U":
		return UpdateAfter, nil
	case "-D":
		return Delete, nil
	}
	return 0, fmt.Errorf("operators: unknown record kind %q (want +I, -U, +U or -D)", s)
}

// Record is one keyed record flowing through a job.
//
// An operator never modifies a record it received, nor anything it points
// to (Key, Value, Headers, and above all Data: the same map may travel
// down several branches of the job); it builds new ones (copy on write).
type Record struct {
	Key, Value []byte
	Headers    []Header
	// Timestamp is the record's event time in milliseconds since the epoch.
	Timestamp int64
	// Kind is the record's changelog kind: Insert for every source record.
	Kind Kind `json:",omitempty"`
	// WindowStart and WindowEnd are the window [start, end) in ms the
	// record belongs to, set by window operators; WindowEnd == 0 means the
	// record has no window (HasWindow).
	WindowStart int64 `json:",omitempty"`
	WindowEnd   int64 `json:",omitempty"`
	// Data is the decoded value (format/json: map[string]any, []any,
	// string, int64, float64, bool or nil), decoded once at the source;
	// or, in the records of a source whose records reach only filters,
	// maps and sinks, a lazy object or list (format/json.Raw, decoded
	// field by field when read; json.Materialize gives the map).
	// When Data is non-nil it is authoritative and Value may be nil; a
	// record with Data == nil and Value != nil was never decoded (format
	// raw, or operators that never looked), and a sink writes its Value
	// byte for byte. Data == nil and Value == nil is a null value.
	Data any `json:"-"`
	// Topic, Partition and Offset say where a source record was read, for
	// dead-letter headers; empty for records operators make.
	Topic     string `json:",omitempty"`
	Partition int32  `json:",omitempty"`
	Offset    int64  `json:",omitempty"`
}

// HasWindow reports whether the record carries a window.
func (r *Record) HasWindow() bool { return r.WindowEnd != 0 }

// DeadLetter is a record an operator rejected, with why.
type DeadLetter struct {
	Record   Record
	Operator string
	Reason   string
}

// Position is where a source is in one of its partitions: Offset is the
// offset of the next record to read.
type Position struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// element is what travels on a channel between tasks: a batch of records,
// a barrier, a watermark or the idle mark (exactly one of them).
type element struct {
	records   []Record
	barrier   int64 // checkpoint id; 0: none
	watermark int64
	hasWM     bool
	// idle says the sending task has nothing to send for now (design
	// §3.4): the receiver leaves this channel out of its watermark until
	// the next record or watermark on it.
	idle bool
	// deadLetters are records a source task's operators rejected, on
	// their way to a keyed task's dead-letter sink.
	deadLetters []DeadLetter
	// room, if set, is the exchange's bound on the bytes in flight to
	// the receiver, of which the records hold held: the receiver releases
	// them once it has processed them.
	room *semaphore.Weighted
	held int64
}
