package job_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/builtin"
	"github.com/tidemark/tidemark/operators/state"
)

// rejectOdd is a source-chain operator that rejects every record whose
// value is an odd number: they travel to the keyed task as dead letters.
type rejectOdd struct {
	operators.Base
	reject func(operators.Record, error)
}

func (r *rejectOdd) Open(_ context.Context, oc operators.OpenContext) error {
	r.reject = oc.Reject
	return nil
}

func (r *rejectOdd) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for _, rec := range recs {
		if n, _ := strconv.Atoi(string(rec.Value)); n%2 == 1 {
			r.reject(rec, errors.New("odd"))
			continue
		}
		out.Emit(rec)
	}
	return nil
}

// letterCount counts records and, as the chain's dead-letter sink, dead
// letters per key in its state, so that a restore that loses either shows.
type letterCount struct {
	operators.Base
	recs, dead *state.Value[int64]
}

func (c *letterCount) Open(_ context.Context, oc operators.OpenContext) error {
	c.recs = state.NewValue(oc.State, oc.Name, "records", state.Int64{})
	c.dead = state.NewValue(oc.State, oc.Name, "dead", state.Int64{})
	return nil
}

func add(v *state.Value[int64], key []byte) error {
	n, _, err := v.Get(key)
	if err != nil {
		return err
	}
	return v.Put(key, n+1)
}

func (c *letterCount) Process(_ context.Context, recs []operators.Record, _ operators.Collector) error {
	for _, r := range recs {
		if err := add(c.recs, r.Key); err != nil {
			return err
		}
	}
	return nil
}

func (c *letterCount) DeadLetters(_ context.Context, dls []operators.DeadLetter) error {
	for _, d := range dls {
		if err := add(c.dead, d.Record.Key); err != nil {
			return err
		}
	}
	return nil
}

// TestUnalignedCheckpointKeepsDeadLetters: dead letters that reach a task
// from an input whose barrier has not come yet, after the task snapshotted
// an unaligned checkpoint, are part of that checkpoint's in-flight data
// like records: a restore from it replays them to the dead-letter sink, and
// the job ends with the uninterrupted run's state (records and dead letters
// counted once each).
func TestUnalignedCheckpointKeepsDeadLetters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	parts := input(19, 2, 400, 50)
	n := total(parts)
	spec := func(h *harness) job.Spec {
		s := h.spec(10 * time.Millisecond)
		s.Parallelism = 1 // every key, and so every dead letter, is the one task's
		s.SourceChain = []operators.OperatorSpec{{Name: "reject-odd", New: func(int) (operators.Operator, error) { return &rejectOdd{}, nil }}}
		s.Chain = []operators.OperatorSpec{{Name: "letters", New: func(int) (operators.Operator, error) { return &letterCount{}, nil }}}
		return s
	}
	ref := newHarness(t, parts, storage.NewMem())
	refEnd := ref.runUntil(ctx, job.New(spec(ref)), func(m *checkpoint.Metadata) bool { return consumed(m) == n })
	want := dump(t, ref.store, refEnd)

	h := newHarness(t, parts, storage.NewMem())
	h.target = -1
	s := spec(h)
	s.AlignmentTimeout = 5 * time.Millisecond
	newSources := s.NewSources
	s.NewSources = func() ([]operators.Source, error) {
		srcs, err := newSources()
		if err == nil {
			slow := srcs[1].(*builtin.SliceSource)
			// Eight consecutive records per poll: four of them odd.
			slow.BatchSize = 8
			srcs[1] = &slowSource{SliceSource: slow, delay: 30 * time.Millisecond}
		}
		return srcs, err
	}
	mid := h.runUntil(ctx, job.New(s), func(m *checkpoint.Metadata) bool {
		return m.Unaligned && m.Tasks[0].InFlight != nil && consumed(m) < n
	})
	t.Logf("unaligned checkpoint %d with in-flight data (%d bytes), %d of %d consumed", mid.CheckpointID, mid.Tasks[0].InFlight.Size, consumed(mid), n)

	h.stateDir = t.TempDir()
	end := h.runUntil(ctx, job.New(s), func(m *checkpoint.Metadata) bool {
		return m.Tasks[0].InFlight == nil && consumed(m) == n
	})
	if got := dump(t, h.store, end); string(got) != string(want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Logf("first difference at line %d:\n got %s\nwant %s", i, gl[i], wl[i])
				break
			}
		}
		t.Fatalf("state restored from an unaligned checkpoint differs from the uninterrupted run's (%d vs %d lines): in-flight dead letters lost or doubled", len(gl), len(wl))
	}
}
