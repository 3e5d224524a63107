package expression

import (
	"fmt"
	"testing"

	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
)

// lazyTexts are record values, as JSON, TestLazyMatches reads both
// decoded and lazily.
var lazyTexts = []string{
	`{"a":{"b":2},"n":7,"f":2.5,"s":"b","t":true,"z":0,"l":[1],"m":null,"big":9223372036854775807,` +
		`"event_type":2,"bid":{"dateTime":"2025-01-01 00:00:00.123","auction":1107,"price":18870},` +
		`"auction":246,"price":18870,"state":"CA","dateTime":"2025-01-01 00:00:01.000"}`,
	`{"event_type":0,"person":{"dateTime":"x"},"n":2.0,"f":3,"s":1,"t":"no","price":999.5,"state":"WY","auction":123.0}`,
	`{"event_type":1.0,"auction":{"dateTime":5},"n":null,"price":null}`,
	`{"n":1,"n":{"x":{"y":3}},"a":{"b":1,"b":[2]},"\u0073":"esc\/aped","l":[{"x":1}],"s":"\ud800"}`,
	`[1,{"a":2}]`, `{}`,
}

// TestLazyMatches: every expression gives the same result or error over
// a record whose value is lazy (format/json.Raw) as over the decoded
// value, with Eval and with EvalLazy (a Raw result decoded), and also as
// the second of several expressions over one record (after an earlier
// one had expr's VM decode the value).
func TestLazyMatches(t *testing.T) {
	var progs []*Program
	for _, src := range fastSrcs {
		ctx := RecordContext
		if src == `left.a` || src == `right.n` {
			ctx = JoinContext
		}
		if src == `item` || src == `index + 1` {
			ctx = ItemContext
		}
		progs = append(progs, MustCompile(src, ctx))
	}
	var dec json.Decoder
	for _, text := range lazyTexts {
		decoded, err := dec.Decode([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		lazy, err := dec.Lazy([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := lazy.(json.Raw); !ok {
			t.Fatalf("%s: Lazy gave %T", text, lazy)
		}
		for i := range fastRecs {
			for _, first := range []*Program{nil, progs[len(progs)-1], MustCompile(`value.a.b`, RecordContext)} {
				for _, p := range progs {
					want := evalOver(t, first, p, fastRecs[i], decoded, false)
					got := evalOver(t, first, p, fastRecs[i], lazy, false)
					gotLazy := evalOver(t, first, p, fastRecs[i], lazy, true)
					if want != got || want != gotLazy {
						t.Errorf("%q over %s: decoded %s, lazy %s, EvalLazy %s", p.Source(), text, want, got, gotLazy)
					}
				}
			}
		}
	}
}

// evalOver evaluates p over r with value v (after first, if any) and
// describes the result or error.
func evalOver(t *testing.T, first, p *Program, r operators.Record, v any, lazy bool) string {
	t.Helper()
	r.Data = v
	var env Env
	env.SetRecord(&r)
	env.Left, env.Right, env.Item, env.Index = v, v, v, 4
	if first != nil {
		_, _ = first.Eval(&env)
	}
	var out any
	var err error
	if lazy {
		out, err = p.EvalLazy(&env)
		if raw, ok := out.(json.Raw); ok && err == nil {
			out, err = raw.Decode()
		}
	} else {
		out, err = p.Eval(&env)
	}
	if err != nil {
		return "error " + err.Error()
	}
	if _, ok := out.(json.Raw); ok {
		t.Fatalf("%q: Eval returned a json.Raw", p.Source())
	}
	b, jerr := json.Marshal(out)
	return fmt.Sprintf("%T %s %v", out, b, jerr)
}
