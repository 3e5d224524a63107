package checkpoint_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
)

// TestGCIgnoresClockSkew: whatever the store's clock says, collection
// never deletes a file that a checkpoint in flight uploaded (and then
// completes with), and does delete a file nothing references. Checkpoint 2
// uploads a file of its own, then checkpoint 1 completes and collection
// runs while 2 is still in flight; then 2 completes.
func TestGCIgnoresClockSkew(t *testing.T) {
	for _, tc := range []struct {
		name string
		skew time.Duration
	}{
		{"store clock 15 minutes behind", -15 * time.Minute},
		{"store clock 1 hour behind", -time.Hour},
		{"store clock 15 minutes ahead", 15 * time.Minute},
		{"store clock 1 hour ahead", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			mem := storage.NewMem()
			st := skewed{Store: mem, skew: tc.skew}
			rng := rand.New(rand.NewPCG(1, 2))
			files := newContents()
			// An orphan a crashed run left: nothing references it.
			orphan := files.make(rng)
			data := files.get(orphan)
			if err := mem.Put(ctx, files.sharedKeyOf(orphan), bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}

			local := t.TempDir()
			gcs := make(chan error, 100)
			completed := make(chan *checkpoint.Metadata, 100)
			c, err := checkpoint.New(ctx, checkpoint.Config{
				Job: "skew", MaxParallelism: 128, Parallelism: 1, Interval: time.Millisecond, Timeout: time.Minute, MaxConcurrent: 2, Retained: 2,
				LocalDir: local, Log: zaptest.NewLogger(t),
				OnGC:       func(err error) { gcs <- err },
				OnComplete: func(m *checkpoint.Metadata) { completed <- m },
			}, st, nil)
			if err != nil {
				t.Fatal(err)
			}
			g := newFakeGraph(1)
			stop := runCoordinator(ctx, c, g)
			defer func() {
				if err := stop(); err != nil {
					t.Error(err)
				}
			}()
			if err := await(t, ctx, gcs, "the start-up collection"); err != nil {
				t.Fatal(err)
			}
			if _, err := mem.Stat(ctx, files.sharedKeyOf(orphan)); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("start-up collection left the orphan %s (%v)", files.sharedKeyOf(orphan), err)
			}

			first, err := g.next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			second, err := g.next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var db simDB
			db.flush(files, rng)
			older := db.mustSnapshot(t, files, local, first, 0)
			db.flush(files, rng)
			own := db.files[len(db.files)-1]
			c.TaskSnapshot(db.mustSnapshot(t, files, local, second, 0))
			eventually(t, ctx, "checkpoint "+strconv.FormatInt(second, 10)+" uploaded its own file", func() bool {
				_, err := mem.Stat(ctx, files.sharedKeyOf(own))
				return err == nil
			})
			c.TaskSnapshot(older)
			c.SourceSnapshot(sourcePart(first))
			if m := await(t, ctx, completed, "checkpoint 1"); m.CheckpointID != first {
				t.Fatalf("checkpoint %d completed, want %d", m.CheckpointID, first)
			}
			if err := await(t, ctx, gcs, "the collection after checkpoint 1"); err != nil {
				t.Fatal(err)
			}
			c.SourceSnapshot(sourcePart(second))
			if m := await(t, ctx, completed, "checkpoint 2"); m.CheckpointID != second {
				t.Fatalf("checkpoint %d completed, want %d", m.CheckpointID, second)
			}
			if err := await(t, ctx, gcs, "the collection after checkpoint 2"); err != nil {
				t.Fatal(err)
			}
			if err := checkRetained(ctx, mem); err != nil {
				t.Fatalf("store clock off by %s: %v", tc.skew, err)
			}
		})
	}
}

// TestBeforeDeleteVetoes: while Config.BeforeDelete refuses, collection
// deletes nothing; once it allows, the garbage goes.
func TestBeforeDeleteVetoes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mem := storage.NewMem()
	rng := rand.New(rand.NewPCG(5, 6))
	files := newContents()
	orphan := files.make(rng)
	data := files.get(orphan)
	key := files.sharedKeyOf(orphan)
	if err := mem.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	errNotOwner := errors.New("this instance does not own the job")
	var owner atomic.Bool
	var vetoes atomic.Int64
	gcs := make(chan error, 100)
	completed := make(chan *checkpoint.Metadata, 100)
	local := t.TempDir()
	c, err := checkpoint.New(ctx, checkpoint.Config{
		Job: "veto", MaxParallelism: 128, Parallelism: 1, Interval: time.Millisecond, Timeout: time.Minute, Retained: 1,
		LocalDir: local, Log: zaptest.NewLogger(t),
		BeforeDelete: func(context.Context) error {
			if owner.Load() {
				return nil
			}
			vetoes.Add(1)
			return errNotOwner
		},
		OnGC:       func(err error) { gcs <- err },
		OnComplete: func(m *checkpoint.Metadata) { completed <- m },
	}, mem, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := newFakeGraph(1)
	stop := runCoordinator(ctx, c, g)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	if err := await(t, ctx, gcs, "the start-up collection"); !errors.Is(err, errNotOwner) {
		t.Errorf("start-up collection: %v, want the veto", err)
	}
	if _, err := mem.Stat(ctx, key); err != nil || vetoes.Load() == 0 {
		t.Fatalf("a vetoed collection deleted %s (%v) or never asked (%d vetoes)", key, err, vetoes.Load())
	}
	owner.Store(true)
	var db simDB
	db.flush(files, rng)
	id, err := g.next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.TaskSnapshot(db.mustSnapshot(t, files, local, id, 0))
	c.SourceSnapshot(sourcePart(id))
	await(t, ctx, completed, "a checkpoint")
	if err := await(t, ctx, gcs, "a collection"); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the orphan %s is still there once deletion is allowed (%v)", key, err)
	}
}
