package inspect_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/inspect"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/ckptfixture"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stores runs f against the in-memory store and the file store.
func stores(t *testing.T, f func(t *testing.T, root storage.Store)) {
	t.Run("mem", func(t *testing.T) { f(t, storage.NewMem()) })
	t.Run("file", func(t *testing.T) {
		st, err := storage.NewFile(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f(t, st)
	})
}

// List shows every checkpoint and savepoint with its size, generation and
// validity, and the newest checkpoint as the one a start restores;
// Describe shows one's offsets, operators, files and pending transactions.
func TestListAndDescribe(t *testing.T) {
	stores(t, func(t *testing.T, root storage.Store) {
		ctx := context.Background()
		ms := ckptfixture.Write(t, root, ckptfixture.Options{Checkpoints: 3, Generation: 1})
		st := checkpoint.JobStore(root, ckptfixture.Name)
		if _, err := inspect.Export(ctx, st, st, ms[1], "before-upgrade", nil); err != nil {
			t.Fatal(err)
		}
		l, err := inspect.List(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Checkpoints) != 3 || len(l.Savepoints) != 1 || l.Savepoints[0].Name != "savepoints/before-upgrade" {
			t.Fatalf("List: %d checkpoints, savepoints %+v", len(l.Checkpoints), l.Savepoints)
		}
		for i, e := range l.Checkpoints {
			if !e.Valid || e.Problem != "" || e.Generation != 1 || e.Size != ms[i].StateSize() || e.Incremental <= 0 || e.CompletedAt.IsZero() {
				t.Errorf("checkpoint %s: %+v", e.Name, e)
			}
			if want := i == 2; e.Restore != want {
				t.Errorf("checkpoint %s: restore %v, want %v", e.Name, e.Restore, want)
			}
		}
		if last := l.Checkpoints[2]; last.Incremental >= last.Size {
			t.Errorf("checkpoint 3 is incremental: %d of %d bytes new", last.Incremental, last.Size)
		}
		if l.Restore != l.Checkpoints[2].Name || l.RestoreError != "" || l.Lease.Generation != 0 {
			t.Errorf("restore %q (%q), lease %+v", l.Restore, l.RestoreError, l.Lease)
		}

		d, err := inspect.Describe(ctx, st, "chk-0000000002")
		if err != nil {
			t.Fatal(err)
		}
		if d.Name != "2" || !d.Valid || len(d.Missing) != 0 || d.Restore || d.Job != ckptfixture.Name ||
			!slices.Equal(d.Operators, ckptfixture.Topology) || len(d.Partitions) != 2 || len(d.Tasks) != ckptfixture.Parallelism {
			t.Fatalf("Describe 2: %+v", d)
		}
		var size int64
		for _, task := range d.Tasks {
			size += task.Size
			if len(task.Files) == 0 || task.KeyGroups[1] <= task.KeyGroups[0] {
				t.Errorf("task %+v", task)
			}
			for _, f := range task.Files {
				if !f.Stored || f.Shared != strings.HasSuffix(f.Name, ".sst") {
					t.Errorf("file %+v", f)
				}
			}
		}
		if size != d.Size || d.Partitions[0].Offset != 80 {
			t.Errorf("tasks hold %d bytes, the entry %d; partition 0 at %d, want 80", size, d.Size, d.Partitions[0].Offset)
		}
		sp, err := inspect.Describe(ctx, st, "before-upgrade")
		if err != nil || sp.Savepoint != "before-upgrade" || sp.CheckpointID != 2 || len(sp.Missing) != 0 {
			t.Fatalf("Describe the savepoint: %+v, %v", sp, err)
		}
		if _, err := inspect.Describe(ctx, st, "17"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Describe a checkpoint that is not there: %v", err)
		}
		// A file deleted behind the job's back.
		if err := st.Delete(ctx, d.Tasks[0].Files[0].Key); err != nil {
			t.Fatal(err)
		}
		if d, err = inspect.Describe(ctx, st, "2"); err != nil || d.Valid || len(d.Missing) != 1 {
			t.Errorf("Describe with a file missing: valid %v, missing %v, %v", d.Valid, d.Missing, err)
		}
	})
}

// A checkpoint that an instance completed after it had lost the job is
// listed as invalid, and a start would restore the one before; with the
// newest metadata corrupted, List says a start refuses and what
// --fallback restores.
func TestListValidity(t *testing.T) {
	stores(t, func(t *testing.T, root storage.Store) {
		ctx := context.Background()
		st := checkpoint.JobStore(root, ckptfixture.Name)
		takeOver(t, st, 0).Close() // generation 1 writes the checkpoints
		ckptfixture.Write(t, root, ckptfixture.Options{Checkpoints: 3, Generation: 1})
		takeOver(t, st, 2).Close() // generation 2 started at checkpoint 2: 3 is a zombie's
		l, err := inspect.List(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if z := l.Checkpoints[2]; z.Valid || !strings.Contains(z.Problem, "zombie") || z.Restore {
			t.Errorf("the zombie's checkpoint: %+v", z)
		}
		if l.Restore != "2" || !l.Checkpoints[1].Restore {
			t.Errorf("restore %q, want 2", l.Restore)
		}
		if l.Lease.Generation != 2 || l.Lease.Released || l.Lease.Heartbeats < 1 || l.Lease.Holder.PID != 42 {
			t.Errorf("lease %+v", l.Lease)
		}

		data := []byte(`{"format":"tidemark-checkpoint","version":2,"sha256":"00","body":{}}`)
		if err := st.Put(ctx, checkpoint.MetadataKey(2), bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		l, err = inspect.List(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if l.Restore != "" || !strings.Contains(l.RestoreError, "--fallback") || l.FallbackRestore != "1" || l.Checkpoints[1].Valid {
			t.Errorf("with checkpoint 2 corrupted: restore %q, error %q, fallback %q, entry %+v", l.Restore, l.RestoreError, l.FallbackRestore, l.Checkpoints[1])
		}
	})
}

// takeOver claims the job's lease at once (as a new instance on the host
// of a dead one does) and writes its fence.
func takeOver(t *testing.T, st storage.Store, fence int64) *checkpoint.Lease {
	t.Helper()
	l, err := checkpoint.AcquireLease(context.Background(), st, checkpoint.LeaseConfig{
		Holder: checkpoint.Holder{Host: "other", PID: 42}, Timeout: 100 * time.Millisecond,
		Reclaimable: func(checkpoint.Holder) bool { return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Fence(context.Background(), fence); err != nil {
		t.Fatal(err)
	}
	return l
}

// Collect: a dry run reports what retention deletes and deletes nothing;
// a real run refuses while a live instance renews the job's lease, naming
// it, takes over the lease of a dead one, deletes what the dry run
// reported, and releases the lease.
func TestCollect(t *testing.T) {
	stores(t, func(t *testing.T, root storage.Store) {
		ctx := context.Background()
		ckptfixture.Write(t, root, ckptfixture.Options{Checkpoints: 4})
		st := checkpoint.JobStore(root, ckptfixture.Name)
		log := zaptest.NewLogger(t)
		o := inspect.CollectOptions{Retained: 2, DryRun: true, Holder: checkpoint.Holder{Host: "cli"}, LeaseTimeout: 200 * time.Millisecond, Log: log}
		dry, err := inspect.Collect(ctx, st, o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(dry.Expired, []int64{1, 2}) || len(dry.Deleted) == 0 || dry.Bytes() <= 0 {
			t.Fatalf("dry run: expired %v, %d deletions of %d bytes", dry.Expired, len(dry.Deleted), dry.Bytes())
		}
		if _, err := st.Stat(ctx, checkpoint.MetadataKey(1)); err != nil {
			t.Fatalf("the dry run deleted: %v", err)
		}

		live, err := checkpoint.AcquireLease(ctx, st, checkpoint.LeaseConfig{Holder: checkpoint.Holder{Host: "node-7", PID: 99}, Timeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		o.DryRun = false
		_, err = inspect.Collect(ctx, st, o)
		if !errors.Is(err, inspect.ErrJobRunning) || !strings.Contains(err.Error(), "node-7") {
			t.Errorf("collect while an instance runs: %v, want ErrJobRunning naming node-7", err)
		}
		if _, err := st.Stat(ctx, checkpoint.MetadataKey(1)); err != nil {
			t.Fatalf("a refused collection deleted: %v", err)
		}
		live.Close() // a crash: the heartbeat stands still from now on

		got, err := inspect.Collect(ctx, st, o)
		if err != nil {
			t.Fatalf("collect after the holder died: %v", err)
		}
		if len(got.Deleted) != len(dry.Deleted) {
			t.Errorf("deleted %d objects, the dry run said %d", len(got.Deleted), len(dry.Deleted))
		}
		for _, d := range dry.Deleted {
			if _, err := st.Stat(ctx, d.Key); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s (%s) is still there: %v", d.Key, d.Reason, err)
			}
		}
		if s, err := checkpoint.ReadLease(ctx, st); err != nil || !s.Released || s.Holder.Host != "cli" {
			t.Errorf("lease after collection: %+v, %v; want released by cli", s, err)
		}
	})
}

// Export copies a checkpoint, self-contained, to another store: listed
// there as a savepoint with every file present; a corrupted source file
// fails the export and leaves no savepoint.
func TestExport(t *testing.T) {
	stores(t, func(t *testing.T, root storage.Store) {
		ctx := context.Background()
		ms := ckptfixture.Write(t, root, ckptfixture.Options{Checkpoints: 2})
		src := checkpoint.JobStore(root, ckptfixture.Name)
		dstRoot, err := storage.NewFile(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		dst := checkpoint.JobStore(dstRoot, ckptfixture.Name)
		var last, total int64
		dir, err := inspect.Export(ctx, src, dst, ms[1], inspect.ExportName(ms[1]), func(done, all int64) { last, total = done, all })
		if err != nil {
			t.Fatal(err)
		}
		if dir != "savepoints/checkpoint-2/" || last != total || total != ms[1].StateSize() {
			t.Errorf("export to %s, progress %d of %d, want %d", dir, last, total, ms[1].StateSize())
		}
		d, err := inspect.Describe(ctx, dst, "savepoints/checkpoint-2")
		if err != nil || len(d.Missing) != 0 || d.CheckpointID != 2 || !d.Valid {
			t.Fatalf("the export: %+v, %v", d, err)
		}

		var f checkpoint.FileHandle
		for _, h := range ms[1].Tasks[0].Files {
			if strings.HasSuffix(h.Name, ".sst") {
				f = h
			}
		}
		junk := bytes.Repeat([]byte{'x'}, int(f.Size))
		if err := src.Put(ctx, f.Key, bytes.NewReader(junk), f.Size); err != nil {
			t.Fatal(err)
		}
		if _, err := inspect.Export(ctx, src, dst, ms[1], "broken", nil); !errors.Is(err, checkpoint.ErrStateCorrupt) || !strings.Contains(err.Error(), f.Key) {
			t.Errorf("export of a corrupted checkpoint: %v, want ErrStateCorrupt naming %s", err, f.Key)
		}
		l, err := inspect.List(ctx, dst)
		if err != nil || len(l.Savepoints) != 1 || !slices.Equal(l.PartialSavepoints, []string{"broken"}) {
			t.Errorf("after a failed export: savepoints %+v, partial %v, %v", l.Savepoints, l.PartialSavepoints, err)
		}
	})
}
