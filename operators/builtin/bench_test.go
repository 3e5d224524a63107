package builtin_test

import (
	"testing"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/optest"
)

// bids returns n Nexmark-like bid records (decoded values).
func bids(n int) []operators.Record {
	recs := make([]operators.Record, n)
	for i := range recs {
		recs[i] = operators.Record{Timestamp: int64(i), Data: map[string]any{
			"auction": int64(1000 + i%97), "bidder": int64(2001 + i%13), "price": int64(100 + i*7919%100000),
			"channel": "Google", "url": "https://www.nexmark.com/a/b/c/item.htm?query=1",
			"dateTime": "2025-01-01 00:00:00.100", "extra": "xyz"}}
	}
	return recs
}

type discard struct{}

func (discard) Emit(operators.Record)        {}
func (discard) EmitTo(int, operators.Record) {}

var _ operators.PortCollector = discard{}

// benchOperator reports ns and allocations per record of the operator src
// configures over batches of 256 bids.
func benchOperator(b *testing.B, src string) {
	h := optest.New(b, build(b, src))
	recs := bids(256)
	op := h.Operator()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(recs) {
		if err := op.Process(b.Context(), recs, discard{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFilterQ2(b *testing.B) {
	benchOperator(b, "type: filter\nwhere: value.auction % 123 == 0")
}

func BenchmarkMapQ1(b *testing.B) {
	benchOperator(b, "type: map\nfields: {auction: value.auction, bidder: value.bidder, price: 'round_to(value.price * 0.908, 3)', dateTime: value.dateTime, extra: value.extra}")
}

func BenchmarkKeyByComposite(b *testing.B) {
	benchOperator(b, "type: key_by\nkey: [value.bidder, value.auction]")
}

func BenchmarkFlatMap(b *testing.B) {
	benchOperator(b, "type: flat_map\nexplode: '[value.price, value.bidder]'\nas: x")
}
