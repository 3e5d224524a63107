package checkpoint

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/crashpoint"
)

// gcPlan is what one garbage collection may delete, fixed on the
// coordinator's goroutine when it starts.
type gcPlan struct {
	retained  int
	pending   map[int64]bool
	nextID    int64
	threshold time.Time // shared files modified after it are kept
	metas     map[int64]*Metadata
}

// startGC collects, in the background, checkpoints beyond retention,
// leftovers of failed or crashed checkpoints, and shared files that no
// retained checkpoint references. A shared file is never deleted while a
// checkpoint that may reference it is in flight: every file a checkpoint
// in flight uploads is younger than its trigger, and every file it reuses
// is referenced by the newest complete checkpoint.
func (c *Coordinator) startGC() {
	if c.gcRunning {
		c.gcAgain = true
		return
	}
	c.gcRunning = true
	plan := gcPlan{retained: c.cfg.Retained, pending: map[int64]bool{}, nextID: c.nextID, threshold: c.cfg.Now(), metas: map[int64]*Metadata{}}
	for id, p := range c.pending {
		plan.pending[id] = true
		if p.stats.TriggeredAt.Before(plan.threshold) {
			plan.threshold = p.stats.TriggeredAt
		}
	}
	plan.threshold = plan.threshold.Add(-c.cfg.GCSafetyMargin)
	for id, m := range c.metas {
		plan.metas[id] = m
	}
	c.background.Go(func() {
		err := c.gc(c.bgCtx, plan)
		if err != nil && c.bgCtx.Err() == nil {
			c.log.Warn("checkpoint garbage collection", zap.Error(err))
		}
		if c.cfg.OnGC != nil {
			c.cfg.OnGC(err)
		}
		c.events.put(event{gcDone: true})
	})
}

func (c *Coordinator) gc(ctx context.Context, plan gcPlan) error {
	l, err := list(ctx, c.st)
	if err != nil {
		return err
	}
	complete := map[int64]bool{}
	for _, id := range l.complete {
		complete[id] = true
	}
	var retained []int64
	if n := len(l.complete); n > plan.retained {
		retained = l.complete[n-plan.retained:]
		for _, id := range l.complete[:n-plan.retained] {
			// The metadata goes first, so a checkpoint half deleted is
			// never taken for a complete one.
			if err := c.st.Delete(ctx, MetadataKey(id)); err != nil {
				return fmt.Errorf("checkpoint: delete expired checkpoint %d: %w", id, err)
			}
			delete(complete, id)
			c.log.Debug("checkpoint expired", zap.Int64("checkpoint", id))
		}
	} else {
		retained = l.complete
	}
	// Directories without metadata: expired, failed or left by a crash.
	for id := range l.all {
		if complete[id] || plan.pending[id] || id >= plan.nextID {
			continue
		}
		if err := c.deletePrefix(ctx, CheckpointDir(id)); err != nil {
			return err
		}
	}
	referenced := map[string]bool{}
	for _, id := range retained {
		m := plan.metas[id]
		if m == nil {
			if m, err = readMetadata(ctx, c.st, MetadataKey(id)); err != nil {
				// Without knowing what it references, delete no shared file.
				return fmt.Errorf("checkpoint: shared files not collected: %w", err)
			}
		}
		for _, t := range m.Tasks {
			for _, f := range t.Files {
				referenced[f.Key] = true
			}
		}
	}
	shared, err := c.st.List(ctx, sharedDir)
	if err != nil {
		return fmt.Errorf("checkpoint: list shared files: %w", err)
	}
	var n int
	for _, in := range shared {
		if referenced[in.Key] || !in.ModTime.Before(plan.threshold) {
			continue
		}
		if err := c.st.Delete(ctx, in.Key); err != nil {
			return fmt.Errorf("checkpoint: delete unreferenced %s: %w", in.Key, err)
		}
		n++
	}
	if n > 0 {
		c.log.Debug("unreferenced shared files deleted", zap.Int("files", n))
	}
	return nil
}

func (c *Coordinator) deletePrefix(ctx context.Context, prefix string) error {
	infos, err := c.st.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("checkpoint: list %s: %w", prefix, err)
	}
	for _, in := range infos {
		if err := c.st.Delete(ctx, in.Key); err != nil {
			return fmt.Errorf("checkpoint: delete %s: %w", in.Key, err)
		}
	}
	return nil
}

func validateSavepointName(name string) error {
	if name == "" || len(name) > 200 || strings.ContainsAny(name, "/\\ \t\n") || name == "." || name == ".." {
		return fmt.Errorf("checkpoint: invalid savepoint name %q: use letters, digits, '.', '_', '-'", name)
	}
	return nil
}

// copySavepoint copies checkpoint m into savepoints/<name>/ in the
// background and answers req.
func (c *Coordinator) copySavepoint(m *Metadata, req *savepointRequest) {
	c.background.Go(func() {
		dir, err := writeSavepoint(c.bgCtx, c.st, m, req.name)
		if err == nil {
			c.log.Info("savepoint written", zap.String("savepoint", dir), zap.Int64("checkpoint", m.CheckpointID))
		}
		req.reply <- savepointResult{dir: dir, id: m.CheckpointID, err: err}
	})
}

func writeSavepoint(ctx context.Context, st storage.Store, m *Metadata, name string) (string, error) {
	dir := SavepointDir(name)
	if _, err := st.Stat(ctx, dir+metadataName); err == nil {
		return "", fmt.Errorf("checkpoint: savepoint %s exists already", name)
	}
	sp := *m
	sp.Savepoint = name
	sp.Tasks = nil
	for _, t := range m.Tasks {
		nt := t
		nt.Files = nil
		for _, f := range t.Files {
			nf := f
			nf.Key = fmt.Sprintf("%skeyed-%d/%s", dir, t.Task, f.Name)
			if err := copyObject(ctx, st, f.Key, nf.Key, f.Size); err != nil {
				return "", err
			}
			nt.Files = append(nt.Files, nf)
		}
		if t.InFlight != nil {
			nf := *t.InFlight
			nf.Key = fmt.Sprintf("%skeyed-%d/%s", dir, t.Task, nf.Name)
			if err := copyObject(ctx, st, t.InFlight.Key, nf.Key, nf.Size); err != nil {
				return "", err
			}
			nt.InFlight = &nf
		}
		sp.Tasks = append(sp.Tasks, nt)
	}
	data, err := EncodeMetadata(&sp)
	if err != nil {
		return "", err
	}
	crashpoint.Hit(crashpoint.SavepointBeforeMetadata)
	if err := st.PutIfAbsent(ctx, dir+metadataName, strings.NewReader(string(data)), int64(len(data))); err != nil {
		return "", fmt.Errorf("checkpoint: write savepoint %s: %w", name, err)
	}
	return dir, nil
}

func copyObject(ctx context.Context, st storage.Store, from, to string, size int64) error {
	rc, err := st.Get(ctx, from)
	if err != nil {
		return fmt.Errorf("checkpoint: copy %s: %w", from, err)
	}
	defer rc.Close()
	if err := st.Put(ctx, to, rc, size); err != nil {
		return fmt.Errorf("checkpoint: copy %s to %s: %w", from, to, err)
	}
	return nil
}
