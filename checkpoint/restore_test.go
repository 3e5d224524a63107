package checkpoint_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/operators"
)

// withState gives m's task 0 one state file holding data, stored in st.
func withState(t *testing.T, st storage.Store, m *checkpoint.Metadata, data []byte) *checkpoint.Metadata {
	t.Helper()
	key := "shared/" + sha(data) + ".sst"
	put(t, st, key, data)
	m.Tasks[0].Files = []checkpoint.FileHandle{{Name: "000005.sst", Key: key, Size: int64(len(data)), SHA256: sha(data)}}
	putMeta(t, st, m)
	return m
}

// TestTruncatedStateFileIsNotMetadataCorruption: a state file cut short in
// the store is reported as that file of that checkpoint, not as corrupted
// metadata, with the older checkpoints that could be restored instead.
func TestTruncatedStateFileIsNotMetadataCorruption(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMem()
	withState(t, st, sample(3), []byte("state of checkpoint 3"))
	withState(t, st, sample(5), []byte("state of checkpoint 5"))
	m := withState(t, st, sample(8), []byte("state of checkpoint 8, which will be truncated"))
	put(t, st, m.Tasks[0].Files[0].Key, []byte("state of checkpoint 8"))

	_, _, err := checkpoint.PrepareTask(ctx, st, m, operators.TaskID{Stage: "keyed"}, t.TempDir(), filepath.Join(t.TempDir(), "r"))
	if !errors.Is(err, checkpoint.ErrStateCorrupt) || errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("got %v, want ErrStateCorrupt and not ErrCorrupt", err)
	}
	msg := err.Error()
	for _, want := range []string{"state file " + m.Tasks[0].Files[0].Key + " of checkpoint 8 is corrupted", "21 bytes", "the metadata says 46 bytes",
		"the metadata is intact", "processor run --from 5", "retained, newest first: 5, 3", "written again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message does not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "metadata corrupted") {
		t.Errorf("message blames the metadata:\n%s", msg)
	}

	// A missing file likewise; with no older checkpoint, say so.
	st2 := storage.NewMem()
	m2 := withState(t, st2, sample(2), []byte("state"))
	if err := st2.Delete(ctx, m2.Tasks[0].Files[0].Key); err != nil {
		t.Fatal(err)
	}
	_, _, err = checkpoint.PrepareTask(ctx, st2, m2, operators.TaskID{Stage: "keyed"}, t.TempDir(), filepath.Join(t.TempDir(), "r"))
	if !errors.Is(err, checkpoint.ErrStateCorrupt) || !strings.Contains(err.Error(), "is missing from the checkpoint storage") ||
		!strings.Contains(err.Error(), "No older checkpoint is retained") {
		t.Errorf("missing file: %v", err)
	}
}

// TestFallbackWarnsOutputIsWrittenAgain: --fallback past a corrupted
// newest checkpoint says that the output since the one restored is written
// again.
func TestFallbackWarnsOutputIsWrittenAgain(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMem()
	putMeta(t, st, sample(3))
	putMeta(t, st, sample(5))
	put(t, st, checkpoint.MetadataKey(5), []byte("not metadata"))
	core, logs := observer.New(zap.WarnLevel)
	m, err := checkpoint.FindRestorePoint(ctx, st, checkpoint.RestoreOptions{Fallback: true, Log: zap.New(core)})
	if err != nil || m.CheckpointID != 3 {
		t.Fatalf("got %v, %v; want checkpoint 3", m, err)
	}
	warned := logs.FilterMessageSnippet("written again").All()
	if len(warned) != 1 || warned[0].ContextMap()["checkpoint"] != int64(3) || warned[0].ContextMap()["newest"] != int64(5) {
		t.Errorf("warnings: %+v, want one saying output since checkpoint 3 is written again", logs.All())
	}
	// Restoring the newest warns of nothing.
	core, logs = observer.New(zap.WarnLevel)
	putMeta(t, st, sample(5))
	if _, err := checkpoint.FindRestorePoint(ctx, st, checkpoint.RestoreOptions{Fallback: true, Log: zap.New(core)}); err != nil || logs.Len() != 0 {
		t.Errorf("newest intact: %v, warnings %+v", err, logs.All())
	}
}
