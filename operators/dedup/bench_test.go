package dedup_test

import (
	"testing"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/optest"
)

type discard struct{}

func (discard) Emit(operators.Record) {}

// BenchmarkDedupQ18: Nexmark q18's dedup (keep last by event time) over
// bids of 13 bidders × 1000 auctions (ns and allocations per record,
// state on Pebble).
func BenchmarkDedupQ18(b *testing.B) {
	h := optest.New(b, constructor(b, "type: dedup\nkey: [value.bidder, value.auction]\nkeep: last\norder: event_time"))
	recs := make([]operators.Record, 4096)
	for i := range recs {
		bidder, auction := int64(2001+i%13), int64(1000+i*7%1000)
		key, _ := expression.AppendKey(nil, []any{bidder, auction})
		recs[i] = operators.Record{Key: key, Timestamp: int64(i), Data: map[string]any{
			"auction": auction, "bidder": bidder, "price": int64(100 + i*7919%100000),
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
