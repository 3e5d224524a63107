package expression

import (
	"github.com/expr-lang/expr/vm"

	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
)

// Context says where an expression is evaluated, and so which names it
// may use (see the package doc).
type Context uint8

// The contexts.
const (
	// RecordContext: one record's value, key, headers, timestamp, topic,
	// partition, offset and window. Filters, maps, keys, event times,
	// aggregate inputs, a join's retain.
	RecordContext Context = iota
	// JoinContext: the record names and left and right, the rows of a
	// join (its where and select).
	JoinContext
	// ItemContext: the record names and item and index, an element of a
	// flat_map's list and its position (its value).
	ItemContext
)

func (c Context) String() string {
	switch c {
	case RecordContext:
		return "record"
	case JoinContext:
		return "join"
	case ItemContext:
		return "item"
	}
	return "unknown"
}

// names is a set of the environment's names.
type names uint16

const (
	nValue names = 1 << iota
	nKey
	nHeaders
	nTimestamp
	nTopic
	nPartition
	nOffset
	nWindow
	nLeft
	nRight
	nItem
	nIndex

	nRecord = nValue | nKey | nHeaders | nTimestamp | nTopic | nPartition | nOffset | nWindow
	nAll    = nRecord | nLeft | nRight | nItem | nIndex
)

var nameBits = map[string]names{
	"value": nValue, "key": nKey, "headers": nHeaders, "timestamp": nTimestamp,
	"topic": nTopic, "partition": nPartition, "offset": nOffset, "window": nWindow,
	"left": nLeft, "right": nRight, "item": nItem, "index": nIndex,
}

func (c Context) allowed() names {
	switch c {
	case JoinContext:
		return nRecord | nLeft | nRight
	case ItemContext:
		return nRecord | nItem | nIndex
	}
	return nRecord
}

// Window is a record's window [Start, End) in ms. An expression's result
// holding one is returned as the object {"start": ms, "end": ms}.
type Window struct {
	Start int64 `expr:"start"`
	End   int64 `expr:"end"`
}

// Env is the environment expressions are evaluated in: the names of one
// record (or join pair, or list element) and the evaluator. Reuse one Env
// per goroutine from record to record; it is not safe for concurrent use.
//
// Value may be a lazy value (format/json.Raw): the fast evaluator reads
// its fields on demand, and it is decoded (once per record) before expr's
// VM runs; Eval never returns a Raw (EvalLazy may).
//
// Fill it with SetRecord, then set what the context adds (Left and Right,
// Item and Index) directly. SetRecord derives Key, Headers and a raw Value
// from the record only when an expression uses them, so set those three
// directly only on an Env without a record (after Reset).
type Env struct {
	Value     any            `expr:"value"`
	Key       string         `expr:"key"`
	Headers   map[string]any `expr:"headers"`
	Timestamp int64          `expr:"timestamp"`
	Topic     string         `expr:"topic"`
	Partition int64          `expr:"partition"`
	Offset    int64          `expr:"offset"`
	Window    *Window        `expr:"window"`
	Left      any            `expr:"left"`
	Right     any            `expr:"right"`
	Item      any            `expr:"item"`
	Index     int64          `expr:"index"`

	vm      vm.VM
	win     Window
	rec     *operators.Record
	pending names // names still to derive from rec
}

// Reset clears every name and forgets the record.
func (e *Env) Reset() {
	e.Value, e.Key, e.Headers, e.Timestamp = nil, "", nil, 0
	e.Topic, e.Partition, e.Offset, e.Window = "", -1, -1, nil
	e.Left, e.Right, e.Item, e.Index = nil, nil, nil, 0
	e.rec, e.pending = nil, 0
}

// SetRecord makes r the record expressions see. r must stay unchanged
// until the last Eval over it (records are never modified anyway).
// Left, Right, Item and Index keep their values.
func (e *Env) SetRecord(r *operators.Record) {
	e.rec = r
	e.pending = nKey | nHeaders
	e.Value = r.Data
	if r.Data == nil && r.Value != nil {
		e.Value = nil
		e.pending |= nValue
	}
	e.Timestamp = r.Timestamp
	if r.Topic == "" {
		e.Topic, e.Partition, e.Offset = "", -1, -1
	} else {
		e.Topic, e.Partition, e.Offset = r.Topic, int64(r.Partition), r.Offset
	}
	if r.HasWindow() {
		e.win = Window{Start: r.WindowStart, End: r.WindowEnd}
		e.Window = &e.win
	} else {
		e.Window = nil
	}
}

// derive fills the names of used still pending from the record.
func (e *Env) derive(used names) {
	todo := e.pending & used
	if todo == 0 {
		return
	}
	e.pending &^= todo
	r := e.rec
	if todo&nKey != 0 {
		e.Key = string(r.Key)
	}
	if todo&nHeaders != 0 {
		e.Headers = nil
		if len(r.Headers) > 0 {
			e.Headers = make(map[string]any, len(r.Headers))
			for _, h := range r.Headers {
				e.Headers[h.Key] = string(h.Value)
			}
		}
	}
	if todo&nValue != 0 {
		e.Value = string(r.Value)
	}
}

// materialize decodes the lazy values (format/json.Raw) among the names,
// for expr's VM, which reads maps and lists. They stay decoded for the
// rest of the record's expressions.
func (e *Env) materialize() error {
	for _, p := range []*any{&e.Value, &e.Left, &e.Right, &e.Item} {
		if r, ok := (*p).(json.Raw); ok {
			v, err := r.Decode()
			if err != nil {
				return err
			}
			*p = v
		}
	}
	return nil
}
