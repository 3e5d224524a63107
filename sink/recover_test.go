package sink_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/sink"
)

// snapshot pre-commits on barrier id and returns the pending list the
// checkpoint records.
func (e *env) snapshot(s *sink.Transactional, id int64) []operators.Transaction {
	e.t.Helper()
	if err := s.SnapshotState(e.ctx, id); err != nil {
		e.t.Fatal(err)
	}
	return s.PendingTransactions()
}

func (e *env) complete(s *sink.Transactional, id int64) {
	e.t.Helper()
	if err := s.NotifyCheckpointComplete(e.ctx, id); err != nil {
		e.t.Fatal(err)
	}
}

// abortID aborts whatever transaction id holds, as the broker's
// transaction timeout (or a fencing producer) would.
func (e *env) abortID(id string) {
	e.t.Helper()
	cl, err := kgo.NewClient(e.base...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = 60000
	req.ProducerID, req.ProducerEpoch = -1, -1
	resp, err := req.RequestWith(e.ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		e.t.Fatalf("abort %s: %v", id, err)
	}
}

// TestCommittedIDHeldWhileListed (issue 7.1): with checkpoints in flight
// concurrently, checkpoint 2 is taken before checkpoint 1's transaction
// commits and lists it. After 2 completes, 2 is what a restore chooses, so
// the id of 1's transaction must stay unused until a checkpoint that no
// longer lists it completes. Reusing it earlier (as the sink did) put a new
// transaction on it that recovery then committed in place of the old one,
// or took for a loss.
func TestCommittedIDHeldWhileListed(t *testing.T) {
	e := newEnv(t)
	s := e.open(0, nil)
	e.write(s, "a")
	e.snapshot(s, 1)
	e.write(s, "b")
	pending2 := e.snapshot(s, 2) // lists 1's and 2's transactions
	if len(pending2) != 2 {
		t.Fatalf("checkpoint 2 lists %+v", pending2)
	}
	e.complete(s, 1) // commits 1's transaction
	e.write(s, "c")
	e.snapshot(s, 3)
	e.complete(s, 2) // commits 2's; checkpoint 2 still lists 1's
	e.write(s, "d")
	e.snapshot(s, 4)
	e.write(s, "e") // must not go on the id of 1's transaction
	e.snapshot(s, 5)
	e.write(s, "f")
	_ = s.Close() // crash: checkpoint 2 is the newest complete one
	if err := e.settle(2, pending2); err != nil {
		t.Fatalf("recovering checkpoint 2: %v", err)
	}
	if got := fmt.Sprint(e.committed()); got != "[a b]" {
		t.Errorf("committed = %s, want [a b]: records after checkpoint 2 are written again by the restored job", got)
	}
}

// TestLingeringAbortMatchesExactly (issue 7.2): recovering job "clicks"
// aborts the lingering transactions of its own ids only, not those of job
// "clicks-v2" (whose prefix merely starts with the same letters).
func TestLingeringAbortMatchesExactly(t *testing.T) {
	e := newEnv(t)
	e.cfg.Job.Name = "clicks-v2"
	other := e.open(0, nil)
	e.write(other, "v2's")
	pending := e.snapshot(other, 1) // pre-committed, waiting for its checkpoint

	e.cfg.Job.Name = "clicks"
	if err := e.settle(0, nil); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(e.base...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	d, err := kadm.NewClient(cl).DescribeTransactions(e.ctx, pending[0].TransactionalID)
	if err != nil {
		t.Fatal(err)
	}
	if st := d[pending[0].TransactionalID]; st.State != "Ongoing" || st.ProducerEpoch != pending[0].ProducerEpoch {
		t.Fatalf("job clicks-v2's transaction after job clicks recovered: %+v, want still ongoing", st)
	}
	e.complete(other, 1)
	if got := fmt.Sprint(e.committed()); got != "[v2's]" {
		t.Errorf("committed = %s", got)
	}
}

// TestExamineBeforeCommitting (issue 7.15): checkpoints 16 and 17 timed
// out, the broker aborted their transactions, and checkpoint 18 completed
// listing them with its own. Committing 18's transaction before looking at
// the others (as recovery did) made the checkpoint "mixed" for good;
// examining all first shows that falling back to checkpoint 15 loses
// nothing.
func TestExamineBeforeCommitting(t *testing.T) {
	e := newEnv(t)
	s := e.open(0, nil)
	e.write(s, "by-15")
	e.snapshot(s, 15)
	e.complete(s, 15)
	e.write(s, "16")
	e.snapshot(s, 16)
	e.write(s, "17")
	e.snapshot(s, 17)
	e.write(s, "18")
	pending := e.snapshot(s, 18)
	if len(pending) != 3 {
		t.Fatalf("checkpoint 18 lists %+v", pending)
	}
	_ = s.Close()
	e.abortID(pending[0].TransactionalID)
	e.abortID(pending[1].TransactionalID)

	got, err := e.recover(sink.Recovery{Newest: 18, Pending: pending, Target: 18, Fallbacks: []int64{15, 14}})
	if err != nil {
		t.Fatalf("recovery: %v", err)
	}
	if got.Restore != 15 || len(got.Committed) != 0 || len(got.Aborted) != 1 || got.Aborted[0].Checkpoint != 18 {
		t.Fatalf("restore %d, committed %v, aborted %v; want checkpoint 15, 18's aborted", got.Restore, got.Committed, got.Aborted)
	}
	if c := fmt.Sprint(e.committed()); c != "[by-15]" {
		t.Errorf("committed = %s, want [by-15] (the rest is written again from checkpoint 15)", c)
	}
	// A crash during that recovery and another one decide the same.
	again, err := e.recover(sink.Recovery{Newest: 18, Pending: pending, Target: 18, Fallbacks: []int64{15, 14}})
	if err != nil || again.Restore != 15 {
		t.Fatalf("second recovery: restore %d, %v", again.Restore, err)
	}
}

// TestRestoredWithoutPendingCanFallBack (issue 7.6): a job restored from a
// checkpoint without pending transactions writes transactions that say
// they follow it, so losing one later can fall back to it.
func TestRestoredWithoutPendingCanFallBack(t *testing.T) {
	e := newEnv(t)
	s := e.open(7, nil) // restored from checkpoint 7, nothing pending
	e.write(s, "x")
	pending := e.snapshot(s, 8)
	if pending[0].After != 7 {
		t.Fatalf("transaction after a restore of checkpoint 7 says after %d", pending[0].After)
	}
	_ = s.Close()
	e.abortID(pending[0].TransactionalID)
	got, err := e.recover(sink.Recovery{Newest: 8, Pending: pending, Target: 8, Fallbacks: []int64{7}})
	if err != nil || got.Restore != 7 {
		t.Fatalf("restore %d, %v; want checkpoint 7", got.Restore, err)
	}
}

// TestPendingOfAnotherPrefix (issue 7.9): after sink.transactional_id_prefix
// changed, the restored checkpoint lists transactions of the old prefix;
// the sink opens (it panicked) and recovery aborts the old prefix's
// lingering transactions too.
func TestPendingOfAnotherPrefix(t *testing.T) {
	e := newEnv(t)
	e.cfg.Sink.TransactionalIDPrefix = "old"
	old := e.open(0, nil)
	e.write(old, "committed-by-recovery")
	pending := e.snapshot(old, 1)
	e.write(old, "lingering")
	_ = old.Close()

	e.cfg.Sink.TransactionalIDPrefix = "new"
	r := sink.Recovery{Newest: 1, Pending: pending, Target: 1, Pools: []sink.Pool{{Prefix: "old", Tasks: 1, Slots: sink.PoolSize}}}
	if _, err := e.recover(r); err != nil {
		t.Fatal(err)
	}
	s := e.open(1, pending)
	e.write(s, "new")
	e.snapshot(s, 2)
	e.complete(s, 2)
	if got := fmt.Sprint(e.committed()); got != "[committed-by-recovery new]" {
		t.Errorf("committed = %s", got)
	}
}

func TestPoolOwnsExactly(t *testing.T) {
	p := sink.Pool{Prefix: "tidemark-clicks", Tasks: 2, Slots: sink.PoolSize}
	for id, want := range map[string]bool{
		"tidemark-clicks-0-0":    true,
		"tidemark-clicks-1-7":    true,
		"tidemark-clicks-9-3":    true, // a task of a larger parallelism
		"tidemark-clicks-0-8":    true, // a slot of a larger pool
		"tidemark-clicks-v2-0-1": false,
		"tidemark-clicks-0-0-1":  false, // job "clicks-0"
		"tidemark-clicks-01-1":   false,
		"tidemark-clicks-0-":     false,
		"tidemark-click-0-0":     false,
	} {
		if got := p.Owns(id); got != want {
			t.Errorf("Owns(%q) = %v, want %v", id, got, want)
		}
	}
}

func tx(id string, after, ckpt int64) operators.Transaction {
	return operators.Transaction{TransactionalID: id, After: after, Checkpoint: ckpt}
}

func risky(e sink.Examined) sink.Examined { e.AtRisk = true; return e }

// TestNearTimeoutTakenForLost (found by the schedule test, seed 7): a
// pending transaction the broker still shows open although it is past its
// timeout (the broker aborts timed-out transactions periodically) must
// not be committed beside others: recovery committed one transaction of
// checkpoint 58, the broker then aborted the other, and the job halted
// for good. Examine flags it (by the broker's clock), and recovery falls
// back while nothing is committed.
func TestNearTimeoutTakenForLost(t *testing.T) {
	e := newEnv(t)
	e.cfg.Sink.TransactionTimeout = 6 * time.Second // at risk after 1s open
	s := e.open(0, nil)
	e.write(s, "by-1")
	e.snapshot(s, 1)
	e.complete(s, 1)
	e.write(s, "2")
	pending := e.snapshot(s, 2)
	_ = s.Close()
	var ex []sink.Examined
	for {
		var err error
		if ex, err = sink.Examine(e.ctx, e.cfg, e.base, pending, zaptest.NewLogger(t)); err != nil {
			t.Fatal(err)
		}
		if ex[0].AtRisk {
			break
		}
		if e.ctx.Err() != nil {
			t.Fatalf("a transaction open for longer than its timeout less the margin never showed at risk: %+v", ex)
		}
	}
	if ex[0].Verdict != sink.Committable {
		t.Fatalf("verdict %v", ex[0].Verdict)
	}
	p, err := sink.Decide(sink.Recovery{Newest: 2, Pending: pending, Target: 2, Fallbacks: []int64{1}}, ex)
	if err != nil || p.Restore != 1 || len(p.Commit) != 0 {
		t.Fatalf("plan %+v, %v; want a fallback to checkpoint 1 committing nothing", p, err)
	}
}

func TestDecide(t *testing.T) {
	ex := func(v sink.Verdict, after, ckpt int64) sink.Examined {
		return sink.Examined{Transaction: tx(fmt.Sprintf("t-%d-%d", after, ckpt), after, ckpt), Verdict: v}
	}
	cases := []struct {
		name       string
		r          sink.Recovery
		ex         []sink.Examined
		restore    int64
		commit     int
		abort, dup int
		lost       bool
	}{
		{"all committable", sink.Recovery{Newest: 5, Target: 5}, []sink.Examined{ex(sink.Committable, 3, 4), ex(sink.Committable, 4, 5)}, 5, 2, 0, 0, false},
		{"committed and committable", sink.Recovery{Newest: 5, Target: 5}, []sink.Examined{ex(sink.Committed, 3, 4), ex(sink.Committable, 4, 5)}, 5, 1, 0, 0, false},
		{"lost, fallback before it", sink.Recovery{Newest: 5, Target: 5, Fallbacks: []int64{4, 3}}, []sink.Examined{ex(sink.Committable, 3, 4), ex(sink.Lost, 4, 5)}, 4, 1, 0, 0, false},
		{"lost, newer fallback too late", sink.Recovery{Newest: 6, Target: 6, Fallbacks: []int64{5, 3}}, []sink.Examined{ex(sink.Lost, 3, 4), ex(sink.Committable, 4, 6)}, 3, 0, 1, 0, false},
		{"lost after committed", sink.Recovery{Newest: 5, Target: 5, Fallbacks: []int64{3}}, []sink.Examined{ex(sink.Committed, 3, 4), ex(sink.Lost, 4, 5)}, 0, 0, 0, 0, true},
		{"lost, nothing retained", sink.Recovery{Newest: 5, Target: 5}, []sink.Examined{ex(sink.Lost, 4, 5)}, 0, 0, 0, 0, true},
		{"lost, loss accepted", sink.Recovery{Newest: 5, Target: 5, AcceptLoss: true}, []sink.Examined{ex(sink.Lost, 4, 5)}, 5, 0, 0, 0, false},
		{"named older: commit before, abort after, count duplicates", sink.Recovery{Newest: 6, Target: 4, Named: true},
			[]sink.Examined{ex(sink.Committable, 3, 4), ex(sink.Committable, 4, 5), ex(sink.Committed, 5, 6)}, 4, 1, 1, 1, false},
		{"named, lost after it", sink.Recovery{Newest: 6, Target: 4, Named: true}, []sink.Examined{ex(sink.Lost, 4, 6)}, 4, 0, 0, 0, false},
		{"named, lost before it", sink.Recovery{Newest: 6, Target: 5, Named: true}, []sink.Examined{ex(sink.Lost, 4, 6)}, 0, 0, 0, 0, true},
		{"nothing pending", sink.Recovery{Newest: 5, Target: 5}, nil, 5, 0, 0, 0, false},
		{"near its timeout, fallback whole: fallback", sink.Recovery{Newest: 5, Target: 5, Fallbacks: []int64{4}},
			[]sink.Examined{ex(sink.Committable, 3, 4), risky(ex(sink.Committable, 4, 5))}, 4, 1, 0, 0, false},
		{"near its timeout, no fallback: commit it", sink.Recovery{Newest: 5, Target: 5},
			[]sink.Examined{ex(sink.Committable, 3, 4), risky(ex(sink.Committable, 4, 5))}, 5, 2, 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := sink.Decide(c.r, c.ex)
			var lost *sink.LostError
			if c.lost {
				if !errors.As(err, &lost) {
					t.Fatalf("err = %v, want a LostError", err)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Restore != c.restore || len(p.Commit) != c.commit || len(p.Abort) != c.abort || len(p.Duplicated) != c.dup {
				t.Errorf("plan = restore %d, commit %v, abort %v, duplicated %v", p.Restore, p.Commit, p.Abort, p.Duplicated)
			}
		})
	}
}

// TestGuardBeforeInitialisingAnID: a committer whose job was taken over
// (its Guard fails) does not initialise a transactional id, which would
// fence the new owner's pending transaction on it; it fails naming why.
func TestGuardBeforeInitialisingAnID(t *testing.T) {
	e := newEnv(t)
	zombie := errors.New("a newer instance took the job over")
	calls := 0
	s := sink.NewTransactional(e.cfg, e.base, nil)
	oc := operators.OpenContext{Name: "sink", Log: zaptest.NewLogger(t), Guard: func(context.Context) error {
		calls++
		if calls > 1 {
			return zombie
		}
		return nil
	}}
	if err := s.Open(e.ctx, oc); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e.write(s, "first") // slot 0 initialised: the guard passed
	e.snapshot(s, 1)
	err := s.Process(e.ctx, []operators.Record{{Key: []byte("k"), Value: []byte("second")}}, nil)
	if !errors.Is(err, zombie) {
		t.Fatalf("writing on a new slot after the takeover: %v, want the guard's error", err)
	}
	if calls != 2 {
		t.Errorf("guard called %d times, want once per id initialised (2)", calls)
	}
}
