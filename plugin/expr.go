package plugin

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/expression"
)

// Expr is an expression of a configuration, compiled, with where it is in
// the file: its errors, at compile time and when evaluated, name the key
// and the file's line and column, so that a dead letter's reason points
// at the expression to fix. It is immutable; evaluate it from many
// goroutines, each with its own expression.Env.
type Expr struct {
	prog *expression.Program
	key  string
	// line and col are the file position of the expression's first
	// character; col is 0 when unknown. block: a block scalar (| or >),
	// whose expression line n is the file's line+n.
	line, col int
	block     bool
}

// newExpr compiles the scalar n as an expression of field f at key. A
// node without a position (a default) is placed at line fallback.
func newExpr(f *ConfigField, n *yaml.Node, key string, fallback int) (*Expr, error) {
	e := &Expr{key: key, line: n.Line, col: n.Column}
	switch {
	case n.Line == 0:
		e.line, e.col = fallback, 0
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		e.block, e.col = true, 0
	case n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0:
		e.col++ // the quote
	}
	prog, err := expression.Compile(n.Value, f.exprCtx, f.exprOpts...)
	if err != nil {
		return nil, e.wrap(err)
	}
	e.prog = prog
	return e, nil
}

// Program returns the compiled expression.
func (e *Expr) Program() *expression.Program { return e.prog }

// Source returns the expression's text.
func (e *Expr) Source() string { return e.prog.Source() }

// Key returns the configuration key the expression is at
// ("operators[0] (bids).where").
func (e *Expr) Key() string { return e.key }

// Line returns the file line the expression starts on (0 if unknown).
func (e *Expr) Line() int { return e.line }

// Eval evaluates the expression (expression.Program.Eval); an error is an
// *ExprError.
func (e *Expr) Eval(env *expression.Env) (any, error) {
	v, err := e.prog.Eval(env)
	if err != nil {
		return nil, e.wrap(err)
	}
	return v, nil
}

// EvalLazy evaluates the expression, leaving an object or list read from
// a lazy record value undecoded (expression.Program.EvalLazy); an error
// is an *ExprError.
func (e *Expr) EvalLazy(env *expression.Env) (any, error) {
	v, err := e.prog.EvalLazy(env)
	if err != nil {
		return nil, e.wrap(err)
	}
	return v, nil
}

// EvalBool evaluates a condition (expression.Program.EvalBool); an error
// is an *ExprError.
func (e *Expr) EvalBool(env *expression.Env) (bool, error) {
	b, err := e.prog.EvalBool(env)
	if err != nil {
		return false, e.wrap(err)
	}
	return b, nil
}

// EvalKey appends the expression's result to dst as record key bytes
// (expression.Program.EvalKey); an error is an *ExprError.
func (e *Expr) EvalKey(env *expression.Env, dst []byte) ([]byte, error) {
	out, err := e.prog.EvalKey(env, dst)
	if err != nil {
		return out, e.wrap(err)
	}
	return out, nil
}

// wrap places err, an error of the expression, in the file.
func (e *Expr) wrap(err error) error {
	ee := &ExprError{Key: e.key, Line: e.line}
	if !errors.As(err, &ee.Err) {
		ee.Err = &expression.Error{Msg: err.Error()}
	}
	x := ee.Err
	switch {
	case x.Line == 0:
	case e.block:
		ee.Line = e.line + x.Line
		ee.ExprLine, ee.ExprCol = x.Line, x.Col
	case x.Line == 1 && e.col > 0:
		ee.Col = e.col + x.Col - 1
	default:
		ee.Line = e.line + x.Line - 1
		ee.ExprLine, ee.ExprCol = x.Line, x.Col
	}
	return ee
}

// ExprError is an error of a configuration's expression, placed in the
// file.
type ExprError struct {
	// Key is the configuration key of the expression.
	Key string
	// Line and Col are the position in the file: Line is 0 when unknown,
	// Col is 0 when only the line is known.
	Line, Col int
	// ExprLine and ExprCol are the position within the expression when
	// it spans lines (a block scalar) and Col is unknown.
	ExprLine, ExprCol int
	// Err is the expression's own error.
	Err *expression.Error
}

// Error returns "key: line L, column C: msg".
func (e *ExprError) Error() string { return e.Key + ": " + e.where(true) + e.Err.Msg }

// Unwrap returns the *expression.Error.
func (e *ExprError) Unwrap() error { return e.Err }

// where is the position, "line L, column C: ", without the line when
// withLine is false (a Problem has it).
func (e *ExprError) where(withLine bool) string {
	var s string
	if withLine && e.Line > 0 {
		s = fmt.Sprintf("line %d", e.Line)
	}
	var pos string
	switch {
	case e.Col > 0:
		pos = fmt.Sprintf("column %d", e.Col)
	case e.ExprLine > 0:
		pos = fmt.Sprintf("expression line %d, column %d", e.ExprLine, e.ExprCol)
	}
	switch {
	case s != "" && pos != "":
		return s + ", " + pos + ": "
	case s != "" || pos != "":
		return s + pos + ": "
	}
	return ""
}

// problem turns the error into a Problem.
func (e *ExprError) problem() Problem {
	return Problem{Key: e.Key, Line: e.Line, Msg: e.where(false) + e.Err.Msg}
}
