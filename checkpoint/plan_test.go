package checkpoint_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
)

// TestPlanRestoreSameFromAfterCollection: a container restarted with the
// same --from after the named checkpoint (or savepoint) is gone restores
// the newest checkpoint, which descends from that restore, instead of
// failing for good; a gone checkpoint the lineage does not descend from is
// still an error.
func TestPlanRestoreSameFromAfterCollection(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ origin, from string }{
		{"checkpoint:3", "3"},
		{"checkpoint:3", "chk-0000000003"},
		{"savepoint:upgrade", "savepoints/upgrade/"},
		{"savepoint:upgrade", "upgrade"},
	} {
		st := storage.NewMem()
		// The restore was recorded as checkpoint 4; 4 and 5 are
		// retained, the named one is gone.
		for _, id := range []int64{4, 5} {
			m := sample(id)
			m.Origin = tc.origin
			data, err := checkpoint.EncodeMetadata(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.PutIfAbsent(ctx, checkpoint.MetadataKey(id), bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}
		}
		p, err := checkpoint.PlanRestore(ctx, st, checkpoint.RestoreOptions{From: tc.from})
		if err != nil {
			t.Fatalf("--from %s with origin %s: %v", tc.from, tc.origin, err)
		}
		if !p.AlreadyRestored || p.Named || p.Target == nil || p.Target.CheckpointID != 5 {
			t.Errorf("--from %s with origin %s: target %v, already restored %v, named %v; want checkpoint 5, already restored",
				tc.from, tc.origin, p.Target, p.AlreadyRestored, p.Named)
		}
		if _, err := checkpoint.PlanRestore(ctx, st, checkpoint.RestoreOptions{From: "2"}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("--from 2 (gone, not an origin): %v, want not found", err)
		}
	}
}
