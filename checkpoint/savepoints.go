package checkpoint

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint/storage"
)

// Savepoint retention (Config.SavepointsRetained) and the collection of
// partial savepoints: directories under savepoints/ without metadata,
// left by a copy that failed or was cut short (a crash, a stop).

// savepointDir is one directory under savepoints/.
type savepointDir struct {
	name     string
	complete bool
	// completed orders complete savepoints: their metadata's
	// CompletedAt (the metadata object's time if it cannot be read).
	completed time.Time
	id        int64
	written   time.Time // the metadata object's time: ties of exports of one checkpoint
	keys      []string  // every object, metadata last
}

// writingSavepoints is the set of savepoints this process is writing:
// collection leaves them alone.
type writingSavepoints struct {
	mu    sync.Mutex
	names map[string]bool
}

// start marks name as being written; false if it is already.
func (w *writingSavepoints) start(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.names[name] {
		return false
	}
	if w.names == nil {
		w.names = map[string]bool{}
	}
	w.names[name] = true
	return true
}

func (w *writingSavepoints) end(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.names, name)
}

func (w *writingSavepoints) has(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.names[name]
}

// listSavepointDirs lists the directories under savepoints/, complete
// ones first, oldest first (by completion of their checkpoint, then by
// when their metadata was written), then partial ones by name. With withTimes it
// reads each complete savepoint's metadata for its completion time.
func listSavepointDirs(ctx context.Context, st storage.Store, withTimes bool) ([]savepointDir, error) {
	infos, err := st.List(ctx, savepointsDir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list savepoints: %w", err)
	}
	byName := map[string]*savepointDir{}
	var names []string
	var metaTime = map[string]time.Time{}
	for _, in := range infos {
		name, rest, ok := strings.Cut(strings.TrimPrefix(in.Key, savepointsDir), "/")
		if !ok || name == "" {
			continue
		}
		d := byName[name]
		if d == nil {
			d = &savepointDir{name: name}
			byName[name] = d
			names = append(names, name)
		}
		if rest == metadataName {
			d.complete = true
			metaTime[name] = in.ModTime
			continue
		}
		d.keys = append(d.keys, in.Key)
	}
	out := make([]savepointDir, 0, len(names))
	for _, n := range names {
		d := byName[n]
		if d.complete {
			d.keys = append(d.keys, SavepointDir(n)+metadataName)
			d.completed, d.written = metaTime[n], metaTime[n]
			if withTimes {
				if m, err := readMetadata(ctx, st, SavepointDir(n)+metadataName); err == nil {
					d.completed, d.id = m.CompletedAt, m.CheckpointID
				}
			}
		}
		out = append(out, *d)
	}
	slices.SortStableFunc(out, func(a, b savepointDir) int {
		switch {
		case a.complete != b.complete:
			if a.complete {
				return -1
			}
			return 1
		case a.complete && !a.completed.Equal(b.completed):
			return a.completed.Compare(b.completed)
		case a.complete && a.id != b.id:
			return cmp.Compare(a.id, b.id)
		case a.complete && !a.written.Equal(b.written):
			return a.written.Compare(b.written)
		}
		return cmp.Compare(a.name, b.name)
	})
	return out, nil
}

// collectSavepoints deletes the complete savepoints beyond the newest
// retained (0 keeps them all) and every partial savepoint this process is
// not writing. An expired savepoint's metadata goes first, so a half
// deleted savepoint is never taken for a complete one. A partial
// savepoint is deleted only if its metadata is still missing when
// collection comes to it.
func (c *Coordinator) collectSavepoints(ctx context.Context, retained int) error {
	dirs, err := listSavepointDirs(ctx, c.st, retained > 0)
	if err != nil {
		return err
	}
	var complete []savepointDir
	for _, d := range dirs {
		if d.complete {
			complete = append(complete, d)
		}
	}
	expired := map[string]bool{}
	if retained > 0 && len(complete) > retained {
		for _, d := range complete[:len(complete)-retained] {
			expired[d.name] = true
		}
	}
	for _, d := range dirs {
		switch {
		case expired[d.name]:
			why := fmt.Sprintf("savepoint %s expired (beyond savepoints.retained: %d)", d.name, retained)
			meta := d.keys[len(d.keys)-1]
			if _, err := c.collect(ctx, meta, why); err != nil {
				return fmt.Errorf("checkpoint: delete expired savepoint %s: %w", d.name, err)
			}
			for _, k := range d.keys[:len(d.keys)-1] {
				if _, err := c.collect(ctx, k, why); err != nil {
					return fmt.Errorf("checkpoint: delete expired savepoint %s: %w", d.name, err)
				}
			}
			if r := c.gcReport; r != nil {
				r.ExpiredSavepoints = append(r.ExpiredSavepoints, d.name)
			}
			c.log.Info("savepoint expired (savepoints.retained) and deleted", zap.String("savepoint", d.name), zap.Int("retained", retained))
		case !d.complete && !c.spWriting.has(d.name):
			if _, err := c.st.Stat(ctx, SavepointDir(d.name)+metadataName); err == nil {
				continue // completed since it was listed
			} else if !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("checkpoint: partial savepoint %s: %w", d.name, err)
			}
			why := fmt.Sprintf("file of partial savepoint %s (no metadata: its copy failed or was cut short)", d.name)
			for _, k := range d.keys {
				if _, err := c.collect(ctx, k, why); err != nil {
					return fmt.Errorf("checkpoint: delete partial savepoint %s: %w", d.name, err)
				}
			}
			if r := c.gcReport; r != nil {
				r.PartialSavepoints = append(r.PartialSavepoints, d.name)
			}
			c.log.Info("partial savepoint deleted (its copy failed or was cut short)", zap.String("savepoint", d.name), zap.Int("files", len(d.keys)))
		}
	}
	return nil
}

// collectSavepointsInBackground runs collectSavepoints on a background
// goroutine of Run; a failure is logged (the next collection retries).
func (c *Coordinator) collectSavepointsInBackground() {
	c.background.Go(func() {
		if err := c.collectSavepoints(c.bgCtx, c.cfg.SavepointsRetained); err != nil && c.bgCtx.Err() == nil {
			c.log.Warn("savepoint collection", zap.Error(err))
		}
	})
}
