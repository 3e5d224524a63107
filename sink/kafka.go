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

	cl    *kgo.Client
	log   *zap.Logger
	err   atomic.Pointer[error]
	route router
}

// NewKafka returns a sink operator; base are the shared client options.
func NewKafka(cfg *config.Config, base []kgo.Opt, written *atomic.Int64) *Kafka {
	return &Kafka{cfg: cfg, base: base, Written: written}
}

// Open implements operators.Operator.
func (k *Kafka) Open(ctx context.Context, oc operators.OpenContext) error {
	k.log = oc.Log
	k.route = router{cfg: k.cfg, log: k.log}
	opts := append(append([]kgo.Opt{}, k.base...),
		kgo.DefaultProduceTopic(k.cfg.Sink.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		// Called when a partition is first produced to: after Preflight.
		kgo.ProducerBatchMaxBytesFn(func(topic string) int32 { return k.route.limits.BatchMax(topic) }),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("sink: client: %w", err)
	}
	k.cl = cl
	if k.route.limits, err = Preflight(ctx, k.cfg, cl, k.log); err != nil {
		return err
	}
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
	rcs := make([]recordCtx, len(recs))
	for i, r := range recs {
		kr, _, err := k.route.output(r)
		if err != nil {
			k.err.CompareAndSwap(nil, &err)
			return err
		}
		withSource(ctx, &rcs[i], kr, r)
		k.cl.Produce(ctx, kr, k.promise)
	}
	return nil
}

func (k *Kafka) promise(r *kgo.Record, err error) {
	if err != nil {
		err = produceError(r, err)
		k.err.CompareAndSwap(nil, &err)
		return
	}
	if k.Written != nil && r.Topic == k.cfg.Sink.Topic {
		k.Written.Add(1)
	}
}

// DeadLetters implements operators.DeadLetterSink: each rejected record
// goes to the dead-letter topic with its key, value and headers, and
// headers saying why and where it came from; truncated if the topic would
// refuse it whole.
func (k *Kafka) DeadLetters(ctx context.Context, dls []operators.DeadLetter) error {
	if err := k.failed(); err != nil {
		return err
	}
	rcs := make([]recordCtx, len(dls))
	for i, d := range dls {
		kr, err := k.route.deadLetter(d)
		if err != nil {
			k.err.CompareAndSwap(nil, &err)
			return err
		}
		withSource(ctx, &rcs[i], kr, d.Record)
		k.cl.Produce(ctx, kr, k.promise)
	}
	return nil
}

// SnapshotState implements operators.Operator: it waits until every record
// sent so far is acknowledged.
func (k *Kafka) SnapshotState(ctx context.Context, id int64) error {
	if err := k.cl.Flush(ctx); err != nil {
		return fmt.Errorf("sink: flush for checkpoint %d: %w", id, err)
	}
	// A record the broker did not take fails the task: declining the
	// checkpoint would only meet it again.
	return operators.Fail(k.failed())
}

// Close implements operators.Operator.
func (k *Kafka) Close() error {
	if k.cl != nil {
		k.cl.Close()
	}
	return nil
}
