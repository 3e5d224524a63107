package sink

import (
	"context"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
)

// Transactional is the exactly-once Kafka sink of a single-chain config,
// the last operator of a keyed task's chain: it writes every record to
// sink.topic through a TaskCommitter of the legacy stage (ids
// <prefix>-<task>-<slot>), which it drives itself: SnapshotState
// pre-commits, NotifyCheckpointComplete commits. It stays until the
// runtime drives committers itself (operators.OpenContext.Committer).
type Transactional struct {
	operators.Base
	cfg  *config.Config
	base []kgo.Opt
	// Written counts records acknowledged by the broker (not yet
	// necessarily committed), when set.
	Written *atomic.Int64
	// Metrics, if set, counts records written and transactions committed.
	Metrics *Metrics

	c   *TaskCommitter
	buf []operators.SinkRecord
}

// NewTransactional returns the exactly-once sink operator; base are the
// shared client options.
func NewTransactional(cfg *config.Config, base []kgo.Opt, written *atomic.Int64) *Transactional {
	return &Transactional{cfg: cfg, base: base, Written: written}
}

// legacyCommitter is the committer config of cfg's single sink.
func legacyCommitter(cfg *config.Config, written *atomic.Int64, m *Metrics) CommitterConfig {
	return CommitterConfig{Output: LegacyOutput(cfg), Stage: LegacyStage,
		Topics: []Topic{{Name: cfg.Sink.Topic, Key: "sink.topic"}}, Written: written, Metrics: m, PoolSize: ConfiguredPoolSize(cfg)}
}

// Open implements operators.Operator. Recovery has settled every
// transaction of the prefix already.
func (t *Transactional) Open(ctx context.Context, oc operators.OpenContext) error {
	t.c = NewTaskCommitter(legacyCommitter(t.cfg, t.Written, t.Metrics), t.base)
	return t.c.Open(ctx, oc)
}

// legacyRecords converts recs into records for topic, reusing buf: key,
// value (encoded if only decoded), headers and event time as they are.
func legacyRecords(buf []operators.SinkRecord, topic string, recs []operators.Record) ([]operators.SinkRecord, error) {
	buf = buf[:0]
	for _, r := range recs {
		v := r.Value
		if v == nil && r.Data != nil {
			var err error
			if v, err = json.AppendValue(nil, r.Data, nil); err != nil {
				return buf, err
			}
		}
		buf = append(buf, operators.SinkRecord{Topic: topic, Key: r.Key, Value: v, Headers: r.Headers,
			Timestamp: r.Timestamp, Source: r})
	}
	return buf, nil
}

// Process implements operators.Operator.
func (t *Transactional) Process(ctx context.Context, recs []operators.Record, _ operators.Collector) error {
	var err error
	if t.buf, err = legacyRecords(t.buf, t.cfg.Sink.Topic, recs); err != nil {
		return err
	}
	err = t.c.Write(ctx, t.buf)
	clear(t.buf)
	return err
}

// DeadLetters implements operators.DeadLetterSink: dead letters go into the
// same transaction as the output, truncated if the dead-letter topic would
// refuse them whole.
func (t *Transactional) DeadLetters(ctx context.Context, dls []operators.DeadLetter) error {
	return t.c.DeadLetters(ctx, dls)
}

// SnapshotState implements operators.Operator: it pre-commits the open
// transaction (TaskCommitter.PreCommit).
func (t *Transactional) SnapshotState(ctx context.Context, id int64) error {
	return t.c.PreCommit(ctx, id)
}

// PendingTransactions implements operators.Committer.
func (t *Transactional) PendingTransactions() []operators.Transaction {
	return t.c.PendingTransactions()
}

// NotifyCheckpointComplete implements operators.Operator: it commits every
// transaction pre-committed up to checkpoint id.
func (t *Transactional) NotifyCheckpointComplete(ctx context.Context, id int64) error {
	return t.c.NotifyCheckpointComplete(ctx, id)
}

// Close implements operators.Operator. Transactions still open stay open:
// recovery commits those a complete checkpoint holds and aborts the rest.
func (t *Transactional) Close() error {
	if t.c == nil {
		return nil
	}
	return t.c.Close()
}
