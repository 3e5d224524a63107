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
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/sink"
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

// fakeRecovery examines every checkpoint's pending transactions as verdict
// says and records what the job asks it to execute.
type fakeRecovery struct {
	verdicts func() []sink.Examined
	executed []sink.Plan
}

func (f *fakeRecovery) Examine(context.Context, []operators.Transaction) ([]sink.Examined, error) {
	return f.verdicts(), nil
}

func (f *fakeRecovery) Execute(_ context.Context, p sink.Plan, _ []sink.Examined, _ []sink.Pool) error {
	f.executed = append(f.executed, p)
	return nil
}

// TestSettleFallback: when the newest checkpoint's transactions turn out
// lost but an older checkpoint's output is whole, the job records that
// decision as a new checkpoint holding the older one's state and restores
// it; with no such checkpoint it fails with the loss.
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
	older, err := checkpoint.FindRestorePoint(ctx, mem, checkpoint.RestoreOptions{From: fmt.Sprint(ids[len(ids)-2])})
	if err != nil {
		t.Fatal(err)
	}
	lostAfter := func(after int64) func() []sink.Examined {
		return func() []sink.Examined {
			return []sink.Examined{{Verdict: sink.Lost, Transaction: operators.Transaction{TransactionalID: "t", After: after, Checkpoint: newest.CheckpointID}}}
		}
	}
	spec := func(rec *fakeRecovery) job.Spec {
		h2 := newHarness(t, parts, mem)
		h2.target = -1
		s := h2.spec(10 * time.Millisecond)
		s.Recovery = rec
		return s
	}
	// Lost records from before every retained checkpoint: the job does
	// not start, and says what is lost.
	var lost *sink.LostError
	if err := job.New(spec(&fakeRecovery{verdicts: lostAfter(0)})).Run(ctx); !errors.As(err, &lost) {
		t.Fatalf("Run = %v, want a LostError", err)
	}
	// Lost records after the older checkpoint: it is restored, through a
	// new checkpoint that records the decision.
	rec := &fakeRecovery{verdicts: lostAfter(older.CheckpointID)}
	restored := make(chan struct{}, 1)
	j := job.New(spec(rec))
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
	if len(rec.executed) != 1 || rec.executed[0].Restore != older.CheckpointID {
		t.Fatalf("executed %+v, want a restore of checkpoint %d", rec.executed, older.CheckpointID)
	}
	rebased, err := checkpoint.FindRestorePoint(ctx, mem, checkpoint.RestoreOptions{From: fmt.Sprint(newest.CheckpointID + 1)})
	if err != nil {
		t.Fatalf("the decision was not recorded as checkpoint %d: %v", newest.CheckpointID+1, err)
	}
	if rebased.Origin != fmt.Sprintf("fallback:%d", older.CheckpointID) || consumed(rebased) != consumed(older) {
		t.Errorf("recorded checkpoint: origin %q, %d records consumed; want the state of checkpoint %d (%d consumed)",
			rebased.Origin, consumed(rebased), older.CheckpointID, consumed(older))
	}
}

// lostLease is a job lease a newer instance takes over after passes
// checks.
type lostLease struct {
	passes int
	lost   chan struct{}
}

func (l *lostLease) Generation() int64 { return 1 }
func (l *lostLease) Check(context.Context) error {
	if l.passes > 0 {
		l.passes--
		return nil
	}
	return fmt.Errorf("%w: generation 2 took the job over", checkpoint.ErrZombie)
}
func (l *lostLease) Fence(context.Context, int64) error { return nil }
func (l *lostLease) Lost() <-chan struct{}              { return l.lost }

// TestZombieDoesNotRecover: an instance whose lease a newer one took (it
// was paused, or is restarting after a failure) stops as a zombie, naming
// the takeover, before recovery writes a checkpoint or commits or aborts
// any transaction — whether the takeover is seen at the start of an
// attempt, after the restore point was chosen, or after the attempt failed
// for another reason.
func TestZombieDoesNotRecover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	parts := input(29, 4, 4000, 300)
	mem := storage.NewMem()
	h := newHarness(t, parts, mem)
	h.target = -1
	var n int
	h.runUntil(ctx, job.New(h.spec(10*time.Millisecond)), func(*checkpoint.Metadata) bool { n++; return n >= 3 })
	next, err := checkpoint.NextID(ctx, mem)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		passes int
		from   string
	}{
		{"taken over before the attempt", 0, fmt.Sprint(next - 1)},
		{"taken over while choosing the restore point", 1, fmt.Sprint(next - 1)},
		{"taken over, and the attempt failed", 1, "999"},
	} {
		rec := &fakeRecovery{verdicts: func() []sink.Examined { return nil }}
		h2 := newHarness(t, parts, mem)
		h2.target = -1
		spec := h2.spec(10 * time.Millisecond)
		spec.Recovery = rec
		spec.Restore = checkpoint.RestoreOptions{From: tc.from}
		lease := &lostLease{passes: tc.passes, lost: make(chan struct{})}
		close(lease.lost)
		spec.Owner = lease
		if err := job.New(spec).Run(ctx); !errors.Is(err, checkpoint.ErrZombie) {
			t.Errorf("%s: Run = %v, want a zombie error", tc.name, err)
		}
		if len(rec.executed) > 0 {
			t.Errorf("%s: the zombie settled transactions: %+v", tc.name, rec.executed)
		}
		if after, err := checkpoint.NextID(ctx, mem); err != nil || after != next {
			t.Errorf("%s: the zombie wrote checkpoints: next id %d, was %d (%v)", tc.name, after, next, err)
		}
	}
}
