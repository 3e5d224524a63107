package job_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/checkpoint/storage/faulty"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/internal/restart"
	"github.com/tidemark/tidemark/operators"
)

// fastRestart is a restart strategy with millisecond pauses that never
// resets within a test.
func fastRestart() config.Restart {
	return config.Restart{InitialDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond, Multiplier: 2,
		ResetAfter: time.Hour, FailureInterval: time.Hour}
}

// failOnNotify fails every checkpoint completion while armed: a job that
// completes a checkpoint after each restore, then fails, and never gets
// further.
type failOnNotify struct {
	operators.Base
	armed *atomic.Bool
}

var errNotify = errors.New("failOnNotify: broken")

func (f *failOnNotify) NotifyCheckpointComplete(context.Context, int64) error {
	if f.armed.Load() {
		return errNotify
	}
	return nil
}

// waitStatus polls j's status until cond holds or ctx ends.
func waitStatus(t *testing.T, ctx context.Context, j *job.Job, errc <-chan error, what string, cond func(job.Status) bool) job.Status {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if st := j.Status(); cond(st) {
			return st
		}
		select {
		case err := <-errc:
			t.Fatalf("job ended while waiting for %s: %v", what, err)
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; status %+v", what, j.Status())
		case <-tick.C:
		}
	}
}

// TestNoProgressDoesNotResetRestarts: a job that completes a checkpoint
// after every restore, but whose input positions never advance, keeps
// counting its failures in a row (they are not reset by those
// checkpoints), is not ready while it loops, and its checkpoint counters
// run across the restarts; with a failure-rate limit it stops.
func TestNoProgressDoesNotResetRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	parts := input(21, 2, 200, 20)
	h := newHarness(t, parts, storage.NewMem())
	h.target = -1
	spec := h.spec(5 * time.Millisecond)
	var armed atomic.Bool
	spec.Chain = append(spec.Chain, operators.OperatorSpec{Name: "fail", New: func(int) (operators.Operator, error) {
		return &failOnNotify{armed: &armed}, nil
	}})
	spec.Restart = fastRestart()
	spec.Restart.MaxFailures = 6
	// Each restart waits for the test: it looks at the job between
	// attempts.
	gate := make(chan time.Time)
	spec.After = func(time.Duration) <-chan time.Time { return gate }
	readies := make(chan job.Status, 100)
	j := job.New(spec)
	j.SetOnReady(func() { readies <- j.Status() })
	errc := make(chan error, 1)
	go func() { errc <- j.Run(ctx) }()

	// Everything is consumed and checkpointed: from now on no checkpoint
	// can advance the input.
	n := total(parts)
	for done := false; !done; {
		select {
		case m := <-h.complete:
			done = consumed(m) == n
		case err := <-errc:
			t.Fatalf("job ended: %v", err)
		case <-ctx.Done():
			t.Fatal("input not consumed")
		}
	}
	if st := <-readies; !st.Ready || st.State != job.StateRunning || st.Attempt != 1 {
		t.Fatalf("first attempt's status: %+v", st)
	}
	if st := j.Status(); !st.Progress {
		t.Fatalf("status after consuming the input: %+v, want progress", st)
	}
	armed.Store(true)
	var lastCompleted int64
	for i := 1; i <= 6; i++ {
		st := waitStatus(t, ctx, j, errc, fmt.Sprintf("restart %d", i), func(s job.Status) bool {
			return s.State == job.StateRestarting && s.Restarts == i
		})
		if st.FailuresInARow != i || st.Ready || st.NextAttemptAt == nil || st.LastFailure == nil ||
			!strings.Contains(st.LastFailure.Error, errNotify.Error()) || st.LastFailure.Class != "transient" {
			t.Fatalf("status after failure %d: %+v", i, st)
		}
		if !strings.Contains(st.Reason, "restarting in") {
			t.Errorf("reason %q", st.Reason)
		}
		if st.CheckpointsCompleted <= lastCompleted {
			t.Errorf("checkpoints completed went from %d to %d across a restart", lastCompleted, st.CheckpointsCompleted)
		}
		lastCompleted = st.CheckpointsCompleted
		if c, _ := j.Counts(); c != st.CheckpointsCompleted {
			t.Errorf("Counts() = %d completed, status says %d", c, st.CheckpointsCompleted)
		}
		gate <- time.Now()
		rs := <-readies
		// The first failure came after progress: the next attempt is
		// ready as it runs. After a failure without progress, it is not.
		if want := i == 1; rs.Ready != want || rs.State != job.StateRunning || !want && !strings.Contains(rs.Reason, "restart loop") {
			t.Fatalf("status of attempt %d as it starts running after %d failures in a row: %+v", i+1, i, rs)
		}
	}
	t.Logf("%d checkpoints completed over 7 attempts, none advanced the input", lastCompleted)
	err := <-errc
	if !errors.Is(err, restart.ErrFailureRate) || !errors.Is(err, errNotify) {
		t.Fatalf("Run = %v, want ErrFailureRate wrapping the operator's error", err)
	}
	if st := j.Status(); st.State != job.StateFailed || st.Ready || !strings.Contains(st.Reason, "permanent") {
		t.Fatalf("final status %+v", st)
	}
}

// TestFirstStartRetries: storage unreachable at the first start is retried
// (with /readyz false and the reason in the status) until it comes back.
func TestFirstStartRetries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fs := faulty.New(storage.NewMem())
	down := fs.Inject(faulty.Rule{Ops: faulty.OpList})
	parts := input(22, 2, 100, 10)
	h := newHarness(t, parts, fs)
	h.target = -1
	spec := h.spec(5 * time.Millisecond)
	spec.Restart = fastRestart()
	j := job.New(spec)
	stop, errc := run(ctx, j)
	st := waitStatus(t, ctx, j, errc, "three failed starts", func(s job.Status) bool { return s.Restarts >= 3 })
	if st.Ready || st.LastFailure == nil || !strings.Contains(st.LastFailure.Error, "injected") || st.Reason == "" {
		t.Fatalf("status while storage is down: %+v", st)
	}
	t.Logf("while storage is down: %s", st.Reason)
	down.Disarm()
	n := total(parts)
	for done := false; !done; {
		select {
		case m := <-h.complete:
			done = consumed(m) == n
		case err := <-errc:
			t.Fatalf("job ended: %v", err)
		case <-ctx.Done():
			t.Fatal("job did not run once storage was back")
		}
	}
	waitStatus(t, ctx, j, errc, "ready", func(s job.Status) bool { return s.Ready && s.Progress })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := j.Status(); st.State != job.StateStopped {
		t.Errorf("status after stop: %+v", st)
	}
}

// TestPermanentStopsAtOnce: an error classified permanent ends Run without
// a restart, even at the first start.
func TestPermanentStopsAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mem := storage.NewMem()
	// Corrupt metadata: a checkpoint that cannot be restored.
	if err := mem.PutIfAbsent(ctx, checkpoint.MetadataKey(1), strings.NewReader("not metadata"), 12); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, input(23, 2, 10, 2), mem)
	spec := h.spec(5 * time.Millisecond)
	spec.Restart = fastRestart()
	j := job.New(spec)
	err := j.Run(ctx)
	if !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("Run = %v, want ErrCorrupt", err)
	}
	if st := j.Status(); st.Restarts != 0 || st.State != job.StateFailed || st.LastFailure.Class != "permanent" {
		t.Fatalf("status %+v", st)
	}
}

// failSnapshot fails its task from SnapshotState, as a sink whose
// transaction the broker made unusable does.
type failSnapshot struct {
	operators.Base
	err error
}

func (f *failSnapshot) SnapshotState(context.Context, int64) error { return operators.Fail(f.err) }

// TestSnapshotTaskFailure: an operator's TaskFailure from SnapshotState
// fails the attempt with its error (not a declined checkpoint, which hides
// the error behind ErrTooManyFailures), so a permanent one stops the job.
func TestSnapshotTaskFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := newHarness(t, input(24, 2, 50, 5), storage.NewMem())
	spec := h.spec(5 * time.Millisecond)
	// No failure tolerated: a declined checkpoint would fail the attempt
	// with ErrTooManyFailures instead.
	spec.Checkpoint.TolerableFailures = 0
	broken := restart.MarkPermanent(errors.New("record refused"))
	spec.Chain = append(spec.Chain, operators.OperatorSpec{Name: "fail", New: func(int) (operators.Operator, error) {
		return &failSnapshot{err: broken}, nil
	}})
	spec.Restart = fastRestart()
	j := job.New(spec)
	if err := j.Run(ctx); !errors.Is(err, broken) || errors.Is(err, checkpoint.ErrTooManyFailures) {
		t.Fatalf("Run = %v, want the operator's error", err)
	}
	if st := j.Status(); st.Restarts != 0 {
		t.Errorf("%d restarts", st.Restarts)
	}
}
