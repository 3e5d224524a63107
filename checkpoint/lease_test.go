package checkpoint_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/checkpoint/storage/faulty"
)

// clock is a manual clock for the lease's silence timing.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func leaseConfig(t *testing.T, name string, timeout time.Duration, now func() time.Time) checkpoint.LeaseConfig {
	return checkpoint.LeaseConfig{
		Holder:  checkpoint.Holder{Host: "host-" + name, PID: 1, StateDir: "/state/" + name, Instance: name},
		Timeout: timeout, Wait: true, Log: zaptest.NewLogger(t).Named(name), Now: now,
	}
}

// TestLeaseOneHolderAtATime: a second instance waits while the first holds
// the job, and takes it over at once when the first releases it.
func TestLeaseOneHolderAtATime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := storage.NewMem()
	a, err := checkpoint.AcquireLease(ctx, st, leaseConfig(t, "a", 200*time.Millisecond, nil))
	if err != nil {
		t.Fatal(err)
	}
	if a.Generation() != 1 {
		t.Fatalf("first generation %d", a.Generation())
	}
	// Without waiting, the second is refused and told who holds the job.
	cfg := leaseConfig(t, "b", 200*time.Millisecond, nil)
	cfg.Wait = false
	if _, err := checkpoint.AcquireLease(ctx, st, cfg); !errors.Is(err, checkpoint.ErrLeaseHeld) || !strings.Contains(err.Error(), "host-a") {
		t.Fatalf("second instance without waiting: %v", err)
	}
	got := make(chan *checkpoint.Lease, 1)
	go func() {
		b, err := checkpoint.AcquireLease(ctx, st, leaseConfig(t, "b", 200*time.Millisecond, nil))
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	// a keeps renewing for several lease timeouts: b must still wait.
	select {
	case b := <-got:
		t.Fatalf("b took the lease (generation %d) while a renewed it", b.Generation())
	case <-time.After(time.Second):
	}
	if err := a.Check(ctx); err != nil {
		t.Fatalf("a lost the lease: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	b := <-got
	if b == nil || b.Generation() != 2 {
		t.Fatalf("b after a's release: %+v", b)
	}
	defer b.Close()
	if err := a.Check(ctx); !errors.Is(err, checkpoint.ErrZombie) {
		t.Fatalf("a after b took over: %v", err)
	}
}

// TestLeaseTakeoverOfSilentHolder: a holder that stops renewing (crashed or
// paused) is taken over after the lease timeout of silence, timed by the
// claimant's own clock; once it wakes up it learns it is a zombie.
func TestLeaseTakeoverOfSilentHolder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := storage.NewMem()
	a, err := checkpoint.AcquireLease(ctx, st, leaseConfig(t, "a", time.Hour, nil))
	if err != nil {
		t.Fatal(err)
	}
	a.Close() // stops renewing: a crash, or a long pause
	clk := &clock{now: time.Unix(1000, 0)}
	got := make(chan *checkpoint.Lease, 1)
	go func() {
		cfg := leaseConfig(t, "b", time.Hour, clk.Now)
		cfg.Poll = 10 * time.Millisecond
		b, err := checkpoint.AcquireLease(ctx, st, cfg)
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	// b polls every timeout/8 of real time at most: it sees a's heartbeat
	// stand still only once its own clock has moved by the timeout.
	deadline := time.After(10 * time.Second)
	var b *checkpoint.Lease
	for b == nil {
		select {
		case b = <-got:
		case <-time.After(20 * time.Millisecond):
			clk.Add(10 * time.Minute)
		case <-deadline:
			t.Fatal("b never took over a silent holder")
		}
	}
	defer b.Close()
	if b.Generation() != 2 {
		t.Fatalf("generation %d", b.Generation())
	}
	err = a.Check(ctx)
	if !errors.Is(err, checkpoint.ErrZombie) || !strings.Contains(err.Error(), "host-b") {
		t.Fatalf("the old holder after the takeover: %v", err)
	}
	select {
	case <-a.Lost():
	default:
		t.Fatal("Lost not closed after the check")
	}
}

// TestLeaseReclaimsOwnDeadHolder: a previous holder this instance knows to
// be dead (its own state directory) is reclaimed without waiting.
func TestLeaseReclaimsOwnDeadHolder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := storage.NewMem()
	a, err := checkpoint.AcquireLease(ctx, st, leaseConfig(t, "a", time.Hour, nil))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	cfg := leaseConfig(t, "a2", time.Hour, nil)
	cfg.Reclaimable = func(h checkpoint.Holder) bool { return h.StateDir == "/state/a" }
	b, err := checkpoint.AcquireLease(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Generation() != 2 {
		t.Fatalf("generation %d", b.Generation())
	}
}

// takeover makes b take the job over from a (which stops renewing) in st
// and returns both.
func takeover(t *testing.T, ctx context.Context, st storage.Store) (a, b *checkpoint.Lease) {
	t.Helper()
	a, err := checkpoint.AcquireLease(ctx, st, leaseConfig(t, "a", time.Hour, nil))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	cfg := leaseConfig(t, "b", time.Hour, nil)
	cfg.Reclaimable = func(checkpoint.Holder) bool { return true }
	if b, err = checkpoint.AcquireLease(ctx, st, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return a, b
}

func namesB(err error) bool {
	return errors.Is(err, checkpoint.ErrZombie) && strings.Contains(err.Error(), "pid 1 on host-b (state dir /state/b")
}

// TestZombieErrorNamesNewHolder (make chaos, schedule step "wake"): when
// the newer claim could not be read at the check that found it, the
// holder kept reporting "pid 0 on  (state dir , ...) took the job over"
// for good, and the processor exited without naming the instance that
// took the job over. A failed read is tried again by the next check.
func TestZombieErrorNamesNewHolder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := faulty.New(storage.NewMem())
	a, _ := takeover(t, ctx, st)
	st.Inject(faulty.Rule{Ops: faulty.OpGet, Key: faulty.KeyContains("g0000000002/claim"), When: faulty.Nth(1)})
	if err := a.Check(ctx); !errors.Is(err, checkpoint.ErrZombie) || !strings.Contains(err.Error(), "could not be read") {
		t.Fatalf("check while the claim cannot be read: %v", err)
	}
	select {
	case <-a.Lost():
	default:
		t.Fatal("Lost not closed after the check")
	}
	if err := a.Check(ctx); !namesB(err) {
		t.Fatalf("check once the claim can be read: %v", err)
	}
}

// cancelAfterStat cancels a context once a Stat of a claim succeeded, and
// fails a Get whose context is done, as the S3 client does.
type cancelAfterStat struct {
	storage.Store
	cancel context.CancelFunc
}

func (s *cancelAfterStat) Stat(ctx context.Context, key string) (storage.Info, error) {
	in, err := s.Store.Stat(ctx, key)
	if err == nil && strings.HasSuffix(key, "/claim") && s.cancel != nil {
		s.cancel()
	}
	return in, err
}

func (s *cancelAfterStat) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.Get(ctx, key)
}

// TestZombieErrorNamesNewHolderAsTheJobFails (make chaos, schedule step
// "wake"): the paused holder woke, its commit was fenced, and the job's
// failure cancelled the context of the check that had just found the
// newer claim: the claim's read failed and the zombie exited naming "pid
// 0". The claim is read whatever the context.
func TestZombieErrorNamesNewHolderAsTheJobFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := &cancelAfterStat{Store: storage.NewMem()}
	a, _ := takeover(t, ctx, st)
	jctx, fail := context.WithCancel(ctx)
	st.cancel = fail
	if err := a.Check(jctx); !namesB(err) {
		t.Fatalf("check as the job fails: %v", err)
	}
}

// TestFences: a checkpoint an older generation completed after a newer
// generation started (its id above the newer one's fence) is never
// restored; older ones are.
func TestFences(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMem()
	for _, m := range []*checkpoint.Metadata{
		{CheckpointID: 3, Generation: 1}, {CheckpointID: 4, Generation: 1},
		{CheckpointID: 6, Generation: 1}, // the zombie's, after generation 2 fenced at 4
		{CheckpointID: 5, Generation: 2},
	} {
		m.Job, m.Topology, m.MaxParallelism = "j", "t", 128
		putMeta(t, st, m)
	}
	a, err := checkpoint.AcquireLease(ctx, st, leaseConfig(t, "a", time.Hour, nil))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	cfg := leaseConfig(t, "b", time.Hour, nil)
	cfg.Reclaimable = func(checkpoint.Holder) bool { return true }
	b, err := checkpoint.AcquireLease(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Fence(ctx, 4); err != nil {
		t.Fatal(err)
	}
	f, err := checkpoint.LoadFences(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := checkpoint.PlanRestore(ctx, st, checkpoint.RestoreOptions{Fences: f})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Newest.CheckpointID != 5 || len(plan.Older) != 2 || plan.Older[0].CheckpointID != 4 {
		t.Fatalf("newest %d, older %v; want 5 and [4 3] (6 is a zombie's)", plan.Newest.CheckpointID, plan.OlderIDs())
	}
	if _, err := checkpoint.PlanRestore(ctx, st, checkpoint.RestoreOptions{Fences: f, From: "6"}); err == nil || !strings.Contains(err.Error(), "zombie") {
		t.Fatalf("--from the zombie's checkpoint: %v", err)
	}
}

// TestHolderString: a holder names its pid, host, state dir and start; the
// zero holder (no previous holder of a job's first lease) is "none".
func TestHolderString(t *testing.T) {
	if got := (checkpoint.Holder{}).String(); got != "none" {
		t.Errorf("zero holder = %q, want none", got)
	}
	h := checkpoint.Holder{Host: "h1", PID: 7, StateDir: "/s", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if got, want := h.String(), "pid 7 on h1 (state dir /s, started 2026-01-02T03:04:05Z)"; got != want {
		t.Errorf("holder = %q, want %q", got, want)
	}
}
