package state

import "context"

// WithoutValueCache makes b read and write Value state straight through
// its batch, as it did before the cache: the reference of the cache's
// equivalence tests.
func WithoutValueCache(b *Backend) { b.vc.off = true }

// ValueCacheBytes returns what b's value cache accounts for.
func ValueCacheBytes(b *Backend) int { return b.vc.bytes }

// WaitCompaction waits for the backend's running compaction, if any.
func (b *Backend) WaitCompaction() {
	if b.compactor.done != nil {
		<-b.compactor.done
	}
}

// CompactAll compacts the whole database now and returns its SST bytes:
// the size of the live state alone.
func (b *Backend) CompactAll(t interface{ Fatal(...any) }) int64 {
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Compact(context.Background(), nil, []byte{0xff, 0xff, 0xff}, false); err != nil {
		t.Fatal(err)
	}
	return b.Size()
}

// CompactionRunning reports whether the backend's compaction is running.
func (b *Backend) CompactionRunning() bool { return b.compactor.running() }

// SetTimerCacheSize sets how many timers a key group's queue keeps in
// memory until the test ends.
func SetTimerCacheSize(t interface{ Cleanup(func()) }, n int) {
	old := timerCacheSize
	timerCacheSize = n
	t.Cleanup(func() { timerCacheSize = old })
}
