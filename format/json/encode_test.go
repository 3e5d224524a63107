package json_test

import (
	stdjson "encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/tidemark/tidemark/format/json"
)

func TestAppendValue(t *testing.T) {
	type named string
	tests := []struct {
		v    any
		want string
	}{
		{nil, `null`},
		{true, `true`},
		{int64(-42), `-42`},
		{42, `42`},
		{int8(-8), `-8`},
		{int16(16), `16`},
		{int32(32), `32`},
		{uint(1), `1`},
		{uint8(8), `8`},
		{uint16(16), `16`},
		{uint32(32), `32`},
		{uint64(math.MaxUint64), `18446744073709551615`},
		{3.0, `3.0`},
		{math.Copysign(0, -1), `-0.0`},
		{0.0, `0.0`},
		{0.908, `0.908`},
		{1e20, `100000000000000000000.0`},
		{1e21, `1e+21`},
		{1e-7, `1e-7`},
		{123456.789, `123456.789`},
		{float32(0.1), `0.1`},
		{"a\"b\\c\n\t\x01<>&\u2028é", `"a\"b\\c\n\t\u0001<>&\u2028é"`},
		{"bad \xff utf8", `"bad \ufffd utf8"`},
		{[]byte("hi"), `"aGk="`},
		{[]any{int64(1), "x", nil, []any{}}, `[1,"x",null,[]]`},
		{map[string]any{"b": int64(1), "a": map[string]any{"z": 1.5, "y": nil}}, `{"a":{"y":null,"z":1.5},"b":1}`},
		{map[string]any{}, `{}`},
		{map[string]any(nil), `null`},
		{map[string]string{"h2": "v", "h1": "w"}, `{"h1":"w","h2":"v"}`},
		{[]string{"a", "b"}, `["a","b"]`},
		{[]int64{1, 2}, `[1,2]`},
		{[]int{3}, `[3]`},
		{map[string]int{"x": 1}, `{"x":1}`},
		{named("n"), `"n"`},
		{stdjson.Number("12.50"), `12.50`},
		{time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), `"2025-01-02T03:04:05Z"`},
		{&struct{ A int }{1}, `{"A":1}`},
	}
	for _, tt := range tests {
		got, err := json.AppendValue([]byte("prefix:"), tt.v, nil)
		if err != nil {
			t.Errorf("AppendValue(%#v): %v", tt.v, err)
			continue
		}
		if string(got) != "prefix:"+tt.want {
			t.Errorf("AppendValue(%#v) = %s, want prefix:%s", tt.v, got, tt.want)
		}
	}
}

func TestAppendValueOrder(t *testing.T) {
	m := map[string]any{"price": int64(5), "auction": int64(1), "extra": "", "bidder": int64(2), "nested": map[string]any{"b": 1.0, "a": 2.0}}
	tests := []struct {
		order []string
		want  string
	}{
		{nil, `{"auction":1,"bidder":2,"extra":"","nested":{"a":2.0,"b":1.0},"price":5}`},
		{[]string{"price", "auction", "bidder", "nested", "extra"}, `{"price":5,"auction":1,"bidder":2,"nested":{"a":2.0,"b":1.0},"extra":""}`},
		// Partial order: the rest sorted after; absent and repeated names skipped.
		{[]string{"price", "missing", "price", "bidder"}, `{"price":5,"bidder":2,"auction":1,"extra":"","nested":{"a":2.0,"b":1.0}}`},
	}
	for _, tt := range tests {
		got, err := json.AppendValue(nil, m, tt.order)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("order %q:\n got %s\nwant %s", tt.order, got, tt.want)
		}
		// Deterministic: the same text every time.
		for range 20 {
			again, _ := json.AppendValue(nil, m, tt.order)
			if string(again) != string(got) {
				t.Fatalf("order %q: output changed: %s then %s", tt.order, got, again)
			}
		}
	}
	hs, err := json.AppendValue(nil, map[string]string{"b": "1", "a": "2", "c": "3"}, []string{"c"})
	if err != nil || string(hs) != `{"c":"3","a":"2","b":"1"}` {
		t.Errorf("string map with order: %s, %v", hs, err)
	}
}

func TestAppendValueErrors(t *testing.T) {
	cyc := []any{nil}
	cyc[0] = cyc
	for _, v := range []any{
		math.NaN(), math.Inf(1), float32(math.Inf(-1)),
		map[string]any{"ok": 1, "bad": math.NaN()},
		[]any{1, math.Inf(1)},
		make(chan int),
		map[int]string{1: "x"},
		stdjson.Number("x1"),
		cyc,
	} {
		got, err := json.AppendValue([]byte("keep"), v, nil)
		if !errors.Is(err, json.ErrUnsupportedValue) {
			t.Errorf("AppendValue(%T) err = %v, want ErrUnsupportedValue", v, err)
		}
		if string(got) != "keep" {
			t.Errorf("AppendValue(%T) left %q in dst, want it unchanged", v, got)
		}
	}
}

func TestAppendNumber(t *testing.T) {
	for f, want := range map[float64]string{3: "3", 2.5: "2.5", 1e21: "1e+21", -1e-7: "-1e-7", 1e6: "1000000"} {
		got, err := json.AppendNumber(nil, f)
		if err != nil || string(got) != want {
			t.Errorf("AppendNumber(%v) = %s, %v; want %s", f, got, err, want)
		}
	}
	if _, err := json.AppendNumber(nil, math.NaN()); !errors.Is(err, json.ErrUnsupportedValue) {
		t.Errorf("AppendNumber(NaN): %v", err)
	}
}

// The encoder writes what encoding/json reads back to the same value
// (floats aside, which encoding/json does not keep apart from ints).
func TestAppendValueIsValidJSON(t *testing.T) {
	v := map[string]any{"s": "x\u2028\x00\"", "f": 1e-300, "i": int64(math.MinInt64), "a": []any{map[string]any{}}}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !stdjson.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	var d json.Decoder
	back, err := d.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(back)
	if string(again) != string(b) {
		t.Errorf("round trip changed the text:\n%s\n%s", b, again)
	}
}
