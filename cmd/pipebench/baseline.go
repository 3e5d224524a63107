package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// baseline starts the raw pipe: e.o.pipes consume→produce loops, each with
// its own read_committed consumer of its share of the input partitions
// (from offset 0, no group, nothing committed) and its own producer
// (idempotent, acks=all, snappy: the client's defaults; linger
// -baseline-linger, 0 like Tidemark's sinks by default), writing every
// record's key, value, headers and timestamp unchanged to out with the
// default (key hash) partitioner, as Tidemark's sink does.
//
// With txn (variant f) each producer writes in Kafka transactions and,
// every e.o.interval, flushes and commits the open one and begins the
// next, in line: the simplest transactional pipe, without Tidemark's
// checkpoints (and without consumer offsets in the transactions, so not
// exactly once across a crash).
func (e *env) baseline(ctx context.Context, name, in, out string, txn bool) (*running, error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	fail := func(err error) {
		if failed.CompareAndSwap(nil, &err) {
			cancel()
		}
	}
	var clients []*kgo.Client
	closeAll := func() {
		for _, cl := range clients {
			cl.Close()
		}
	}
	for i := range e.o.pipes {
		parts := map[int32]kgo.Offset{}
		for p := i; p < e.o.partitions; p += e.o.pipes {
			parts[int32(p)] = kgo.NewOffset().At(0)
		}
		cons, err := kgo.NewClient(kgo.SeedBrokers(e.o.brokers...), kgo.ClientID("pipebench-base"),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{in: parts}), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			cancel()
			closeAll()
			return nil, err
		}
		clients = append(clients, cons)
		opts := []kgo.Opt{kgo.SeedBrokers(e.o.brokers...), kgo.ClientID("pipebench-base"), kgo.DefaultProduceTopic(out),
			kgo.ProducerLinger(e.o.linger)}
		if txn {
			opts = append(opts, kgo.TransactionalID(fmt.Sprintf("%s-%d", name, i)), kgo.TransactionTimeout(time.Minute))
		}
		prod, err := kgo.NewClient(opts...)
		if err != nil {
			cancel()
			closeAll()
			return nil, err
		}
		clients = append(clients, prod)
		promise := func(_ *kgo.Record, err error) {
			if err != nil && !errors.Is(err, context.Canceled) {
				fail(fmt.Errorf("produce: %w", err))
			}
		}
		if txn {
			if err := prod.BeginTransaction(); err != nil {
				cancel()
				closeAll()
				return nil, err
			}
		}
		wg.Go(func() {
			next := time.Now().Add(e.o.interval)
			for {
				pctx, pcancel := ctx, context.CancelFunc(func() {})
				if txn {
					pctx, pcancel = context.WithDeadline(ctx, next)
				}
				fs := cons.PollFetches(pctx)
				pcancel()
				if ctx.Err() != nil {
					return
				}
				fs.EachError(func(t string, p int32, err error) {
					if !errors.Is(err, context.DeadlineExceeded) {
						fail(fmt.Errorf("fetch %s[%d]: %w", t, p, err))
					}
				})
				fs.EachRecord(func(rec *kgo.Record) {
					prod.Produce(ctx, &kgo.Record{Key: rec.Key, Value: rec.Value, Headers: rec.Headers, Timestamp: rec.Timestamp}, promise)
				})
				if txn && !time.Now().Before(next) {
					if err := commit(ctx, prod); err != nil {
						fail(err)
						return
					}
					next = time.Now().Add(e.o.interval)
				}
			}
		})
	}
	go func() {
		wg.Wait()
		closeAll()
		if p := failed.Load(); p != nil {
			r.err = *p
		}
		close(r.done)
	}()
	return r, nil
}

// commit flushes and commits prod's open transaction and begins the next.
func commit(ctx context.Context, prod *kgo.Client) error {
	if err := prod.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if err := prod.BeginTransaction(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	return nil
}
