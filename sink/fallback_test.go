package sink_test

import (
	"errors"
	"testing"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/sink"
)

// TestFallbackSeesTransactionsCommittedBeforeNewest (found by the schedule
// test on the legacy path, seed 1795981806697311226, step 56: 969
// duplicated records): with max_concurrent 3, checkpoints 170 and 171
// complete, task 1 commits its transaction of 170 before its snapshot for
// 172, task 0 has not handled the completion yet and lists its own in 172;
// the process dies just after 172's metadata and stays down past the
// transaction timeout, so task 0's transaction is lost. Newest (172) lists
// only that one, so falling back to 169 looked whole, but task 1's
// committed transaction of 170 (records after 169) is written again. Its
// trace is in checkpoint 171, which lists both: a fallback must not go
// behind a transaction an older retained checkpoint lists, that newest no
// longer lists (it committed), and whose records come after the fallback.
func TestFallbackSeesTransactionsCommittedBeforeNewest(t *testing.T) {
	t0 := tx("p-0-0", 169, 170)
	t1 := tx("p-1-0", 169, 170)
	r := sink.Recovery{Newest: 172, Target: 172, Pending: []operators.Transaction{t0}, Fallbacks: []int64{171, 170, 169},
		Listed: []operators.Transaction{t0, t1}}
	p, err := sink.Decide(r, []sink.Examined{{Transaction: t0, Verdict: sink.Lost}})
	var lost *sink.LostError
	if !errors.As(err, &lost) {
		t.Fatalf("Decide = restore %d (commit %v), err %v; want a LostError: falling back to 169 writes task 1's committed records of 170 again", p.Restore, p.Commit, err)
	}

	// Without task 1's transaction of 170 the fallback to 169 is whole.
	r.Listed = []operators.Transaction{t0, tx("p-1-0", 168, 169)}
	if p, err := sink.Decide(r, []sink.Examined{{Transaction: t0, Verdict: sink.Lost}}); err != nil || p.Restore != 169 {
		t.Fatalf("Decide = restore %d, err %v; want the fallback to 169", p.Restore, err)
	}
}
