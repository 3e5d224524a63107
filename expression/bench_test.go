package expression_test

import (
	"testing"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
)

var bidJSON = []byte(`{"auction":1107,"bidder":2031,"price":18870,"channel":"Google",` +
	`"url":"https://www.nexmark.com/ivq/qdf/item.htm?query=1&channel_id=1543","dateTime":"2025-03-01 10:00:01.123",` +
	`"extra":"ajfklwqkjefoiqwjeofijqwoeifjqowiejf"}`)

var result any

// BenchmarkEval: one expression over a decoded bid with a reused Env, as an
// operator evaluates it per record.
//
//	go test -run '^$' -bench . -benchmem ./expression/
func BenchmarkEval(b *testing.B) {
	var d json.Decoder
	data, err := d.Decode(bidJSON)
	if err != nil {
		b.Fatal(err)
	}
	r := operators.Record{Key: []byte("1107"), Data: data, Timestamp: 1740823201123,
		Headers: []operators.Header{{Key: "src", Value: []byte("web")}, {Key: "trace", Value: []byte("abc")}}}
	for _, c := range []struct{ name, src string }{
		{"filter", `value.price > 1000 && value.channel == "Google"`},
		{"filter_headers", `value.price > 1000 && value.channel == "Google" && headers["src"] == "web"`},
		{"q2_filter", `value.auction % 123 == 0 || value.auction == 1107`},
		{"q1_price", `round_to(value.price * 0.908, 3)`},
		{"bucket", `timestamp - timestamp % 10000`},
		{"concat", `key + ":" + value.channel`},
		{"parse_time", `parse_time(value.dateTime, "sql")`},
		{"composite_key", `[value.bidder, value.auction]`},
	} {
		p := expression.MustCompile(c.src, expression.RecordContext)
		b.Run(c.name, func(b *testing.B) {
			var env expression.Env
			b.ReportAllocs()
			for b.Loop() {
				env.SetRecord(&r)
				v, err := p.Eval(&env)
				if err != nil {
					b.Fatal(err)
				}
				result = v
			}
		})
	}
}

// BenchmarkCompile: compiling one filter, what Eval never does.
func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		p, err := expression.Compile(`value.price > 1000 && value.channel == "Google"`, expression.RecordContext, expression.Bool())
		if err != nil {
			b.Fatal(err)
		}
		result = p
	}
}
