package json_test

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/tidemark/tidemark/format/json"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`null`, nil},
		{`true`, true},
		{`false`, false},
		{`0`, int64(0)},
		{`-0`, int64(0)},
		{`42`, int64(42)},
		{`-17`, int64(-17)},
		{`9223372036854775807`, int64(math.MaxInt64)},
		{`-9223372036854775808`, int64(math.MinInt64)},
		{`9223372036854775808`, 9223372036854775808.0},
		{`123456789012345678901234`, 123456789012345678901234.0},
		{`1.0`, 1.0},
		{`1e3`, 1000.0},
		{`1E+3`, 1000.0},
		{`-2.5e-3`, -0.0025},
		{`0.908`, 0.908},
		{`""`, ""},
		{`"héllo \"w\" \\ \n \u00e9 \ud83d\ude00"`, "héllo \"w\" \\ \n é 😀"},
		{`[]`, []any{}},
		{`[1, "a", null, [true]]`, []any{int64(1), "a", nil, []any{true}}},
		{`{}`, map[string]any{}},
		{` {"a": 1, "b": {"c": [1.5]}, "d": null} `, map[string]any{"a": int64(1), "b": map[string]any{"c": []any{1.5}}, "d": nil}},
		{`{"a": 1, "a": 2}`, map[string]any{"a": int64(2)}},
		{`{"k\u00e9y": 1}`, map[string]any{"kéy": int64(1)}},
		{"\"\xff\"", "\uFFFD"},
	}
	var d json.Decoder
	for _, tt := range tests {
		got, err := d.Decode([]byte(tt.in))
		if err != nil {
			t.Errorf("Decode(%s): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Decode(%s) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, in := range []string{
		``, ` `, `{`, `[1,]`, `{"a":}`, `{"a" 1}`, `nul`, `tru`, `"abc`, `1 2`, `{} x`,
		`NaN`, `nan`, `Infinity`, `-inf`, `inf`,
		`01`, `1.`, `+1`, `.5`, `-`, `1e`, `1e+`, `--1`, `1.5.5`, `0x10`,
		`1e400`, `-1e400`,
		`{"a": [1, 2, 01]}`,
	} {
		var d json.Decoder
		got, err := d.Decode([]byte(in))
		if !errors.Is(err, json.ErrSyntax) {
			t.Errorf("Decode(%q) = %#v, %v; want an error wrapping ErrSyntax", in, got, err)
		}
	}
}

// A Decoder is reused across records: nothing of an earlier record leaks
// into a later one, and strings stay valid after the next Decode.
func TestDecoderReuse(t *testing.T) {
	var d json.Decoder
	first, err := d.Decode([]byte(`{"name": "alice", "tags": ["x", "y"]}`))
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := d.Decode([]byte(`{"name": "bob-bob-bob-bob", "tags": ["zzzzzzzz"], "more": "overwrite"}`)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]any{"name": "alice", "tags": []any{"x", "y"}}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("first value changed to %#v", first)
	}
	input := []byte(`{"s": "mutable"}`)
	v, err := d.Decode(input)
	if err != nil {
		t.Fatal(err)
	}
	copy(input, `{"s": "XXXXXXX"}`)
	if got := v.(map[string]any)["s"]; got != "mutable" {
		t.Errorf("value retained the input: %q", got)
	}
}
