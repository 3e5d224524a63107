package operators

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one keyed record flowing through a job.
type Record struct {
	Key, Value []byte
	Headers    []Header
	// Timestamp is the record's event time in milliseconds since the epoch.
	Timestamp int64
	// Topic, Partition and Offset say where a source record was read, for
	// dead-letter headers; empty for records operators make.
	Topic     string `json:",omitempty"`
	Partition int32  `json:",omitempty"`
	Offset    int64  `json:",omitempty"`
}

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
// a barrier or a watermark (exactly one of them).
type element struct {
	records   []Record
	barrier   int64 // checkpoint id; 0: none
	watermark int64
	hasWM     bool
	// deadLetters are records a source task's operators rejected, on
	// their way to a keyed task's dead-letter sink.
	deadLetters []DeadLetter
}
