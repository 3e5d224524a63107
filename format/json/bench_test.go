package json_test

import (
	"bytes"
	stdjson "encoding/json"
	"testing"

	"github.com/tidemark/tidemark/format/json"
)

// bidJSON is a Nexmark bid as the generator writes it (about 230 bytes).
var bidJSON = []byte(`{"auction":1107,"bidder":2031,"price":18870,"channel":"Google",` +
	`"url":"https://www.nexmark.com/ivq/qdf/item.htm?query=1&channel_id=1543","dateTime":"2025-03-01 10:00:01.123",` +
	`"extra":"ajfklwqkjefoiqwjeofijqwoeifjqowiejf"}`)

var bidOrder = []string{"auction", "bidder", "price", "channel", "url", "dateTime", "extra"}

var sink any

// BenchmarkDecode: one bid into map[string]any, ints as int64.
//
//	go test -run '^$' -bench . -benchmem ./format/json/
func BenchmarkDecode(b *testing.B) {
	b.Run("format-json", func(b *testing.B) {
		var d json.Decoder
		b.SetBytes(int64(len(bidJSON)))
		b.ReportAllocs()
		for b.Loop() {
			v, err := d.Decode(bidJSON)
			if err != nil {
				b.Fatal(err)
			}
			sink = v
		}
	})
	// encoding/json with the same result: UseNumber, then numbers
	// converted to int64/float64.
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(bidJSON)))
		b.ReportAllocs()
		for b.Loop() {
			dec := stdjson.NewDecoder(bytes.NewReader(bidJSON))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				b.Fatal(err)
			}
			for k, v := range m {
				if n, ok := v.(stdjson.Number); ok {
					if i, err := n.Int64(); err == nil {
						m[k] = i
					} else {
						m[k], _ = n.Float64()
					}
				}
			}
			sink = m
		}
	})
	// encoding/json plain (numbers all float64): its best case.
	b.Run("encoding-json-float", func(b *testing.B) {
		b.SetBytes(int64(len(bidJSON)))
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := stdjson.Unmarshal(bidJSON, &m); err != nil {
				b.Fatal(err)
			}
			sink = m
		}
	})
}

// BenchmarkEncode: one decoded bid to JSON text, fields in the bid's order.
func BenchmarkEncode(b *testing.B) {
	var d json.Decoder
	v, err := d.Decode(bidJSON)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("format-json", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			buf, err = json.AppendValue(buf[:0], v, bidOrder)
			if err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("format-json-sorted", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			buf, err = json.AppendValue(buf[:0], v, nil)
			if err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(buf)))
	})
	// encoding/json sorts map keys; it cannot follow a given order.
	b.Run("encoding-json", func(b *testing.B) {
		var out []byte
		b.ReportAllocs()
		for b.Loop() {
			out, err = stdjson.Marshal(v)
			if err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(out)))
	})
}
