package main

import (
	"context"

	"github.com/tidemark/tidemark/internal/kafkabench"
)

// baseline starts the raw pipe (kafkabench.StartPipe): e.o.pipes
// consume→produce loops, each with its own read_committed consumer of its
// share of the input partitions (from offset 0, no group, nothing
// committed) and its own producer (idempotent, acks=all, snappy: the
// client's defaults; linger -baseline-linger, 0 like Tidemark's sinks by
// default), writing every record's key, value, headers and timestamp
// unchanged to out with the default (key hash) partitioner, as Tidemark's
// sink does.
//
// With txn (variant f) each producer writes in Kafka transactions and,
// every e.o.interval, flushes and commits the open one and begins the
// next, in line: the simplest transactional pipe, without Tidemark's
// checkpoints (and without consumer offsets in the transactions, so not
// exactly once across a crash).
func (e *env) baseline(ctx context.Context, name, in, out string, txn bool) (*running, error) {
	c := kafkabench.PipeConfig{Brokers: e.o.brokers, In: in, Out: out, Partitions: e.o.partitions, Pipes: e.o.pipes,
		ClientID: "pipebench-base", Linger: e.o.linger, Interval: e.o.interval}
	if txn {
		c.TxnID = name
	}
	p, err := kafkabench.StartPipe(ctx, c)
	if err != nil {
		return nil, err
	}
	r := &running{cancel: func() { _ = p.Stop() }, done: make(chan struct{})}
	go func() {
		<-p.Done()
		r.err = p.Err()
		close(r.done)
	}()
	return r, nil
}
