package state

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// The value cache is a write-back cache of Value state in front of the
// pending batch and the database. A keyed operator that reads and writes
// the same keys over and over (a running count, a reduce) then reads its
// own writes from a Go map instead of seeking the indexed batch's skiplist
// and the memtable, and each key reaches Pebble once per flush instead of
// once per write.
//
// Invariant: an entry of the cache holds the value of its key as a reader
// of the pending batch and the database would see it once the dirty
// entries are written (deleted set for none). Clean entries equal what the
// batch and the database hold; dirty ones are newer. Only Value state goes
// through the cache, so the keys of maps, lists, timers and the backend's
// own never enter it, and the direct writes to the batch (Map.Clear,
// Map.Range and PurgeExpired deleting expired entries) keep it true:
// PurgeExpired forgets the Value keys it deletes.
//
// Dirty entries are written to the batch before any iterator that may see
// Value keys (iterate), and committed with a plain (non-indexed) batch by
// Flush, after the pending indexed batch: a key in the cache was written
// after everything the indexed batch holds for it. The cache is bounded:
// past valueCacheBytes (Options.BatchSize) it is flushed and emptied.
type valueCache struct {
	m     map[string]*cacheEntry
	dirty []*cacheEntry
	bytes int
	plain *pebble.Batch // reused for writing dirty entries at Flush
	// off sends Value state straight to the batch, as before the cache:
	// the reference its tests compare with (export_test.go).
	off     bool
	scratch []byte
}

type cacheEntry struct {
	key     string
	val     []byte // the stored value (header and payload)
	deleted bool   // no value: deleted, expired or never written
	dirty   bool   // newer than the batch and the database
}

// cacheEntryOverhead approximates what an entry costs beyond its key and
// value bytes: the map slot, the entry and its slice and string headers.
const cacheEntryOverhead = 96

// valueCacheBytes bounds the cache: a backend holds at most about as much
// in its cache as in its pending batch.
func (b *Backend) valueCacheBytes() int { return b.opts.BatchSize }

// cacheGet returns the stored value of Value key k (valid until the next
// write to the backend) and whether there is one, reading it into the cache
// on a miss.
func (b *Backend) cacheGet(k []byte) ([]byte, bool, error) {
	if b.vc.off {
		var val []byte
		found, err := b.get(k, func(v []byte) error {
			val = append(b.vc.scratch[:0], v...)
			b.vc.scratch = val
			return nil
		})
		return val, found, err
	}
	if e := b.vc.m[string(k)]; e != nil {
		return e.val, !e.deleted, nil
	}
	e := &cacheEntry{key: string(k), deleted: true}
	v, closer, err := b.batch.Get(k)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, false, err
	default:
		e.val, e.deleted = append([]byte(nil), v...), false
		if err := closer.Close(); err != nil {
			return nil, false, err
		}
	}
	b.cacheInsert(e)
	if b.vc.bytes > b.valueCacheBytes() && b.iters == 0 {
		// e.val stays valid: Flush drops the entries, not their values.
		if err := b.Flush(); err != nil {
			return nil, false, err
		}
	}
	return e.val, !e.deleted, nil
}

func (b *Backend) cacheInsert(e *cacheEntry) {
	if b.vc.m == nil {
		b.vc.m = make(map[string]*cacheEntry)
	}
	b.vc.m[e.key] = e
	b.vc.bytes += len(e.key) + cap(e.val) + cacheEntryOverhead
}

// cacheSet sets (deleted false) or deletes Value key k in the cache.
func (b *Backend) cacheSet(k, v []byte, deleted bool) error {
	if b.vc.off {
		if deleted {
			return b.del(k)
		}
		return b.set(k, v)
	}
	e := b.vc.m[string(k)]
	if e == nil {
		e = &cacheEntry{key: string(k)}
		b.cacheInsert(e)
	}
	old := cap(e.val)
	e.val = append(e.val[:0], v...)
	e.deleted = deleted
	b.vc.bytes += cap(e.val) - old
	if !e.dirty {
		e.dirty = true
		b.vc.dirty = append(b.vc.dirty, e)
	}
	if b.vc.bytes > b.valueCacheBytes() && b.iters == 0 {
		return b.Flush()
	}
	return nil
}

// cacheForget drops Value key k from the cache: the caller writes it to
// the batch directly. Its entry must be clean (see spillCache).
func (b *Backend) cacheForget(k []byte) {
	if e := b.vc.m[string(k)]; e != nil && !e.dirty {
		delete(b.vc.m, e.key)
		b.vc.bytes -= len(e.key) + cap(e.val) + cacheEntryOverhead
	}
}

// spillCache writes the dirty entries into w; they are clean afterwards.
func (b *Backend) spillCache(w *pebble.Batch) error {
	for i, e := range b.vc.dirty {
		var err error
		if e.deleted {
			err = w.Delete([]byte(e.key), nil)
		} else {
			err = w.Set([]byte(e.key), e.val, nil)
		}
		if err != nil {
			// The entries not yet written stay dirty.
			b.vc.dirty = append(b.vc.dirty[:0], b.vc.dirty[i:]...)
			return fmt.Errorf("write cached value %x: %w", e.key, err)
		}
		e.dirty = false
		b.vc.dirty[i] = nil
	}
	b.vc.dirty = b.vc.dirty[:0]
	return nil
}

// commitCache commits the dirty entries to the database with a plain batch
// and empties the cache if it has outgrown its bound.
func (b *Backend) commitCache() error {
	if len(b.vc.dirty) > 0 {
		if b.vc.plain == nil {
			b.vc.plain = b.db.NewBatch()
		}
		w := b.vc.plain
		if err := b.spillCache(w); err != nil {
			w.Reset()
			return err
		}
		if err := w.Commit(pebble.NoSync); err != nil {
			return fmt.Errorf("commit cached values: %w", err)
		}
		w.Reset()
	}
	if b.vc.bytes > b.valueCacheBytes() {
		clear(b.vc.m)
		b.vc.bytes = 0
	}
	return nil
}

// mayHoldValues reports whether the key span [lower, upper) can hold Value
// keys: false only when both bounds are within one operator's namespace of
// another kind (a map's entries, a kind of timers).
func mayHoldValues(lower, upper []byte) bool {
	if lower == nil || upper == nil || isMeta(lower) {
		return true
	}
	n := opPrefixLen(lower)
	if n == 0 || len(upper) < n || string(lower[:n]) != string(upper[:n]) {
		return true
	}
	return lower[n-1] == nsValue
}

// opPrefixLen returns the length of k's key group, operator id and
// namespace byte, or 0 if k is too short to hold them.
func opPrefixLen(k []byte) int {
	if len(k) < 3 {
		return 0
	}
	n, w := binary.Uvarint(k[2:])
	if w <= 0 || uint64(len(k)-2-w) <= n {
		return 0
	}
	return 2 + w + int(n) + 1
}
