package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"
)

// ErrKeyGroupOutOfRange is returned for a key whose key group the backend
// does not hold (Options.KeyGroups): the key exchange routed it wrongly.
var ErrKeyGroupOutOfRange = errors.New("state: key group out of range")

// ErrCorrupt is returned when a stored value cannot be decoded.
var ErrCorrupt = errors.New("state: corrupt value")

// Options configure a Backend. The zero value is valid.
type Options struct {
	// MaxParallelism is the number of key groups, fixed for the life of a
	// job. Default DefaultMaxParallelism (128); at most MaxMaxParallelism.
	MaxParallelism int
	// KeyGroups are the key groups this backend holds. Default: all of
	// them. Reading or writing a key of another key group fails with
	// ErrKeyGroupOutOfRange.
	KeyGroups KeyGroupRange
	// Clock is the time source for TTL. Default time.Now.
	Clock func() time.Time
	// Logger receives Pebble's log messages and the backend's own. Default:
	// no logging.
	Logger *zap.Logger
	// MemTableSize is the size of a Pebble memtable. Default: Memory's
	// (Memory.MemTableSize) if Memory is set, else Pebble's (4 MiB). Every
	// checkpoint flushes the memtable, so a bigger one buys fewer, larger
	// L0 files at the cost of a slower flush on a barrier.
	MemTableSize uint64
	// Memory, if set, is the process's state memory budget: the backend
	// uses its shared block cache (which its memtables are reserved in)
	// instead of a cache of its own, and CacheSize is not used.
	Memory *Memory
	// CacheSize is the size of the backend's own block cache when Memory
	// is nil. Default DefaultCacheSize.
	CacheSize int64
	// CompactionRatio steers the backend's own compactions (see
	// Backend.Checkpoint): when the keys and values in the database's
	// files (overwritten and deleted ones included) are at least
	// CompactionRatio times the live ones, the whole key range is
	// compacted in the background. Default DefaultCompactionRatio;
	// negative: never.
	CompactionRatio float64
	// BatchSize is how many bytes of pending writes the backend accumulates
	// before it commits them to Pebble on its own. Default 4 MiB.
	BatchSize int
	// MaxManifestSize is the size past which Pebble starts a new MANIFEST
	// (pebble.Options.MaxManifestFileSize). Default DefaultMaxManifestSize.
	MaxManifestSize int64
}

const defaultBatchSize = 4 << 20

// DefaultCacheSize is the default block cache of a backend. Every scan of
// a key's rows (a join's lookup, a cleanup, a timer round) seeks an
// iterator in every L0 file (up to l0CompactionThreshold of them, each
// spanning every key), reading an index and a data block of each: once the
// blocks of the live files outgrow the cache, it thrashes and every seek
// reads and decompresses them from disk. Pebble's default, 8 MiB, made
// Nexmark q7 and q4 cost 3 to 4 times the CPU they cost with this size
// (docs/joins.md "Cost"). The cache holds only blocks read, so a small
// state costs no more memory.
const DefaultCacheSize = 64 << 20

// DefaultMaxManifestSize bounds the MANIFEST, which every checkpoint
// copies whole: Pebble's default, 128 MB, lets it grow by an edit with
// every flush and compaction for the life of the job, so each checkpoint
// would upload more than the last. Pebble rotates only once the MANIFEST is
// past this size *and* the edits since the last rotation name more files
// than the database (or that rotation) holds, so the MANIFEST stays below
// about this size plus twice the description of the live files, and a
// rotation costs at most as much as the edits it follows.
const DefaultMaxManifestSize = 4 << 10

// l0CompactionThreshold is the number of L0 sublevels that triggers an
// L0 compaction; Pebble's default is 4. See open.
const l0CompactionThreshold = 24

// withDefaults fills in defaults and validates o, naming every bad field.
func (o Options) withDefaults() (Options, error) {
	if o.MaxParallelism == 0 {
		o.MaxParallelism = DefaultMaxParallelism
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MemTableSize == 0 && o.Memory != nil {
		o.MemTableSize = o.Memory.MemTableSize()
	}
	if o.CompactionRatio == 0 {
		o.CompactionRatio = DefaultCompactionRatio
	}
	if o.KeyGroups == (KeyGroupRange{}) {
		o.KeyGroups = AllKeyGroups(o.MaxParallelism)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.BatchSize == 0 {
		o.BatchSize = defaultBatchSize
	}
	if o.MaxManifestSize == 0 {
		o.MaxManifestSize = DefaultMaxManifestSize
	}
	var errs []error
	if o.MaxParallelism < 1 || o.MaxParallelism > MaxMaxParallelism {
		errs = append(errs, fmt.Errorf("MaxParallelism: %d not in [1, %d]", o.MaxParallelism, MaxMaxParallelism))
	}
	if o.KeyGroups.Start < 0 || o.KeyGroups.End > o.MaxParallelism || o.KeyGroups.Start >= o.KeyGroups.End {
		errs = append(errs, fmt.Errorf("KeyGroups: %v not a non-empty range within [0,%d)", o.KeyGroups, o.MaxParallelism))
	}
	if o.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("BatchSize: %d < 0", o.BatchSize))
	}
	if o.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("CacheSize: %d < 0", o.CacheSize))
	}
	if o.MemTableSize >= 4<<30 {
		errs = append(errs, fmt.Errorf("MemTableSize: %d not below 4 GiB", o.MemTableSize))
	}
	if o.MaxManifestSize < 0 {
		errs = append(errs, fmt.Errorf("MaxManifestSize: %d < 0", o.MaxManifestSize))
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("state: options: %w", err)
	}
	return o, nil
}

// Backend is the keyed state of one task: a Pebble database that every
// operator of the task shares, each under its own operator id.
//
// A task runs its operators on one goroutine, and a Backend belongs to that
// goroutine: it is not safe for concurrent use, and Checkpoint too is called
// between two batches of records on the task's goroutine. Only Metrics and
// Size may be called from any goroutine.
//
// Writes go into an indexed Pebble batch that reads see (read your own
// writes); Value state's go into a write-back cache in front of it
// (cache.go). The batch and the cache's writes are committed to the
// database by Flush, by Checkpoint, and on their own once either holds
// Options.BatchSize bytes. A commit makes writes
// neither durable nor atomic in any sense that matters: the write-ahead log
// is off, and only a checkpoint is ever restored.
type Backend struct {
	db    *pebble.DB
	dir   string
	opts  Options
	log   *zap.Logger
	batch *pebble.Batch
	// iters counts open iterators over batch; the batch is not committed
	// while one is open.
	iters    int
	timers   map[string]*Timers
	key, val []byte // scratch buffers
	// vc is the write-back cache of Value state (cache.go).
	vc valueCache
	// compactor runs the backend's own compactions (compact.go).
	compactor compactor
}

// Open creates an empty backend in dir, removing whatever dir held: a live
// directory is never reused, because with the WAL off it holds no
// consistent state and a crashed process may have left writes there that no
// checkpoint covers (DESIGN §4). To continue from a checkpoint use OpenFrom.
//
// Open refuses to remove a non-empty dir that holds files Pebble did not
// write.
func Open(dir string, opts Options) (*Backend, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := resetDir(dir); err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	b, err := open(dir, opts)
	if err != nil {
		return nil, err
	}
	mp := binary.AppendUvarint(nil, uint64(opts.MaxParallelism))
	if err := b.set(metaMaxParallelismKey, mp); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	return b, nil
}

// checkMaxParallelism fails unless the restored state was written with the
// same MaxParallelism as b uses.
func (b *Backend) checkMaxParallelism() error {
	var stored uint64
	found, err := b.get(metaMaxParallelismKey, func(v []byte) error {
		n, w := binary.Uvarint(v)
		if w <= 0 {
			return fmt.Errorf("%w: max parallelism %x", ErrCorrupt, v)
		}
		stored = n
		return nil
	})
	switch {
	case err != nil:
		return err
	case !found:
		return errors.New("no max parallelism recorded: not a checkpoint of this package")
	case stored != uint64(b.opts.MaxParallelism):
		return fmt.Errorf("checkpoint has %d key groups, options say MaxParallelism %d: key groups cannot change", stored, b.opts.MaxParallelism)
	}
	return nil
}

func open(dir string, opts Options) (*Backend, error) {
	log := opts.Logger.With(zap.String("state_dir", dir))
	po := &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		// Recovery always restores a checkpoint, which Checkpoint makes after
		// flushing the memtable, and never opens a live directory again: a
		// WAL would be written and synced for nothing.
		DisableWAL:   true,
		FS:           privateFS{vfs.Default},
		Logger:       pebbleLogger{log.Named("pebble").Sugar()},
		MemTableSize: opts.MemTableSize,
		CacheSize:    opts.CacheSize,
		// Checkpoints upload the SSTs they do not share with the one
		// before: every compaction's output costs upload bytes. Letting L0
		// collect more flushes before compacting it into Lbase keeps a
		// checkpoint after a small change close to the size of that change
		// (one flushed file) and compacts less often, in bigger steps; the
		// price is more L0 files to read, which Bloom filters offset.
		L0CompactionThreshold: l0CompactionThreshold,
		L0StopWritesThreshold: 4 * l0CompactionThreshold,
		// Every checkpoint copies the MANIFEST whole: keep it small.
		MaxManifestFileSize: opts.MaxManifestSize,
	}
	if opts.Memory != nil {
		// Pebble takes a reference of its own and drops it on Close.
		po.Cache = opts.Memory.cache
	}
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("state: open pebble in %s: %w", dir, err)
	}
	b := &Backend{
		db:     db,
		dir:    dir,
		opts:   opts,
		log:    log,
		batch:  db.NewIndexedBatch(),
		timers: make(map[string]*Timers),
	}
	b.compactor = compactor{ratio: opts.CompactionRatio, log: log}
	return b, nil
}

// Dir returns the backend's live directory.
func (b *Backend) Dir() string { return b.dir }

// MaxParallelism returns the number of key groups.
func (b *Backend) MaxParallelism() int { return b.opts.MaxParallelism }

// KeyGroups returns the key groups the backend holds.
func (b *Backend) KeyGroups() KeyGroupRange { return b.opts.KeyGroups }

// Close closes the database; the backend must not be used afterwards.
// Pending writes are dropped: the live directory is never opened again,
// only checkpoints are.
func (b *Backend) Close() error {
	if b.db == nil {
		return nil
	}
	b.compactor.stop()
	err := b.batch.Close()
	if b.vc.plain != nil {
		_ = b.vc.plain.Close()
		b.vc = valueCache{}
	}
	if cerr := b.db.Close(); cerr != nil {
		err = cerr
	}
	b.db, b.batch = nil, nil
	if err != nil {
		return fmt.Errorf("state: close %s: %w", b.dir, err)
	}
	return nil
}

// Flush commits the pending writes to the database (to its memtable, not to
// disk). Calling it is optional: the backend commits on its own when the
// pending writes reach Options.BatchSize, and Checkpoint commits first.
func (b *Backend) Flush() error {
	if b.batch.Empty() && len(b.vc.dirty) == 0 {
		return b.commitCache()
	}
	if b.iters > 0 {
		return errors.New("state: flush: an iterator is open (Flush called from a Range callback?)")
	}
	if !b.batch.Empty() {
		if err := b.batch.Commit(pebble.NoSync); err != nil {
			return fmt.Errorf("state: commit batch: %w", err)
		}
		if err := b.batch.Close(); err != nil {
			return fmt.Errorf("state: commit batch: %w", err)
		}
		b.batch = b.db.NewIndexedBatch()
	}
	// After the indexed batch: the cache's dirty values are newer.
	if err := b.commitCache(); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// maybeFlush commits the pending writes once they reach Options.BatchSize,
// unless an iterator over them is open.
func (b *Backend) maybeFlush() error {
	if b.iters > 0 || b.batch.Len() < b.opts.BatchSize {
		return nil
	}
	return b.Flush()
}

// get calls fn with the value of key, if there is one; v is valid only
// during the call.
func (b *Backend) get(key []byte, fn func(v []byte) error) (found bool, err error) {
	v, closer, err := b.batch.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	err = fn(v)
	if cerr := closer.Close(); err == nil {
		err = cerr
	}
	return true, err
}

// set, merge and del write into the pending batch.
func (b *Backend) set(key, value []byte) error {
	if err := b.batch.Set(key, value, nil); err != nil {
		return err
	}
	return b.maybeFlush()
}

func (b *Backend) merge(key, value []byte) error {
	if err := b.batch.Merge(key, value, nil); err != nil {
		return err
	}
	return b.maybeFlush()
}

func (b *Backend) del(key []byte) error {
	if err := b.batch.Delete(key, nil); err != nil {
		return err
	}
	return b.maybeFlush()
}

// iterate calls fn for every key in [lower, upper) in order (upper nil: no
// bound), reading through the pending writes, until fn returns false or an
// error. k and v are valid only during the call. fn may write.
func (b *Backend) iterate(lower, upper []byte, fn func(k, v []byte) (bool, error)) (err error) {
	if len(b.vc.dirty) > 0 && mayHoldValues(lower, upper) {
		// The iterator reads the batch: let it see the cached writes.
		if err := b.spillCache(b.batch); err != nil {
			return err
		}
	}
	it, err := b.batch.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	b.iters++
	defer func() {
		b.iters--
		if cerr := it.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = b.maybeFlush()
		}
	}()
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		more, err := fn(it.Key(), v)
		if err != nil || !more {
			return err
		}
	}
	return it.Error()
}

// Iterate calls fn for every key and value of the backend in key order,
// pending writes included, until fn returns an error, which Iterate
// returns. k and v are valid only during the call. Two backends with equal
// Iterate output hold the same state, byte for byte.
func (b *Backend) Iterate(fn func(k, v []byte) error) error {
	err := b.iterate(nil, nil, func(k, v []byte) (bool, error) {
		return true, fn(k, v)
	})
	if err != nil {
		return fmt.Errorf("state: iterate: %w", err)
	}
	return nil
}

// Metrics are figures about a backend's database.
type Metrics struct {
	// SSTFiles and SSTBytes count the live SST files and their bytes: what
	// a full checkpoint would hold.
	SSTFiles int64
	SSTBytes int64
	// MemTableBytes are allocated by memtables (flushed on a checkpoint).
	MemTableBytes uint64
	// DiskBytes is the database's whole disk usage, obsolete files kept for
	// open iterators and checkpoints included.
	DiskBytes uint64
	// L0Files and L0Bytes count the SST files of level 0 (flushed
	// memtables not yet compacted) and their bytes, included in SSTFiles
	// and SSTBytes.
	L0Files, L0Bytes int64
	// Compactions counts the compactions the backend started on its own
	// (see Backend.Checkpoint), not Pebble's.
	Compactions int64
}

// Metrics returns figures about the database. It is safe to call from any
// goroutine while the backend is open.
func (b *Backend) Metrics() Metrics {
	m := b.db.Metrics()
	t := m.Total()
	return Metrics{
		SSTFiles:      t.TablesCount,
		SSTBytes:      t.TablesSize,
		MemTableBytes: m.MemTable.Size,
		DiskBytes:     m.DiskSpaceUsage(),
		L0Files:       m.Levels[0].TablesCount,
		L0Bytes:       m.Levels[0].TablesSize,
		Compactions:   b.compactor.count.Load(),
	}
}

// Size returns the bytes of the live SST files. It is safe to call from any
// goroutine while the backend is open.
func (b *Backend) Size() int64 { return b.Metrics().SSTBytes }
