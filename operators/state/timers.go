package state

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// TimerKind says which clock a timer follows.
type TimerKind uint8

// Timer kinds. The values are stored in keys: never change them.
const (
	// EventTime timers fire when the watermark passes them.
	EventTime TimerKind = 'e'
	// ProcessingTime timers fire when the wall clock passes them.
	ProcessingTime TimerKind = 'p'
)

// String returns "event-time" or "processing-time".
func (k TimerKind) String() string {
	switch k {
	case EventTime:
		return "event-time"
	case ProcessingTime:
		return "processing-time"
	}
	return fmt.Sprintf("TimerKind(%d)", uint8(k))
}

// Timers are the timers of one operator: a timestamp and a key each, stored
// in the backend (so they are part of every checkpoint) in the key group of
// their key. A timer is registered once: registering the same timestamp and
// key again changes nothing.
//
// Timers keeps, per kind, the earliest timer of every key group in a heap,
// so Fire and Next cost nothing when no timer is due. It builds that heap
// on first use, with one seek per key group.
type Timers struct {
	b      *Backend
	op     string
	queues map[TimerKind]*timerQueue
}

// NewTimers returns the timers of operator op. Every call for the same op
// on the same backend returns the same Timers.
func NewTimers(b *Backend, op string) *Timers {
	if t, ok := b.timers[op]; ok {
		return t
	}
	t := &Timers{b: b, op: op, queues: make(map[TimerKind]*timerQueue)}
	b.timers[op] = t
	return t
}

func (t *Timers) errf(verb string, kind TimerKind, err error) error {
	return fmt.Errorf("state: %s %s timer of %s: %w", verb, kind, t.op, err)
}

func validKind(kind TimerKind) error {
	if kind != EventTime && kind != ProcessingTime {
		return fmt.Errorf("unknown timer kind %d", uint8(kind))
	}
	return nil
}

// keyGroup returns key's key group if the backend holds it.
func (t *Timers) keyGroup(key []byte) (int, error) {
	kg := KeyGroup(key, t.b.opts.MaxParallelism)
	if !t.b.opts.KeyGroups.Contains(kg) {
		return kg, fmt.Errorf("%w: key group %d not in %v", ErrKeyGroupOutOfRange, kg, t.b.opts.KeyGroups)
	}
	return kg, nil
}

// Register adds a timer of kind at ts for key.
func (t *Timers) Register(kind TimerKind, ts int64, key []byte) error {
	if err := validKind(kind); err != nil {
		return t.errf("register", kind, err)
	}
	kg, err := t.keyGroup(key)
	if err != nil {
		return t.errf("register", kind, err)
	}
	b := t.b
	b.key = appendTimerKey(b.key[:0], kg, t.op, kind, ts, key)
	if err := b.set(b.key, nil); err != nil {
		return t.errf("register", kind, err)
	}
	b.timerGen++
	if q := t.queues[kind]; q != nil {
		q.offer(kg, ts, key)
	}
	return nil
}

// Delete removes the timer of kind at ts for key, if there is one.
func (t *Timers) Delete(kind TimerKind, ts int64, key []byte) error {
	if err := validKind(kind); err != nil {
		return t.errf("delete", kind, err)
	}
	kg, err := t.keyGroup(key)
	if err != nil {
		return t.errf("delete", kind, err)
	}
	b := t.b
	b.key = appendTimerKey(b.key[:0], kg, t.op, kind, ts, key)
	if err := b.del(b.key); err != nil {
		return t.errf("delete", kind, err)
	}
	b.timerGen++
	if q := t.queues[kind]; q != nil {
		if h := q.heads[kg-q.first]; h.set && h.ts == ts && bytes.Equal(h.key, key) {
			if err := t.reload(q, kind, kg); err != nil {
				return t.errf("delete", kind, err)
			}
		}
	}
	return nil
}

// Next returns the timestamp of the earliest timer of kind, and whether
// there is one.
func (t *Timers) Next(kind TimerKind) (int64, bool, error) {
	q, err := t.queue(kind)
	if err != nil {
		return 0, false, t.errf("next", kind, err)
	}
	if len(q.heap) == 0 {
		return 0, false, nil
	}
	return q.heap[0].ts, true, nil
}

// Fire calls fn for every timer of kind with a timestamp <= upTo, in
// ascending (timestamp, key) order across all key groups, deleting each
// before its call. Timers that fn registers at or before upTo fire in the
// same call, in order; timers that fn deletes do not fire. If fn returns an
// error, Fire stops and returns it; the timer it was called for stays
// deleted (a failing task restores a checkpoint anyway).
func (t *Timers) Fire(kind TimerKind, upTo int64, fn func(ts int64, key []byte) error) error {
	q, err := t.queue(kind)
	if err != nil {
		return t.errf("fire", kind, err)
	}
	b := t.b
	var due []timerHead
	for len(q.heap) > 0 && q.heap[0].ts <= upTo {
		head := q.heap[0]
		// Fire from head's key group while its timers come before every
		// other key group's first one.
		var limit *timerHead
		for _, i := range []int{1, 2} {
			if i < len(q.heap) && (limit == nil || q.heap[i].less(limit)) {
				limit = q.heap[i]
			}
		}
		prefix := appendTimerPrefix(nil, head.kg, t.op, kind)
		due = due[:0]
		// Every live timer of the key group is at or after its head: start
		// there, not at the timers fired (deleted) before it, which an
		// iterator would have to step over one by one until a compaction
		// drops them.
		lower := binary.BigEndian.AppendUint64(slices.Clip(prefix), uint64(head.ts)^(1<<63))
		err := b.iterate(lower, prefixEnd(prefix), func(k, _ []byte) (bool, error) {
			ts, key, ok := parseTimerKey(k[len(prefix):])
			if !ok {
				return false, fmt.Errorf("%w: timer key %x", ErrCorrupt, k)
			}
			th := timerHead{ts: ts, key: key}
			if ts > upTo || (limit != nil && !th.less(limit)) {
				return false, nil
			}
			th.key = append([]byte{}, key...)
			due = append(due, th)
			return len(due) < fireChunk, nil
		})
		if err != nil {
			return t.errf("fire", kind, err)
		}
		// The iterator is closed: fn may write, and the pending writes may
		// be committed.
		gen := b.timerGen
		for _, th := range due {
			b.key = appendTimerKey(b.key[:0], head.kg, t.op, kind, th.ts, th.key)
			if err := b.del(b.key); err != nil {
				return t.errf("fire", kind, err)
			}
			if err := fn(th.ts, th.key); err != nil {
				if rerr := t.reload(q, kind, head.kg); rerr != nil {
					return t.errf("fire", kind, rerr)
				}
				return err
			}
			if b.timerGen != gen {
				// fn changed the timers: what was read may be stale.
				break
			}
		}
		if err := t.reload(q, kind, head.kg); err != nil {
			return t.errf("fire", kind, err)
		}
	}
	return nil
}

// fireChunk is how many due timers Fire reads from a key group at a time.
const fireChunk = 256

// timerQueue knows the earliest timer of each key group of one kind.
type timerQueue struct {
	first int          // the backend's first key group
	heads []*timerHead // per key group, from first
	heap  timerHeap    // the heads that are set
}

// timerHead is the earliest timer of key group kg, if set.
type timerHead struct {
	kg    int
	set   bool
	ts    int64
	key   []byte
	index int // in the heap; -1 when not in it
	// floor is at or before every live timer of the key group (reload
	// seeks there): the head found by the last reload, lowered by every
	// timer registered since; math.MinInt64 when unknown.
	floor int64
}

func (h *timerHead) less(o *timerHead) bool {
	return h.ts < o.ts || (h.ts == o.ts && bytes.Compare(h.key, o.key) < 0)
}

// queue returns the queue of kind, building it on first use.
func (t *Timers) queue(kind TimerKind) (*timerQueue, error) {
	if err := validKind(kind); err != nil {
		return nil, err
	}
	if q := t.queues[kind]; q != nil {
		return q, nil
	}
	r := t.b.opts.KeyGroups
	q := &timerQueue{first: r.Start, heads: make([]*timerHead, r.Len())}
	for i := range q.heads {
		q.heads[i] = &timerHead{kg: r.Start + i, index: -1, floor: math.MinInt64}
	}
	for kg := r.Start; kg < r.End; kg++ {
		if err := t.reload(q, kind, kg); err != nil {
			return nil, err
		}
	}
	t.queues[kind] = q
	return q, nil
}

// reload reads the earliest timer of key group kg from the backend.
func (t *Timers) reload(q *timerQueue, kind TimerKind, kg int) error {
	h := q.heads[kg-q.first]
	h.set = false
	prefix := appendTimerPrefix(nil, kg, t.op, kind)
	lower := prefix
	if h.floor != math.MinInt64 {
		lower = binary.BigEndian.AppendUint64(slices.Clip(prefix), uint64(h.floor)^(1<<63))
	}
	err := t.b.iterate(lower, prefixEnd(prefix), func(k, _ []byte) (bool, error) {
		ts, key, ok := parseTimerKey(k[len(prefix):])
		if !ok {
			return false, fmt.Errorf("%w: timer key %x", ErrCorrupt, k)
		}
		h.set, h.ts, h.key = true, ts, append(h.key[:0], key...)
		return false, nil
	})
	if err != nil {
		return err
	}
	if h.set {
		h.floor = h.ts
	}
	q.fix(h)
	return nil
}

// offer makes (ts, key) the head of kg if it comes before the current one.
func (q *timerQueue) offer(kg int, ts int64, key []byte) {
	h := q.heads[kg-q.first]
	if h.floor != math.MinInt64 {
		h.floor = min(h.floor, ts)
	}
	if h.set && !(&timerHead{ts: ts, key: key}).less(h) {
		return
	}
	h.set, h.ts, h.key = true, ts, append(h.key[:0], key...)
	q.fix(h)
}

// fix puts h where it belongs in the heap, or out of it when unset.
func (q *timerQueue) fix(h *timerHead) {
	switch {
	case h.set && h.index < 0:
		heap.Push(&q.heap, h)
	case h.set:
		heap.Fix(&q.heap, h.index)
	case h.index >= 0:
		heap.Remove(&q.heap, h.index)
	}
}

// timerHeap is a min-heap of key group heads by (ts, key).
type timerHeap []*timerHead

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].less(h[j]) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *timerHeap) Push(x any) {
	th := x.(*timerHead)
	th.index = len(*h)
	*h = append(*h, th)
}

func (h *timerHeap) Pop() any {
	old := *h
	th := old[len(old)-1]
	old[len(old)-1] = nil
	th.index = -1
	*h = old[:len(old)-1]
	return th
}
