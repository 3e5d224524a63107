package state

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// DefaultMemory is the default state memory budget of a process
// (config key state.memory).
const DefaultMemory = 128 << 20

// MinMemory is the smallest budget NewMemory accepts.
const MinMemory = 8 << 20

// Memory is the memory budget of every backend of a process: one Pebble
// block cache that all their databases share, of the whole budget, and
// the memtable size derived from it. Pebble reserves each memtable's arena
// in the cache it uses, so the memtables and the cached blocks together
// stay within the budget: a process of many tasks holds one budget, not one
// per task.
//
// Create it once, pass it in Options.Memory to every backend, and Release
// it when done; each open backend holds a reference of its own, so
// releasing it while backends are open is safe.
type Memory struct {
	cache    *pebble.Cache
	budget   int64
	memTable uint64
}

// NewMemory makes a budget of budget bytes for backends backends (the
// tasks with state; at least 1). Each backend's memtable gets an eighth of
// the budget divided among the backends, between 1 MiB and 64 MiB: a
// database holds up to two memtables (one being flushed), so the memtables
// of all backends take at most a quarter of the budget, and the rest
// caches blocks. A checkpoint flushes the memtable, so a memtable rarely
// fills unless much is written between two checkpoints.
func NewMemory(budget int64, backends int) (*Memory, error) {
	if budget < MinMemory {
		return nil, fmt.Errorf("state: memory budget %d bytes is below the minimum of %d (8 MiB)", budget, MinMemory)
	}
	backends = max(backends, 1)
	mt := uint64(budget) / 8 / uint64(backends)
	mt = min(max(mt, 1<<20), 64<<20)
	return &Memory{cache: pebble.NewCache(budget), budget: budget, memTable: mt}, nil
}

// Budget returns the budget in bytes.
func (m *Memory) Budget() int64 { return m.budget }

// MemTableSize returns the memtable size of each backend.
func (m *Memory) MemTableSize() uint64 { return m.memTable }

// Release drops the creator's reference to the shared cache; the cache is
// freed once every backend using it has closed too. Call it once.
func (m *Memory) Release() { m.cache.Unref() }
