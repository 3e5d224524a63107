package job_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/operators"
)

// notifyLog records the checkpoints whose completion reached the operator
// (where a sink would commit).
type notifyLog struct {
	operators.Base
	mu  *sync.Mutex
	ids *[]int64
}

func (n *notifyLog) NotifyCheckpointComplete(_ context.Context, id int64) error {
	n.mu.Lock()
	*n.ids = append(*n.ids, id)
	n.mu.Unlock()
	return nil
}

// TestZombieCommitsNothing (issue 7.4): an instance that lost the job's
// lease while paused writes the metadata of the checkpoint it was taking
// when it wakes up, but tells no task it is complete (no sink commits),
// stops with ErrZombie, and that checkpoint is never restored.
func TestZombieCommitsNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mem := storage.NewMem()
	lease := func(name string, reclaim bool) *checkpoint.Lease {
		cfg := checkpoint.LeaseConfig{Holder: checkpoint.Holder{Host: name}, Timeout: time.Hour, Wait: true, Log: zaptest.NewLogger(t)}
		if reclaim {
			cfg.Reclaimable = func(checkpoint.Holder) bool { return true }
		}
		l, err := checkpoint.AcquireLease(ctx, mem, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l
	}
	a := lease("a", false)
	h := newHarness(t, input(31, 2, 200_000, 10), mem)
	h.target = -1
	spec := h.spec(20 * time.Millisecond)
	var mu sync.Mutex
	var notified []int64
	spec.Chain = append(spec.Chain, operators.OperatorSpec{Name: "log", New: func(int) (operators.Operator, error) {
		return &notifyLog{mu: &mu, ids: &notified}, nil
	}})
	spec.Owner = a
	ja := job.New(spec)
	errc := make(chan error, 1)
	go func() { errc <- ja.Run(ctx) }()
	for range 3 {
		<-h.complete
	}
	// a pauses (stops renewing); b takes the job over and fences at the
	// newest checkpoint it sees.
	a.Close()
	b := lease("b", true)
	plan, err := checkpoint.PlanRestore(ctx, mem, checkpoint.RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fence := plan.Newest.CheckpointID
	if err := b.Fence(ctx, fence); err != nil {
		t.Fatal(err)
	}
	// a carries on and learns at its next checkpoint that it is a zombie.
	select {
	case err := <-errc:
		if !errors.Is(err, checkpoint.ErrZombie) {
			t.Fatalf("a ended with %v, want ErrZombie", err)
		}
		t.Logf("a: %v", err)
	case <-ctx.Done():
		t.Fatal("a never noticed it lost the job")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range notified {
		if id > fence+1 { // fence+1 may have been confirmed before b's claim
			t.Errorf("checkpoint %d, completed after b took over at %d, reached a's tasks", id, fence)
		}
	}
	f, err := checkpoint.LoadFences(ctx, mem)
	if err != nil {
		t.Fatal(err)
	}
	plan, err = checkpoint.PlanRestore(ctx, mem, checkpoint.RestoreOptions{Fences: f})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Newest.CheckpointID != fence {
		t.Errorf("b would restore checkpoint %d, want %d (anything newer is the zombie's)", plan.Newest.CheckpointID, fence)
	}
}

// TestTopologyChangeRefused (issue 7.9): the fingerprint covers what state
// depends on — an operator's type and settings, not only its name — and a
// refused restore says what differs and how to go on.
func TestTopologyChangeRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mem := storage.NewMem()
	parts := input(32, 2, 2000, 10)
	h := newHarness(t, parts, mem)
	h.target = -1
	spec := h.spec(10 * time.Millisecond)
	spec.SourceChain = []operators.OperatorSpec{{Name: "by-user", Describe: "type=key_by field=user", New: func(int) (operators.Operator, error) { return operators.Base{}, nil }}}
	h.runUntil(ctx, job.New(spec), func(*checkpoint.Metadata) bool { return true })

	h2 := newHarness(t, parts, mem)
	spec2 := h2.spec(10 * time.Millisecond)
	spec2.SourceChain = []operators.OperatorSpec{{Name: "by-user", Describe: "type=key_by field=customer", New: func(int) (operators.Operator, error) { return operators.Base{}, nil }}}
	err := job.New(spec2).Run(ctx)
	if !errors.Is(err, checkpoint.ErrTopologyMismatch) {
		t.Fatalf("restore after key_by.field changed: %v, want ErrTopologyMismatch", err)
	}
	for _, want := range []string{"field=user", "field=customer", "--fresh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	t.Log(err)
	// --fresh starts without the old state.
	h3 := newHarness(t, parts, mem)
	h3.target = total(parts)
	spec3 := h3.spec(10 * time.Millisecond)
	spec3.SourceChain = spec2.SourceChain
	spec3.Restore = checkpoint.RestoreOptions{Fresh: true}
	h3.runUntil(ctx, job.New(spec3), func(*checkpoint.Metadata) bool { return h3.processed.Load() == total(parts) })
}
