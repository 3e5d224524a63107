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

// TestFirstAfterAndStartDelay: with FirstAfter the first checkpoint is
// triggered no sooner than that after the coordinator starts (a
// checkpoint at start would commit nothing), and a completed checkpoint's
// StartDelay is the longest time from its trigger to a task's first
// barrier.
func TestFirstAfterAndStartDelay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const first = 300 * time.Millisecond
	cfg := checkpoint.Config{
		Job: "first", MaxParallelism: 128, Parallelism: 2, Interval: time.Hour, FirstAfter: first, Timeout: time.Minute,
		MaxConcurrent: 1, TolerableFailures: 1, Retained: 2, LocalDir: t.TempDir(), Log: zap.NewNop(),
	}
	completed := make(chan *checkpoint.Metadata, 1)
	cfg.OnComplete = func(md *checkpoint.Metadata) { completed <- md }
	c, err := checkpoint.New(ctx, cfg, storage.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	g := newFakeGraph(2)
	start := time.Now()
	stop := runCoordinator(ctx, c, g)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	id, err := g.next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stats := c.Stats()
	if len(stats) != 1 || stats[0].ID != id {
		t.Fatalf("stats %+v, want checkpoint %d alone", stats, id)
	}
	trig := stats[0].TriggeredAt
	if d := trig.Sub(start); d < first {
		t.Fatalf("first checkpoint triggered %s after start, want at least FirstAfter %s", d, first)
	}
	files := newContents()
	dbs := make([]simDB, 2)
	delays := []time.Duration{40 * time.Millisecond, 70 * time.Millisecond}
	for k := range dbs {
		dbs[k].flush(files, rand.New(rand.NewPCG(1, uint64(k))))
		snap := dbs[k].mustSnapshot(t, files, cfg.LocalDir, id, k)
		snap.FirstBarrier = trig.Add(delays[k])
		c.TaskSnapshot(snap)
	}
	c.SourceSnapshot(sourcePart(id))
	await(t, ctx, completed, "the checkpoint's completion")
	for _, s := range c.Stats() {
		if s.ID == id && s.StartDelay != delays[1] {
			t.Errorf("start delay %s, want the longest, %s", s.StartDelay, delays[1])
		}
	}
}
