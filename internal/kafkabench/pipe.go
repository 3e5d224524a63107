package kafkabench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// PipeConfig configures a raw franz-go consume→produce pipe.
type PipeConfig struct {
	Brokers []string
	// In and Out are the input and output topics; In has Partitions
	// partitions.
	In, Out    string
	Partitions int
	// Pipes loops run, each with its own consumer of partitions i,
	// i+Pipes, … of In and its own producer.
	Pipes    int
	ClientID string
	// Linger is the producers' linger (Tidemark's sinks use 0).
	Linger time.Duration
	// TxnID, when set, makes each pipe's producer transactional with id
	// TxnID-<pipe>: it writes in Kafka transactions and, every Interval,
	// flushes and commits the open one and begins the next, in line.
	TxnID    string
	Interval time.Duration
	// Restore, when set, runs once every producer has its producer id
	// (transactional pipes: each id's earlier incarnation is fenced and
	// its open transaction aborted) and before any record is read; it
	// returns the offset to read each input partition from (missing: 0).
	Restore func(ctx context.Context) (map[int32]int64, error)
	// Map turns an input record into the output record, on pipe's
	// goroutine (pipe p reads partitions p, p+Pipes, …); nil copies the
	// key, value, headers and timestamp.
	Map func(pipe int, rec *kgo.Record) *kgo.Record
	// Polled, when set, is called on pipe's goroutine after each poll
	// that returned records, with the time of the poll.
	Polled func(pipe int, at time.Time)
}

// Pipe is a running pipe.
type Pipe struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Done is closed once the pipe has ended; Err says why then.
func (p *Pipe) Done() <-chan struct{} { return p.done }

// Err is the pipe's failure, nil if it was stopped; valid once Done is
// closed.
func (p *Pipe) Err() error { return p.err }

// Stop ends the pipe (an open transaction is left to time out or to the
// next incarnation) and waits for it.
func (p *Pipe) Stop() error {
	p.cancel()
	<-p.done
	return p.err
}

// StartPipe starts the raw pipe: c.Pipes loops, each with its own
// read_committed consumer of its share of the input partitions (no group,
// nothing committed) and its own producer (idempotent, acks=all, snappy:
// the client's defaults; linger c.Linger), writing c.Map of every record
// to c.Out with the default (key hash) partitioner, as Tidemark's sink
// does. Without c.Restore it reads from offset 0.
//
// With c.TxnID the producers write in transactions committed every
// c.Interval in line: the simplest transactional pipe, without Tidemark's
// checkpoints. Input offsets are not in the transactions: a pipe that must
// resume exactly once after a crash finds where to resume in its own
// committed output (c.Restore), as cmd/peerbench's does.
func StartPipe(ctx context.Context, c PipeConfig) (*Pipe, error) {
	ctx, cancel := context.WithCancel(ctx)
	p := &Pipe{cancel: cancel, done: make(chan struct{})}
	var clients []*kgo.Client
	fail := func(err error) (*Pipe, error) {
		cancel()
		for _, cl := range clients {
			cl.Close()
		}
		return nil, err
	}
	txn := c.TxnID != ""
	prods := make([]*kgo.Client, c.Pipes)
	for i := range c.Pipes {
		opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID(c.ClientID), kgo.DefaultProduceTopic(c.Out),
			kgo.ProducerLinger(c.Linger)}
		if txn {
			opts = append(opts, kgo.TransactionalID(fmt.Sprintf("%s-%d", c.TxnID, i)), kgo.TransactionTimeout(time.Minute))
		}
		prod, err := kgo.NewClient(opts...)
		if err != nil {
			return fail(err)
		}
		clients = append(clients, prod)
		prods[i] = prod
		if txn {
			if _, _, err := prod.ProducerID(ctx); err != nil {
				return fail(fmt.Errorf("transactional id %s-%d: init producer id: %w", c.TxnID, i, err))
			}
			if err := prod.BeginTransaction(); err != nil {
				return fail(err)
			}
		}
	}
	start := map[int32]int64{}
	if c.Restore != nil {
		var err error
		if start, err = c.Restore(ctx); err != nil {
			return fail(fmt.Errorf("restore: %w", err))
		}
	}
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	stop := func(err error) {
		if failed.CompareAndSwap(nil, &err) {
			cancel()
		}
	}
	for i := range c.Pipes {
		parts := map[int32]kgo.Offset{}
		for q := i; q < c.Partitions; q += c.Pipes {
			parts[int32(q)] = kgo.NewOffset().At(start[int32(q)])
		}
		cons, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.ClientID(c.ClientID),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.In: parts}), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			return fail(err)
		}
		clients = append(clients, cons)
		prod := prods[i]
		promise := func(_ *kgo.Record, err error) {
			// Once the pipe is stopping, records still buffered fail with
			// the cancelled context or, when the clients close first, with
			// kgo.ErrClientClosed: neither is the pipe's failure.
			if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				stop(fmt.Errorf("produce: %w", err))
			}
		}
		wg.Go(func() {
			next := time.Now().Add(c.Interval)
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
						stop(fmt.Errorf("fetch %s[%d]: %w", t, p, err))
					}
				})
				if c.Polled != nil && !fs.Empty() {
					c.Polled(i, time.Now())
				}
				fs.EachRecord(func(rec *kgo.Record) {
					out := &kgo.Record{Key: rec.Key, Value: rec.Value, Headers: rec.Headers, Timestamp: rec.Timestamp}
					if c.Map != nil {
						out = c.Map(i, rec)
					}
					prod.Produce(ctx, out, promise)
				})
				if txn && !time.Now().Before(next) {
					if err := commit(ctx, prod); err != nil {
						stop(err)
						return
					}
					next = time.Now().Add(c.Interval)
				}
			}
		})
	}
	go func() {
		wg.Wait()
		for _, cl := range clients {
			cl.Close()
		}
		if e := failed.Load(); e != nil {
			p.err = *e
		}
		close(p.done)
	}()
	return p, nil
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
