package checkpoint_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
)

func putString(t *testing.T, st storage.Store, key, data string) {
	t.Helper()
	if err := st.Put(context.Background(), key, strings.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

// savepointNames lists the savepoint directories left in st.
func savepointNames(t *testing.T, st storage.Store) (complete, partial []string) {
	t.Helper()
	l, err := checkpoint.List(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return l.Savepoints, l.PartialSavepoints
}

// TestSavepointRetention: collection with savepoints keeps the newest
// savepoints.retained complete savepoints (by completion time, whatever
// their names), deletes the older ones, metadata first, and deletes
// every partial savepoint; a dry run only reports; retained 0 keeps all.
func TestSavepointRetention(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMem()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Names sort opposite to their age: retention goes by time.
	for i, name := range []string{"zz-oldest", "mm-middle", "aa-newest"} {
		putString(t, st, "savepoints/"+name+"/keyed-0/000001.sst", "state of "+name)
		data, err := checkpoint.EncodeMetadata(&checkpoint.Metadata{Job: "j", CheckpointID: int64(10 + i), Savepoint: name,
			TriggeredAt: base.Add(time.Duration(i) * time.Minute), CompletedAt: base.Add(time.Duration(i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		putString(t, st, "savepoints/"+name+"/_metadata", string(data))
	}
	putString(t, st, "savepoints/cut-short/keyed-0/000001.sst", "half a copy")
	putString(t, st, "savepoints/cut-short/keyed-1/000002.sst", "half a copy")

	r, err := checkpoint.CollectGarbage(ctx, st, checkpoint.GCOptions{Retained: 1, Savepoints: true, SavepointsRetained: 0, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ExpiredSavepoints) != 0 || !slices.Equal(r.PartialSavepoints, []string{"cut-short"}) || len(r.Deleted) != 2 {
		t.Fatalf("dry run, retained 0: %+v", r)
	}
	r, err = checkpoint.CollectGarbage(ctx, st, checkpoint.GCOptions{Retained: 1, Savepoints: true, SavepointsRetained: 2, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.ExpiredSavepoints, []string{"zz-oldest"}) || !slices.Equal(r.PartialSavepoints, []string{"cut-short"}) {
		t.Fatalf("dry run, retained 2: %+v", r)
	}
	if r.Deleted[0].Key != "savepoints/zz-oldest/_metadata" || !strings.Contains(r.Deleted[0].Reason, "savepoints.retained") {
		t.Errorf("an expired savepoint's metadata goes first: %+v", r.Deleted)
	}
	if c, p := savepointNames(t, st); len(c) != 3 || len(p) != 1 {
		t.Fatalf("a dry run deleted: %v %v", c, p)
	}
	if _, err := checkpoint.CollectGarbage(ctx, st, checkpoint.GCOptions{Retained: 1, Savepoints: true, SavepointsRetained: 2}); err != nil {
		t.Fatal(err)
	}
	c, p := savepointNames(t, st)
	if !slices.Equal(c, []string{"aa-newest", "mm-middle"}) || len(p) != 0 {
		t.Fatalf("after collection: complete %v, partial %v", c, p)
	}
	if infos, _ := st.List(ctx, "savepoints/zz-oldest/"); len(infos) != 0 {
		t.Errorf("expired savepoint left %d files", len(infos))
	}
	// Without the savepoints option nothing of theirs goes.
	putString(t, st, "savepoints/cut-again/keyed-0/000001.sst", "half a copy")
	r, err = checkpoint.CollectGarbage(ctx, st, checkpoint.GCOptions{Retained: 1, SavepointsRetained: 1})
	if err != nil || len(r.Deleted) != 0 {
		t.Fatalf("collection without savepoints: %+v %v", r, err)
	}
}
