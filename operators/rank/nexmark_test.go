package rank_test

import (
	"testing"

	"github.com/tidemark/tidemark/nexmark/reference"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/internal/nexmarktest"
	"github.com/tidemark/tidemark/operators/optest"
	"github.com/tidemark/tidemark/operators/rank"
	"github.com/tidemark/tidemark/plugin"
)

// TestNexmarkQ19: top_n as configs/nexmark/q19 configures it, over
// generated bids with a checkpoint and a restore half way, gives the
// reference's final rows per (auction, rank_number).
func TestNexmarkQ19(t *testing.T) {
	conf := parse(t, `name: q19
type: top_n
from: bid
partition_by: {auction: value.auction}
order_by: [{expr: value.price, desc: true}]
n: 10
rank_field: rank_number
`)
	n := int64(20000)
	if testing.Short() {
		n = 5000
	}
	events, bids := nexmarktest.Bids(t, 19, n, func(b map[string]any) []any { return []any{b["auction"]} })
	newOp := func() operators.Operator {
		op, err := rank.New(conf, &plugin.Resources{Name: "q19"})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	out := nexmarktest.Run(t, newOp, bids, optest.Name("q19"))
	// Read as one partition, and as two read in turn (ties then depend on
	// the interleaving, which the reference allows for).
	for _, p := range []int{1, 2} {
		if err := reference.Q19(reference.Input{Events: events, Partitions: p}).Check(out); err != nil {
			t.Fatalf("%d partitions: %v", p, err)
		}
	}
	t.Logf("%d bids, %d output records", len(bids), len(out))

	// The check can fail: ascending prices.
	asc := parse(t, "type: top_n\npartition_by: {auction: value.auction}\norder_by: [{expr: value.price}]\nn: 10\nrank_field: rank_number")
	wrong := nexmarktest.Run(t, func() operators.Operator { op, _ := rank.New(asc, &plugin.Resources{}); return op }, bids)
	if err := reference.Q19(reference.Input{Events: events, Partitions: 1}).Check(wrong); err == nil {
		t.Error("ascending prices passed the q19 check")
	}
}
