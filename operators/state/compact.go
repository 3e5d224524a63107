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
// (every key updated between two checkpoints) piles up that many copies
// of itself before Pebble compacts: a checkpoint referenced up to 25 times
// the live state. The backend therefore compacts on its own, after a
// checkpoint, once L0 holds half the bytes of the levels below it (which,
// right after such a compaction, hold the live state and nothing else):
// a checkpoint then references at most about 1.5 times the live state
// plus what changed since the last compaction. For a large state written a
// little at a time (1 % per checkpoint, say) L0 reaches Pebble's own
// threshold long before half the state, so nothing changes there and a
// checkpoint keeps uploading about what changed.
const DefaultCompactionRatio = 0.5

// compactor runs one compaction of the whole key range at a time, in the
// background, for its Backend. start and stop are called on the backend's
// goroutine (by Checkpoint and Close); count may be read from any.
type compactor struct {
	ratio float64
	log   *zap.Logger
	// done is closed when the running compaction ends; nil if none ever
	// ran. cancel cancels it.
	done   chan struct{}
	cancel context.CancelFunc
	count  atomic.Int64
}

// compactionNeeded says whether the database m describes should be
// compacted, and why.
func compactionNeeded(m *pebble.Metrics, ratio float64) (bool, string) {
	if ratio < 0 {
		return false, ""
	}
	l0, l0Files := m.Levels[0].TablesSize, m.Levels[0].TablesCount
	var lower int64
	for _, l := range m.Levels[1:] {
		lower += l.TablesSize
	}
	if l0Files > 0 && float64(l0) >= ratio*float64(lower) {
		return true, "L0 is large relative to the levels below"
	}
	garbage := int64(m.Table.Garbage.PointDeletionsBytesEstimate + m.Table.Garbage.RangeDeletionsBytesEstimate)
	if live := l0 + lower - garbage; garbage > 0 && float64(garbage) >= ratio*float64(max(live, 0)) {
		return true, "deletions would free much of the state"
	}
	return false, ""
}

// running reports whether a compaction is running.
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

// maybeStart starts a compaction of db's whole key range in the
// background if none is running and compactionNeeded says so.
func (c *compactor) maybeStart(db *pebble.DB) {
	if c.ratio < 0 || c.running() {
		return
	}
	m := db.Metrics()
	need, why := compactionNeeded(m, c.ratio)
	if !need {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.done, c.cancel = done, cancel
	c.count.Add(1)
	l0, total := m.Levels[0].TablesSize, m.Total().TablesSize
	go func() {
		defer close(done)
		start := time.Now()
		// Every key sorts before 0xff 0xff 0xff: state keys start with
		// a key group below 0x8000, the backend's own with 0xff 0xff
		// and a name.
		err := db.Compact(ctx, nil, []byte{0xff, 0xff, 0xff}, false)
		switch {
		case err == nil:
			after := db.Metrics().Total().TablesSize
			c.log.Debug("state compacted", zap.String("reason", why), zap.Int64("l0_bytes", l0),
				zap.Int64("bytes_before", total), zap.Int64("bytes_after", after), zap.Duration("took", time.Since(start)))
		case errors.Is(err, context.Canceled), errors.Is(err, pebble.ErrClosed):
		default:
			// Pebble compacts on its own schedule too: a failed
			// compaction of ours costs space, not correctness.
			c.log.Warn("state compaction failed; the state's files stay as they are until Pebble compacts them",
				zap.String("reason", why), zap.Error(err))
		}
	}()
}

// stop cancels a running compaction and waits for it to end.
func (c *compactor) stop() {
	if c.done == nil {
		return
	}
	c.cancel()
	<-c.done
}
