package dedup_test

import (
	"testing"

	"github.com/tidemark/tidemark/nexmark/reference"
	"github.com/tidemark/tidemark/operators/internal/nexmarktest"
	"github.com/tidemark/tidemark/operators/optest"
)

// TestNexmarkQ18: dedup as configs/nexmark/q18 configures it, over
// generated bids with a checkpoint and a restore half way, gives the
// reference's final row per (bidder, auction).
func TestNexmarkQ18(t *testing.T) {
	newOp := constructor(t, "name: q18\ntype: dedup\nfrom: bid\nkey: [value.bidder, value.auction]\nkeep: last\norder: event_time")
	n := int64(20000)
	if testing.Short() {
		n = 5000
	}
	events, bids := nexmarktest.Bids(t, 18, n, func(b map[string]any) []any { return []any{b["bidder"], b["auction"]} })
	out := nexmarktest.Run(t, newOp, bids, optest.Name("q18"))
	// Read as one partition, and as two read in turn (ties then depend on
	// the interleaving, which the reference allows for).
	for _, p := range []int{1, 2} {
		if err := reference.Q18(reference.Input{Events: events, Partitions: p}).Check(out); err != nil {
			t.Fatalf("%d partitions: %v", p, err)
		}
	}
	t.Logf("%d bids, %d output records", len(bids), len(out))

	// The check can fail: keep first instead of last.
	first := constructor(t, "type: dedup\nkey: [value.bidder, value.auction]\norder: event_time")
	if err := reference.Q18(reference.Input{Events: events, Partitions: 1}).Check(nexmarktest.Run(t, first, bids)); err == nil {
		t.Error("keep: first passed the q18 check")
	}
}
