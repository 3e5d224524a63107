package expression

import (
	"math"
	"reflect"
	"testing"

	"github.com/tidemark/tidemark/operators"
)

// TestFastMatchesExpr: over many expressions and values, the fast
// evaluator gives exactly expr's result (after Normalize), and falls back
// (ok false) wherever expr fails, so Eval's results and errors are expr's.
func TestFastMatchesExpr(t *testing.T) {
	srcs := fastSrcs
	values := []any{
		nil, int64(3), "text",
		map[string]any{
			"a": map[string]any{"b": int64(2)}, "n": int64(7), "f": 2.5, "s": "b", "t": true, "z": int64(0),
			"l": []any{int64(1)}, "m": map[string]any(nil), "nan": math.NaN(), "big": int64(math.MaxInt64),
			"event_type": int64(2), "bid": map[string]any{"dateTime": "2025-01-01 00:00:00.123"},
			"auction": int64(246), "price": int64(18870), "state": "CA", "dateTime": "2025-01-01 00:00:01.000",
		},
		map[string]any{"event_type": int64(0), "person": map[string]any{"dateTime": "x"}, "n": 2.0, "f": int64(3),
			"s": int64(1), "t": "no", "price": 999.5, "state": "WY", "auction": 123.0},
		map[string]any{"event_type": 1.0, "auction": map[string]any{"dateTime": int64(5)}, "n": nil, "price": nil},
	}
	recs := fastRecs
	compiled := 0
	for _, src := range srcs {
		ctx := RecordContext
		if src == `left.a` || src == `right.n` {
			ctx = JoinContext
		}
		if src == `item` || src == `index + 1` {
			ctx = ItemContext
		}
		p, err := Compile(src, ctx)
		if err != nil {
			t.Fatalf("compile %q: %v", src, err)
		}
		if p.fast == nil {
			continue
		}
		compiled++
		for _, v := range values {
			for i := range recs {
				r := recs[i]
				r.Data = v
				var env Env
				env.SetRecord(&r)
				env.Left, env.Right, env.Item, env.Index = v, v, v, 4
				env.derive(p.used)
				want, werr := env.vm.Run(p.prog, &env)
				got, ok := p.fast(&env)
				if werr != nil {
					if ok {
						t.Errorf("%q over %v: fast gave %#v, expr failed: %v", src, v, got, werr)
					}
					continue
				}
				if !ok {
					continue // fell back: expr's result is used
				}
				if w, g := Normalize(want), Normalize(got); !sameValue(w, g) {
					t.Errorf("%q over %v: fast gave %#v, expr %#v", src, v, g, w)
				}
			}
		}
	}
	if compiled < len(srcs)*2/3 {
		t.Errorf("only %d of %d expressions have a fast path", compiled, len(srcs))
	}
	for _, src := range []string{`value.event_type == 2`, `value.bid`, `round_to(value.price * 0.908, 3)`,
		`value.state == "OR" || value.state == "ID"`, `parse_time(left.dateTime, "sql") <= parse_time(right.dateTime, "sql")`} {
		ctx := RecordContext
		if src[0] == 'p' {
			ctx = JoinContext
		}
		if MustCompile(src, ctx).fast == nil {
			t.Errorf("%q has no fast path", src)
		}
	}
}

// sameValue is reflect.DeepEqual with NaN equal to NaN.
func sameValue(a, b any) bool {
	if x, ok := a.(float64); ok && math.IsNaN(x) {
		y, ok := b.(float64)
		return ok && math.IsNaN(y)
	}
	return reflect.DeepEqual(a, b)
}

// fastSrcs are the expressions TestFastMatchesExpr and TestLazyMatches
// evaluate.
var fastSrcs = []string{
	`value`, `value.a`, `value.a.b`, `value["a"]`, `value.missing`, `value.n.x.y`,
	`value.event_type == 0 ? value.person.dateTime : value.event_type == 1 ? value.auction.dateTime : value.bid.dateTime`,
	`value.event_type == 2`, `value.auction % 123 == 0`, `value.n % 7`, `value.n % value.z`, `value.f % 2`,
	`value.state == "OR" || value.state == "ID" || value.state == "CA"`,
	`value.price >= 10000 && value.price < 1000000`, `value.price < 10000`, `value.price >= 1000000`,
	`round_to(value.price * 0.908, 3)`, `round_to(value.s, 2)`, `round_to(nil, 2)`,
	`parse_time(value.dateTime, "sql")`, `parse_time(value.s, "sql")`, `parse_time(value.n, "sql")`,
	`format_time(timestamp, "sql")`, `format_time(window.start, "sql")`, `coalesce(value.missing, value.n, 3)`,
	`value.n + value.f`, `value.n + value.n`, `value.s + value.s`, `value.s + value.n`, `value.n - 1`, `value.f - value.n`,
	`value.n * 2`, `value.n * 0.5`, `value.n / 4`, `value.n / 0`, `value.f / value.z`, `-value.n`, `-value.f`, `-value.s`,
	`!value.t`, `not value.t`, `!value.n`, `value.t && value.n`, `value.t || value.n`, `value.n && value.t`, `false && value.n`,
	`true || value.n`, `value.n == nil`, `value.missing == nil`, `nil == nil`, `value.m == nil`, `value.l == nil`,
	`value.n == value.f`, `value.n != 3`, `value.s != "x"`, `value.s == 3`, `value.t == true`, `value.l == value.l`,
	`value.n < value.f`, `value.s < "b"`, `value.s > value.n`, `value.nan < 1`, `value.nan == value.nan`, `value.n >= value.big`,
	`value.a.b > 1 ? "big" : "small"`, `value.n ? 1 : 2`, `value.l.x`, `value.s.x`, `value.n.x`, `value.missing.x`,
	`key`, `key + ":" + value.s`, `headers.src`, `headers["src"] == "web"`, `timestamp - timestamp % 10000`, `topic`,
	`partition`, `offset`, `window.start`, `window.end`, `window`, `left.a`, `right.n`, `item`, `index + 1`,
	`value.big * 2`, `value.big + value.big`, `1.5 * 2`, `3 % 2 == 1`, `"a" < "b"`, `value?.a`, `len(value.s)`,
	`let x = value.n; x + 1`, `value.n in [1, 2]`, `[value.n, value.s]`, `{"a": value.n}`, `value.n ?? 1`,
}

var fastRecs = []operators.Record{{Timestamp: 1735689600123}, {Key: []byte("k"), Timestamp: -5, Topic: "t", Partition: 2, Offset: 9,
	Headers: []operators.Header{{Key: "src", Value: []byte("web")}}, WindowStart: 1000, WindowEnd: 2000}}
