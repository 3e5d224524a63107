package checkpoint

import (
	"context"
	"errors"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/checkpoint/storage"
)

// verifyConcurrency bounds the existence checks made at once at start-up.
const verifyConcurrency = 8

// verifyRestored checks, before the first checkpoint, that every file of
// the restored checkpoint is still in storage: a restore from a local
// snapshot downloads nothing, so a file deleted behind the processor's back
// (by a bucket lifecycle rule, by hand) would otherwise go unnoticed while
// new checkpoints keep referencing it. A missing file is uploaded again
// from the local snapshot (same key: shared keys name their content); if
// there is none, the error is logged naming the file, and the registry
// learns that the file is not stored, so the next checkpoint that needs it
// uploads it from its own snapshot. Savepoints are self-contained and were
// just downloaded: they are not checked.
func (c *Coordinator) verifyRestored(ctx context.Context) {
	m := c.latest
	if m == nil || m.Savepoint != "" {
		return
	}
	var g errgroup.Group
	g.SetLimit(verifyConcurrency)
	for _, t := range m.Tasks {
		local := filepath.Join(c.cfg.LocalDir, localName(m.CheckpointID), t.ID().String())
		for _, f := range t.Files {
			g.Go(func() error {
				c.verifyFile(ctx, m.CheckpointID, f, filepath.Join(local, f.Name))
				return nil
			})
		}
		if t.InFlight != nil {
			f := *t.InFlight
			g.Go(func() error {
				c.verifyFile(ctx, m.CheckpointID, f, "")
				return nil
			})
		}
	}
	_ = g.Wait()
}

// verifyFile checks that f of checkpoint id exists, and if not uploads it
// again from local, where a copy may be.
func (c *Coordinator) verifyFile(ctx context.Context, id int64, f FileHandle, local string) {
	_, err := c.st.Stat(ctx, f.Key)
	if err == nil || ctx.Err() != nil {
		return
	}
	log := c.log.With(zap.Int64("checkpoint", id), zap.String("key", f.Key), zap.String("file", f.Name))
	if !errors.Is(err, storage.ErrNotFound) {
		log.Warn("could not check that a file of the restored checkpoint is in storage", zap.Error(err))
		return
	}
	shared := strings.HasPrefix(f.Key, sharedDir)
	if local != "" {
		if sum, serr := fileSHA256(local); serr == nil && sum == f.SHA256 {
			perr := putFile(ctx, c.st, f.Key, local, f.Size)
			if perr == nil {
				log.Warn("a file of the restored checkpoint was missing from checkpoint storage (deleted by a lifecycle rule or by hand?): uploaded it again from the local snapshot")
				return
			}
			err = errors.Join(err, perr)
		}
	}
	if shared {
		c.reg.markMissing(f.Key)
	}
	log.Error("a file of the restored checkpoint is missing from checkpoint storage and no local copy matches it: "+
		"that checkpoint can no longer be restored from storage alone; the next checkpoints upload the file again if the state still holds it. "+
		"Check the bucket's lifecycle rules: nothing may expire objects under the checkpoint root",
		zap.Error(err))
}
