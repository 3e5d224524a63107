package rank_test

import (
	"testing"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/optest"
	"github.com/tidemark/tidemark/operators/rank"
	"github.com/tidemark/tidemark/plugin"
)

type discard struct{}

func (discard) Emit(operators.Record)        {}
func (discard) EmitTo(int, operators.Record) {}

// BenchmarkTopNQ19: Nexmark q19's top_n over bids of 1000 auctions with
// random prices (ns and allocations per record, state on Pebble).
func BenchmarkTopNQ19(b *testing.B) {
	conf := parse(b, "type: top_n\npartition_by: {auction: value.auction}\norder_by: [{expr: value.price, desc: true}]\nn: 10\nrank_field: rank_number")
	h := optest.New(b, func() operators.Operator { op, _ := rank.New(conf, &plugin.Resources{}); return op })
	recs := make([]operators.Record, 4096)
	for i := range recs {
		auction := int64(1000 + i*7%1000)
		key, _ := expression.AppendKey(nil, auction)
		recs[i] = operators.Record{Key: key, Timestamp: int64(i), Data: map[string]any{
			"auction": auction, "bidder": int64(2001 + i%13), "price": int64(100 + i*7919%100000),
			"channel": "Google", "url": "https://www.nexmark.com/a/b/c/item.htm?query=1",
			"dateTime": "2025-01-01 00:00:00.100", "extra": "xyz"}}
	}
	op := h.Operator()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 256 {
		j := i % len(recs)
		if err := op.Process(b.Context(), recs[j:j+256], discard{}); err != nil {
			b.Fatal(err)
		}
	}
}
