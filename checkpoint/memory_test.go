package checkpoint_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
)

// TestMemoryStaysBounded: after many checkpoints the coordinator keeps
// only the retained ones (and those in flight) in memory, not every
// checkpoint it ever completed.
func TestMemoryStaysBounded(t *testing.T) {
	const checkpoints = 300
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := checkpoint.Config{
		Job: "bounded", MaxParallelism: 128, Parallelism: 1, Interval: time.Millisecond, Timeout: time.Minute,
		MaxConcurrent: 2, Retained: 3, LocalDir: t.TempDir(), Log: zap.NewNop(),
	}
	completed := make(chan int64, checkpoints*2)
	cfg.OnComplete = func(m *checkpoint.Metadata) { completed <- m.CheckpointID }
	c, err := checkpoint.New(ctx, cfg, storage.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	g := newFakeGraph(1)
	stop := runCoordinator(ctx, c, g)
	rng := rand.New(rand.NewPCG(3, 4))
	files := newContents()
	var db simDB
	for n := 0; n < checkpoints; {
		id, err := g.next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		db.flush(files, rng)
		if len(db.files) > 8 {
			db.compact(files, rng, 4)
		}
		c.TaskSnapshot(db.mustSnapshot(t, files, cfg.LocalDir, id, 0))
		c.SourceSnapshot(sourcePart(id))
		for n < checkpoints {
			select {
			case <-completed:
				n++
				continue
			default:
			}
			break
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := checkpoint.TrackedCheckpoints(c)
	t.Logf("%d checkpoints completed; %d tracked in memory", checkpoints, got)
	if limit := cfg.Retained + cfg.MaxConcurrent; got > limit {
		t.Errorf("after %d checkpoints the coordinator keeps %d in memory, want at most %d (retained %d + in flight %d)",
			checkpoints, got, limit, cfg.Retained, cfg.MaxConcurrent)
	}
}
