package sink

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
)

// Kafka is the last operator of a keyed task's chain: it writes every
// record to sink.topic. On a checkpoint barrier it flushes, so every record
// emitted before the barrier is acknowledged by the broker before the
// checkpoint can complete: at-least-once delivery.
type Kafka struct {
	operators.Base
	cfg  *config.Config
	base []kgo.Opt
	// Written counts records acknowledged by the broker, when set.
	Written *atomic.Int64

	cl  *kgo.Client
	log *zap.Logger
	err atomic.Pointer[error]
}

// NewKafka returns a sink operator; base are the shared client options.
func NewKafka(cfg *config.Config, base []kgo.Opt, written *atomic.Int64) *Kafka {
	return &Kafka{cfg: cfg, base: base, Written: written}
}

// Open implements operators.Operator.
func (k *Kafka) Open(_ context.Context, oc operators.OpenContext) error {
	k.log = oc.Log
	opts := append(append([]kgo.Opt{}, k.base...),
		kgo.DefaultProduceTopic(k.cfg.Sink.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("sink: client: %w", err)
	}
	k.cl = cl
	return nil
}

func (k *Kafka) failed() error {
	if p := k.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Process implements operators.Operator.
func (k *Kafka) Process(ctx context.Context, recs []operators.Record, _ operators.Collector) error {
	if err := k.failed(); err != nil {
		return err
	}
	for _, r := range recs {
		kr := toKafka("", r)
		k.cl.Produce(ctx, kr, k.promise)
	}
	return nil
}

func (k *Kafka) promise(_ *kgo.Record, err error) {
	if err != nil {
		err = fmt.Errorf("sink: produce to %s: %w", k.cfg.Sink.Topic, err)
		k.err.CompareAndSwap(nil, &err)
		return
	}
	if k.Written != nil {
		k.Written.Add(1)
	}
}

// DeadLetters implements operators.DeadLetterSink: each rejected record
// goes to the dead-letter topic with its key, value and headers, and
// headers saying why and where it came from.
func (k *Kafka) DeadLetters(ctx context.Context, dls []operators.DeadLetter) error {
	if err := k.failed(); err != nil {
		return err
	}
	for _, d := range dls {
		k.cl.Produce(ctx, DeadLetterRecord(k.cfg.DeadLetterTopic(), d), k.dlPromise)
	}
	return nil
}

func (k *Kafka) dlPromise(_ *kgo.Record, err error) {
	if err != nil {
		err = fmt.Errorf("sink: produce to dead-letter topic %s: %w", k.cfg.DeadLetterTopic(), err)
		k.err.CompareAndSwap(nil, &err)
	}
}

// SnapshotState implements operators.Operator: it waits until every record
// sent so far is acknowledged.
func (k *Kafka) SnapshotState(ctx context.Context, id int64) error {
	if err := k.cl.Flush(ctx); err != nil {
		return fmt.Errorf("sink: flush for checkpoint %d: %w", id, err)
	}
	return k.failed()
}

// Close implements operators.Operator.
func (k *Kafka) Close() error {
	if k.cl != nil {
		k.cl.Close()
	}
	return nil
}
