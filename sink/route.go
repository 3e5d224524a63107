package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"

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
// record the sink topic would refuse goes to the dead-letter topic, and a
// dead letter the dead-letter topic would refuse whole goes there
// truncated; or, per sink.on_rejected or when not even that fits, it
// returns a *RejectedError. A transaction that a broker's refusal touched
// can only be aborted, so refusals are foreseen here rather than met.
type router struct {
	cfg    *config.Config
	limits *Limits
	log    *zap.Logger
}

func (rt *router) fail() bool { return rt.cfg.Sink.OnRejected == config.OnRejectedFail }

// output returns the record to produce for r: to the sink topic, or
// (dead true) its dead letter.
func (rt *router) output(r operators.Record) (kr *kgo.Record, dead bool, err error) {
	topic := rt.cfg.Sink.Topic
	kr = toKafka(topic, r)
	size, limit, ok := rt.limits.Fits(topic, kr)
	if ok {
		return kr, false, nil
	}
	if rt.fail() {
		return nil, false, &RejectedError{Topic: topic, Record: r, Size: size, Limit: limit}
	}
	d := operators.DeadLetter{Record: r, Operator: "sink", Reason: fmt.Sprintf(
		"record of %d bytes is larger than topic %s accepts (%d bytes: its max.message.bytes less batch overhead)", size, topic, limit)}
	rt.log.Warn("output record too large for the sink topic: sent to the dead-letter topic", zap.String("source", Source(r)),
		zap.String("topic", topic), zap.Int("bytes", size), zap.Int("limit", limit))
	kr, err = rt.deadLetter(d)
	return kr, true, err
}

// deadLetter returns the record to produce for d on the dead-letter topic:
// whole if the topic takes it, else truncated.
func (rt *router) deadLetter(d operators.DeadLetter) (*kgo.Record, error) {
	topic := rt.cfg.DeadLetterTopic()
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
	src operators.Record // Topic, Partition, Offset only
}

// withSource sets kr's context to ctx carrying r's source position.
func withSource(ctx context.Context, rc *recordCtx, kr *kgo.Record, r operators.Record) {
	rc.Context = ctx
	rc.src = operators.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	kr.Context = rc
}

// sourceOf is the source position withSource gave kr, if any.
func sourceOf(kr *kgo.Record) operators.Record {
	if rc, ok := kr.Context.(*recordCtx); ok {
		return rc.src
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
