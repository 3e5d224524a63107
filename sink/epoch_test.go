package sink_test

import (
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

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/sink"
)

// bumpEpoch initialises transactional id again and again (KIP-360: with its
// current producer id and epoch) until its epoch reaches target.
func (e *env) bumpEpoch(id string, target int16) {
	e.t.Helper()
	cl, err := kgo.NewClient(e.base...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	pid, epoch := int64(-1), int16(-1)
	for epoch < target {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = 60000
		req.ProducerID, req.ProducerEpoch = pid, epoch
		resp, err := req.RequestWith(e.ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil {
			e.t.Errorf("bump the epoch of %s at %d: %v", id, epoch, err)
			return
		}
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
	}
}

func (e *env) describe(id string) kadm.DescribedTransaction {
	e.t.Helper()
	cl, err := kgo.NewClient(e.base...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	d, err := kadm.NewClient(cl).DescribeTransactions(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d[id]
}

// TestEpochRollover (issue 7.13): with transaction.version 2 every commit
// bumps the producer epoch, so an id reaches 32767 within days. Starting
// near the limit, the sink carries on across it — commits, and crashes
// with a pending transaction that recovery resume-commits — writing every
// record exactly once, and the ids move to new producer ids.
func TestEpochRollover(t *testing.T) {
	e := newEnvTimeout(t, 3*time.Minute)
	var wg sync.WaitGroup
	for slot := range 4 {
		wg.Go(func() { e.bumpEpoch(sink.TransactionalID(e.cfg, 0, slot), sink.EpochLimit-3) })
	}
	wg.Wait()
	first := e.describe(sink.TransactionalID(e.cfg, 0, 0))
	var want []string
	var restored int64
	var pending []operators.Transaction
	s := e.open(0, nil)
	for id := int64(1); id <= 24; id++ {
		v := strconv.FormatInt(id, 10)
		want = append(want, v)
		e.write(s, v)
		p := e.snapshot(s, id)
		switch id % 3 {
		case 0: // complete and committed, then a crash: recovery must see it committed
			e.complete(s, id)
		case 1: // complete but a crash before the commit: recovery commits it
		case 2:
			e.complete(s, id)
			continue
		}
		_ = s.Close()
		pending, restored = p, id
		if err := e.settle(restored, pending); err != nil {
			t.Fatalf("recovery of checkpoint %d (epochs %v): %v", id, epochs(p), err)
		}
		s = e.open(restored, pending)
	}
	_ = s.Close()
	got := e.committed()
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("committed %v, want %v", got, want)
	}
	t.Logf("slot 0: producer %d epoch %d -> %+v", first.ProducerID, first.ProducerEpoch, e.describe(sink.TransactionalID(e.cfg, 0, 0)))
	if now := e.describe(sink.TransactionalID(e.cfg, 0, 0)); now.ProducerID == first.ProducerID {
		t.Errorf("slot 0 kept producer id %d (epoch %d -> %d): no roll-over happened", first.ProducerID, first.ProducerEpoch, now.ProducerEpoch)
	}
}

func epochs(txs []operators.Transaction) []string {
	var out []string
	for _, tx := range txs {
		out = append(out, fmt.Sprintf("%s@%d/%d", tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch))
	}
	return out
}
