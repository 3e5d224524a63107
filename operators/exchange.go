package operators

import (
	"context"
	"unsafe"

	"golang.org/x/sync/semaphore"

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
	sizes          []int64 // bytes of each of bufs (batchBytes)
	// room bounds the bytes of the record batches queued on each output
	// and being processed by its receiver (GraphConfig.ChannelBytes):
	// a batch takes min(its bytes, limit) of it before it is queued, and
	// the receiver gives them back once it has processed it. nil: no
	// bound but the channels' capacity in batches.
	room  []*semaphore.Weighted
	limit int64
	// key, if set, computes the consumer's key in the sending task;
	// keyOf names the consuming operator in dead letters.
	key   func(Record) ([]byte, error)
	keyOf string
}

// newExchange routes to outs; limit, if positive, bounds the bytes of the
// batches in flight to each of them (GraphConfig.ChannelBytes).
func newExchange(outs []chan<- element, maxParallelism int, limit int64) *exchange {
	x := &exchange{outs: outs, maxParallelism: maxParallelism, bufs: make([][]Record, len(outs)), sizes: make([]int64, len(outs))}
	if limit > 0 {
		x.limit = limit
		x.room = make([]*semaphore.Weighted, len(outs))
		for i := range x.room {
			x.room[i] = semaphore.NewWeighted(limit)
		}
	}
	return x
}

// recordBytes is the memory of a Record beyond its payload.
const recordBytes = int64(unsafe.Sizeof(Record{}))

// RecordBytes is the memory a record holds for the bound on the bytes in
// flight between tasks: the Record itself and its key and value (which
// stand for the fetched buffers they point into).
func RecordBytes(r *Record) int64 {
	return recordBytes + int64(len(r.Key)+len(r.Value))
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
		x.sizes[t] += RecordBytes(&r)
	}
	for t, b := range x.bufs {
		if len(b) == 0 {
			continue
		}
		// The receiver owns the slice from here on.
		x.bufs[t] = nil
		e := element{records: b}
		if x.room != nil {
			n := min(x.sizes[t], x.limit)
			if err := x.room[t].Acquire(ctx, n); err != nil {
				return err
			}
			e.room, e.held = x.room[t], n
		}
		x.sizes[t] = 0
		if err := x.put(ctx, t, e); err != nil {
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

// done gives back the bytes e held of its channel's bound.
func (e *element) done() {
	if e.room != nil {
		e.room.Release(e.held)
		e.room = nil
	}
}
