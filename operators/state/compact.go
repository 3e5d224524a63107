package state

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
)

// DefaultCompactionRatio is the default Options.CompactionRatio.
//
// Pebble compacts L0 once it holds l0CompactionThreshold sublevels. Every
// checkpoint flushes a memtable into L0, so a small state written often
// (every key updated between two checkpoints, like a keyed count) piles up
// that many copies of itself before Pebble compacts: a checkpoint
// referenced up to 25 times the live state. The backend therefore
// measures, after a checkpoint that left new data in L0, how many bytes
// of keys and values its files hold against how many the live state
// holds, and compacts the whole key range once the files hold
// CompactionRatio times the live state: overwritten values and deleted
// keys go, and a checkpoint references about the live state plus what
// changed since the last compaction. A state that only grows (new keys)
// is left alone, so are large states written a little at a time (see
// maxCheckBytes): their checkpoints keep uploading about what changed.
const DefaultCompactionRatio = 1.5

// minCompactionBytes is the least L0 that makes the backend measure its
// state: smaller states are too small to matter, and their checkpoints
// keep sharing files.
const minCompactionBytes = 64 << 10

// maxCheckBytes bounds the keys and values the backend's files may hold
// for it to measure the live state (one pass over every key, in the
// background). Above it compaction is Pebble's alone: a state that large
// changes by a small share between checkpoints, and L0 reaches Pebble's
// threshold first.
const maxCheckBytes = 256 << 20

// compactor measures the live state and compacts, one pass at a time, in
// the background, for its Backend. maybeStart and stop are called on the
// backend's goroutine (by Checkpoint and Close); count may be read from
// any.
type compactor struct {
	ratio float64
	log   *zap.Logger
	// done is closed when the running pass ends; nil if none ever ran.
	// cancel cancels it.
	done   chan struct{}
	cancel context.CancelFunc
	count  atomic.Int64
	// checked is the bytes of keys and values the files held at the last
	// measurement; written by a pass, read after its done is closed.
	checked uint64
}

// running reports whether a pass is running.
func (c *compactor) running() bool {
	if c.done == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// maybeStart starts a pass in the background, unless one is running or
// L0 holds less than minCompactionBytes.
func (c *compactor) maybeStart(db *pebble.DB) {
	if c.ratio < 0 || c.running() {
		return
	}
	if m := db.Metrics(); m.Levels[0].TablesSize < minCompactionBytes {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.done, c.cancel = done, cancel
	go func() {
		defer close(done)
		err := c.pass(ctx, db)
		switch {
		case err == nil, errors.Is(err, context.Canceled), errors.Is(err, pebble.ErrClosed):
		default:
			// Pebble compacts on its own schedule too: a failed pass
			// costs space, not correctness.
			c.log.Warn("state compaction failed; the state's files stay as they are until Pebble compacts them", zap.Error(err))
		}
	}()
}

// fileBytes returns the bytes of keys and values (as Pebble counts them:
// keys with their 8-byte trailer, tombstones included) the database's
// files hold.
func fileBytes(db *pebble.DB) (uint64, error) {
	levels, err := db.SSTables(pebble.WithProperties())
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, tables := range levels {
		for _, t := range tables {
			if t.Properties != nil {
				n += t.Properties.RawKeySize + t.Properties.RawValueSize
			}
		}
	}
	return n, nil
}

// liveBytes returns the bytes of the live keys and values, counted as
// fileBytes counts them.
func liveBytes(ctx context.Context, db *pebble.DB) (uint64, error) {
	it, err := db.NewIterWithContext(ctx, nil)
	if err != nil {
		return 0, err
	}
	var n uint64
	var i int
	for valid := it.First(); valid; valid = it.Next() {
		n += uint64(len(it.Key())) + 8 + uint64(len(it.Value()))
		if i++; i%4096 == 0 && ctx.Err() != nil {
			_ = it.Close()
			return 0, ctx.Err()
		}
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	return n, nil
}

// pass measures the state and compacts it if its files hold ratio times
// the live state. It measures only when the files hold a quarter more than
// at the last measurement, and at most maxCheckBytes.
func (c *compactor) pass(ctx context.Context, db *pebble.DB) error {
	files, err := fileBytes(db)
	if err != nil {
		return err
	}
	if (c.checked > 0 && files < c.checked+c.checked/4) || files > maxCheckBytes {
		return nil
	}
	c.checked = files
	live, err := liveBytes(ctx, db)
	if err != nil {
		return err
	}
	if float64(files) < c.ratio*float64(live) {
		return nil
	}
	start := time.Now()
	before := db.Metrics().Total().TablesSize
	// Every key sorts before 0xff 0xff 0xff: state keys start with a key
	// group below 0x8000, the backend's own with 0xff 0xff and a name.
	if err := db.Compact(ctx, nil, []byte{0xff, 0xff, 0xff}, false); err != nil {
		return err
	}
	c.count.Add(1)
	if c.checked, err = fileBytes(db); err != nil {
		return err
	}
	c.log.Debug("state compacted", zap.Uint64("file_kv_bytes", files), zap.Uint64("live_kv_bytes", live),
		zap.Int64("sst_bytes_before", before), zap.Int64("sst_bytes_after", db.Metrics().Total().TablesSize),
		zap.Duration("took", time.Since(start)))
	return nil
}

// stop cancels a running pass and waits for it to end.
func (c *compactor) stop() {
	if c.done == nil {
		return
	}
	c.cancel()
	<-c.done
}
