package expression

import (
	"github.com/expr-lang/expr/ast"

	"github.com/tidemark/tidemark/format/json"
)

// fastFn evaluates a compiled expression directly over an Env, without
// expr's virtual machine. ok is false when it meets a case it does not
// handle (a type combination, a value it cannot fetch from, an error):
// the caller then evaluates the expression with expr, which gives the
// result or the error expr gives. A fastFn never returns a result that
// differs from expr's (after Normalize), so falling back is always
// correct, and it has no side effects, so evaluating again is harmless.
//
// It exists because expr reads the fields of a map[string]any value and
// of the Env through reflection, which dominated the CPU profile of the
// Nexmark queries (filters, maps, keys and event times are mostly member
// reads, comparisons and a little arithmetic).
type fastFn func(e *Env) (v any, ok bool)

// fastFuncs are the functions a fast expression may call: ours (see
// functions), pure and returning an error on bad arguments, which makes
// the fast path fall back (to get expr's error).
var fastFuncs = map[string]func(args ...any) (any, error){
	"format_time": formatTime,
	"parse_time":  parseTime,
	"round_to":    roundTo,
	"coalesce":    coalesce,
}

// fastCompile returns the fast evaluator of node, or nil when node uses
// something it does not handle (expr then evaluates it always).
func fastCompile(node ast.Node) fastFn {
	switch n := node.(type) {
	case *ast.NilNode:
		return func(*Env) (any, bool) { return nil, true }
	case *ast.BoolNode:
		v := any(n.Value)
		return func(*Env) (any, bool) { return v, true }
	case *ast.IntegerNode:
		v := any(int64(n.Value))
		return func(*Env) (any, bool) { return v, true }
	case *ast.FloatNode:
		v := any(n.Value)
		return func(*Env) (any, bool) { return v, true }
	case *ast.StringNode:
		v := any(n.Value)
		return func(*Env) (any, bool) { return v, true }
	case *ast.IdentifierNode:
		return fastIdent(n.Value)
	case *ast.MemberNode:
		return fastMember(n)
	case *ast.UnaryNode:
		return fastUnary(n)
	case *ast.BinaryNode:
		return fastBinary(n)
	case *ast.ConditionalNode:
		cond, a, b := fastCompile(n.Cond), fastCompile(n.Exp1), fastCompile(n.Exp2)
		if cond == nil || a == nil || b == nil {
			return nil
		}
		return func(e *Env) (any, bool) {
			c, ok := cond(e)
			if !ok {
				return nil, false
			}
			switch c {
			case true:
				return a(e)
			case false:
				return b(e)
			}
			return nil, false
		}
	case *ast.CallNode:
		return fastCall(n)
	}
	return nil
}

// fastIdent reads a name of the Env.
func fastIdent(name string) fastFn {
	switch name {
	case "value":
		return func(e *Env) (any, bool) { return e.Value, true }
	case "key":
		return func(e *Env) (any, bool) { return e.Key, true }
	case "headers":
		return func(e *Env) (any, bool) { return e.Headers, true }
	case "timestamp":
		return func(e *Env) (any, bool) { return e.Timestamp, true }
	case "topic":
		return func(e *Env) (any, bool) { return e.Topic, true }
	case "partition":
		return func(e *Env) (any, bool) { return e.Partition, true }
	case "offset":
		return func(e *Env) (any, bool) { return e.Offset, true }
	case "left":
		return func(e *Env) (any, bool) { return e.Left, true }
	case "right":
		return func(e *Env) (any, bool) { return e.Right, true }
	case "item":
		return func(e *Env) (any, bool) { return e.Item, true }
	case "index":
		return func(e *Env) (any, bool) { return e.Index, true }
	}
	return nil // window (a *Window), $env, variables, functions used as values
}

// fastMember reads a field of an object (x.name or x["name"]), or
// window.start and window.end.
func fastMember(n *ast.MemberNode) fastFn {
	prop, ok := n.Property.(*ast.StringNode)
	if !ok || n.Optional || n.Method {
		return nil
	}
	name := prop.Value
	if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "window" {
		switch name {
		case "start":
			return func(e *Env) (any, bool) {
				if e.Window == nil {
					return nil, false
				}
				return e.Window.Start, true
			}
		case "end":
			return func(e *Env) (any, bool) {
				if e.Window == nil {
					return nil, false
				}
				return e.Window.End, true
			}
		}
		return nil
	}
	of := fastCompile(n.Node)
	if of == nil {
		return nil
	}
	return func(e *Env) (any, bool) {
		x, ok := of(e)
		if !ok {
			return nil, false
		}
		switch m := x.(type) {
		case map[string]any:
			return m[name], true // a missing field is nil, as in expr
		case json.Raw:
			return m.Member(name) // not ok for a list
		}
		return nil, false // nil, a list, a *Window: expr knows what to do
	}
}

func fastUnary(n *ast.UnaryNode) fastFn {
	x := fastCompile(n.Node)
	if x == nil {
		return nil
	}
	switch n.Operator {
	case "!", "not":
		return func(e *Env) (any, bool) {
			v, ok := x(e)
			if b, isBool := v.(bool); ok && isBool {
				return !b, true
			}
			return nil, false
		}
	case "-":
		return func(e *Env) (any, bool) {
			v, ok := x(e)
			if !ok {
				return nil, false
			}
			switch y := v.(type) {
			case int64:
				return -y, true
			case float64:
				return -y, true
			}
			return nil, false
		}
	}
	return nil
}

func fastCall(n *ast.CallNode) fastFn {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		return nil
	}
	fn, ok := fastFuncs[id.Value]
	if !ok {
		return nil
	}
	args := make([]fastFn, len(n.Arguments))
	for i, a := range n.Arguments {
		if args[i] = fastCompile(a); args[i] == nil {
			return nil
		}
	}
	return func(e *Env) (any, bool) {
		var buf [4]any
		vals := buf[:0]
		for _, a := range args {
			v, ok := a(e)
			if !ok {
				return nil, false
			}
			vals = append(vals, v)
		}
		out, err := fn(vals...)
		if err != nil {
			return nil, false
		}
		return out, true
	}
}

func fastBinary(n *ast.BinaryNode) fastFn {
	l, r := fastCompile(n.Left), fastCompile(n.Right)
	if l == nil || r == nil {
		return nil
	}
	switch n.Operator {
	case "&&", "and":
		return func(e *Env) (any, bool) {
			a, ok := l(e)
			x, isBool := a.(bool)
			if !ok || !isBool {
				return nil, false
			}
			if !x {
				return false, true
			}
			b, ok := r(e)
			if y, isBool := b.(bool); ok && isBool {
				return y, true
			}
			return nil, false
		}
	case "||", "or":
		return func(e *Env) (any, bool) {
			a, ok := l(e)
			x, isBool := a.(bool)
			if !ok || !isBool {
				return nil, false
			}
			if x {
				return true, true
			}
			b, ok := r(e)
			if y, isBool := b.(bool); ok && isBool {
				return y, true
			}
			return nil, false
		}
	}
	op, ok := binaryOps[n.Operator]
	if !ok {
		return nil
	}
	return func(e *Env) (any, bool) {
		a, ok := l(e)
		if !ok {
			return nil, false
		}
		b, ok := r(e)
		if !ok {
			return nil, false
		}
		return op(a, b)
	}
}

// binaryOps are the operators on two evaluated operands. Each handles
// int64, float64 and string operands as expr does (runtime.Equal, Less,
// Add, …: an int with a float compares and computes as floats) and
// reports false for anything else.
var binaryOps = map[string]func(a, b any) (any, bool){
	"==": func(a, b any) (any, bool) { return fastEqual(a, b) },
	"!=": func(a, b any) (any, bool) {
		eq, ok := fastEqual(a, b)
		if !ok {
			return nil, false
		}
		return !eq.(bool), true
	},
	"<":  func(a, b any) (any, bool) { return fastCompare(a, b, func(c int) bool { return c < 0 }) },
	"<=": func(a, b any) (any, bool) { return fastCompare(a, b, func(c int) bool { return c <= 0 }) },
	">":  func(a, b any) (any, bool) { return fastCompare(a, b, func(c int) bool { return c > 0 }) },
	">=": func(a, b any) (any, bool) { return fastCompare(a, b, func(c int) bool { return c >= 0 }) },
	"+": func(a, b any) (any, bool) {
		if x, ok := a.(string); ok {
			if y, ok := b.(string); ok {
				return x + y, true
			}
			return nil, false
		}
		return fastArith(a, b, func(x, y int64) int64 { return x + y }, func(x, y float64) float64 { return x + y })
	},
	"-": func(a, b any) (any, bool) {
		return fastArith(a, b, func(x, y int64) int64 { return x - y }, func(x, y float64) float64 { return x - y })
	},
	"*": func(a, b any) (any, bool) {
		return fastArith(a, b, func(x, y int64) int64 { return x * y }, func(x, y float64) float64 { return x * y })
	},
	"/": func(a, b any) (any, bool) {
		x, ok1 := asFloat(a)
		y, ok2 := asFloat(b)
		if !ok1 || !ok2 {
			return nil, false
		}
		return x / y, true // expr divides as floats, by zero too
	},
	"%": func(a, b any) (any, bool) {
		x, ok1 := a.(int64)
		y, ok2 := b.(int64)
		if !ok1 || !ok2 || y == 0 {
			return nil, false // expr: an error (floats, or by zero)
		}
		return x % y, true
	},
}

// asFloat reads an int64 or float64 operand as a float.
func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// fastArith applies an arithmetic operator: on two ints as ints (wrapping
// like Go's, as expr does), else on floats.
func fastArith(a, b any, ints func(x, y int64) int64, floats func(x, y float64) float64) (any, bool) {
	if x, ok := a.(int64); ok {
		if y, ok := b.(int64); ok {
			return ints(x, y), true
		}
	}
	x, ok1 := asFloat(a)
	y, ok2 := asFloat(b)
	if !ok1 || !ok2 {
		return nil, false
	}
	return floats(x, y), true
}

// fastEqual is expr's == on numbers, strings, bools and nil.
func fastEqual(a, b any) (any, bool) {
	if a == nil || b == nil {
		o := a
		if o == nil {
			o = b
		}
		switch o.(type) {
		case nil:
			return true, true
		case int64, float64, string, bool:
			return false, true
		}
		return nil, false // a nil map, list or pointer: expr's IsNil
	}
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return x == y, true
		case float64:
			return float64(x) == y, true
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return x == float64(y), true
		case float64:
			return x == y, true
		}
	case string:
		if y, ok := b.(string); ok {
			return x == y, true
		}
	case bool:
		if y, ok := b.(bool); ok {
			return x == y, true
		}
	}
	return nil, false
}

// fastCompare orders two numbers or two strings as expr does and tests
// the order with is.
func fastCompare(a, b any, is func(c int) bool) (any, bool) {
	if x, ok := a.(int64); ok {
		if y, ok := b.(int64); ok {
			return is(cmp3(x, y)), true
		}
	}
	if x, ok := a.(string); ok {
		if y, ok := b.(string); ok {
			return is(cmp3(x, y)), true
		}
		return nil, false
	}
	x, ok1 := asFloat(a)
	y, ok2 := asFloat(b)
	if !ok1 || !ok2 || x != x || y != y { // NaN: let expr decide
		return nil, false
	}
	return is(cmp3(x, y)), true
}

func cmp3[T int64 | float64 | string](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
