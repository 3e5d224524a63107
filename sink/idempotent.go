package sink

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
)

// IdempotentCommitter is the at-least-once output of one sink-bearing task
// (operators.TaskCommitter without transactions): every sink of the task
// and its dead letters write through one idempotent producer; on a
// checkpoint's barrier it flushes, so every record written before the
// barrier is acknowledged by the broker before the checkpoint can
// complete. Records written after the last checkpoint are written again
// after a crash.
type IdempotentCommitter struct {
	cc   CommitterConfig
	base []kgo.Opt

	cl    *kgo.Client
	log   *zap.Logger
	err   atomic.Pointer[error]
	route router

	opened  bool
	openErr error
}

var _ operators.TaskCommitter = (*IdempotentCommitter)(nil)

// NewIdempotentCommitter returns the at-least-once committer of a task;
// base are the shared client options. Open it before use.
func NewIdempotentCommitter(cc CommitterConfig, base []kgo.Opt) *IdempotentCommitter {
	return &IdempotentCommitter{cc: cc, base: base}
}

// Open checks that the topics exist and reads their limits. Only the
// first call opens; later ones return its result.
func (k *IdempotentCommitter) Open(ctx context.Context, oc operators.OpenContext) error {
	if k.opened {
		return k.openErr
	}
	k.opened = true
	k.openErr = k.open(ctx, oc)
	return k.openErr
}

// Require checks, once the committer is open, that topics exist (a
// *MissingTopicError otherwise) and reads their limits.
func (k *IdempotentCommitter) Require(ctx context.Context, topics []Topic) error {
	if k.cl == nil || k.route.limits == nil {
		return errors.New("sink: committer not open")
	}
	return require(ctx, k.cl, k.route.limits, topics, k.log)
}

func (k *IdempotentCommitter) open(ctx context.Context, oc operators.OpenContext) error {
	k.log = oc.Log
	if k.log == nil {
		k.log = zap.NewNop()
	}
	k.route = router{out: k.cc.Output, log: k.log}
	opts := append(append([]kgo.Opt{}, k.base...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		// Called when a partition is first produced to: after preflight.
		kgo.ProducerBatchMaxBytesFn(func(topic string) int32 { return k.route.limits.BatchMax(topic) }),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("sink: client: %w", err)
	}
	k.cl = cl
	topics := append(append([]Topic(nil), k.cc.Topics...), Topic{Name: k.cc.Output.DeadLetterTopic, Key: k.cc.Output.DeadLetterKey})
	limits, err := preflight(ctx, cl, topics, k.log)
	if err != nil {
		return err
	}
	k.route.limits = limits
	k.route.lookup = func(ctx context.Context, topic string) (bool, error) { return limits.lookup(ctx, k.cl, topic, k.log) }
	return nil
}

func (k *IdempotentCommitter) failed() error {
	if p := k.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (k *IdempotentCommitter) fail(err error) { k.err.CompareAndSwap(nil, &err) }

// Write implements operators.TaskCommitter.
func (k *IdempotentCommitter) Write(ctx context.Context, recs []operators.SinkRecord) error {
	if err := k.failed(); err != nil {
		return err
	}
	ps := newProduced(len(recs))
	k.route.startBatch()
	for i := range recs {
		kr, _, err := k.route.output(ctx, &recs[i], &ps[i].kr)
		if err != nil {
			k.fail(err)
			return err
		}
		withSource(ctx, &ps[i].rc, kr, recs[i].Source)
		k.cl.Produce(ctx, kr, k.promise)
	}
	return nil
}

// DeadLetters implements operators.TaskCommitter: each rejected record
// goes to the dead-letter topic with its key, value and headers, and
// headers saying why and where it came from; truncated if the topic would
// refuse it whole.
func (k *IdempotentCommitter) DeadLetters(ctx context.Context, dls []operators.DeadLetter) error {
	if err := k.failed(); err != nil {
		return err
	}
	rcs := make([]recordCtx, len(dls))
	for i, d := range dls {
		kr, err := k.route.deadLetter(d)
		if err != nil {
			k.fail(err)
			return err
		}
		withSource(ctx, &rcs[i], kr, d.Record)
		k.cl.Produce(ctx, kr, k.promise)
	}
	return nil
}

func (k *IdempotentCommitter) promise(r *kgo.Record, err error) {
	if err != nil {
		k.fail(produceError(r, err))
		return
	}
	if r.Topic != k.cc.Output.DeadLetterTopic {
		if k.cc.Written != nil {
			k.cc.Written.Add(1)
		}
		k.cc.Metrics.wrote(r.Topic)
	}
}

// PreCommit implements operators.TaskCommitter: it waits until every
// record sent so far is acknowledged.
func (k *IdempotentCommitter) PreCommit(ctx context.Context, id int64) error {
	if err := k.cl.Flush(ctx); err != nil {
		return fmt.Errorf("sink: flush for checkpoint %d: %w", id, err)
	}
	// A record the broker did not take fails the task: declining the
	// checkpoint would only meet it again.
	return operators.Fail(k.failed())
}

// PendingTransactions implements operators.TaskCommitter: none.
func (k *IdempotentCommitter) PendingTransactions() []operators.Transaction { return nil }

// NotifyCheckpointComplete implements operators.TaskCommitter: nothing to
// commit.
func (k *IdempotentCommitter) NotifyCheckpointComplete(context.Context, int64) error { return nil }

// Close implements operators.TaskCommitter.
func (k *IdempotentCommitter) Close() error {
	if k.cl != nil {
		k.cl.Close()
		k.cl = nil
	}
	return nil
}

// Committer is a task's committer before it is open: a *TaskCommitter
// or an *IdempotentCommitter.
type Committer interface {
	operators.TaskCommitter
	// Open prepares the committer for task oc.Task (see
	// TaskCommitter.Open), before any sink of the task writes. Only the
	// first call opens.
	Open(ctx context.Context, oc operators.OpenContext) error
	// Require checks that topics exist, once open.
	Require(ctx context.Context, topics []Topic) error
}

// NewCommitter returns the committer cc.Output.Delivery asks for: a
// *TaskCommitter (exactly_once) or an *IdempotentCommitter
// (at_least_once).
func NewCommitter(cc CommitterConfig, base []kgo.Opt) Committer {
	if cc.Output.Delivery == config.AtLeastOnce {
		return NewIdempotentCommitter(cc, base)
	}
	return NewTaskCommitter(cc, base)
}
