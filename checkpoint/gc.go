package checkpoint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"strings"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/crashpoint"
)

// gcPlan is what one garbage collection must keep, fixed on the
// coordinator's goroutine when it starts.
type gcPlan struct {
	retained int
	// floor: the newest complete checkpoint at or below it is kept too,
	// whatever retention says: it is where a recovery falls back to when
	// the newest checkpoint's pending transactions (the oldest of which
	// holds records after floor) turn out lost. 0: none needed.
	floor   int64
	pending map[int64]bool // checkpoints in flight: their directories stay
	nextID  int64          // and so do those of checkpoints triggered later
	// upTo is the newest complete checkpoint when the plan was made (0:
	// no bound). Checkpoints that complete while the collection runs are
	// neither counted for retention nor expired by it: floor was computed
	// without their pending transactions, so counting them could expire
	// the fallback one of them needs (the next collection, planned after
	// they completed, decides about them).
	upTo int64
}

// startGC collects, in the background, checkpoints beyond retention,
// leftovers of failed or crashed checkpoints, and shared files nothing
// uses. Which shared files are in use is decided by references only,
// never by modification times (the store's clock may be off): the
// registry knows the files of every retained checkpoint, of every
// checkpoint in flight (registered before they are uploaded or reused)
// and of savepoints being copied, and refuses to let collection delete
// any of them.
func (c *Coordinator) startGC() {
	if c.gcRunning {
		c.gcAgain = true
		return
	}
	c.gcRunning = true
	plan := gcPlan{retained: c.cfg.Retained, pending: map[int64]bool{}, nextID: c.nextID, floor: fallbackFloor(c.latest)}
	if c.latest != nil {
		plan.upTo = c.latest.CheckpointID
	}
	for id := range c.pending {
		plan.pending[id] = true
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
	// Why a checkpoint directory goes, for the report: the reason of a
	// complete checkpoint's collection, else it never completed.
	ended := map[int64]string{}
	for _, id := range l.complete {
		ended[id] = fmt.Sprintf("file of checkpoint %d, completed by an instance that had lost the job", id)
	}
	if err := c.collectZombies(ctx, l); err != nil {
		return err
	}
	complete := map[int64]bool{}
	for _, id := range l.complete {
		complete[id] = true
	}
	counted, newer := l.complete, []int64(nil)
	if plan.upTo > 0 {
		counted = nil
		for _, id := range l.complete {
			if id <= plan.upTo {
				counted = append(counted, id)
			} else {
				newer = append(newer, id)
			}
		}
	}
	retained := counted
	if n := len(counted); n > plan.retained {
		retained = counted[n-plan.retained:]
		keep := int64(0) // the fallback for the newest checkpoint's transactions
		for _, id := range counted {
			if plan.floor > 0 && id <= plan.floor {
				keep = id
			}
		}
		for _, id := range counted[:n-plan.retained] {
			if id == keep {
				retained = append([]int64{id}, retained...)
				continue
			}
			// The metadata goes first, so a checkpoint half deleted is
			// never taken for a complete one; only then are its files
			// released.
			if _, err := c.collect(ctx, MetadataKey(id), fmt.Sprintf("checkpoint %d expired (beyond retention)", id)); err != nil {
				return fmt.Errorf("checkpoint: delete expired checkpoint %d: %w", id, err)
			}
			if r := c.gcReport; r != nil {
				r.Expired = append(r.Expired, id)
			}
			ended[id] = fmt.Sprintf("file of checkpoint %d, expired", id)
			delete(complete, id)
			c.reg.release(id)
			c.log.Debug("checkpoint expired", zap.Int64("checkpoint", id))
		}
	}
	retained = append(retained, newer...)
	// Retained checkpoints this process did not write (an earlier run's)
	// hold their files from now on.
	for _, id := range retained {
		if c.reg.holds(id) {
			continue
		}
		m, err := readMetadata(ctx, c.st, MetadataKey(id))
		if err != nil {
			// Without knowing what it references, delete no shared file.
			return fmt.Errorf("checkpoint: shared files not collected: %w", err)
		}
		c.reg.hold(id, sharedKeys(m), true)
	}
	if r := c.gcReport; r != nil {
		r.Retained = append(r.Retained, retained...)
	}
	if len(retained) > 0 {
		// Complete checkpoints older than every retained one are gone
		// from storage (expired by an earlier collection).
		c.reg.releaseCompleteBefore(retained[0])
	}
	// Directories without metadata: expired, failed or left by a crash.
	for id := range l.all {
		if complete[id] || plan.pending[id] || id >= plan.nextID {
			continue
		}
		why, ok := ended[id]
		if !ok {
			why = fmt.Sprintf("leftover of checkpoint %d, which never completed (failed, or left by a crash)", id)
		}
		if err := c.deletePrefix(ctx, CheckpointDir(id), why); err != nil {
			return err
		}
	}
	shared, err := c.st.List(ctx, sharedDir)
	if err != nil {
		return fmt.Errorf("checkpoint: list shared files: %w", err)
	}
	var n int
	for _, in := range shared {
		deleted, err := c.collect(ctx, in.Key, "shared file no retained checkpoint references")
		if err != nil {
			return fmt.Errorf("checkpoint: delete unreferenced %s: %w", in.Key, err)
		}
		if deleted {
			n++
		}
	}
	if n > 0 {
		c.log.Debug("unreferenced shared files deleted", zap.Int("files", n))
	}
	return nil
}

// fallbackFloor is the barrier after which the oldest pending transaction
// of m holds records (see gcPlan.floor).
func fallbackFloor(m *Metadata) int64 {
	if m == nil || len(m.PendingTransactions) == 0 {
		return 0
	}
	floor := m.PendingTransactions[0].After
	for _, tx := range m.PendingTransactions {
		floor = min(floor, tx.After)
	}
	return floor
}

// fences are the lease fences collection judges checkpoints by: those of
// Config.Fences and this generation's.
func (c *Coordinator) fences() Fences {
	f := Fences{}
	maps.Copy(f, c.cfg.Fences)
	if c.cfg.Generation > 0 {
		f[c.cfg.Generation] = c.cfg.Fence
	}
	return f
}

// collectZombies removes from l, and deletes the metadata of, the complete
// checkpoints the lease fences rule out (Fences.Valid): an instance that
// had lost the job completed them after a newer generation started; they
// are never restored.
func (c *Coordinator) collectZombies(ctx context.Context, l *listing) error {
	f := c.fences()
	if len(f) == 0 {
		return nil
	}
	low := int64(math.MaxInt64) // every checkpoint up to the lowest fence is valid
	for _, newest := range f {
		low = min(low, newest)
	}
	kept := l.complete[:0:0]
	for _, id := range l.complete {
		if id <= low || c.reg.holds(id) {
			kept = append(kept, id)
			continue
		}
		m, err := readMetadata(ctx, c.st, MetadataKey(id))
		if err != nil || f.Valid(m) {
			kept = append(kept, id)
			continue
		}
		if _, err := c.collect(ctx, MetadataKey(id), fmt.Sprintf("checkpoint %d completed by an instance that had lost the job (lease generation %d)", id, m.Generation)); err != nil {
			return fmt.Errorf("checkpoint: delete checkpoint %d of a zombie: %w", id, err)
		}
		if r := c.gcReport; r != nil {
			r.Zombies = append(r.Zombies, id)
		}
		c.log.Warn("checkpoint completed by an instance that had lost the job collected", zap.Int64("checkpoint", id), zap.Int64("generation", m.Generation))
	}
	l.complete = kept
	return nil
}

// collect deletes key unless the registry says something uses it (then it
// reports false); why says why it goes. Every deletion of garbage
// collection goes through here, after Config.BeforeDelete. A dry run
// (CollectGarbage) records the deletion instead of making it.
func (c *Coordinator) collect(ctx context.Context, key, why string) (bool, error) {
	if !c.reg.tryDelete(key) {
		return false, nil
	}
	defer c.reg.deleted(key)
	if r := c.gcReport; r != nil {
		if c.gcDry {
			// Deleted already, as far as the dry run goes: a later
			// listing still shows it.
			if c.gcGone[key] {
				return false, nil
			}
			c.gcGone[key] = true
		}
		r.Deleted = append(r.Deleted, Deletion{Key: key, Reason: why})
		if c.gcDry {
			return true, nil
		}
	}
	if c.cfg.BeforeDelete != nil {
		if err := c.cfg.BeforeDelete(ctx); err != nil {
			return false, fmt.Errorf("deletion vetoed: %w", err)
		}
	}
	if err := c.st.Delete(ctx, key); err != nil {
		return false, err
	}
	crashpoint.Hit(crashpoint.GCAfterDelete)
	return true, nil
}

func (c *Coordinator) deletePrefix(ctx context.Context, prefix, why string) error {
	infos, err := c.st.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("checkpoint: list %s: %w", prefix, err)
	}
	for _, in := range infos {
		if _, err := c.collect(ctx, in.Key, why); err != nil {
			return fmt.Errorf("checkpoint: delete %s: %w", in.Key, err)
		}
	}
	return nil
}

// sharedKeys lists the keys of m's shared files.
func sharedKeys(m *Metadata) []string {
	var keys []string
	for _, t := range m.Tasks {
		for _, f := range t.Files {
			if strings.HasPrefix(f.Key, sharedDir) {
				keys = append(keys, f.Key)
			}
		}
	}
	return keys
}

// allKeys lists the keys of every file of m.
func allKeys(m *Metadata) []string {
	var keys []string
	for _, t := range m.Tasks {
		for _, f := range t.Files {
			keys = append(keys, f.Key)
		}
		if t.InFlight != nil {
			keys = append(keys, t.InFlight.Key)
		}
	}
	return keys
}

// ValidateSavepointName checks that name can name a savepoint directory:
// not empty, at most 200 bytes, no path separators or white space.
func ValidateSavepointName(name string) error {
	if name == "" || len(name) > 200 || strings.ContainsAny(name, "/\\ \t\n") || name == "." || name == ".." {
		return fmt.Errorf("checkpoint: invalid savepoint name %q: use letters, digits, '.', '_', '-'", name)
	}
	return nil
}

// copySavepoint copies checkpoint m into savepoints/<name>/ in the
// background and answers req. m's files are held until the copy ends, even
// if m expires meanwhile.
func (c *Coordinator) copySavepoint(m *Metadata, req *savepointRequest) {
	holder := -m.CheckpointID
	c.reg.hold(holder, allKeys(m), false)
	if !c.spWriting.start(req.name) {
		c.reg.release(holder)
		req.reply <- savepointResult{id: m.CheckpointID, err: fmt.Errorf("checkpoint: savepoint %s is being written already", req.name)}
		return
	}
	c.background.Go(func() {
		defer c.reg.release(holder)
		dir, err := writeSavepoint(c.bgCtx, c.st, m, req.name)
		c.spWriting.end(req.name)
		if err == nil {
			c.log.Info("savepoint written", zap.String("savepoint", dir), zap.Int64("checkpoint", m.CheckpointID))
		}
		req.reply <- savepointResult{dir: dir, id: m.CheckpointID, err: err}
		// Expire old savepoints, and remove what a failed copy left.
		if cerr := c.collectSavepoints(c.bgCtx, c.cfg.SavepointsRetained); cerr != nil && c.bgCtx.Err() == nil {
			c.log.Warn("savepoint collection", zap.Error(cerr))
		}
	})
}

func writeSavepoint(ctx context.Context, st storage.Store, m *Metadata, name string) (string, error) {
	return ExportSavepoint(ctx, st, st, m, name, nil)
}

// ExportSavepoint copies the checkpoint or savepoint m, read from src, into
// savepoints/<name>/ of dst, self-contained (both stores rooted at a job,
// see JobStore; they may be the same): every file is copied and checked
// against its size and checksum (a mismatch is an error wrapping
// ErrStateCorrupt), and the metadata is written last, so a failed copy
// leaves no savepoint. progress, if set, is called after each file with
// the bytes copied so far and in all. It returns the savepoint's
// directory.
func ExportSavepoint(ctx context.Context, src, dst storage.Store, m *Metadata, name string, progress func(done, total int64)) (string, error) {
	if err := ValidateSavepointName(name); err != nil {
		return "", err
	}
	dir := SavepointDir(name)
	if _, err := dst.Stat(ctx, dir+metadataName); err == nil {
		return "", fmt.Errorf("checkpoint: savepoint %s exists already", name)
	}
	total, done := m.StateSize(), int64(0)
	copied := func(f FileHandle) {
		done += f.Size
		if progress != nil {
			progress(done, total)
		}
	}
	sp := *m
	sp.Savepoint = name
	sp.Tasks = nil
	for _, t := range m.Tasks {
		nt := t
		nt.Files = nil
		for _, f := range t.Files {
			nf := f
			nf.Key = fmt.Sprintf("%s%s/%s", dir, t.ID(), f.Name)
			if err := copyChecked(ctx, src, dst, f, nf.Key); err != nil {
				return "", err
			}
			copied(f)
			nt.Files = append(nt.Files, nf)
		}
		if t.InFlight != nil {
			nf := *t.InFlight
			nf.Key = fmt.Sprintf("%s%s/%s", dir, t.ID(), nf.Name)
			if err := copyChecked(ctx, src, dst, *t.InFlight, nf.Key); err != nil {
				return "", err
			}
			copied(*t.InFlight)
			nt.InFlight = &nf
		}
		sp.Tasks = append(sp.Tasks, nt)
	}
	data, err := EncodeMetadata(&sp)
	if err != nil {
		return "", err
	}
	crashpoint.Hit(crashpoint.SavepointBeforeMetadata)
	if err := dst.PutIfAbsent(ctx, dir+metadataName, strings.NewReader(string(data)), int64(len(data))); err != nil {
		return "", fmt.Errorf("checkpoint: write savepoint %s: %w", name, err)
	}
	return dir, nil
}

// copyChecked copies f from src to key to in dst, checking its size and
// checksum on the way.
func copyChecked(ctx context.Context, src, dst storage.Store, f FileHandle, to string) error {
	rc, err := src.Get(ctx, f.Key)
	if err != nil {
		return fmt.Errorf("checkpoint: copy %s: %w", f.Key, err)
	}
	defer rc.Close()
	h := sha256.New()
	if err := dst.Put(ctx, to, io.TeeReader(rc, h), f.Size); err != nil {
		if errors.Is(err, storage.ErrSizeMismatch) {
			return fmt.Errorf("checkpoint: copy %s: %w: %w", f.Key, ErrStateCorrupt, err)
		}
		return fmt.Errorf("checkpoint: copy %s to %s: %w", f.Key, to, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != f.SHA256 {
		return fmt.Errorf("checkpoint: copy %s: %w", f.Key, &fileMismatch{f: f, size: f.Size, sum: sum})
	}
	return nil
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
