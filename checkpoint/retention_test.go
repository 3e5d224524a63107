package checkpoint_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/operators"
)

// TestRetentionKeepsTheFallback (found by the schedule test, seed
// 20261129): the newest checkpoint's pending transactions may reach back
// several checkpoints (commits failing while later checkpoints complete,
// or max_concurrent > 1). The checkpoint a recovery falls back to when
// they turn out lost — the newest one at or before where the oldest of
// them starts — is kept whatever retention says; it was collected, and the
// job halted.
func TestRetentionKeepsTheFallback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := storage.NewMem()
	cfg := checkpoint.Config{
		Job: "retention", MaxParallelism: 128, Parallelism: 1, Interval: time.Millisecond, Timeout: time.Minute,
		MaxConcurrent: 1, Retained: 1, LocalDir: t.TempDir(), Log: zap.NewNop(),
	}
	completed := make(chan int64, 16)
	cfg.OnComplete = func(m *checkpoint.Metadata) { completed <- m.CheckpointID }
	gcs := make(chan error, 64)
	cfg.OnGC = func(err error) { gcs <- err }
	c, err := checkpoint.New(ctx, cfg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := newFakeGraph(1)
	stop := runCoordinator(ctx, c, g)
	rng := rand.New(rand.NewPCG(5, 6))
	files := newContents()
	var db simDB
	// Checkpoints 1..5; from 3 on, a transaction that holds records after
	// checkpoint 2 stays pending (its commits keep failing).
	for want := int64(1); want <= 5; want++ {
		id, err := g.next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		db.flush(files, rng)
		snap := db.mustSnapshot(t, files, cfg.LocalDir, id, 0)
		if id >= 3 {
			snap.Transactions = []operators.Transaction{{TransactionalID: "t-0-1", After: 2, Checkpoint: 3}}
		}
		c.TaskSnapshot(snap)
		c.SourceSnapshot(sourcePart(id))
		if got := <-completed; got != id {
			t.Fatalf("completed %d, want %d", got, id)
		}
	}
	// Let the collections that follow checkpoint 5 run.
	for {
		if err := <-gcs; err != nil {
			t.Fatal(err)
		}
		l, err := st.List(ctx, "chk-")
		if err != nil {
			t.Fatal(err)
		}
		meta := map[string]bool{}
		for _, in := range l {
			meta[in.Key] = true
		}
		if !meta[checkpoint.MetadataKey(4)] && !meta[checkpoint.MetadataKey(3)] {
			if !meta[checkpoint.MetadataKey(2)] {
				t.Fatal("checkpoint 2, where the pending transaction's records start, was collected: no fallback is left")
			}
			if !meta[checkpoint.MetadataKey(5)] {
				t.Fatal("the newest checkpoint was collected")
			}
			break
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
