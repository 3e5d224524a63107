package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
)

// Headers of a truncated dead letter.
const (
	// HeaderTruncated is "true" on a dead letter whose key or value was
	// cut to fit the dead-letter topic.
	HeaderTruncated = "tidemark.truncated"
	// HeaderKeySize and HeaderValueSize hold the original key's and
	// value's sizes in bytes, on a truncated dead letter.
	HeaderKeySize   = "tidemark.original.key.size"
	HeaderValueSize = "tidemark.original.value.size"
)

// TruncateTo is the most of its key and of its value a truncated dead
// letter keeps (each); less if the dead-letter topic takes less.
const TruncateTo = 64 << 10

// router decides, before anything is produced, where each record goes: a
// record its topic would refuse (too large, or the topic does not exist)
// goes to the dead-letter topic, and a dead letter the dead-letter topic
// would refuse whole goes there truncated; or, per on_rejected or when not
// even that fits, it returns a *RejectedError. A transaction that a
// broker's refusal touched can only be aborted, so refusals are foreseen
// here rather than met.
type router struct {
	out    Output
	limits *Limits
	log    *zap.Logger
	// lookup finds out whether a topic not met before exists (nil: every
	// topic not in limits is missing).
	lookup func(ctx context.Context, topic string) (bool, error)
	// memoTopic exists and takes records up to memoMax bytes, if memoOK
	// (startBatch).
	memoTopic string
	memoOK    bool
	memoMax   int
}

func (rt *router) fail() bool { return rt.out.OnRejected == config.OnRejectedFail }

// output returns the record to produce for sr: to its topic, or (dead
// true) its dead letter.
func (rt *router) output(ctx context.Context, sr *operators.SinkRecord, dst *kgo.Record) (kr *kgo.Record, dead bool, err error) {
	topic := sr.Topic
	reason := ""
	switch exists, err := rt.existsMemo(ctx, topic); {
	case err != nil:
		return nil, false, err
	case !validTopic(topic):
		reason = fmt.Sprintf("topic %q is not a valid Kafka topic name (1 to 249 letters, digits, '.', '_' or '-')", topic)
	case !exists:
		reason = fmt.Sprintf("topic %s does not exist (Tidemark never creates topics: create it)", topic)
	}
	if reason != "" {
		if rt.fail() {
			return nil, false, &RejectedError{Topic: topic, Record: sr.Source, Reason: reason}
		}
		rt.log.Warn("output record's topic cannot take it: sent to the dead-letter topic", zap.String("source", Source(sr.Source)),
			zap.String("topic", topic), zap.String("reason", reason))
		kr, err = rt.deadLetter(operators.DeadLetter{Record: outputRecord(sr), Operator: sinkName(sr), Reason: reason})
		return kr, true, err
	}
	kr = sinkToKafkaInto(dst, sr)
	size, limit, ok := rt.fits(topic, kr)
	if ok {
		return kr, false, nil
	}
	if rt.fail() {
		return nil, false, &RejectedError{Topic: topic, Record: sr.Source, Size: size, Limit: limit}
	}
	d := operators.DeadLetter{Record: outputRecord(sr), Operator: sinkName(sr), Reason: fmt.Sprintf(
		"record of %d bytes is larger than topic %s accepts (%d bytes: its max.message.bytes less batch overhead)", size, topic, limit)}
	rt.log.Warn("output record too large for the sink topic: sent to the dead-letter topic", zap.String("source", Source(sr.Source)),
		zap.String("topic", topic), zap.Int("bytes", size), zap.Int("limit", limit))
	kr, err = rt.deadLetter(d)
	return kr, true, err
}

// exists says whether topic exists, asking the brokers the first time.
// existsMemo is exists, answered from the memo for the topic of the
// previous record of the batch (see startBatch).
func (rt *router) existsMemo(ctx context.Context, topic string) (bool, error) {
	if rt.memoOK && topic == rt.memoTopic {
		return true, nil
	}
	exists, err := rt.exists(ctx, topic)
	if exists && err == nil {
		rt.memoTopic, rt.memoOK, rt.memoMax = topic, true, int(rt.limits.BatchMax(topic))
	}
	return exists, err
}

// fits is Limits.Fits, with the memoised limit of the batch's topic.
func (rt *router) fits(topic string, kr *kgo.Record) (size, limit int, ok bool) {
	if rt.memoOK && topic == rt.memoTopic {
		size = RecordSize(kr)
		return size, rt.memoMax, size <= rt.memoMax
	}
	return rt.limits.Fits(topic, kr)
}

// startBatch forgets the memo: within a batch of records (one Write), the
// existence and limit of a topic seen once are not asked again.
func (rt *router) startBatch() { rt.memoTopic, rt.memoOK, rt.memoMax = "", false, 0 }

func (rt *router) exists(ctx context.Context, topic string) (bool, error) {
	if exists, missing := rt.limits.state(topic, time.Now()); exists || missing || rt.lookup == nil || !validTopic(topic) {
		return exists, nil
	}
	return rt.lookup(ctx, topic)
}

// validTopic reports whether t is a name Kafka accepts for a topic.
func validTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for i := range len(t) {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// sinkName is the operator a dead letter of sr names.
func sinkName(sr *operators.SinkRecord) string {
	if sr.Sink == "" {
		return "sink"
	}
	return sr.Sink
}

// outputRecord is sr as a record (for its dead letter): its key, value,
// headers and timestamp, and its source's position.
func outputRecord(sr *operators.SinkRecord) operators.Record {
	return operators.Record{Key: sr.Key, Value: sr.Value, Headers: sr.Headers, Timestamp: sr.Timestamp,
		Topic: sr.Source.Topic, Partition: sr.Source.Partition, Offset: sr.Source.Offset}
}

// deadLetter returns the record to produce for d on the dead-letter topic:
// whole if the topic takes it, else truncated.
func (rt *router) deadLetter(d operators.DeadLetter) (*kgo.Record, error) {
	topic := rt.out.DeadLetterTopic
	kr := DeadLetterRecord(topic, d)
	size, limit, ok := rt.limits.Fits(topic, kr)
	if ok {
		return kr, nil
	}
	if rt.fail() {
		return nil, &RejectedError{Topic: topic, Record: d.Record, Size: size, Limit: limit}
	}
	tr, ok := truncate(topic, d, limit)
	if !ok {
		return nil, &RejectedError{Topic: topic, Record: d.Record, Size: size, Limit: limit, DeadLetter: true}
	}
	rt.log.Warn("dead letter truncated to fit the dead-letter topic", zap.String("source", Source(d.Record)),
		zap.String("topic", topic), zap.Int("bytes", size), zap.Int("limit", limit),
		zap.Int("key_bytes", len(d.Record.Key)), zap.Int("value_bytes", len(d.Record.Value)), zap.String("reason", d.Reason))
	return tr, nil
}

// truncate returns d's dead letter for topic with key and value cut to fit
// limit (each at most TruncateTo), and headers saying so; false if not
// even an empty key and value fit.
func truncate(topic string, d operators.DeadLetter, limit int) (*kgo.Record, bool) {
	r := d.Record
	cut := d
	cut.Record.Key, cut.Record.Value = cutTo(r.Key, 0), cutTo(r.Value, 0)
	kr := DeadLetterRecord(topic, cut)
	kr.Headers = append(kr.Headers,
		kgo.RecordHeader{Key: HeaderTruncated, Value: []byte("true")},
		kgo.RecordHeader{Key: HeaderKeySize, Value: strconv.AppendInt(nil, int64(len(r.Key)), 10)},
		kgo.RecordHeader{Key: HeaderValueSize, Value: strconv.AppendInt(nil, int64(len(r.Value)), 10)},
	)
	// Room left for key and value; 10 bytes covers their length prefixes
	// growing.
	room := limit - RecordSize(kr) - 10
	if room < 0 {
		return nil, false
	}
	// The key first: it is usually short, and says whose record it was.
	k := min(len(r.Key), TruncateTo, room)
	v := min(len(r.Value), TruncateTo, room-k)
	kr.Key, kr.Value = cutTo(r.Key, k), cutTo(r.Value, v)
	return kr, RecordSize(kr) <= limit
}

// cutTo is b's first n bytes, keeping nil nil.
func cutTo(b []byte, n int) []byte {
	if b == nil {
		return nil
	}
	return b[:min(n, len(b)):min(n, len(b))]
}

// recordCtx is a produced record's context: the task's, plus the source
// position of the record, for the message if the broker refuses it.
type recordCtx struct {
	context.Context
	topic     string
	partition int32
	offset    int64
}

// produced is a record to produce and its context, allocated together,
// a batch at a time (newProduced).
type produced struct {
	kr kgo.Record
	rc recordCtx
}

// newProduced returns room for n records to produce; each stays
// referenced by the producer until its promise runs.
func newProduced(n int) []produced { return make([]produced, n) }

// withSource sets kr's context to ctx carrying r's source position.
func withSource(ctx context.Context, rc *recordCtx, kr *kgo.Record, r operators.Record) {
	rc.Context = ctx
	rc.topic, rc.partition, rc.offset = r.Topic, r.Partition, r.Offset
	kr.Context = rc
}

// sourceOf is the source position withSource gave kr, if any.
func sourceOf(kr *kgo.Record) operators.Record {
	if rc, ok := kr.Context.(*recordCtx); ok {
		return operators.Record{Topic: rc.topic, Partition: rc.partition, Offset: rc.offset}
	}
	return operators.Record{}
}

// isRefusal says err is the broker (or the client, measuring) refusing a
// record as such, not failing to take it for now.
func isRefusal(err error) bool {
	for _, e := range []error{kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord,
		kerr.CorruptMessage, kerr.InvalidTimestamp} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// produceError is the error for a record the producer failed: a
// *RejectedError naming its source if the broker refused it.
func produceError(kr *kgo.Record, err error) error {
	if isRefusal(err) {
		return &RejectedError{Topic: kr.Topic, Record: sourceOf(kr), Err: err}
	}
	return fmt.Errorf("sink: produce to %s (record from %s): %w", kr.Topic, Source(sourceOf(kr)), err)
}
