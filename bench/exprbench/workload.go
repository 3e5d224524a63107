// Package exprbench compares github.com/expr-lang/expr and cel.dev/cel-go
// on Tidemark's expression workload: a filter and computed fields over one
// JSON record (value fields, key, headers, timestamp), parsed once per
// record. It is a throwaway module, outside the main module; see
// docs/design/pipelines.md for the figures and the choice.
package exprbench

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// BidJSON is a Nexmark bid as the generator writes it.
var BidJSON = []byte(`{"auction":1107,"bidder":2031,"price":18870,"channel":"Google",` +
	`"url":"https://www.nexmark.com/ivq/qdf/item.htm?query=1&channel_id=1543","dateTime":"2025-03-01 10:00:01.123",` +
	`"extra":"ajfklwqkjefoiqwjeofijqwoeifjqowiejf"}`)

// Bid is the typed view of BidJSON.
type Bid struct {
	Auction  int64  `json:"auction" expr:"auction" cel:"auction"`
	Bidder   int64  `json:"bidder" expr:"bidder" cel:"bidder"`
	Price    int64  `json:"price" expr:"price" cel:"price"`
	Channel  string `json:"channel" expr:"channel" cel:"channel"`
	URL      string `json:"url" expr:"url" cel:"url"`
	DateTime string `json:"dateTime" expr:"dateTime" cel:"dateTime"`
	Extra    string `json:"extra" expr:"extra" cel:"extra"`
}

// Record is what an expression sees besides the value.
type Record struct {
	Key       string
	Headers   map[string]string
	Timestamp int64 // event time, epoch ms
}

// Sample is the record the benchmarks evaluate over.
var Sample = Record{Key: "1107", Headers: map[string]string{"src": "web", "trace": "abc"}, Timestamp: 1740823201123}

// ParseMap decodes a JSON object into map[string]any with integral numbers
// as int64 and the others as float64 (what both libraries need to do
// integer arithmetic on JSON fields).
func ParseMap(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	normalize(m)
	return m, nil
}

func normalize(m map[string]any) {
	for k, v := range m {
		m[k] = norm(v)
	}
}

func norm(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		normalize(x)
	case []any:
		for i := range x {
			x[i] = norm(x[i])
		}
	}
	return v
}

// ParseBid decodes the typed view.
func ParseBid(b []byte) (Bid, error) {
	var bid Bid
	err := json.Unmarshal(b, &bid)
	return bid, err
}

// Case is one expression of the workload, spelt in each language. The two
// spellings compute the same result.
type Case struct {
	Name, Expr, CEL string
	Want            any
}

// Cases are the workload: a filter, the computed fields of Nexmark q1/q2
// and a window bucket, and a string concatenation.
var Cases = []Case{
	{Name: "filter", Expr: `value.price > 1000 && value.channel == "Google" && headers["src"] == "web"`,
		CEL: `value.price > 1000 && value.channel == "Google" && headers["src"] == "web"`, Want: true},
	{Name: "q2_filter", Expr: `value.auction % 123 == 0 || value.auction == 1107`,
		CEL: `value.auction % 123 == 0 || value.auction == 1107`, Want: true},
	{Name: "q1_euro", Expr: `value.price * 0.908`, CEL: `double(value.price) * 0.908`, Want: 18870 * 0.908},
	{Name: "bucket", Expr: `timestamp - timestamp % 10000`, CEL: `timestamp - timestamp % 10000`, Want: int64(1740823200000)},
	{Name: "concat", Expr: `key + ":" + value.channel`, CEL: `key + ":" + value.channel`, Want: "1107:Google"},
}

// Evaluator evaluates one compiled expression over a parsed record.
type Evaluator interface {
	EvalMap(value map[string]any, r *Record) (any, error)
	EvalBid(value *Bid, r *Record) (any, error)
}

func check(c Case, got any) error {
	if fmt.Sprint(got) != fmt.Sprint(c.Want) {
		return fmt.Errorf("%s: got %v (%T), want %v", c.Name, got, got, c.Want)
	}
	return nil
}
