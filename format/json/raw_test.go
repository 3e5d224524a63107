package json_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/tidemark/tidemark/format/json"
)

// checkLazy compares everything a lazy value of b offers with Decode's
// value of b: acceptance and error, the materialised value, every member
// (nested ones too), and the encoded text with and without a field order.
func checkLazy(t *testing.T, b []byte) {
	t.Helper()
	var d, dl json.Decoder
	want, werr := d.Decode(b)
	got, err := dl.Lazy(b)
	if (werr == nil) != (err == nil) || werr != nil && werr.Error() != err.Error() {
		t.Fatalf("%q: Decode error %v, Lazy error %v", b, werr, err)
	}
	if err != nil {
		if !errors.Is(err, json.ErrSyntax) {
			t.Fatalf("%q: Lazy error %v does not wrap ErrSyntax", b, err)
		}
		return
	}
	sameLazy(t, b, got, want)
}

func sameLazy(t *testing.T, b []byte, got, want any) {
	t.Helper()
	m, err := json.Materialize(got)
	if err != nil {
		t.Fatalf("%q: Materialize: %v", b, err)
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("%q: materialised %#v, Decode %#v", b, m, want)
	}
	for _, order := range [][]string{nil, {"b", "a", "zz"}} {
		we, werr := json.AppendValue([]byte("x"), want, order)
		ge, gerr := json.AppendValue([]byte("x"), got, order)
		if !bytes.Equal(we, ge) || (werr == nil) != (gerr == nil) {
			t.Fatalf("%q, order %q: encoded lazily %q (%v), decoded %q (%v)", b, order, ge, gerr, we, werr)
		}
	}
	r, isRaw := got.(json.Raw)
	if !isRaw {
		return
	}
	obj, isObj := want.(map[string]any)
	if r.IsObject() != isObj {
		t.Fatalf("%q: IsObject %v, decoded %T", b, r.IsObject(), want)
	}
	if !isObj {
		if _, ok := r.Member("a"); ok {
			t.Fatalf("%q: Member of an array reports ok", b)
		}
		return
	}
	for _, k := range []string{"", "a", "absent", "\ufffd"} {
		if _, ok := obj[k]; !ok {
			v, ok := r.Member(k)
			if !ok || v != nil {
				t.Fatalf("%q: Member(%q) of an absent field = %#v, %v", b, k, v, ok)
			}
		}
	}
	for k, wv := range obj {
		v, ok := r.Member(k)
		if !ok {
			t.Fatalf("%q: Member(%q) not ok", b, k)
		}
		sameLazy(t, b, v, wv)
	}
}

var lazyCases = []string{
	string(bidJSON), `{}`, `[]`, ` { "a" : 1 , "b" : [ 1 , 2 ] } `, `{"a":1,"a":2}`, `{"a":{"x":1},"a":[2]}`,
	`{"b":1,"a":2}`, `{"a":1.0,"b":1.5,"c":-0,"d":1e3,"e":12345678901234567890,"f":1E400}`,
	`{"a":"\u0065","\u0061":"x\/y","c":"\ud800","d":"` + "\xff" + `"}`, "{\"\xff\":1}", `{"a\"b":{"c\\":"d"}}`,
	`{"a":[{"b":[{}]}],"c":null,"d":true,"e":false}`, `{"a":1}x`, `{"a":}`, `{"a" 1}`, `[1,]`, `{"a":01}`,
	`{"a":"x}`, `[` + string(bytes.Repeat([]byte("["), 400)), `{"a":[1,2,3`, `1`, `"s"`, `null`, ``, `  `,
	"{\"a\":\"\u2028\",\"b\":\"\x01\"}", `{"a":-9223372036854775808,"b":9223372036854775807,"c":-9223372036854775809}`,
	`{"z":1,"é":2,"a":{"y":1,"x":2}}`, `[1e21,1e-7,0.1,100000000000000000000]`,
}

func TestLazy(t *testing.T) {
	for _, c := range lazyCases {
		checkLazy(t, []byte(c))
	}
}

// FuzzLazy checks, for any input, that Decoder.Lazy accepts exactly what
// Decode accepts (with the same error), and that the lazy value reads,
// materialises and encodes as the decoded one.
//
//	go test -run '^$' -fuzz FuzzLazy -fuzztime 60s ./format/json/
func FuzzLazy(f *testing.F) {
	for _, c := range lazyCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkLazy(t, b) })
}

// BenchmarkLazy: validating a bid and reading four of its fields, beside
// Decode and the same reads from its map.
func BenchmarkLazy(b *testing.B) {
	fields := []string{"auction", "bidder", "price", "dateTime"}
	b.Run("lazy", func(b *testing.B) {
		var d json.Decoder
		b.ReportAllocs()
		for b.Loop() {
			v, err := d.Lazy(bidJSON)
			if err != nil {
				b.Fatal(err)
			}
			r := v.(json.Raw)
			for _, f := range fields {
				sink, _ = r.Member(f)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		var d json.Decoder
		b.ReportAllocs()
		for b.Loop() {
			v, err := d.Decode(bidJSON)
			if err != nil {
				b.Fatal(err)
			}
			m := v.(map[string]any)
			for _, f := range fields {
				sink = m[f]
			}
		}
	})
}
