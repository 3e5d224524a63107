package sink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/sink"
)

// topicsEnv is a broker holding topics (one partition each) besides "out"
// and "out-dead-letters".
func topicsEnv(t *testing.T, topics ...string) *env {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, append([]string{"out", "out-dead-letters"}, topics...)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := config.Default()
	cfg.Job.Name = "sinktest"
	cfg.Job.Parallelism = 1
	cfg.Sink.Topic = "out"
	cfg.Sink.TransactionTimeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return &env{t: t, ctx: ctx, cfg: &cfg, base: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}}
}

// output is the job's output block with prefix.
func (e *env) output(prefix string) sink.Output {
	o := sink.LegacyOutput(e.cfg)
	o.Block, o.DeadLetterKey = "output", "dead_letter.topic"
	o.TransactionalIDPrefix = prefix
	return o
}

// committer opens the committer of task of stage (prefix "tidemark-sinktest"
// unless given), restored from checkpoint restored with pending.
func (e *env) committer(prefix, stage string, task int, restored int64, pending []operators.Transaction, topics ...sink.Topic) *sink.TaskCommitter {
	e.t.Helper()
	if prefix == "" {
		prefix = "tidemark-sinktest"
	}
	c := sink.NewTaskCommitter(sink.CommitterConfig{Output: e.output(prefix), Stage: stage, Topics: topics}, e.base)
	e.t.Cleanup(func() { _ = c.Close() })
	oc := operators.OpenContext{Task: task, Log: zaptest.NewLogger(e.t), RestoredCheckpoint: restored, PendingTransactions: pending, HoldUntil: restored}
	if err := c.Open(e.ctx, oc); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// put writes values to topic out through c.
func (e *env) put(c operators.TaskCommitter, vals ...string) {
	e.t.Helper()
	var recs []operators.SinkRecord
	for _, v := range vals {
		recs = append(recs, operators.SinkRecord{Topic: "out", Key: []byte("k"), Value: []byte(v)})
	}
	if err := c.Write(e.ctx, recs); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) preCommit(c operators.TaskCommitter, id int64) []operators.Transaction {
	e.t.Helper()
	if err := c.PreCommit(e.ctx, id); err != nil {
		e.t.Fatal(err)
	}
	return c.PendingTransactions()
}

func (e *env) commit(c operators.TaskCommitter, id int64) {
	e.t.Helper()
	if err := c.NotifyCheckpointComplete(e.ctx, id); err != nil {
		e.t.Fatal(err)
	}
}

func values(rs []*kgo.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, show(r.Value))
	}
	return out
}

// TestSinksShareOneTransaction: two sinks of a task (a fixed topic, and a
// topic per record) and the task's dead letters write into one
// transaction on the task's id <prefix>-<stage>-<task>-<slot>: none of it
// is visible before the checkpoint completes, all of it after. A record
// whose topic expression gives no topic, or a topic that does not exist,
// goes to the dead-letter topic naming the sink and the record.
func TestSinksShareOneTransaction(t *testing.T) {
	e := topicsEnv(t, "a", "b")
	c := e.committer("", "counts", 1, 0, nil, sink.Topic{Name: "a", Key: "sinks[fixed].topic"})
	fixed := openSink(t, sink.Spec{Name: "fixed", Topic: "a"}, c, nil)
	routed := openSink(t, sink.Spec{Name: "routed", TopicExpr: "value.dest"}, c, nil)
	at := func(offset int64, data any) operators.Record {
		return operators.Record{Key: []byte("k"), Data: data, Topic: "in", Partition: 3, Offset: offset}
	}
	if err := fixed.Process(e.ctx, []operators.Record{at(1, obj("n", int64(1)))}, nil); err != nil {
		t.Fatal(err)
	}
	in := []operators.Record{at(2, obj("dest", "b")), at(3, obj("dest", "nowhere")), at(4, obj("dest", int64(5))), at(5, obj("dest", "bad topic"))}
	if err := routed.Process(e.ctx, in, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.DeadLetters(e.ctx, []operators.DeadLetter{{Record: operators.Record{Key: []byte("k"), Value: []byte("{"), Topic: "in", Partition: 3, Offset: 6}, Operator: "parse", Reason: "not JSON"}}); err != nil {
		t.Fatal(err)
	}
	pending := e.preCommit(c, 1)
	if len(pending) != 1 || pending[0].TransactionalID != "tidemark-sinktest/counts/1-0" || pending[0].Task != 1 {
		t.Fatalf("pending %+v, want one transaction on tidemark-sinktest/counts/1-0", pending)
	}
	if got := len(e.read("a")) + len(e.read("b")) + len(e.read("out-dead-letters")); got != 0 {
		t.Fatalf("%d records visible before the checkpoint completed", got)
	}
	e.commit(c, 1)
	if a, b := values(e.read("a")), values(e.read("b")); fmt.Sprint(a, b) != `[{"n":1}] [{"dest":"b"}]` {
		t.Errorf("a holds %v, b holds %v", a, b)
	}
	dls := e.read("out-dead-letters")
	want := map[string][]string{ // offset: operator, reason
		"3": {"routed", "topic nowhere does not exist"},
		"4": {"routed", `sink routed: topic_expr "value.dest" gave the number 5`},
		"5": {"routed", `topic "bad topic" is not a valid Kafka topic name`},
		"6": {"parse", "not JSON"},
	}
	if len(dls) != len(want) {
		t.Fatalf("%d dead letters, want %d: %v", len(dls), len(want), values(dls))
	}
	for _, d := range dls {
		off := header(d, sink.HeaderOffset)
		w, ok := want[off]
		if !ok || header(d, sink.HeaderOperator) != w[0] || !strings.Contains(header(d, sink.HeaderError), w[1]) ||
			header(d, sink.HeaderTopic) != "in" || header(d, sink.HeaderPartition) != "3" {
			t.Errorf("dead letter of offset %s: operator %q, error %q; want %v", off, header(d, sink.HeaderOperator), header(d, sink.HeaderError), w)
		}
		delete(want, off)
	}
}

// TestUpsertOnBroker: an upsert sink writes the changelog of an updating
// stream keyed by the group key: the latest value per key, deletes as
// tombstones, update-befores not at all.
func TestUpsertOnBroker(t *testing.T) {
	e := topicsEnv(t, "totals")
	c := e.committer("", "agg", 0, 0, nil, sink.Topic{Name: "totals", Key: "sinks[totals].topic"})
	s := openSink(t, sink.Spec{Name: "totals", Topic: "totals", Mode: sink.ModeUpsert, FieldOrder: []string{"user", "total"}}, c, nil)
	in := []operators.Record{
		rec("alice", operators.Insert, obj("user", "alice", "total", int64(10))),
		rec("bob", operators.Insert, obj("user", "bob", "total", int64(5))),
		rec("alice", operators.UpdateBefore, obj("user", "alice", "total", int64(10))),
		rec("alice", operators.UpdateAfter, obj("user", "alice", "total", int64(17))),
		rec("bob", operators.Delete, obj("user", "bob", "total", int64(5))),
	}
	if err := s.Process(e.ctx, in, nil); err != nil {
		t.Fatal(err)
	}
	e.preCommit(c, 1)
	e.commit(c, 1)
	var log []string
	latest := map[string]string{}
	for _, r := range e.read("totals") {
		log = append(log, string(r.Key)+"="+show(r.Value))
		if r.Value == nil {
			delete(latest, string(r.Key))
		} else {
			latest[string(r.Key)] = string(r.Value)
		}
	}
	if want := `[alice={"user":"alice","total":10} bob={"user":"bob","total":5} alice={"user":"alice","total":17} bob=<null>]`; fmt.Sprint(log) != want {
		t.Errorf("topic holds %v\nwant        %s", log, want)
	}
	if fmt.Sprint(latest) != `map[alice:{"user":"alice","total":17}]` {
		t.Errorf("latest per key %v", latest)
	}
}

func TestStageTransactionalID(t *testing.T) {
	for _, c := range []struct {
		stage string
		want  string
	}{
		{"", "p-3-7"},
		{sink.LegacyStage, "p-3-7"},
		{"counts", "p/counts/3-7"},
		{"source:events", "p/source:events/3-7"},
		{"q4-avg", "p/q4-avg/3-7"},
	} {
		if got := sink.StageTransactionalID("p", c.stage, 3, 7); got != c.want {
			t.Errorf("stage %q: %s, want %s", c.stage, got, c.want)
		}
	}
	cfg := config.Default()
	cfg.Job.Name = "clicks"
	if got := sink.TransactionalID(&cfg, 2, 1); got != "tidemark-clicks-2-1" {
		t.Errorf("legacy id %s", got)
	}
}

// TestCommitterIDs: a committer's transactions go on its stage's ids; the
// legacy stage keeps the ids of the single-chain sink.
func TestCommitterIDs(t *testing.T) {
	e := topicsEnv(t)
	for stage, want := range map[string]string{
		sink.LegacyStage: "tidemark-sinktest-1-0",
		"source:events":  "tidemark-sinktest/source:events/1-0",
		"q4-avg":         "tidemark-sinktest/q4-avg/1-0",
	} {
		c := e.committer("", stage, 1, 0, nil)
		e.put(c, stage)
		p := e.preCommit(c, 1)
		e.commit(c, 1)
		if len(p) != 1 || p[0].TransactionalID != want {
			t.Errorf("stage %s: pending %+v, want id %s", stage, p, want)
		}
		if ids := c.IDs(); len(ids) != sink.PoolSize || ids[0] != want {
			t.Errorf("stage %s: ids %v", stage, ids)
		}
	}
	if got := fmt.Sprint(e.committed()); got != "[keyed q4-avg source:events]" {
		t.Errorf("committed %s", got)
	}
}

func TestPoolOwnsStagesExactly(t *testing.T) {
	counts := sink.Pool{Prefix: "tidemark-clicks", Stage: "counts", Tasks: 2, Slots: sink.PoolSize}
	legacy := sink.Pool{Prefix: "tidemark-clicks", Stage: sink.LegacyStage, Tasks: 2, Slots: sink.PoolSize}
	for id, want := range map[string][2]bool{ // counts owns, legacy owns
		"tidemark-clicks/counts/0-0":    {true, false},
		"tidemark-clicks/counts/5-7":    {true, false},
		"tidemark-clicks-0-0":           {false, true},
		"tidemark-clicks/counts/0-8":    {true, false}, // a larger pool
		"tidemark-clicks/counts/x/0-1":  {false, false},
		"tidemark-clicks-counts/x/0-1":  {false, false}, // stage "x" of job "clicks-counts"
		"tidemark-clicks-counts-0-1":    {false, false}, // job "clicks-counts"
		"tidemark-clicks/count/0-1":     {false, false},
		"tidemark-clicks/counts/0":      {false, false},
		"tidemark-clicks/counts/01-0":   {false, false},
		"tidemark-clicks-v2/counts/0-0": {false, false}, // job "clicks-v2"'s stage counts
		"tidemark-clicks/v2/0-0":        {false, false}, // this job's stage v2
	} {
		if got := [2]bool{counts.Owns(id), legacy.Owns(id)}; got != want {
			t.Errorf("Owns(%q): counts %v legacy %v, want %v", id, got[0], got[1], want)
		}
	}
	ids := counts.IDs()
	if len(ids) != 2*sink.PoolSize || ids[0] != "tidemark-clicks/counts/0-0" || ids[len(ids)-1] != "tidemark-clicks/counts/1-7" {
		t.Errorf("ids %v", ids)
	}
	if got := sink.StagePools("p", []string{sink.LegacyStage, "a"}, 3, sink.PoolSize); fmt.Sprint(got) != "[{p  3 8} {p a 3 8}]" {
		t.Errorf("StagePools = %v", got)
	}
	// A pool recorded before stages existed reads as the legacy pool, and
	// the legacy pool is recorded as it was.
	var old sink.Pool
	if err := json.Unmarshal([]byte(`{"transactional_id_prefix":"tidemark-clicks","tasks":2,"pool_size":8}`), &old); err != nil || !old.Owns("tidemark-clicks-1-1") {
		t.Errorf("old pool %+v (%v) does not own tidemark-clicks-1-1", old, err)
	}
	if b, _ := json.Marshal(sink.StagePools("p", []string{sink.LegacyStage}, 1, sink.PoolSize)[0]); string(b) != `{"transactional_id_prefix":"p","tasks":1,"pool_size":8}` {
		t.Errorf("legacy pool recorded as %s", b)
	}
}

// ongoing reports whether id holds an open transaction at epoch.
func (e *env) ongoing(id string, epoch int16) bool {
	d := e.describe(id)
	return d.State == "Ongoing" && d.ProducerEpoch == epoch
}

// TestLingeringAbortStagesExactly: job "clicks" has a stage named "v2",
// job "clicks-v2" a stage "s": the ids of one are never the other's to
// abort, whichever recovers, although the one's prefix and stage spell
// the beginning of the other's ids.
func TestLingeringAbortStagesExactly(t *testing.T) {
	e := topicsEnv(t)
	clicks := e.committer("tidemark-clicks", "v2", 0, 0, nil)
	e.put(clicks, "clicks'")
	pc := e.preCommit(clicks, 1)
	e.put(clicks, "clicks' lingering")
	v2 := e.committer("tidemark-clicks-v2", "s", 0, 0, nil)
	e.put(v2, "v2's")
	pv := e.preCommit(v2, 1)
	if pc[0].TransactionalID != "tidemark-clicks/v2/0-0" || pv[0].TransactionalID != "tidemark-clicks-v2/s/0-0" {
		t.Fatalf("ids %s and %s", pc[0].TransactionalID, pv[0].TransactionalID)
	}
	settle := func(prefix string, stages ...string) {
		t.Helper()
		st := sink.Settler{Output: e.output(prefix), Base: e.base, Pools: sink.StagePools(prefix, stages, 1, sink.PoolSize), Log: zaptest.NewLogger(t)}
		if _, err := st.Settle(e.ctx, sink.Recovery{}); err != nil {
			t.Fatal(err)
		}
	}
	// Job clicks-v2 recovers (from nothing): clicks' transactions stay.
	settle("tidemark-clicks-v2", "s", "other")
	if !e.ongoing(pc[0].TransactionalID, pc[0].ProducerEpoch) {
		t.Fatalf("job clicks-v2's recovery touched job clicks' transaction on %s", pc[0].TransactionalID)
	}
	if e.ongoing(pv[0].TransactionalID, pv[0].ProducerEpoch) {
		t.Fatalf("job clicks-v2's recovery left its own transaction on %s open", pv[0].TransactionalID)
	}
	// Job clicks recovers too, with its stage v2 and a stage "s-x"
	// besides (ids tidemark-clicks-s-x-…): job clicks-v2's new
	// transaction stays.
	v2b := e.committer("tidemark-clicks-v2", "s", 0, 0, nil)
	e.put(v2b, "v2's again")
	pv = e.preCommit(v2b, 1)
	e.commit(clicks, 1)
	settle("tidemark-clicks", "v2", "s-x")
	if !e.ongoing(pv[0].TransactionalID, pv[0].ProducerEpoch) {
		t.Fatalf("job clicks' recovery touched job clicks-v2's transaction on %s", pv[0].TransactionalID)
	}
	e.commit(v2b, 1)
	if got := fmt.Sprint(e.committed()); got != "[clicks' v2's again]" {
		t.Errorf("committed %s", got)
	}
}

// TestSettleSeveralStages: recovery commits the pending transactions of
// every stage, aborts what lingers on every stage's ids and on those of a
// stage a previous run had (recorded in the checkpoint), and each
// committer reopened with every pending transaction of the checkpoint
// holds its own ids only.
func TestSettleSeveralStages(t *testing.T) {
	e := topicsEnv(t)
	a := e.committer("", "a", 0, 0, nil)
	b := e.committer("", "b", 0, 0, nil)
	gone := e.committer("", "gone", 0, 0, nil)
	e.put(a, "a1")
	e.put(b, "b1")
	pending := append(e.preCommit(a, 1), e.preCommit(b, 1)...)
	e.put(a, "a-late")
	e.put(b, "b-late")
	e.put(gone, "gone-late")
	lingering := []string{"tidemark-sinktest/a/0-1", "tidemark-sinktest/b/0-1", "tidemark-sinktest/gone/0-0"}
	for _, c := range []*sink.TaskCommitter{a, b, gone} {
		_ = c.Close() // the crash
	}
	st := sink.Settler{Output: e.output("tidemark-sinktest"), Base: e.base, Pools: sink.StagePools("tidemark-sinktest", []string{"a", "b"}, 1, sink.PoolSize), Log: zaptest.NewLogger(t)}
	r := sink.Recovery{Newest: 1, Pending: pending, Target: 1,
		Pools: []sink.Pool{{Prefix: "tidemark-sinktest", Stage: "gone", Tasks: 1, Slots: sink.PoolSize}}}
	got, err := st.Settle(e.ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Committed) != 2 || got.Restore != 1 {
		t.Fatalf("restore %d, committed %+v", got.Restore, got.Committed)
	}
	for _, id := range lingering {
		if d := e.describe(id); d.State == "Ongoing" {
			t.Errorf("%s still holds an open transaction after recovery: %+v", id, d)
		}
	}
	if got := fmt.Sprint(e.committed()); got != "[a1 b1]" {
		t.Fatalf("committed %s", got)
	}
	// Reopened with the checkpoint's pending transactions of both stages:
	// a's slot 0 is held until a checkpoint after 1 completes.
	a = e.committer("", "a", 0, 1, pending)
	e.put(a, "a2")
	p := e.preCommit(a, 2)
	if len(p) != 1 || p[0].TransactionalID != "tidemark-sinktest/a/0-1" || p[0].After != 1 {
		t.Fatalf("stage a's next transaction %+v, want on tidemark-sinktest/a/0-1 after checkpoint 1", p)
	}
	e.commit(a, 2)
	if got := fmt.Sprint(e.committed()); got != "[a1 a2 b1]" {
		t.Errorf("committed %s", got)
	}
	if slices.Contains(a.IDs(), "tidemark-sinktest/b/0-0") {
		t.Error("stage a's pool holds stage b's id")
	}
}

// TestAtLeastOnceCommitter: with delivery at_least_once the task's
// committer is an idempotent producer: what its sinks write is visible
// once flushed on the barrier, with nothing pending.
func TestAtLeastOnceCommitter(t *testing.T) {
	e := topicsEnv(t, "a")
	o := e.output("tidemark-sinktest")
	o.Delivery = config.AtLeastOnce
	var written atomic.Int64
	c := sink.NewCommitter(sink.CommitterConfig{Output: o, Stage: "s", Written: &written}, e.base)
	if _, ok := c.(*sink.IdempotentCommitter); !ok {
		t.Fatalf("NewCommitter for at_least_once = %T", c)
	}
	defer c.Close()
	if err := c.Open(e.ctx, operators.OpenContext{Log: zaptest.NewLogger(t)}); err != nil {
		t.Fatal(err)
	}
	s := openSink(t, sink.Spec{Name: "routed", TopicExpr: "value.dest"}, c, nil)
	if err := s.Process(e.ctx, []operators.Record{rec("k", operators.Insert, obj("dest", "a")), rec("k", operators.Insert, obj("dest", "missing"))}, nil); err != nil {
		t.Fatal(err)
	}
	if p := e.preCommit(c, 1); len(p) != 0 {
		t.Errorf("pending %+v", p)
	}
	if a, dls := e.read("a"), e.read("out-dead-letters"); len(a) != 1 || len(dls) != 1 || header(dls[0], sink.HeaderOperator) != "routed" {
		t.Errorf("a holds %d records, dead letters %d (%v)", len(a), len(dls), values(dls))
	}
	if n := written.Load(); n != 1 {
		t.Errorf("%d records counted written, want 1 (dead letters are not output)", n)
	}
	o.Delivery = config.ExactlyOnce
	if c, ok := sink.NewCommitter(sink.CommitterConfig{Output: o}, e.base).(*sink.TaskCommitter); !ok {
		t.Errorf("NewCommitter for exactly_once = %T", c)
	}
}

// TestMissingTopicFailPolicy: with on_rejected: fail a record whose topic
// does not exist stops the task, naming the record and the topic; its
// transaction is never pre-committed.
func TestMissingTopicFailPolicy(t *testing.T) {
	e := topicsEnv(t)
	e.cfg.Sink.OnRejected = config.OnRejectedFail
	c := e.committer("", "s", 0, 0, nil)
	s := openSink(t, sink.Spec{Name: "routed", TopicExpr: "value.dest"}, c, nil)
	err := s.Process(e.ctx, []operators.Record{rec("k", operators.Insert, obj("dest", "nowhere"))}, nil)
	var rej *sink.RejectedError
	if !errors.As(err, &rej) || rej.Topic != "nowhere" || rej.Record.Offset != 42 {
		t.Fatalf("Process = %v, want a RejectedError for topic nowhere, record in[3] offset 42", err)
	}
	for _, w := range []string{"in[3] offset 42", "topic nowhere does not exist", "on_rejected is fail"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q lacks %q", err, w)
		}
	}
	var tf *operators.TaskFailure
	if err := c.PreCommit(e.ctx, 1); !errors.As(err, &tf) {
		t.Errorf("PreCommit after the failure = %v, want a TaskFailure", err)
	}
}

// TestSinkOpensCommitter: a runtime that hands its sinks a committer it
// did not open gets it opened by the first sink, with the task and the
// restored checkpoint's transactions the sink was opened with; every sink
// requires its fixed topic.
func TestSinkOpensCommitter(t *testing.T) {
	e := topicsEnv(t, "a")
	var written atomic.Int64
	c := sink.NewCommitter(sink.CommitterConfig{Output: e.output("tidemark-sinktest"), Stage: "st", Written: &written}, e.base)
	defer c.Close()
	held := []operators.Transaction{{Task: 2, TransactionalID: "tidemark-sinktest/st/2-0"}, {Task: 2, TransactionalID: "tidemark-sinktest/other/2-1"}}
	oc := operators.OpenContext{Task: 2, Log: zaptest.NewLogger(t), Committer: c, RestoredCheckpoint: 4, PendingTransactions: held, HoldUntil: 4}
	for _, name := range []string{"one", "two"} {
		k, err := sink.NewKafkaSink(sink.Spec{Name: name, Topic: "a"})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Open(e.ctx, oc); err != nil {
			t.Fatal(err)
		}
		if err := k.Process(e.ctx, []operators.Record{rec(name, operators.Insert, obj("n", name))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	p := e.preCommit(c, 5)
	if len(p) != 1 || p[0].TransactionalID != "tidemark-sinktest/st/2-1" || p[0].After != 4 || p[0].Task != 2 {
		t.Fatalf("pending %+v: want task 2's transaction on slot 1 (slot 0 held), after checkpoint 4", p)
	}
	if n := written.Load(); n != 2 {
		t.Errorf("%d records counted written after the pre-commit's flush, want 2", n)
	}
	e.commit(c, 5)
	if got := values(e.read("a")); fmt.Sprint(got) != `[{"n":"one"} {"n":"two"}]` {
		t.Errorf("a holds %v", got)
	}
	k, err := sink.NewKafkaSink(sink.Spec{Name: "three", Topic: "absent"})
	if err != nil {
		t.Fatal(err)
	}
	err = k.Open(e.ctx, oc)
	var missing *sink.MissingTopicError
	if !errors.As(err, &missing) || !strings.Contains(err.Error(), `"absent" (sinks[three].topic)`) {
		t.Fatalf("Open of a sink whose topic does not exist = %v", err)
	}
}
