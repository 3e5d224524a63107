package expression_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
)

// bid is a decoded Nexmark bid with a key, two headers and a window.
func bid() operators.Record {
	return operators.Record{
		Key:     []byte("1107"),
		Headers: []operators.Header{{Key: "src", Value: []byte("web")}, {Key: "trace", Value: []byte("abc")}, {Key: "src", Value: []byte("app")}},
		Data: map[string]any{"auction": int64(1107), "bidder": int64(2031), "price": int64(18870), "channel": "Google",
			"dateTime": "2025-03-01 10:00:01.123", "tags": []any{"a", "b"}, "extra": nil, "ratio": 0.5},
		Timestamp: 1740823201123, WindowStart: 1740823200000, WindowEnd: 1740823210000,
		Topic: "bids", Partition: 3, Offset: 42,
	}
}

func eval(t *testing.T, src string, ctx expression.Context, env *expression.Env) (any, error) {
	t.Helper()
	p, err := expression.Compile(src, ctx)
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	return p.Eval(env)
}

func TestEvalRecordNames(t *testing.T) {
	r := bid()
	var env expression.Env
	env.SetRecord(&r)
	tests := []struct {
		src  string
		want any
	}{
		{`value.price`, int64(18870)},
		{`value["dateTime"]`, "2025-03-01 10:00:01.123"},
		{`value.price > 1000 && value.channel == "Google" && headers["src"] == "web"`, false}, // the last header wins
		{`headers["src"] == "app"`, true},
		{`headers.trace`, "abc"},
		{`value.auction % 123 == 0 || value.auction == 1107`, true},
		{`value.price * 0.908`, 18870 * 0.908},
		{`value.price + 1`, int64(18871)}, // expr computes in int: back to int64
		{`value.price / 2`, 9435.0},       // `/` divides as floats
		{`int(value.price / 7)`, int64(2695)},
		{`timestamp - timestamp % 10000`, int64(1740823200000)},
		{`key + ":" + value.channel`, "1107:Google"},
		{`topic`, "bids"},
		{`partition`, int64(3)},
		{`offset`, int64(42)},
		{`window.start`, int64(1740823200000)},
		{`window.end - window.start`, int64(10000)},
		{`window`, map[string]any{"start": int64(1740823200000), "end": int64(1740823210000)}},
		{`{"w": window}`, map[string]any{"w": map[string]any{"start": int64(1740823200000), "end": int64(1740823210000)}}},
		{`value.extra`, nil},
		{`value.missing`, nil},
		{`value?.missing?.deeper`, nil},
		{`value.missing ?? "default"`, "default"},
		{`value.ratio`, 0.5},
		{`len(value.tags)`, int64(2)},
		{`value.tags[1]`, "b"},
		{`[value.bidder, value.auction]`, []any{int64(2031), int64(1107)}},
		{`{"a": 1, "b": [2, 3.5], "c": value.channel}`, map[string]any{"a": int64(1), "b": []any{int64(2), 3.5}, "c": "Google"}},
		{`1..3`, []any{int64(1), int64(2), int64(3)}},
		{`map(value.tags, upper(#))`, []any{"A", "B"}},
		{`value.bidder > 2000 ? "high" : "low"`, "high"},
		{`lower(value.channel) in ["google", "apple"]`, true},
		{`value.channel matches "^Goo"`, true},
		{`value`, r.Data}, // the record's own map, as it is
	}
	for _, tt := range tests {
		got, err := eval(t, tt.src, expression.RecordContext, &env)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s = %#v (%T), want %#v (%T)", tt.src, got, got, tt.want, tt.want)
		}
	}
}

// A record operators made has no source position and may have no window;
// a record never decoded shows its bytes as a string.
func TestEvalMadeAndRawRecords(t *testing.T) {
	r := operators.Record{Value: []byte("plain text"), Timestamp: 5}
	var env expression.Env
	env.SetRecord(&r)
	for src, want := range map[string]any{
		`value`: "plain text", `topic`: "", `partition`: int64(-1), `offset`: int64(-1),
		`window`: nil, `window?.start`: nil, `key`: "", `headers`: map[string]any(nil), `headers["x"]`: nil,
	} {
		got, err := eval(t, src, expression.RecordContext, &env)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, %v; want %#v", src, got, err, want)
		}
	}
	null := operators.Record{}
	env.SetRecord(&null)
	if got, err := eval(t, `value`, expression.RecordContext, &env); err != nil || got != nil {
		t.Errorf("value of a null record = %#v, %v", got, err)
	}
}

// One Env serves record after record: nothing of the previous record shows,
// whether or not the previous expression read it.
func TestEnvReuse(t *testing.T) {
	key := expression.MustCompile(`key`, expression.RecordContext)
	hdr := expression.MustCompile(`headers["h"] ?? "none"`, expression.RecordContext)
	val := expression.MustCompile(`value`, expression.RecordContext)
	var env expression.Env
	recs := []operators.Record{
		{Key: []byte("a"), Headers: []operators.Header{{Key: "h", Value: []byte("1")}}, Value: []byte("raw")},
		{Key: []byte("b"), Data: int64(7)},
		{},
	}
	want := [][3]any{{"a", "1", "raw"}, {"b", "none", int64(7)}, {"", "none", nil}}
	for i := range recs {
		env.SetRecord(&recs[i])
		for j, p := range []*expression.Program{key, hdr, val, key, hdr} {
			got, err := p.Eval(&env)
			if err != nil || !reflect.DeepEqual(got, want[i][j%3]) {
				t.Errorf("record %d: %s = %#v, %v; want %#v", i, p.Source(), got, err, want[i][j%3])
			}
		}
	}
}

func TestContexts(t *testing.T) {
	left := map[string]any{"id": int64(1), "name": "ann", "dateTime": "2025-01-01 00:00:00.000"}
	right := map[string]any{"seller": int64(1), "dateTime": "2025-01-01 00:00:01.500"}
	var env expression.Env
	r := operators.Record{Key: []byte("1"), Timestamp: 9}
	env.SetRecord(&r)
	env.Left, env.Right = left, right
	for src, want := range map[string]any{
		`left.id == right.seller`: true,
		`parse_time(left.dateTime, "sql") <= parse_time(right.dateTime, "sql")`: true,
		`{"name": left.name, "k": key}`:                                         map[string]any{"name": "ann", "k": "1"},
	} {
		got, err := eval(t, src, expression.JoinContext, &env)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("join %s = %#v, %v; want %#v", src, got, err, want)
		}
	}
	env.Item, env.Index = map[string]any{"sku": "x"}, 2
	got, err := eval(t, `{"sku": item.sku, "pos": index, "ts": timestamp}`, expression.ItemContext, &env)
	if want := map[string]any{"sku": "x", "pos": int64(2), "ts": int64(9)}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("item = %#v, %v; want %#v", got, err, want)
	}

	refused := []struct {
		src      string
		ctx      expression.Context
		col      int
		contains string
	}{
		{`left.id`, expression.RecordContext, 1, "left is not available here (only in join where and select)"},
		{`value.x + right.y`, expression.RecordContext, 11, "right is not available"},
		{`item`, expression.JoinContext, 1, "item is not available here (only in a flat_map's value)"},
		{`1 + index`, expression.RecordContext, 5, "index is not available"},
		{`left`, expression.ItemContext, 1, "left is not available"},
	}
	for _, tt := range refused {
		_, err := expression.Compile(tt.src, tt.ctx)
		var e *expression.Error
		if !errors.As(err, &e) || e.Line != 1 || e.Col != tt.col || !strings.Contains(e.Msg, tt.contains) {
			t.Errorf("Compile(%q, %v) = %v; want an *Error at 1:%d containing %q", tt.src, tt.ctx, err, tt.col, tt.contains)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		src       string
		opts      []expression.Option
		line, col int
		contains  string
	}{
		{`value.price >`, nil, 1, 13, "unexpected token EOF"},
		{`foo.bar`, nil, 1, 1, "unknown name foo"},
		{`value.price > 1 &&
  colour == "red"`, nil, 2, 3, "unknown name colour"},
		{`now()`, nil, 1, 1, "unknown name now"},
		{`nosuch(1)`, nil, 1, 1, "unknown name nosuch"},
		{`timestamp + "x"`, nil, 1, 11, "invalid operation: + (mismatched types int64 and string)"},
		{`format_time(timestamp)`, nil, 1, 1, "not enough arguments"},
		{`round_to(1.5, 1, 2)`, nil, 1, 1, "too many arguments"},
		{`timestamp + 1`, []expression.Option{expression.Bool()}, 1, 1, "want a bool, got int"},
		{`"unterminated`, nil, 1, 14, "literal not terminated"},
		{`round_to(1.5, 0.5)`, nil, 1, 15, "cannot use float64 as argument (type int) to call round_to"},
	}
	for _, tt := range tests {
		_, err := expression.Compile(tt.src, expression.RecordContext, tt.opts...)
		var e *expression.Error
		if !errors.As(err, &e) {
			t.Errorf("Compile(%q) = %v, want an *Error", tt.src, err)
			continue
		}
		if e.Line != tt.line || e.Col != tt.col || !strings.Contains(e.Msg, tt.contains) {
			t.Errorf("Compile(%q) = %d:%d %q; want %d:%d containing %q", tt.src, e.Line, e.Col, e.Msg, tt.line, tt.col, tt.contains)
		}
		if !strings.Contains(e.Error(), e.Msg) || !strings.HasPrefix(e.Error(), "") || e.Snippet == "" {
			t.Errorf("Compile(%q): Error() = %q, snippet %q", tt.src, e.Error(), e.Snippet)
		}
	}
	// A condition whose type is known only when evaluating compiles with
	// Bool; the record decides.
	if _, err := expression.Compile(`value.price`, expression.RecordContext, expression.Bool()); err != nil {
		t.Errorf("Bool over a dynamic value: %v", err)
	}
}

func TestRuntimeErrors(t *testing.T) {
	r := bid()
	var env expression.Env
	env.SetRecord(&r)
	tests := []struct {
		src       string
		line, col int
		contains  string
	}{
		{`value.missing > 1`, 1, 15, "invalid operation: <nil> > int"},
		{`1 +
value.channel * 2`, 2, 15, "invalid operation: string * int"},
		{`value.tags[5]`, 1, 11, "index out of range"},
		{`parse_time(value.channel, "sql")`, 1, 1, `parse_time: cannot parse "Google" as a sql time`},
		{`format_time(value.channel, "sql")`, 1, 1, `format_time: ms must be a number, got string "Google"`},
		{`json_decode("{")`, 1, 1, "json_decode"},
		{`round_to(value.channel, 2)`, 1, 1, "round_to: want a number"},
		{`json_encode(0.0 / 0.0)`, 1, 1, "json_encode"},
	}
	for _, tt := range tests {
		_, err := eval(t, tt.src, expression.RecordContext, &env)
		var e *expression.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: err = %v, want an *Error", tt.src, err)
			continue
		}
		if e.Line != tt.line || e.Col != tt.col || !strings.Contains(e.Msg, tt.contains) {
			t.Errorf("%s: got %d:%d %q; want %d:%d containing %q", tt.src, e.Line, e.Col, e.Msg, tt.line, tt.col, tt.contains)
		}
	}
}

func TestEvalBool(t *testing.T) {
	r := bid()
	var env expression.Env
	env.SetRecord(&r)
	p := expression.MustCompile(`value.price > 100`, expression.RecordContext, expression.Bool())
	if ok, err := p.EvalBool(&env); err != nil || !ok {
		t.Errorf("EvalBool = %v, %v", ok, err)
	}
	for src, msg := range map[string]string{
		`value.price`:   "want a bool, got int 18870",
		`value.missing`: "want a bool, got null",
		`value.channel`: `want a bool, got string "Google"`,
	} {
		_, err := expression.MustCompile(src, expression.RecordContext, expression.Bool()).EvalBool(&env)
		var e *expression.Error
		if !errors.As(err, &e) || e.Msg != msg || e.Line != 1 || e.Col != 1 {
			t.Errorf("EvalBool(%s) = %v; want 1:1: %s", src, err, msg)
		}
	}
}

func TestFunctions(t *testing.T) {
	r := bid()
	var env expression.Env
	env.SetRecord(&r)
	tests := []struct {
		src  string
		want any
	}{
		{`format_time(timestamp, "sql")`, "2025-03-01 10:00:01.123"},
		{`format_time(0, "sql")`, "1970-01-01 00:00:00.000"},
		{`format_time(-1, "sql")`, "1969-12-31 23:59:59.999"},
		{`format_time(timestamp, "date")`, "2025-03-01"},
		{`format_time(timestamp, "rfc3339")`, "2025-03-01T10:00:01.123Z"},
		{`format_time(timestamp, "epoch_millis")`, "1740823201123"},
		{`format_time(timestamp, "15:04")`, "10:00"},
		{`format_time(1740823201123.9, "sql")`, "2025-03-01 10:00:01.123"},
		{`format_time(value.missing, "sql")`, nil},
		{`parse_time(value.dateTime, "sql")`, int64(1740823201123)},
		{`parse_time("2025-03-01 10:00:01", "sql")`, int64(1740823201000)},
		{`parse_time("2025-03-01 10:00:01.5", "sql")`, int64(1740823201500)},
		{`parse_time("2025-03-01 10:00:01.123456789", "sql")`, int64(1740823201123)},
		{`parse_time("2024-02-29 23:59:59.999", "sql")`, int64(1709251199999)},
		{`parse_time("1969-12-31 23:59:59.999", "sql")`, int64(-1)},
		{`parse_time("2025-03-01", "date")`, int64(1740787200000)},
		{`parse_time("2025-03-01T11:00:01.123+01:00", "rfc3339")`, int64(1740823201123)},
		{`parse_time("2025-03-01T10:00:01Z", "auto")`, int64(1740823201000)},
		{`parse_time("2025-03-01 10:00:01.123", "auto")`, int64(1740823201123)},
		{`parse_time("1740823201123", "epoch_millis")`, int64(1740823201123)},
		{`parse_time("01/03/2025", "02/01/2006")`, int64(1740787200000)},
		{`parse_time(nil, "sql")`, nil},
		{`round_to(value.price * 0.908, 3)`, 17133.96},
		{`round_to(1.005, 2)`, 1.01},
		{`round_to(-1.005, 2)`, -1.01},
		{`round_to(2.5, 0)`, 3.0},
		{`round_to(-2.5, 0)`, -3.0},
		{`round_to(0.125, 2)`, 0.13},
		{`round_to(1.2345, 10)`, 1.2345},
		{`round_to(1234.5, -2)`, 1200.0},
		{`round_to(1250.0, -2)`, 1300.0},
		{`round_to(9.995, 2)`, 10.0},
		{`round_to(0.0004, 3)`, 0.0},
		{`round_to(1e300, 2)`, 1e300},
		{`round_to(1250, -2)`, int64(1300)},
		{`round_to(-1250, -2)`, int64(-1300)},
		{`round_to(-1249, -2)`, int64(-1200)},
		{`round_to(7, 2)`, int64(7)},
		{`round_to(nil, 2)`, nil},
		{`json_encode(value.tags)`, `["a","b"]`},
		{`json_encode({"b": 1, "a": 2.0})`, `{"a":2.0,"b":1}`},
		{`json_encode(nil)`, `null`},
		{`json_decode("{\"a\": [1, 2.5]}")`, map[string]any{"a": []any{int64(1), 2.5}}},
		{`json_decode(nil)`, nil},
		{`coalesce(value.missing, value.extra, value.price, 1)`, int64(18870)},
		{`coalesce(nil, nil)`, nil},
		{`coalesce()`, nil},
	}
	for _, tt := range tests {
		got, err := eval(t, tt.src, expression.RecordContext, &env)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s = %#v (%T), want %#v (%T)", tt.src, got, got, tt.want, tt.want)
		}
	}
	for _, src := range []string{
		`parse_time("2025-02-29 00:00:00", "sql")`, `parse_time("2025-03-01T10:00:01", "sql")`,
		`parse_time("2025-03-01 24:00:00", "sql")`, `parse_time("2025-03-01 10:00:01.", "sql")`,
		`parse_time("2025-03-01 10:00:01.1234567890", "sql")`, `parse_time(" 2025-03-01 10:00:01", "sql")`,
		`parse_time("x", "rfc3339")`, `parse_time("x", "auto")`, `parse_time("1.5", "epoch_millis")`,
		`parse_time(5, "sql")`, `round_to(1.5, 19)`, `round_to(1.5, value.ratio)`,
	} {
		if got, err := eval(t, src, expression.RecordContext, &env); err == nil {
			t.Errorf("%s = %#v, want an error", src, got)
		}
	}
}

// The fast sql parser and formatter agree with package time over a range
// of instants.
func TestSQLTimeMatchesPackageTime(t *testing.T) {
	for ms := int64(-5e12); ms < 5e12; ms += 7919 * 3600 * 1000 / 3 {
		s := expression.FormatTime(ms, "sql")
		back, err := expression.ParseTime(s, "sql")
		if err != nil || back != ms {
			t.Fatalf("%d → %q → %d, %v", ms, s, back, err)
		}
		if alt := expression.FormatTime(ms, "2006-01-02 15:04:05.000"); alt != s {
			t.Fatalf("%d: sql %q, Go layout %q", ms, s, alt)
		}
	}
}

func TestRoundTo(t *testing.T) {
	for _, tt := range []struct {
		x    float64
		n    int
		want float64
	}{
		{2.675, 2, 2.68}, {1.0005, 3, 1.001}, {0.285, 2, 0.29}, {-0.5, 0, -1}, {0.49999999999999994, 0, 0},
		{123.456, 1, 123.5}, {5e-324, 2, 0}, {math.MaxFloat64, 2, math.MaxFloat64}, {15, -1, 20}, {14.9, -1, 10},
		{99.5, -2, 100}, {49.9, -2, 0}, {0.05, 1, 0.1},
	} {
		if got := expression.RoundTo(tt.x, tt.n); got != tt.want {
			t.Errorf("RoundTo(%v, %d) = %v, want %v", tt.x, tt.n, got, tt.want)
		}
	}
}

func TestAppendKey(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{"user-1", "user-1"},
		{"", ""},
		{int64(-42), "-42"},
		{42, "42"},
		{uint8(7), "7"},
		{3.0, "3"},
		{2.5, "2.5"},
		{1e21, "1e+21"},
		{true, "true"},
		{nil, ""},
		{[]byte{0, 1}, "\x00\x01"},
		{[]any{int64(1), "a", 2.0, nil, []any{true}}, `[1,"a",2,null,[true]]`},
		{[]any{"with \"quote\""}, `["with \"quote\""]`},
		{[]int{1, 2}, `[1,2]`},
		{map[string]any{"b": int64(1), "a": 1.5}, `{"a":1.5,"b":1}`},
	}
	for _, tt := range tests {
		got, err := expression.AppendKey([]byte("p:"), tt.v)
		if err != nil || string(got) != "p:"+tt.want {
			t.Errorf("AppendKey(%#v) = %q, %v; want %q", tt.v, got, err, "p:"+tt.want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), []any{math.NaN()}, struct{}{}, make(chan int)} {
		got, err := expression.AppendKey([]byte("p:"), v)
		if err == nil || string(got) != "p:" {
			t.Errorf("AppendKey(%T) = %q, %v; want an error and dst unchanged", v, got, err)
		}
	}
	// A composite key from an expression.
	r := bid()
	var env expression.Env
	env.SetRecord(&r)
	k, err := expression.MustCompile(`[value.bidder, value.auction]`, expression.RecordContext).EvalKey(&env, nil)
	if err != nil || string(k) != "[2031,1107]" {
		t.Errorf("EvalKey = %q, %v", k, err)
	}
}

func TestNormalize(t *testing.T) {
	shared := map[string]any{"a": int64(1), "b": []any{"x"}}
	if got := expression.Normalize(shared); reflect.ValueOf(got).UnsafePointer() != reflect.ValueOf(shared).UnsafePointer() {
		t.Error("a normalised map was copied")
	}
	in := map[string]any{"i": 1, "l": []any{int32(2), float32(1.5), []int{3}}, "keep": "s", "u": uint64(math.MaxUint64)}
	want := map[string]any{"i": int64(1), "l": []any{int64(2), 1.5, []any{int64(3)}}, "keep": "s", "u": float64(math.MaxUint64)}
	if got := expression.Normalize(in); !reflect.DeepEqual(got, want) {
		t.Errorf("Normalize = %#v, want %#v", got, want)
	}
	if in["i"] != 1 {
		t.Error("Normalize modified its input")
	}
}

// Evaluating compiles nothing: a filter costs a few allocations, where
// compiling one costs a hundred and more.
func TestEvalDoesNotCompile(t *testing.T) {
	r := bid()
	var env expression.Env
	env.SetRecord(&r)
	p := expression.MustCompile(`value.price > 1000 && value.channel == "Google"`, expression.RecordContext, expression.Bool())
	allocs := testing.AllocsPerRun(100, func() {
		env.SetRecord(&r)
		if _, err := p.EvalBool(&env); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 4 {
		t.Errorf("a filter evaluation allocates %.0f times; compilation would be ~100", allocs)
	}
}

// One Program, evaluated by several goroutines each with its own Env.
func TestConcurrentEval(t *testing.T) {
	p := expression.MustCompile(`value.n * 2 + len(key)`, expression.RecordContext)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			var env expression.Env
			for i := range 500 {
				r := operators.Record{Key: []byte("kk"), Data: map[string]any{"n": int64(i + g)}}
				env.SetRecord(&r)
				got, err := p.Eval(&env)
				if err != nil || got != int64(2*(i+g)+2) {
					errs <- errors.New("wrong result")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
