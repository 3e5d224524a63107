package expression

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/tidemark/tidemark/format/json"
)

// Error is a compile or evaluation error of an expression, at a position
// in its source.
type Error struct {
	// Line and Col are where the error is, 1-based (Col counts
	// characters); both are 0 when no position is known.
	Line, Col int
	// Msg says what is wrong.
	Msg string
	// Snippet is the source line with a caret under Col, each on its
	// own line starting with " | "; empty when no position is known.
	Snippet string
}

// Error returns "line:col: msg", or msg without a position.
func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg)
}

// fromExpr converts expr's error, positioned in src.
func fromExpr(err error) *Error {
	var fe *file.Error
	if errors.As(err, &fe) {
		if fe.Snippet == "" && fe.Line == 0 {
			return &Error{Msg: fe.Message}
		}
		return &Error{Line: fe.Line, Col: fe.Column + 1, Msg: fe.Message, Snippet: fe.Snippet}
	}
	return &Error{Msg: err.Error()}
}

// at returns an Error at rune offset from in src.
func at(src string, loc file.Location, msg string) *Error {
	fe := (&file.Error{Location: loc, Message: msg}).Bind(file.NewSource(src))
	return &Error{Line: fe.Line, Col: fe.Column + 1, Msg: msg, Snippet: fe.Snippet}
}

// whole returns an Error about the whole expression (at 1:1).
func whole(src, msg string) *Error {
	return at(src, file.Location{}, msg)
}

// Option changes how Compile compiles.
type Option func(*options)

type options struct{ bool bool }

// Bool makes Compile refuse an expression whose type it knows is not
// bool (a filter written `value.price + 1`). Types read from a record are
// known only when evaluating: EvalBool checks those.
func Bool() Option { return func(o *options) { o.bool = true } }

// Program is a compiled expression. It is immutable and may be evaluated
// by many goroutines, each with its own Env.
type Program struct {
	src  string
	ctx  Context
	prog *vm.Program
	used names
	// fast evaluates the expression without expr's VM when it can (nil
	// when the expression uses something it does not handle).
	fast fastFn
	// plain: the result is read from the environment as it is (a name or
	// a member of one), never built by the expression, so it needs no
	// normalisation of lists and maps.
	plain bool
}

// Compile compiles src for ctx. Its errors are *Error.
func Compile(src string, ctx Context, opts ...Option) (*Program, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, fromExpr(err)
	}
	used, err := checkNames(src, tree.Node, ctx)
	if err != nil {
		return nil, err
	}
	eopts := append(functions(), expr.Env(Env{}), expr.DisableBuiltin("now"), expr.Timezone("UTC"))
	prog, err := expr.Compile(src, eopts...)
	if err != nil {
		return nil, fromExpr(err)
	}
	if t := prog.Node().Type(); o.bool && t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
		// (expr's AsBool would also make a null result false at run
		// time: EvalBool refuses it instead.)
		return nil, whole(src, fmt.Sprintf("want a bool, got %s", t))
	}
	return &Program{src: src, ctx: ctx, prog: prog, used: used, fast: fastCompile(tree.Node), plain: isPlain(tree.Node)}, nil
}

// MustCompile is Compile that panics on an error, for expressions fixed in
// code.
func MustCompile(src string, ctx Context, opts ...Option) *Program {
	p, err := Compile(src, ctx, opts...)
	if err != nil {
		panic(fmt.Sprintf("expression: compile %q: %v", src, err))
	}
	return p
}

// checkNames returns the environment names node uses, and an error at
// the first name ctx does not offer.
func checkNames(src string, node ast.Node, ctx Context) (names, error) {
	var c nameCollector
	ast.Walk(&node, &c)
	allowed := ctx.allowed()
	for _, id := range c.ids {
		if c.declared[id.Value] {
			continue // a variable of `let`
		}
		if id.Value == "$env" {
			c.used |= allowed
			continue
		}
		bit, ok := nameBits[id.Value]
		if !ok {
			continue // expr's checker reports unknown names
		}
		if bit&allowed == 0 {
			where := "join where and select"
			if bit&(nItem|nIndex) != 0 {
				where = "a flat_map's value"
			}
			return 0, at(src, id.Location(), fmt.Sprintf("%s is not available here (only in %s)", id.Value, where))
		}
		c.used |= bit
	}
	return c.used, nil
}

type nameCollector struct {
	ids      []*ast.IdentifierNode
	declared map[string]bool
	used     names
}

func (c *nameCollector) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		c.ids = append(c.ids, x)
	case *ast.VariableDeclaratorNode:
		if c.declared == nil {
			c.declared = map[string]bool{}
		}
		c.declared[x.Name] = true
	}
}

// isPlain reports whether node only reads a name or a member of one.
func isPlain(node ast.Node) bool {
	switch n := node.(type) {
	case *ast.IdentifierNode:
		return true
	case *ast.MemberNode:
		return isPlain(n.Node)
	case *ast.ChainNode:
		return isPlain(n.Node)
	}
	return false
}

// Source returns the expression's text.
func (p *Program) Source() string { return p.src }

// Context returns the context the expression was compiled for.
func (p *Program) Context() Context { return p.ctx }

// Uses reports whether the expression reads name ("key", "headers", …).
func (p *Program) Uses(name string) bool { return p.used&nameBits[name] != 0 }

// Eval evaluates the expression over env. Integers come back as int64 and
// floats as float64; objects and lists as map[string]any and []any, also
// when the record's value is a lazy one (format/json.Raw). Errors are
// *Error.
func (p *Program) Eval(env *Env) (any, error) {
	out, err := p.EvalLazy(env)
	if err != nil {
		return nil, err
	}
	if r, ok := out.(json.Raw); ok {
		v, err := r.Decode()
		if err != nil {
			return nil, whole(p.src, err.Error())
		}
		return v, nil
	}
	return out, nil
}

// EvalLazy is Eval, except that an object or list read from a lazy
// record value (format/json.Raw) comes back as a json.Raw, not decoded:
// for operators that pass such a value on (a map's value: value.bid),
// so that only the fields something reads get decoded. Values that are
// not Raw are those Eval returns.
func (p *Program) EvalLazy(env *Env) (any, error) {
	if env.pending != 0 {
		env.derive(p.used)
	}
	out, ok := any(nil), false
	if p.fast != nil {
		out, ok = p.fast(env)
	}
	if !ok {
		// expr's VM reads maps and lists, never a Raw.
		if err := env.materialize(); err != nil {
			return nil, whole(p.src, err.Error())
		}
		var err error
		if out, err = env.vm.Run(p.prog, env); err != nil {
			return nil, fromExpr(err)
		}
	}
	if _, isRaw := out.(json.Raw); isRaw {
		return out, nil
	}
	if p.plain {
		return scalarOf(out), nil
	}
	return Normalize(out), nil
}

// EvalBool evaluates an expression that must give a bool (a condition):
// any other result, null included, is an *Error.
func (p *Program) EvalBool(env *Env) (bool, error) {
	out, err := p.Eval(env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, whole(p.src, fmt.Sprintf("want a bool, got %s", describe(out)))
	}
	return b, nil
}

// EvalKey evaluates the expression and appends its result to dst as
// record key bytes (AppendKey).
func (p *Program) EvalKey(env *Env, dst []byte) ([]byte, error) {
	out, err := p.Eval(env)
	if err != nil {
		return dst, err
	}
	dst, err = AppendKey(dst, out)
	if err != nil {
		return dst, whole(p.src, err.Error())
	}
	return dst, nil
}

// describe names v's type and value for an error message.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("string %q", x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%s %v", typeName(v), v)
}

func typeName(v any) string {
	switch v.(type) {
	case int64:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	}
	return reflect.TypeOf(v).String()
}
