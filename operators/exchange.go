package operators

import (
	"context"

	"github.com/tidemark/tidemark/operators/state"
)

// TaskForKeyGroup maps a key group onto one of parallelism tasks: each task
// owns a contiguous range of key groups, as in Flink, so a task's state can
// later be split by range.
func TaskForKeyGroup(keyGroup, maxParallelism, parallelism int) int {
	return keyGroup * parallelism / maxParallelism
}

// KeyGroupRange is the range [Start, End) of key groups task owns.
func KeyGroupRange(task, maxParallelism, parallelism int) (start, end int) {
	start = (task*maxParallelism + parallelism - 1) / parallelism
	end = ((task+1)*maxParallelism + parallelism - 1) / parallelism
	return start, end
}

// exchange is one hash edge out of a task: it routes records to the
// tasks of the consuming stage by key group, after setting each record's
// key with the consumer's key extractor when the edge has one.
type exchange struct {
	outs           []chan<- element
	maxParallelism int
	bufs           [][]Record
	// key, if set, computes the consumer's key in the sending task;
	// keyOf names the consuming operator in dead letters.
	key   func(Record) ([]byte, error)
	keyOf string
}

func newExchange(outs []chan<- element, maxParallelism int) *exchange {
	return &exchange{outs: outs, maxParallelism: maxParallelism, bufs: make([][]Record, len(outs))}
}

// send partitions recs by key and sends each non-empty part to its task.
// It copies the records, in one pass, into a batch per task that the
// receiving task owns: recs stays the caller's, unchanged. A record whose
// key cannot be computed goes to reject.
func (x *exchange) send(ctx context.Context, recs []Record, reject func(*exchange, Record, error)) error {
	for _, r := range recs {
		if x.key != nil {
			k, err := x.key(r)
			if err != nil {
				reject(x, r, err)
				continue
			}
			r.Key = k
		}
		t := x.taskOf(r.Key)
		if x.bufs[t] == nil {
			// About this task's share, with room for the spread.
			x.bufs[t] = make([]Record, 0, min(len(recs), len(recs)/len(x.outs)*5/4+16))
		}
		x.bufs[t] = append(x.bufs[t], r)
	}
	for t, b := range x.bufs {
		if len(b) == 0 {
			continue
		}
		// The receiver owns the slice from here on.
		x.bufs[t] = nil
		if err := x.put(ctx, t, element{records: b}); err != nil {
			return err
		}
	}
	return nil
}

// taskOf is the keyed task that owns key.
func (x *exchange) taskOf(key []byte) int {
	if len(x.outs) == 1 {
		return 0
	}
	return TaskForKeyGroup(state.KeyGroup(key, x.maxParallelism), x.maxParallelism, len(x.outs))
}

// broadcast sends e to every task.
func (x *exchange) broadcast(ctx context.Context, e element) error {
	for t := range x.outs {
		if err := x.put(ctx, t, e); err != nil {
			return err
		}
	}
	return nil
}

func (x *exchange) put(ctx context.Context, t int, e element) error {
	select {
	case x.outs[t] <- e:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
