package exprbench

import (
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

type exprMapEnv struct {
	Value     map[string]any    `expr:"value"`
	Key       string            `expr:"key"`
	Headers   map[string]string `expr:"headers"`
	Timestamp int64             `expr:"timestamp"`
}

type exprBidEnv struct {
	Value     *Bid              `expr:"value"`
	Key       string            `expr:"key"`
	Headers   map[string]string `expr:"headers"`
	Timestamp int64             `expr:"timestamp"`
}

// ExprEval is a compiled expr-lang program, one per record representation,
// with a VM and an environment reused across evaluations.
type ExprEval struct {
	mapProg, bidProg *vm.Program
	vm               vm.VM
	menv             exprMapEnv
	benv             exprBidEnv
}

// CompileExpr compiles src for both representations.
func CompileExpr(src string) (*ExprEval, error) {
	m, err := expr.Compile(src, expr.Env(exprMapEnv{}))
	if err != nil {
		return nil, err
	}
	b, err := expr.Compile(src, expr.Env(exprBidEnv{}))
	if err != nil {
		return nil, err
	}
	return &ExprEval{mapProg: m, bidProg: b}, nil
}

// CompileExprMap compiles src against the map representation only.
func CompileExprMap(src string) error {
	_, err := expr.Compile(src, expr.Env(exprMapEnv{}))
	return err
}

// CompileExprBid compiles src against the typed representation only.
func CompileExprBid(src string) error {
	_, err := expr.Compile(src, expr.Env(exprBidEnv{}))
	return err
}

// EvalMap implements Evaluator.
func (e *ExprEval) EvalMap(value map[string]any, r *Record) (any, error) {
	e.menv = exprMapEnv{Value: value, Key: r.Key, Headers: r.Headers, Timestamp: r.Timestamp}
	return e.vm.Run(e.mapProg, &e.menv)
}

// EvalBid implements Evaluator.
func (e *ExprEval) EvalBid(value *Bid, r *Record) (any, error) {
	e.benv = exprBidEnv{Value: value, Key: r.Key, Headers: r.Headers, Timestamp: r.Timestamp}
	return e.vm.Run(e.bidProg, &e.benv)
}
