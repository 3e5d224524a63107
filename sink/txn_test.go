package sink_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/sink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type env struct {
	t    *testing.T
	ctx  context.Context
	cfg  *config.Config
	base []kgo.Opt
}

func newEnv(t *testing.T) *env { return newEnvTimeout(t, 30*time.Second) }

func newEnvTimeout(t *testing.T, timeout time.Duration) *env {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "out", "out-dead-letters"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := config.Default()
	cfg.Job.Name = "sinktest"
	cfg.Job.Parallelism = 1
	cfg.Sink.Topic = "out"
	cfg.Sink.TransactionTimeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return &env{t: t, ctx: ctx, cfg: &cfg, base: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}}
}

// open returns an opened sink of task 0, restored from checkpoint
// restored (0: fresh) whose pending transactions were pending.
func (e *env) open(restored int64, pending []operators.Transaction) *sink.Transactional {
	e.t.Helper()
	s := sink.NewTransactional(e.cfg, e.base, nil)
	oc := operators.OpenContext{Name: "sink", Log: zaptest.NewLogger(e.t), RestoredCheckpoint: restored, PendingTransactions: pending, HoldUntil: restored}
	if err := s.Open(e.ctx, oc); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = s.Close() })
	return s
}

func (e *env) write(s *sink.Transactional, vals ...string) {
	e.t.Helper()
	var recs []operators.Record
	for _, v := range vals {
		recs = append(recs, operators.Record{Key: []byte("k"), Value: []byte(v)})
	}
	if err := s.Process(e.ctx, recs, nil); err != nil {
		e.t.Fatal(err)
	}
}

// settle recovers checkpoint id, the newest complete one, with no older
// checkpoint to fall back to.
func (e *env) settle(id int64, pending []operators.Transaction) error {
	_, err := e.recover(sink.Recovery{Newest: id, Pending: pending, Target: id})
	return err
}

func (e *env) recover(r sink.Recovery) (sink.Settled, error) {
	return sink.Settle(e.ctx, e.cfg, e.base, r, zaptest.NewLogger(e.t))
}

// endMarker is the value committed appends to every partition of out to
// know where the committed output ends; committed never returns it.
const endMarker = "\x00end-of-output"

// committed reads out with read_committed up to its end: it appends a
// plain end marker to each partition and reads until it has seen them all,
// a deterministic end (no idle timeout). Every transaction on out must be
// settled by then (a marker behind an open one would stay invisible).
func (e *env) committed() []string {
	e.t.Helper()
	cl, err := kgo.NewClient(append(e.base, kgo.ConsumeTopics("out"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	markers := e.appendEndMarkers(cl)
	var got []string
	for {
		ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) == endMarker {
				delete(markers, r.Partition)
				return
			}
			got = append(got, string(r.Value))
		})
		if e.ctx.Err() != nil {
			e.t.Fatalf("reading committed output: %v (end markers not seen on partitions %v)", e.ctx.Err(), markers)
		}
		if len(markers) == 0 {
			sort.Strings(got)
			return got
		}
	}
}

// appendEndMarkers writes endMarker to every partition of out and returns
// the partitions whose marker is still to be read. It fails the test if a
// transaction is still open on out (last stable offset below the high
// watermark).
func (e *env) appendEndMarkers(cl *kgo.Client) map[int32]bool {
	e.t.Helper()
	adm := kadm.NewClient(cl)
	hwm, err := adm.ListEndOffsets(e.ctx, "out")
	if err == nil {
		err = hwm.Error()
	}
	if err != nil {
		e.t.Fatalf("end offsets of out: %v", err)
	}
	lso, err := adm.ListCommittedOffsets(e.ctx, "out")
	if err == nil {
		err = lso.Error()
	}
	if err != nil {
		e.t.Fatalf("last stable offsets of out: %v", err)
	}
	markers := map[int32]bool{}
	hwm.Each(func(o kadm.ListedOffset) {
		markers[o.Partition] = true
		if l, ok := lso.Lookup(o.Topic, o.Partition); !ok || l.Offset != o.Offset {
			e.t.Fatalf("out/%d: a transaction is still open (last stable offset %d, high watermark %d): committed reads settled output only", o.Partition, l.Offset, o.Offset)
		}
	})
	for p := range markers {
		r := &kgo.Record{Topic: "out", Partition: p, Value: []byte(endMarker)}
		if err := cl.ProduceSync(e.ctx, r).FirstErr(); err != nil {
			e.t.Fatalf("end marker on out/%d: %v", p, err)
		}
	}
	return markers
}

func TestCommitOnCheckpointComplete(t *testing.T) {
	e := newEnv(t)
	s := e.open(0, nil)
	e.write(s, "a", "b")
	if err := s.SnapshotState(e.ctx, 1); err != nil {
		t.Fatal(err)
	}
	e.write(s, "c") // after barrier 1: belongs to the next transaction
	if p := s.PendingTransactions(); len(p) != 1 || p[0].Checkpoint != 1 || p[0].After != 0 {
		t.Fatalf("pending = %+v", p)
	}
	if err := s.NotifyCheckpointComplete(e.ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SnapshotState(e.ctx, 2); err != nil {
		t.Fatal(err)
	}
	if p := s.PendingTransactions(); len(p) != 1 || p[0].Checkpoint != 2 || p[0].After != 1 {
		t.Fatalf("pending after 2 = %+v", p)
	}
	// Checkpoint 2 never completes; recovery aborts its transaction? No:
	// it is pending in checkpoint 2, but 2 is not complete, so a restore
	// uses checkpoint 1, whose pending list was empty.
	_ = s.Close()
	if err := e.settle(1, nil); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(e.committed()); got != "[a b]" {
		t.Errorf("committed = %s, want [a b] (c's transaction was aborted)", got)
	}
}

// TestResumeCommitAfterCrash: checkpoint 1 completed but the process died
// before committing; recovery commits its pending transaction with the
// stored producer id and epoch, and doing it twice is harmless.
func TestResumeCommitAfterCrash(t *testing.T) {
	e := newEnv(t)
	s := e.open(0, nil)
	e.write(s, "a", "b")
	if err := s.SnapshotState(e.ctx, 1); err != nil {
		t.Fatal(err)
	}
	pending := s.PendingTransactions()
	e.write(s, "lost-on-crash")
	_ = s.Close() // the crash: nothing committed, nothing aborted
	if err := e.settle(1, pending); err != nil {
		t.Fatal(err)
	}
	if err := e.settle(1, pending); err != nil {
		t.Fatalf("second recovery of the same checkpoint: %v", err)
	}
	if got := fmt.Sprint(e.committed()); got != "[a b]" {
		t.Errorf("committed = %s, want [a b]", got)
	}
	// The restarted sink carries on.
	s2 := e.open(1, pending)
	e.write(s2, "c")
	if err := s2.SnapshotState(e.ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := s2.NotifyCheckpointComplete(e.ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(e.committed()); got != "[a b c]" {
		t.Errorf("committed = %s, want [a b c]", got)
	}
}

// TestLostTransaction: a pending transaction the broker aborted is
// reported when no older checkpoint can replace the newest, and the older
// one is restored when it can.
func TestLostTransaction(t *testing.T) {
	e := newEnv(t)
	s := e.open(0, nil)
	e.write(s, "a")
	if err := s.SnapshotState(e.ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.NotifyCheckpointComplete(e.ctx, 1); err != nil {
		t.Fatal(err)
	}
	e.write(s, "b")
	if err := s.SnapshotState(e.ctx, 2); err != nil {
		t.Fatal(err)
	}
	pending := s.PendingTransactions()
	_ = s.Close()
	// Something aborts it first, as the broker's transaction timeout would.
	if err := e.settle(0, nil); err != nil {
		t.Fatal(err)
	}
	err := e.settle(2, pending)
	var lost *sink.LostError
	if !errors.As(err, &lost) {
		t.Fatalf("settle = %v, want a LostError", err)
	}
	if len(lost.Lost) != 1 || len(lost.Committed) != 0 {
		t.Errorf("lost = %+v", lost)
	}
	t.Logf("%v", err)
	got, err := e.recover(sink.Recovery{Newest: 2, Pending: pending, Target: 2, Fallbacks: []int64{1}})
	if err != nil || got.Restore != 1 {
		t.Fatalf("recovery with checkpoint 1 retained: restore %d, %v; want checkpoint 1", got.Restore, err)
	}
	if got := fmt.Sprint(e.committed()); got != "[a]" {
		t.Errorf("committed = %s, want [a]", got)
	}
}

// TestPoolExhausted: with MaxPending transactions waiting for their
// checkpoints, the next checkpoint is declined and the open transaction
// carries on; once one completes, pre-commits resume.
func TestPoolExhausted(t *testing.T) {
	e := newEnv(t)
	s := e.open(0, nil)
	for id := int64(1); id <= sink.MaxPending; id++ {
		e.write(s, fmt.Sprint(id))
		if err := s.SnapshotState(e.ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	e.write(s, "last")
	if err := s.SnapshotState(e.ctx, sink.MaxPending+1); !errors.Is(err, sink.ErrPoolExhausted) {
		t.Fatalf("snapshot with %d pending = %v", sink.MaxPending, err)
	}
	if err := s.NotifyCheckpointComplete(e.ctx, sink.MaxPending); err != nil {
		t.Fatal(err)
	}
	// The ids just committed are held until a later checkpoint completes;
	// there is still an id free.
	if err := s.SnapshotState(e.ctx, sink.MaxPending+2); err != nil {
		t.Fatal(err)
	}
	e.write(s, "after")
	if err := s.NotifyCheckpointComplete(e.ctx, sink.MaxPending+2); err != nil {
		t.Fatal(err)
	}
	if err := s.SnapshotState(e.ctx, sink.MaxPending+3); err != nil {
		t.Fatal(err)
	}
	if err := s.NotifyCheckpointComplete(e.ctx, sink.MaxPending+3); err != nil {
		t.Fatal(err)
	}
	if got := len(e.committed()); got != sink.MaxPending+2 {
		t.Errorf("%d records committed, want %d", got, sink.MaxPending+2)
	}
}

// TestPoolCoversTolerableFailures: with max_concurrent 3 and
// tolerable_failures 3, a checkpoint may fail, time out or be in flight
// tolerable_failures + max_concurrent times in a row, plus a savepoint,
// before the job restarts: the pool has an id for each, so no checkpoint
// is declined for want of one before then (a pool of 8 declined the 4th,
// and a stop-with-savepoint after an S3 outage failed: CI schedule
// 2026-11-29), and the next complete one commits them all.
func TestPoolCoversTolerableFailures(t *testing.T) {
	e := newEnv(t)
	e.cfg.Checkpoint.MaxConcurrent, e.cfg.Checkpoint.TolerableFailures = 3, 3
	if got := sink.ConfiguredPoolSize(e.cfg); got != 16 {
		t.Errorf("pool size %d, want 16", got)
	}
	s := e.open(0, nil)
	n := int64(sink.MaxPendingFor(3, 3))
	for id := int64(1); id <= n; id++ {
		e.write(s, fmt.Sprint(id))
		if err := s.SnapshotState(e.ctx, id); err != nil {
			t.Fatalf("checkpoint %d with %d pending: %v", id, id-1, err)
		}
	}
	e.write(s, "declined")
	if err := s.SnapshotState(e.ctx, n+1); !errors.Is(err, sink.ErrPoolExhausted) {
		t.Fatalf("checkpoint %d with %d pending = %v, want ErrPoolExhausted", n+1, n, err)
	}
	if err := s.NotifyCheckpointComplete(e.ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := s.SnapshotState(e.ctx, n+2); err != nil {
		t.Fatal(err)
	}
	if err := s.NotifyCheckpointComplete(e.ctx, n+2); err != nil {
		t.Fatal(err)
	}
	if got := len(e.committed()); got != int(n)+1 {
		t.Errorf("%d records committed, want %d", got, n+1)
	}
}

// TestPoolSizeFor: the defaults keep the pool of 8 ids; it grows with
// max_concurrent and tolerable_failures.
func TestPoolSizeFor(t *testing.T) {
	for _, c := range []struct{ conc, tol, want int }{
		{1, 0, 8}, {1, 2, 10}, {3, 0, 10}, {3, 3, 16}, {0, 0, 8},
	} {
		if got := sink.PoolSizeFor(c.conc, c.tol); got != c.want {
			t.Errorf("PoolSizeFor(%d, %d) = %d, want %d", c.conc, c.tol, got, c.want)
		}
	}
}

// TestCommittedIdsAreHeld: an id whose transaction the newest complete
// checkpoint lists as pending starts no new transaction until a later
// checkpoint completes, so a recovery of that checkpoint can still
// resume-commit it (the retry is not mistaken for a lost transaction).
func TestCommittedIdsAreHeld(t *testing.T) {
	e := newEnv(t)
	s := e.open(0, nil)
	var pending []operators.Transaction
	for id := int64(1); id <= 6; id++ {
		e.write(s, fmt.Sprint(id))
		if err := s.SnapshotState(e.ctx, id); err != nil {
			t.Fatal(err)
		}
		pending = s.PendingTransactions()
		if err := s.NotifyCheckpointComplete(e.ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// Checkpoint 7 is taken but never completes: what comes after its
	// barrier must not reopen checkpoint 6's id.
	e.write(s, "uncommitted-1")
	if err := s.SnapshotState(e.ctx, 7); err != nil {
		t.Fatal(err)
	}
	e.write(s, "uncommitted-2")
	_ = s.Close() // a crash; checkpoint 6 is the newest complete one
	if err := e.settle(6, pending); err != nil {
		t.Fatalf("recovering checkpoint 6, whose transaction committed before the crash: %v", err)
	}
	if got := len(e.committed()); got != 6 {
		t.Errorf("%d records committed, want 6", got)
	}
}
