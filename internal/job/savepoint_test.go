package job_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/job"
)

// TestSavepoint: a savepoint taken mid-run is self-contained, survives the
// collection of every checkpoint it came from, and a job restored from it
// ends with the uninterrupted run's state.
func TestSavepoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	parts := input(21, 4, 4000, 300)
	n := total(parts)
	want := reference(t, ctx, parts)

	mem := storage.NewMem()
	h := newHarness(t, parts, mem)
	h.target = -1
	spec := h.spec(10 * time.Millisecond)
	spec.Checkpoint.Retained = 1
	spec.Checkpoint.GCSafetyMargin = time.Nanosecond
	j := job.New(spec)
	stop, _ := run(ctx, j)
	<-h.complete
	dir, err := j.Savepoint(ctx, "before-upgrade")
	if err != nil {
		t.Fatal(err)
	}
	if dir != "savepoints/before-upgrade/" {
		t.Errorf("savepoint dir %q", dir)
	}
	if _, err := j.Savepoint(ctx, "before-upgrade"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second savepoint of one name: %v", err)
	}
	// Run on until every record is in, with many checkpoints collected.
	for m := range h.complete {
		if consumed(m) == n {
			break
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	sp, err := checkpoint.FindRestorePoint(ctx, mem, checkpoint.RestoreOptions{From: "savepoints/before-upgrade"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range sp.Tasks {
		for _, f := range ts.Files {
			if !strings.HasPrefix(f.Key, dir) {
				t.Errorf("savepoint references %s outside itself", f.Key)
			}
			if _, err := mem.Stat(ctx, f.Key); err != nil {
				t.Errorf("savepoint file %s: %v", f.Key, err)
			}
		}
	}
	t.Logf("savepoint of checkpoint %d: %d of %d records consumed", sp.CheckpointID, consumed(sp), n)

	h2 := newHarness(t, parts, mem)
	h2.target = n - consumed(sp)
	spec2 := h2.spec(10 * time.Millisecond)
	spec2.Restore = checkpoint.RestoreOptions{From: "before-upgrade"}
	end := h2.runUntil(ctx, job.New(spec2), func(m *checkpoint.Metadata) bool { return consumed(m) == n })
	if got := h2.processed.Load(); got != n-consumed(sp) {
		t.Errorf("restored from the savepoint, processed %d records, want %d", got, n-consumed(sp))
	}
	if got := dump(t, mem, end); string(got) != string(want) {
		t.Fatal("state restored from the savepoint differs from the uninterrupted run's")
	}
}

// TestDrain: a clean stop takes a final checkpoint after which the sources
// read nothing; a restart goes on from exactly there.
func TestDrain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	parts := input(22, 4, 20000, 300)
	n := total(parts)
	want := reference(t, ctx, parts)

	mem := storage.NewMem()
	h := newHarness(t, parts, mem)
	h.target = -1
	spec := h.spec(time.Hour) // only the final checkpoint
	j := job.New(spec)
	ready := make(chan struct{}, 1)
	j.SetOnReady(func() { ready <- struct{}{} })
	stop, _ := run(ctx, j)
	<-ready
	if err := j.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	processed := h.processed.Load()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	final, err := checkpoint.FindRestorePoint(ctx, mem, checkpoint.RestoreOptions{})
	if err != nil || final == nil {
		t.Fatalf("no final checkpoint: %v", err)
	}
	if consumed(final) != processed {
		t.Errorf("final checkpoint consumed %d records, the job processed %d", consumed(final), processed)
	}
	t.Logf("drained after %d of %d records", processed, n)

	h2 := newHarness(t, parts, mem)
	h2.target = -1
	end := h2.runUntil(ctx, job.New(h2.spec(10*time.Millisecond)), func(m *checkpoint.Metadata) bool { return consumed(m) == n })
	if got := h2.processed.Load(); got != n-processed {
		t.Errorf("after the restart processed %d records, want %d", got, n-processed)
	}
	if got := dump(t, mem, end); string(got) != string(want) {
		t.Fatal("state after a drain and restart differs from the uninterrupted run's")
	}
}

// TestSettleFallback: when settling the newest checkpoint's transactions
// says they are lost but an older checkpoint's output is whole, the job
// restores the older one; with no fallback it fails with the error.
func TestSettleFallback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	parts := input(23, 4, 4000, 300)
	n := total(parts)
	mem := storage.NewMem()
	h := newHarness(t, parts, mem)
	h.target = -1
	var ids []int64
	h.runUntil(ctx, job.New(h.spec(10*time.Millisecond)), func(m *checkpoint.Metadata) bool {
		ids = append(ids, m.CheckpointID)
		return len(ids) >= 3 && consumed(m) < n
	})
	newest, err := checkpoint.FindRestorePoint(ctx, mem, checkpoint.RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	older := ids[len(ids)-2]
	if older >= newest.CheckpointID {
		t.Fatalf("checkpoints %v, newest %d", ids, newest.CheckpointID)
	}
	lost := errors.New("transactions lost")
	var settled []string
	spec := func(fallback int64) job.Spec {
		h2 := newHarness(t, parts, mem)
		h2.target = -1
		s := h2.spec(10 * time.Millisecond)
		s.Settle = func(_ context.Context, m *checkpoint.Metadata, committed bool) (int64, error) {
			settled = append(settled, fmt.Sprintf("%d/%v", m.CheckpointID, committed))
			if m.CheckpointID == newest.CheckpointID {
				// As the runner marks a sink.LostError: no restart cures it.
				return fallback, job.Permanent(lost)
			}
			return 0, nil
		}
		return s
	}
	// No fallback: the job does not start.
	if err := job.New(spec(0)).Run(ctx); !errors.Is(err, lost) {
		t.Fatalf("Run = %v, want the settle error", err)
	}
	// A fallback: the older checkpoint is restored and its transactions
	// are taken as committed.
	settled = nil
	s := spec(older)
	restored := make(chan struct{}, 1)
	j := job.New(s)
	j.SetOnReady(func() { restored <- struct{}{} })
	stop, errc := run(ctx, j)
	select {
	case <-restored:
	case err := <-errc:
		t.Fatalf("job ended: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("%d/false", newest.CheckpointID), fmt.Sprintf("%d/true", older)}
	if fmt.Sprint(settled) != fmt.Sprint(want) {
		t.Errorf("settled %v, want %v", settled, want)
	}
}
