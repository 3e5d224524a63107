package checkpoint_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
)

// CollectGarbage decides as the coordinator's start-up collection does:
// on three copies of one store — with checkpoints beyond retention, two
// checkpoints an instance completed after it had lost the job, a directory
// of a checkpoint that never completed and an orphaned shared file — a dry
// run deletes nothing and reports exactly the objects that a coordinator's
// collection deletes from the second copy and a real CollectGarbage from
// the third, which then still holds every file of what it retained.
func TestCollectGarbageDecidesAsTheCoordinator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := zaptest.NewLogger(t)
	st := storage.NewMem()
	rng := rand.New(rand.NewPCG(3, 4))
	files := newContents()

	// Generation 1 completes checkpoints 1-3, then generation 2 takes the
	// job over with its fence at 3, and generation 1, a zombie now,
	// completes 4 and 5.
	lease1, err := checkpoint.AcquireLease(ctx, st, checkpoint.LeaseConfig{Holder: checkpoint.Holder{Host: "a"}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer lease1.Close()
	local := t.TempDir()
	completed := make(chan *checkpoint.Metadata, 100)
	c, err := checkpoint.New(ctx, checkpoint.Config{
		Job: "gc", MaxParallelism: 128, Parallelism: 1, Interval: time.Millisecond, Timeout: time.Minute, Retained: 10,
		Generation: lease1.Generation(), LocalDir: local, Log: log,
		OnComplete: func(m *checkpoint.Metadata) { completed <- m },
	}, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := newFakeGraph(1)
	stop := runCoordinator(ctx, c, g)
	var db simDB
	checkpointOnce := func() *checkpoint.Metadata {
		t.Helper()
		db.flush(files, rng)
		if len(db.files) > 2 {
			db.compact(files, rng, 2)
		}
		id, err := g.next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c.TaskSnapshot(db.mustSnapshot(t, files, local, id, 0))
		c.SourceSnapshot(sourcePart(id))
		return await(t, ctx, completed, "a checkpoint")
	}
	var third *checkpoint.Metadata
	for range 3 {
		third = checkpointOnce()
	}
	lease2, err := checkpoint.AcquireLease(ctx, st, checkpoint.LeaseConfig{Holder: checkpoint.Holder{Host: "b"}, Log: log,
		Reclaimable: func(checkpoint.Holder) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	defer lease2.Close()
	if err := lease2.Fence(ctx, third.CheckpointID); err != nil {
		t.Fatal(err)
	}
	checkpointOnce()
	checkpointOnce()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A checkpoint that never completed, and a shared file nothing uses.
	put := func(key, data string) {
		if err := st.Put(ctx, key, strings.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	put(checkpoint.CheckpointDir(9)+"g1/keyed-0/MANIFEST-000001", "never completed")
	put("shared/"+strings.Repeat("0", 64)+".sst", "orphan")
	fences, err := checkpoint.LoadFences(ctx, st)
	if err != nil {
		t.Fatal(err)
	}

	before := keysOf(t, ctx, st)
	dry, real, byCoord := cloneStore(t, ctx, st), cloneStore(t, ctx, st), cloneStore(t, ctx, st)

	report, err := checkpoint.CollectGarbage(ctx, dry, checkpoint.GCOptions{Retained: 2, Fences: fences, DryRun: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, ctx, dry); !slices.Equal(got, before) {
		t.Errorf("a dry run changed the store: %d keys, had %d", len(got), len(before))
	}
	var reported []string
	for _, d := range report.Deleted {
		reported = append(reported, d.Key)
		if d.Size <= 0 || d.Reason == "" {
			t.Errorf("deletion %+v lacks its size or reason", d)
		}
	}
	slices.Sort(reported)
	if !slices.Equal(report.Retained, []int64{2, 3}) || !slices.Equal(report.Expired, []int64{1}) || !slices.Equal(report.Zombies, []int64{4, 5}) {
		t.Errorf("report: retained %v, expired %v, zombies %v; want [2 3], [1], [4 5]", report.Retained, report.Expired, report.Zombies)
	}
	for _, want := range []string{checkpoint.MetadataKey(1), checkpoint.MetadataKey(4), checkpoint.MetadataKey(5),
		checkpoint.CheckpointDir(9) + "g1/keyed-0/MANIFEST-000001", "shared/" + strings.Repeat("0", 64) + ".sst"} {
		if !slices.Contains(reported, want) {
			t.Errorf("the dry run does not report %s", want)
		}
	}

	// The coordinator of generation 2, restored from checkpoint 3.
	gcs := make(chan error, 10)
	c2, err := checkpoint.New(ctx, checkpoint.Config{
		Job: "gc", MaxParallelism: 128, Parallelism: 1, Interval: time.Hour, Timeout: time.Minute, Retained: 2,
		Generation: 2, Fence: third.CheckpointID, Fences: fences, LocalDir: t.TempDir(), Log: log,
		OnGC: func(err error) { gcs <- err },
	}, byCoord, third)
	if err != nil {
		t.Fatal(err)
	}
	stop2 := runCoordinator(ctx, c2, newFakeGraph(1))
	gcErr := await(t, ctx, gcs, "the start-up collection")
	if err := stop2(); err != nil || gcErr != nil {
		t.Fatalf("coordinator: %v, collection: %v", err, gcErr)
	}
	if got := deletedKeys(before, keysOf(t, ctx, byCoord)); !slices.Equal(got, reported) {
		t.Errorf("the coordinator deleted %d objects, the dry run reports %d:\ncoordinator: %v\ndry run:     %v", len(got), len(reported), got, reported)
	}

	if _, err := checkpoint.CollectGarbage(ctx, real, checkpoint.GCOptions{Retained: 2, Fences: fences, Log: log}); err != nil {
		t.Fatal(err)
	}
	if got := deletedKeys(before, keysOf(t, ctx, real)); !slices.Equal(got, reported) {
		t.Errorf("CollectGarbage deleted %v, its dry run reports %v", got, reported)
	}
	if err := checkRetained(ctx, real); err != nil {
		t.Error(err)
	}
}

func keysOf(t *testing.T, ctx context.Context, st storage.Store) []string {
	t.Helper()
	infos, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, in := range infos {
		keys = append(keys, in.Key)
	}
	return keys
}

// deletedKeys lists, sorted, the keys of before missing from after.
func deletedKeys(before, after []string) []string {
	var out []string
	for _, k := range before {
		if !slices.Contains(after, k) {
			out = append(out, k)
		}
	}
	return out
}

func cloneStore(t *testing.T, ctx context.Context, st storage.Store) storage.Store {
	t.Helper()
	out := storage.NewMem()
	for _, k := range keysOf(t, ctx, st) {
		rc, err := st.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := out.Put(ctx, k, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
