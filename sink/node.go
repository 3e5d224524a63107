package sink

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
)

// Formats and modes of a sink (Spec.Format, Spec.Mode).
const (
	// FormatJSON encodes the value as JSON (format/json), the fields of
	// the producing operator's rows in their declared order.
	FormatJSON = "json"
	// FormatRaw writes a string or bytes value as it is.
	FormatRaw = "raw"
	// ModeAppend writes every record; its input must be an append stream.
	ModeAppend = "append"
	// ModeUpsert writes an updating stream as upserts: Kafka key = the
	// record key (the upsert key); inserts and update-afters write the
	// value, deletes a tombstone (null value), update-befores nothing.
	ModeUpsert = "upsert"
)

// Spec is one sink of a job (design §1.4, `sinks[]`). Expressions are
// compiled in the record context (expression.RecordContext).
type Spec struct {
	// Name names the sink (in dead letters and messages).
	Name string
	// Topic is the fixed topic; TopicExpr an expression giving each
	// record's topic (a string). Exactly one is set.
	Topic, TopicExpr string
	// Key, Value and Timestamp are expressions for the Kafka key, value
	// and timestamp (ms); "" is the record's own (key, value, timestamp).
	// An upsert sink's key is always the record key.
	Key, Value, Timestamp string
	// Headers maps header names to expressions and replaces the record's
	// headers; nil keeps them. A null result leaves the header out.
	Headers map[string]string
	// Format is FormatJSON (default) or FormatRaw.
	Format string
	// Mode is ModeAppend (default) or ModeUpsert.
	Mode string
	// FieldOrder is the order the producing operator declares for its
	// rows' fields (design §2.3): the value of a record (with Value "")
	// writes them first, in that order, then any others sorted.
	FieldOrder []string
}

// SpecError is a wrong setting of a sink: Key is the setting ("topic_expr",
// "headers.trace"), Err what is wrong; an expression's error is an
// *expression.Error, whose Line and Col are within the expression.
type SpecError struct {
	Sink, Key string
	Err       error
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("sinks[%s].%s: %v", e.Sink, e.Key, e.Err)
}

func (e *SpecError) Unwrap() error { return e.Err }

// Problems lists every wrong setting of s (nil if none), compiling its
// expressions: what `processor validate` reports.
func (s Spec) Problems() []*SpecError {
	_, ps := compile(s)
	return ps
}

// KafkaSink is a sink node (design §3.6): it runs in the task that
// produces its input, turns each record into a Kafka record — topic (fixed
// or by expression), key, value encoded per format, timestamp, headers —
// and writes it through the task's committer (OpenContext.Committer), into
// the transaction every sink of the task and its dead letters share. A
// record whose topic, key, value, timestamp or header cannot be computed
// goes to the dead-letter topic (OpenContext.Reject) with the reason.
type KafkaSink struct {
	operators.Base
	spec    Spec
	topic   *expression.Program // nil: spec.Topic
	key     *expression.Program // nil: the record key
	value   *expression.Program // nil: the record value
	ts      *expression.Program // nil: the record timestamp
	headers []header            // nil with keepHeaders
	upsert  bool
	raw     bool
	usesEnv bool

	c       operators.TaskCommitter
	reject  func(operators.Record, error)
	env     expression.Env
	buf     []operators.SinkRecord
	dls     []operators.DeadLetter
	scratch []byte // a value being encoded
	// arena holds the encoded values of the last records, each a
	// capacity-bounded slice of it: one allocation for many values (the
	// producer keeps a value until it is acknowledged; a chunk is freed
	// with its last value).
	arena []byte
}

type header struct {
	name string
	prog *expression.Program
}

// NewKafkaSink compiles spec into a sink node; its error joins every
// *SpecError of spec.
func NewKafkaSink(spec Spec) (*KafkaSink, error) {
	k, ps := compile(spec)
	if len(ps) > 0 {
		errs := make([]error, len(ps))
		for i, p := range ps {
			errs[i] = p
		}
		return nil, errors.Join(errs...)
	}
	return k, nil
}

func compile(spec Spec) (*KafkaSink, []*SpecError) {
	k := &KafkaSink{spec: spec}
	var ps []*SpecError
	bad := func(key string, err error) { ps = append(ps, &SpecError{Sink: spec.Name, Key: key, Err: err}) }
	expr := func(key, src string) *expression.Program {
		if src == "" {
			return nil
		}
		p, err := expression.Compile(src, expression.RecordContext)
		if err != nil {
			bad(key, err)
			return nil
		}
		k.usesEnv = true
		return p
	}
	switch {
	case spec.Topic != "" && spec.TopicExpr != "":
		bad("topic", errors.New("topic and topic_expr are both set: set one"))
	case spec.Topic == "" && spec.TopicExpr == "":
		bad("topic", errors.New("is required (or topic_expr, an expression giving each record's topic)"))
	case spec.Topic != "" && !validTopic(spec.Topic):
		bad("topic", fmt.Errorf("%q is not a valid Kafka topic name (1 to 249 letters, digits, '.', '_' or '-')", spec.Topic))
	}
	k.topic = expr("topic_expr", spec.TopicExpr)
	switch spec.Format {
	case "", FormatJSON:
	case FormatRaw:
		k.raw = true
	default:
		bad("format", fmt.Errorf("must be %s or %s, got %q", FormatJSON, FormatRaw, spec.Format))
	}
	switch spec.Mode {
	case "", ModeAppend:
	case ModeUpsert:
		k.upsert = true
		if spec.Key != "" && spec.Key != "key" {
			bad("key", fmt.Errorf("mode %s writes the record key (the upsert key: the group key of an aggregate) as the Kafka key: remove key, or set mode: %s", ModeUpsert, ModeAppend))
		}
	default:
		bad("mode", fmt.Errorf("must be %s or %s, got %q", ModeAppend, ModeUpsert, spec.Mode))
	}
	if !k.upsert && spec.Key != "key" {
		k.key = expr("key", spec.Key)
	}
	if spec.Value != "value" {
		k.value = expr("value", spec.Value)
	}
	if spec.Timestamp != "timestamp" {
		k.ts = expr("timestamp", spec.Timestamp)
	}
	if spec.Headers != nil {
		names := make([]string, 0, len(spec.Headers))
		for n := range spec.Headers {
			names = append(names, n)
		}
		slices.Sort(names)
		k.headers = []header{}
		for _, n := range names {
			key := "headers." + n
			if n == "" {
				bad(key, errors.New("a header needs a name"))
				continue
			}
			if spec.Headers[n] == "" {
				bad(key, errors.New("needs an expression"))
				continue
			}
			if p := expr(key, spec.Headers[n]); p != nil {
				k.headers = append(k.headers, header{name: n, prog: p})
			}
		}
	}
	return k, ps
}

// Name is the sink's name.
func (k *KafkaSink) Name() string { return k.spec.Name }

// Upsert reports whether the sink writes upserts (and so accepts an
// updating input).
func (k *KafkaSink) Upsert() bool { return k.upsert }

// Topics are the fixed topics the sink writes to, for the task's
// CommitterConfig.Topics (none with topic_expr).
func (k *KafkaSink) Topics() []Topic {
	if k.spec.Topic == "" {
		return nil
	}
	return []Topic{{Name: k.spec.Topic, Key: "sinks[" + k.spec.Name + "].topic"}}
}

// Open implements operators.Operator: the sink writes through
// oc.Committer, and sends what it cannot write to oc.Reject (to the
// committer's DeadLetters when nil). A committer of this package is
// opened with oc if nobody opened it yet (oc carries the task and what
// the restored checkpoint holds for it: every sink of the task sees the
// same), and the sink's fixed topic must exist (a *MissingTopicError
// otherwise).
func (k *KafkaSink) Open(ctx context.Context, oc operators.OpenContext) error {
	if oc.Committer == nil {
		return fmt.Errorf("sink %s: its task has no committer (OpenContext.Committer)", k.spec.Name)
	}
	k.c, k.reject = oc.Committer, oc.Reject
	if c, ok := oc.Committer.(Committer); ok {
		if err := c.Open(ctx, oc); err != nil {
			return err
		}
		if err := c.Require(ctx, k.Topics()); err != nil {
			return err // names the sink's setting
		}
	}
	return nil
}

// Process implements operators.Operator: it writes recs through the
// committer; it emits nothing.
func (k *KafkaSink) Process(ctx context.Context, recs []operators.Record, _ operators.Collector) error {
	out := k.buf[:0]
	for i := range recs {
		r := &recs[i]
		switch {
		case k.upsert && r.Kind == operators.UpdateBefore:
			continue // the update-after that follows replaces the row
		case !k.upsert && r.Kind != operators.Insert:
			return fmt.Errorf("sink %s (mode %s) received a %s record (from %s): its input emits updates; set mode: %s",
				k.spec.Name, ModeAppend, r.Kind, Source(*r), ModeUpsert)
		}
		sr, err := k.record(r)
		if err != nil {
			err = fmt.Errorf("sink %s: %w", k.spec.Name, err)
			if k.reject != nil {
				k.reject(*r, err)
			} else {
				k.dls = append(k.dls, operators.DeadLetter{Record: *r, Operator: k.spec.Name, Reason: err.Error()})
			}
			continue
		}
		out = append(out, sr)
	}
	err := k.c.Write(ctx, out)
	clear(out)
	k.buf = out[:0]
	if err == nil && len(k.dls) > 0 {
		err = k.c.DeadLetters(ctx, k.dls)
		clear(k.dls)
		k.dls = k.dls[:0]
	}
	return err
}

// record is the Kafka record of r.
func (k *KafkaSink) record(r *operators.Record) (operators.SinkRecord, error) {
	// Source names the record's position in messages; its payload is
	// not needed.
	sr := operators.SinkRecord{Topic: k.spec.Topic, Key: r.Key, Headers: r.Headers, Timestamp: r.Timestamp, Sink: k.spec.Name,
		Source: operators.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}}
	if k.usesEnv {
		k.env.SetRecord(r)
	}
	if k.topic != nil {
		v, err := k.topic.Eval(&k.env)
		if err != nil {
			return sr, fmt.Errorf("topic_expr %q: %w", k.topic.Source(), err)
		}
		t, ok := v.(string)
		if !ok || t == "" {
			return sr, fmt.Errorf("topic_expr %q gave %s, want a topic name (a non-empty string)", k.topic.Source(), describe(v))
		}
		sr.Topic = t
	}
	if k.key != nil {
		b, err := k.key.EvalKey(&k.env, nil)
		if err != nil {
			return sr, fmt.Errorf("key %q: %w", k.key.Source(), err)
		}
		sr.Key = b
	}
	if k.upsert && r.Kind == operators.Delete {
		sr.Value = nil // a tombstone
	} else {
		var err error
		if sr.Value, err = k.encodeValue(r); err != nil {
			return sr, err
		}
	}
	if k.ts != nil {
		v, err := k.ts.Eval(&k.env)
		if err != nil {
			return sr, fmt.Errorf("timestamp %q: %w", k.ts.Source(), err)
		}
		switch x := v.(type) {
		case nil:
			sr.Timestamp = 0 // the time of writing
		case int64:
			sr.Timestamp = x
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<62 {
				return sr, fmt.Errorf("timestamp %q gave %s, want ms since the epoch (an integer)", k.ts.Source(), describe(v))
			}
			sr.Timestamp = int64(x)
		default:
			return sr, fmt.Errorf("timestamp %q gave %s, want ms since the epoch (an integer)", k.ts.Source(), describe(v))
		}
		if sr.Timestamp < 0 {
			return sr, fmt.Errorf("timestamp %q gave %d, want ms since the epoch (not negative)", k.ts.Source(), sr.Timestamp)
		}
	}
	if k.headers != nil {
		sr.Headers = nil
		for _, h := range k.headers {
			v, err := h.prog.Eval(&k.env)
			if err != nil {
				return sr, fmt.Errorf("headers.%s %q: %w", h.name, h.prog.Source(), err)
			}
			if v == nil {
				continue
			}
			b, err := expression.AppendKey(nil, v)
			if err != nil {
				return sr, fmt.Errorf("headers.%s %q: %w", h.name, h.prog.Source(), err)
			}
			sr.Headers = append(sr.Headers, operators.Header{Key: h.name, Value: b})
		}
	}
	return sr, nil
}

// encodeValue is the Kafka value of r: the value expression's result, or
// the record's value (decoded: encoded per format, in the declared field
// order; never decoded: its bytes as they are).
func (k *KafkaSink) encodeValue(r *operators.Record) ([]byte, error) {
	var v any
	var order []string
	if k.value != nil {
		var err error
		if v, err = k.value.Eval(&k.env); err != nil {
			return nil, fmt.Errorf("value %q: %w", k.value.Source(), err)
		}
	} else {
		if r.Data == nil {
			return r.Value, nil // never decoded (or null): byte for byte
		}
		v, order = r.Data, k.spec.FieldOrder
	}
	if raw, ok := v.(json.Raw); ok && k.raw {
		// A lazy value (format/json.Raw) is an object or list: refused
		// below as its decoded value is.
		var err error
		if v, err = raw.Decode(); err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
	}
	if k.raw {
		switch x := v.(type) {
		case nil:
			return nil, nil
		case string:
			return []byte(x), nil
		case []byte:
			return x, nil
		}
		return nil, fmt.Errorf("format %s writes a string or bytes value, got %s: set format: %s, or a value expression giving a string", FormatRaw, describe(v), FormatJSON)
	}
	if b, ok := v.([]byte); ok && k.value == nil {
		return b, nil
	}
	// Encoded into a scratch buffer, then copied into the arena.
	b, err := json.AppendValue(k.scratch[:0], v, order)
	if err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	k.scratch = b
	if cap(k.arena)-len(k.arena) < len(b) {
		k.arena = make([]byte, 0, max(arenaChunk, len(b)))
	}
	start := len(k.arena)
	k.arena = append(k.arena, b...)
	return k.arena[start:len(k.arena):len(k.arena)], nil
}

// arenaChunk is the least size of a sink's value arena chunk.
const arenaChunk = 32 << 10

// describe names v's type and value for a message.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 60 {
			x = x[:60] + "…"
		}
		return fmt.Sprintf("the string %q", x)
	case int64, float64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("%v", x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}
