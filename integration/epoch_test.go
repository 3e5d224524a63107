package integration

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/integration/testenv"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/sink"
)

// TestEpochRolloverRealBroker (issue 7.13, DESIGN §10): under
// transaction.version 2 every commit bumps the producer epoch, so a
// transactional id reaches 32767 within days. With the sink's ids forced
// near that limit on the real broker, the sink carries on across it —
// commits, crashes before a commit (recovery resume-commits), crashes after
// one (recovery must see it committed) — and writes every record exactly
// once. Forcing the epochs takes one InitProducerId per step: about three
// minutes here, the ids in parallel.
func TestEpochRolloverRealBroker(t *testing.T) {
	k := testenv.Kafka(t)
	topic := k.CreateTopic(t, 2, nil)
	dlq := k.CreateTopic(t, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cfg := config.Default()
	cfg.Job.Name = testenv.UniqueName(t, "epoch")
	cfg.Job.Parallelism = 1
	cfg.Sink.Topic = topic
	cfg.Sink.DeadLetterTopic = dlq
	cfg.Sink.TransactionTimeout = time.Minute
	base := []kgo.Opt{kgo.SeedBrokers(k.Brokers...)}
	log := zaptest.NewLogger(t)

	cl := k.Client(t)
	if v, err := sink.TxnVersion(ctx, cl); err != nil || v < 2 {
		t.Fatalf("the test broker's transaction.version is %d (%v); this test is about version 2", v, err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for slot := range 4 {
		id := sink.TransactionalID(&cfg, 0, slot)
		wg.Go(func() { bumpEpoch(t, ctx, cl, id, sink.EpochLimit-3) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("epochs of 4 ids forced to %d in %s", sink.EpochLimit-3, time.Since(start).Round(time.Second))
	describe := func(id string) kadm.DescribedTransaction {
		d, err := kadm.NewClient(cl).DescribeTransactions(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return d[id]
	}
	first := describe(sink.TransactionalID(&cfg, 0, 0))

	open := func(restored int64, pending []operators.Transaction) *sink.Transactional {
		s := sink.NewTransactional(&cfg, base, nil)
		oc := operators.OpenContext{Name: "sink", Log: log, RestoredCheckpoint: restored, PendingTransactions: pending, HoldUntil: restored}
		if err := s.Open(ctx, oc); err != nil {
			t.Fatal(err)
		}
		return s
	}
	var want []string
	s := open(0, nil)
	for id := int64(1); id <= 24; id++ {
		v := strconv.FormatInt(id, 10)
		want = append(want, v)
		if err := s.Process(ctx, []operators.Record{{Key: []byte("k"), Value: []byte(v)}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.SnapshotState(ctx, id); err != nil {
			t.Fatal(err)
		}
		pending := s.PendingTransactions()
		switch id % 3 {
		case 0: // committed, then a crash: recovery must see it committed
			if err := s.NotifyCheckpointComplete(ctx, id); err != nil {
				t.Fatal(err)
			}
		case 1: // a crash before the commit: recovery commits it
		case 2:
			if err := s.NotifyCheckpointComplete(ctx, id); err != nil {
				t.Fatal(err)
			}
			continue
		}
		_ = s.Close()
		if _, err := sink.Settle(ctx, &cfg, base, sink.Recovery{Newest: id, Pending: pending, Target: id}, log); err != nil {
			t.Fatalf("recovery of checkpoint %d: %v", id, err)
		}
		s = open(id, pending)
	}
	_ = s.Close()

	rd := k.Client(t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < len(want) {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d committed records: %v", len(got), len(want), got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	// Anything more would be a duplicate.
	qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
	rd.PollFetches(qctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	qcancel()
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("committed %v, want %v", got, want)
	}
	now := describe(sink.TransactionalID(&cfg, 0, 0))
	t.Logf("slot 0: producer %d epoch %d -> producer %d epoch %d", first.ProducerID, first.ProducerEpoch, now.ProducerID, now.ProducerEpoch)
	if now.ProducerID == first.ProducerID {
		t.Error("no producer id roll-over happened")
	}
}

// bumpEpoch initialises id again and again (KIP-360: with its current
// producer id and epoch) until its epoch reaches target.
func bumpEpoch(t *testing.T, ctx context.Context, cl *kgo.Client, id string, target int16) {
	pid, epoch := int64(-1), int16(-1)
	for epoch < target {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = 60000
		req.ProducerID, req.ProducerEpoch = pid, epoch
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil {
			t.Errorf("bump the epoch of %s at %d: %v", id, epoch, err)
			return
		}
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
	}
}
