package sink

import (
	"context"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
)

// Kafka is the at-least-once sink of a single-chain config, the last
// operator of a keyed task's chain: it writes every record to sink.topic
// through an IdempotentCommitter. On a checkpoint barrier it flushes, so
// every record emitted before the barrier is acknowledged by the broker
// before the checkpoint can complete.
type Kafka struct {
	operators.Base
	cfg  *config.Config
	base []kgo.Opt
	// Written counts records acknowledged by the broker, when set.
	Written *atomic.Int64
	// Metrics, if set, counts records written.
	Metrics *Metrics

	c   *IdempotentCommitter
	buf []operators.SinkRecord
}

// NewKafka returns a sink operator; base are the shared client options.
func NewKafka(cfg *config.Config, base []kgo.Opt, written *atomic.Int64) *Kafka {
	return &Kafka{cfg: cfg, base: base, Written: written}
}

// Open implements operators.Operator.
func (k *Kafka) Open(ctx context.Context, oc operators.OpenContext) error {
	k.c = NewIdempotentCommitter(legacyCommitter(k.cfg, k.Written, k.Metrics), k.base)
	return k.c.Open(ctx, oc)
}

// Process implements operators.Operator.
func (k *Kafka) Process(ctx context.Context, recs []operators.Record, _ operators.Collector) error {
	var err error
	if k.buf, err = legacyRecords(k.buf, k.cfg.Sink.Topic, recs); err != nil {
		return err
	}
	err = k.c.Write(ctx, k.buf)
	clear(k.buf)
	return err
}

// DeadLetters implements operators.DeadLetterSink: each rejected record
// goes to the dead-letter topic with its key, value and headers, and
// headers saying why and where it came from; truncated if the topic would
// refuse it whole.
func (k *Kafka) DeadLetters(ctx context.Context, dls []operators.DeadLetter) error {
	return k.c.DeadLetters(ctx, dls)
}

// SnapshotState implements operators.Operator: it waits until every record
// sent so far is acknowledged.
func (k *Kafka) SnapshotState(ctx context.Context, id int64) error {
	return k.c.PreCommit(ctx, id)
}

// Close implements operators.Operator.
func (k *Kafka) Close() error {
	if k.c == nil {
		return nil
	}
	return k.c.Close()
}
