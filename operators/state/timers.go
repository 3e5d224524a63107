package state

import (
	"bytes"
	"container/heap"
	"fmt"
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
// Timers keeps, per kind and key group, a copy of the key group's earliest
// timers (at most timerCacheSize of them, Flink's RocksDB timer service
// does the same) and a heap of the key groups by their earliest timer. Fire
// and Next then cost nothing when no timer is due, and a due timer costs a
// heap step and a delete: the store is read (one seek) only when a key
// group's copy runs out while the store holds more of its timers. The copy
// is built on first use, with one seek per key group. The store stays the
// truth: the copy is never written back, so checkpoints and restores see
// exactly the registered timers.
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
	q := t.queues[kind]
	e := timerEntry{ts: ts, key: key}
	if q != nil && q.groups[kg-q.first].holds(e) {
		// Stored already (a key's records registering the same cleanup
		// time): writing it again would change nothing.
		return nil
	}
	b := t.b
	b.key = appendTimerKey(b.key[:0], kg, t.op, kind, ts, key)
	if err := b.set(b.key, nil); err != nil {
		return t.errf("register", kind, err)
	}
	if q != nil {
		q.add(q.groups[kg-q.first], e)
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
	if q := t.queues[kind]; q != nil {
		g := q.groups[kg-q.first]
		if g.remove(timerEntry{ts: ts, key: key}) {
			if err := t.settle(q, kind, g); err != nil {
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
	return q.heap[0].head().ts, true, nil
}

// Fire calls fn for every timer of kind with a timestamp <= upTo, in
// ascending (timestamp, key) order across all key groups, deleting each
// before its call. Timers that fn registers at or before upTo fire in the
// same call, in order; timers that fn deletes do not fire. If fn returns an
// error, Fire stops and returns it; the timer it was called for stays
// deleted (a failing task restores a checkpoint anyway). fn may keep key.
func (t *Timers) Fire(kind TimerKind, upTo int64, fn func(ts int64, key []byte) error) error {
	q, err := t.queue(kind)
	if err != nil {
		return t.errf("fire", kind, err)
	}
	b := t.b
	for len(q.heap) > 0 && q.heap[0].head().ts <= upTo {
		g := q.heap[0]
		e := g.pop() // e.key is fn's: never reused
		ts, key := e.ts, e.key
		b.key = appendTimerKey(b.key[:0], g.kg, t.op, kind, ts, key)
		if err := b.del(b.key); err != nil {
			return t.errf("fire", kind, err)
		}
		// The queue is settled before fn runs: fn may register and delete.
		if err := t.settle(q, kind, g); err != nil {
			return t.errf("fire", kind, err)
		}
		if err := fn(ts, key); err != nil {
			return err
		}
	}
	return nil
}

// timerCacheSize is how many of a key group's earliest timers a queue
// keeps in memory, per kind (Flink keeps 128).
var timerCacheSize = 128

// timerQueue knows the earliest timers of each key group of one kind.
type timerQueue struct {
	first  int           // the backend's first key group
	groups []*timerGroup // per key group, from first
	heap   timerHeap     // the groups that have timers
}

// timerEntry is a timer: its time and key.
type timerEntry struct {
	ts  int64
	key []byte
}

func (e timerEntry) compare(o timerEntry) int {
	switch {
	case e.ts < o.ts:
		return -1
	case e.ts > o.ts:
		return 1
	}
	return bytes.Compare(e.key, o.key)
}

// timerGroup holds the earliest timers of key group kg, in (ts, key) order.
//
// Invariant: the key group's stored timers are those of cache[lo:] and,
// unless complete, some that all come after bound (the last timer read
// from the store, or the last one evicted from a full cache); every
// cached timer is at or before bound. A group whose cache is empty is
// complete (settle reads the store when it runs out).
type timerGroup struct {
	kg       int
	cache    []timerEntry
	lo       int // cache[:lo] are fired
	complete bool
	loaded   bool // bound is set; unset: nothing read yet
	bound    timerEntry
	index    int      // in the heap; -1 when not in it
	spare    [][]byte // key buffers to reuse
}

func (g *timerGroup) len() int { return len(g.cache) - g.lo }

func (g *timerGroup) head() timerEntry { return g.cache[g.lo] }

// pop removes and returns the earliest cached timer.
func (g *timerGroup) pop() timerEntry {
	e := g.cache[g.lo]
	g.cache[g.lo] = timerEntry{}
	g.lo++
	if g.lo == len(g.cache) {
		g.cache, g.lo = g.cache[:0], 0
	}
	return e
}

// recycle keeps a key buffer for a later timer.
func (g *timerGroup) recycle(k []byte) {
	if k != nil && len(g.spare) < timerCacheSize {
		g.spare = append(g.spare, k[:0])
	}
}

// copyKey returns a copy of k in a reused buffer.
func (g *timerGroup) copyKey(k []byte) []byte {
	if n := len(g.spare); n > 0 {
		buf := g.spare[n-1]
		g.spare = g.spare[:n-1]
		return append(buf, k...)
	}
	return append([]byte(nil), k...)
}

// covers reports whether every stored timer at or before e is cached.
func (g *timerGroup) covers(e timerEntry) bool {
	return g.complete || (g.loaded && e.compare(g.bound) <= 0)
}

// find returns where e is or would be in the cache, and whether it is.
func (g *timerGroup) find(e timerEntry) (int, bool) {
	i, found := slices.BinarySearchFunc(g.cache[g.lo:], e, timerEntry.compare)
	return g.lo + i, found
}

// holds reports whether the cache holds e (so the store does).
func (g *timerGroup) holds(e timerEntry) bool {
	if !g.covers(e) {
		return false
	}
	_, found := g.find(e)
	return found
}

// remove drops e from the cache if it holds it, and reports whether the
// group's cache changed so that it must be settled.
func (g *timerGroup) remove(e timerEntry) bool {
	if !g.covers(e) {
		return false
	}
	i, found := g.find(e)
	if !found {
		return false
	}
	g.recycle(g.cache[i].key)
	g.cache = slices.Delete(g.cache, i, i+1)
	if g.lo == len(g.cache) {
		g.cache, g.lo = g.cache[:0], 0
	}
	return true
}

// add puts a registered timer into g's cache if it belongs there.
func (q *timerQueue) add(g *timerGroup, e timerEntry) {
	if !g.covers(e) {
		return // the store has it, after bound: read once the cache runs out
	}
	i, found := g.find(e)
	if found {
		return
	}
	if g.lo > 0 && len(g.cache) == cap(g.cache) {
		// Reuse the fired slots before growing.
		n := copy(g.cache, g.cache[g.lo:])
		clear(g.cache[n:])
		g.cache, i, g.lo = g.cache[:n], i-g.lo, 0
	}
	e.key = g.copyKey(e.key)
	g.cache = slices.Insert(g.cache, i, e)
	if g.len() > timerCacheSize {
		// Evict the latest: it stays in the store, after the new bound.
		last := len(g.cache) - 1
		g.recycle(g.cache[last].key)
		g.cache[last] = timerEntry{}
		g.cache = g.cache[:last]
		g.complete, g.loaded = false, true
		g.bound.ts, g.bound.key = g.cache[last-1].ts, append(g.bound.key[:0], g.cache[last-1].key...)
	}
	q.fix(g)
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
	q := &timerQueue{first: r.Start, groups: make([]*timerGroup, r.Len())}
	for i := range q.groups {
		q.groups[i] = &timerGroup{kg: r.Start + i, index: -1}
	}
	for _, g := range q.groups {
		if err := t.settle(q, kind, g); err != nil {
			return nil, err
		}
	}
	t.queues[kind] = q
	return q, nil
}

// settle reads the next timers of g from the store if its cache ran out
// and the store may hold more, and puts g where it belongs in the heap.
func (t *Timers) settle(q *timerQueue, kind TimerKind, g *timerGroup) error {
	if g.len() == 0 && !g.complete {
		if err := t.load(g, kind); err != nil {
			return err
		}
	}
	q.fix(g)
	return nil
}

// load reads up to timerCacheSize timers of g after its bound (from the
// start when nothing was read yet) into its empty cache. Starting after
// the bound skips the fired (deleted) timers before it, which an iterator
// would otherwise step over one by one until a compaction drops them.
func (t *Timers) load(g *timerGroup, kind TimerKind) error {
	prefix := appendTimerPrefix(nil, g.kg, t.op, kind)
	lower := prefix
	if g.loaded {
		// The key right after bound's.
		lower = append(appendTimerKey(nil, g.kg, t.op, kind, g.bound.ts, g.bound.key), 0)
	}
	g.cache, g.lo = g.cache[:0], 0
	err := t.b.iterate(lower, prefixEnd(prefix), func(k, _ []byte) (bool, error) {
		ts, key, ok := parseTimerKey(k[len(prefix):])
		if !ok {
			return false, fmt.Errorf("%w: timer key %x", ErrCorrupt, k)
		}
		g.cache = append(g.cache, timerEntry{ts: ts, key: g.copyKey(key)})
		return len(g.cache) < timerCacheSize, nil
	})
	if err != nil {
		return err
	}
	g.complete = len(g.cache) < timerCacheSize
	if !g.complete {
		last := g.cache[len(g.cache)-1]
		g.loaded = true
		g.bound.ts, g.bound.key = last.ts, append(g.bound.key[:0], last.key...)
	}
	return nil
}

// fix puts g where it belongs in the heap, or out of it when it has no
// timers.
func (q *timerQueue) fix(g *timerGroup) {
	switch {
	case g.len() > 0 && g.index < 0:
		heap.Push(&q.heap, g)
	case g.len() > 0:
		heap.Fix(&q.heap, g.index)
	case g.index >= 0:
		heap.Remove(&q.heap, g.index)
	}
}

// timerHeap is a min-heap of key groups by their earliest (ts, key).
type timerHeap []*timerGroup

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	return h[i].head().compare(h[j].head()) < 0
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *timerHeap) Push(x any) {
	g := x.(*timerGroup)
	g.index = len(*h)
	*h = append(*h, g)
}

func (h *timerHeap) Pop() any {
	old := *h
	g := old[len(old)-1]
	old[len(old)-1] = nil
	g.index = -1
	*h = old[:len(old)-1]
	return g
}
