package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// rawPipeMain is the rawpipe subcommand: the raw franz-go pipe, run in a
// child process so that its CPU time is measured as the processor's.
func rawPipeMain(args []string) error {
	fs := flag.NewFlagSet("nexmarkbench rawpipe", flag.ContinueOnError)
	brokers := fs.String("brokers", "", "Kafka seed brokers, comma-separated")
	in := fs.String("in", "", "input topic")
	out := fs.String("out", "", "output topic")
	pipes := fs.Int("pipes", 2, "consume→produce loops")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *brokers == "" || *in == "" || *out == "" || *pipes < 1 {
		return errors.New("rawpipe: -brokers, -in, -out and -pipes ≥ 1 are required")
	}
	n, err := rawPipe(context.Background(), strings.Split(*brokers, ","), *in, *out, *pipes)
	if err != nil {
		return err
	}
	fmt.Printf("piped %d records\n", n)
	return nil
}

// rawPipe copies every record of in, from the start to the end offsets it
// finds first, to out: pipes loops, each with its own read_committed
// consumer of its share of the partitions (no group, nothing committed)
// and its own producer (kgo's defaults: idempotent, acks=all, the key-hash
// partitioner; linger 0 like Tidemark's sinks), key, value, headers and
// timestamp unchanged: cmd/pipebench's baseline. It returns the number of
// records copied once all are acknowledged.
func rawPipe(ctx context.Context, brokers []string, in, out string, pipes int) (int64, error) {
	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, err
	}
	ends, err := kadm.NewClient(admCl).ListEndOffsets(ctx, in)
	if err == nil {
		err = ends.Error()
	}
	admCl.Close()
	if err != nil {
		return 0, fmt.Errorf("rawpipe: end offsets of %s: %w", in, err)
	}
	end := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var copied atomic.Int64
	var wg sync.WaitGroup
	for i := range pipes {
		parts := map[int32]kgo.Offset{}
		left := map[int32]int64{}
		for p, e := range end {
			if int(p)%pipes == i && e > 0 {
				parts[p] = kgo.NewOffset().AtStart()
				left[p] = e
			}
		}
		if len(parts) == 0 {
			continue
		}
		wg.Go(func() {
			if err := pipe(ctx, brokers, in, out, parts, left, &copied); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return copied.Load(), err
	}
	return copied.Load(), nil
}

// pipe is one consume→produce loop over parts, until every partition's
// next offset reached left's end (transaction markers are fetched too, so
// a transactional input ends as well).
func pipe(ctx context.Context, brokers []string, in, out string, parts map[int32]kgo.Offset, left map[int32]int64, copied *atomic.Int64) error {
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("nexmarkbench-raw"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{in: parts}), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return err
	}
	defer cons.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("nexmarkbench-raw"), kgo.DefaultProduceTopic(out),
		kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer prod.Close()
	var failed atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.CompareAndSwap(nil, &err)
		} else {
			copied.Add(1)
		}
	}
	for len(left) > 0 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("fetch %s[%d]: %w", t, p, err))
		})
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if e, ok := left[r.Partition]; !ok || r.Offset >= e {
				return
			} else if r.Offset+1 >= e {
				delete(left, r.Partition)
			}
			if r.Attrs.IsControl() {
				return // a transaction marker: kept only to see the end
			}
			prod.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}, promise)
		})
		if p := failed.Load(); p != nil {
			return fmt.Errorf("produce to %s: %w", out, *p)
		}
	}
	if err := prod.Flush(ctx); err != nil {
		return fmt.Errorf("flush to %s: %w", out, err)
	}
	if p := failed.Load(); p != nil {
		return fmt.Errorf("produce to %s: %w", out, *p)
	}
	return nil
}
