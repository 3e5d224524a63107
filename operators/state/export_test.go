package state

// WithoutValueCache makes b read and write Value state straight through
// its batch, as it did before the cache: the reference of the cache's
// equivalence tests.
func WithoutValueCache(b *Backend) { b.vc.off = true }

// ValueCacheBytes returns what b's value cache accounts for.
func ValueCacheBytes(b *Backend) int { return b.vc.bytes }
