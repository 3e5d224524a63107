package harness

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/nexmark"
	"github.com/tidemark/tidemark/nexmark/reference"
)

// WriteEvents produces the generator's events from … to−1 to topic in the
// generator's layout (nexmark.Write): event n to partition n mod
// partitions, no key, value nexmark.AppendJSON, in event order, and
// returns once every record is acknowledged. Writing [0, k) and then
// [k, n) gives the same topic as writing [0, n) at once, so a test can let
// a job read half of its input before the rest exists. cl must be a
// producer with kgo.RecordPartitioner(kgo.ManualPartitioner()) and
// idempotent writes (kgo's default), so each partition keeps event order.
func WriteEvents(ctx context.Context, cl *kgo.Client, gen *nexmark.Generator, topic string, partitions int32, from, to int64) error {
	if partitions < 1 || from < 0 || to < from {
		return fmt.Errorf("harness: write events [%d, %d) to %d partitions: bad range", from, to, partitions)
	}
	var (
		mu       sync.Mutex
		firstErr error
	)
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = fmt.Errorf("harness: writing to %s partition %d: %w", r.Topic, r.Partition, err)
			}
			mu.Unlock()
		}
	}
	for n := from; n < to; n++ {
		ev := gen.Event(n)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(n % int64(partitions)), Value: nexmark.AppendJSON(nil, &ev)}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("harness: flushing events [%d, %d) to %s: %w", from, to, topic, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return firstErr
}

// ReadTopic reads every committed record of topic, from the start to the
// end offsets it lists first (so call it once the job that writes the
// topic has ended, or when nothing more is expected): read_committed,
// keeping the control records (commit and abort markers) to know exactly
// when every partition is read up to its end, and leaving them out of the
// result. Records come partition by partition, each in offset order.
func ReadTopic(ctx context.Context, brokers []string, topic string, opts ...kgo.Opt) ([]*kgo.Record, error) {
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("harness: kafka client: %w", err)
	}
	defer admCl.Close()
	ends, err := kadm.NewClient(admCl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("harness: end offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{} // partition → end offset, for the non-empty ones
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	parts := map[int32]kgo.Offset{}
	for p := range want {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords()}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("harness: kafka client: %w", err)
	}
	defer cl.Close()
	byPart := map[int32][]*kgo.Record{}
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("harness: reading %s: partitions %v not read to their end: %w", topic, slices.Sorted(maps.Keys(want)), err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("harness: fetch %s[%d]: %w", t, p, err))
		})
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
			if !r.Attrs.IsControl() {
				byPart[r.Partition] = append(byPart[r.Partition], r)
			}
		})
	}
	var out []*kgo.Record
	for _, p := range slices.Sorted(maps.Keys(byPart)) {
		out = append(out, byPart[p]...)
	}
	return out, nil
}

// ToReference converts records for reference.Result.Check (a nil value is
// a tombstone).
func ToReference(recs []*kgo.Record) []reference.Record {
	out := make([]reference.Record, len(recs))
	for i, r := range recs {
		out[i] = reference.Record{Key: r.Key, Value: r.Value}
	}
	return out
}
