package exprbench

import (
	"testing"

	"github.com/expr-lang/expr"
)

// TestRuntimeErrors logs what each library does at run time with the
// mistakes a dynamic JSON value allows: a missing field, mixed int/double
// arithmetic, a nil-safe access. go test -run TestRuntimeErrors -v
func TestRuntimeErrors(t *testing.T) {
	m, err := ParseMap(BidJSON)
	if err != nil {
		t.Fatal(err)
	}
	srcs := []struct{ name, expr, cel string }{
		{"int*double", `value.price * 0.908`, `value.price * 0.908`},
		{"missing field", `value.missing > 3`, `value.missing > 3`},
		{"nil-safe default", `(value?.missing ?? 0) > 3`, `value.?missing.orValue(0) > 3`},
		{"has field", `"missing" in value`, `has(value.missing)`},
	}
	for _, s := range srcs {
		var res any
		p, err := expr.Compile(s.expr, expr.Env(exprMapEnv{}))
		if err == nil {
			res, err = expr.Run(p, &exprMapEnv{Value: m, Key: Sample.Key, Headers: Sample.Headers, Timestamp: Sample.Timestamp})
		}
		t.Logf("expr %-16s %-32s -> %v, err %v", s.name, s.expr, res, err)
		res = nil
		prg, err := compileCEL(celMapEnv, s.cel)
		if err == nil {
			var out interface{ Value() any }
			out, _, err = prg.Eval(map[string]any{"value": m, "key": Sample.Key, "headers": Sample.Headers, "timestamp": Sample.Timestamp})
			if err == nil {
				res = out.Value()
			}
		}
		t.Logf("cel  %-16s %-32s -> %v, err %v", s.name, s.cel, res, err)
	}
}
