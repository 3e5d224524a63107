package exprbench

import (
	"reflect"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

var (
	celMapEnv, celBidEnv *cel.Env
)

func init() {
	var err error
	celMapEnv, err = cel.NewEnv(
		cel.Variable("value", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("key", cel.StringType),
		cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("timestamp", cel.IntType),
	)
	if err != nil {
		panic(err)
	}
	celBidEnv, err = cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[Bid](), ext.ParseStructTags(true)),
		cel.Variable("value", cel.ObjectType("exprbench.Bid")),
		cel.Variable("key", cel.StringType),
		cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("timestamp", cel.IntType),
	)
	if err != nil {
		panic(err)
	}
}

// activation resolves the four variables without building a map per
// record; it is reused across evaluations.
type activation struct {
	value   any
	key     ref.Val
	headers any
	ts      ref.Val
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "value":
		return a.value, true
	case "key":
		return a.key, true
	case "headers":
		return a.headers, true
	case "timestamp":
		return a.ts, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// CELEval is a compiled CEL program per representation.
type CELEval struct {
	mapProg, bidProg cel.Program
	act              activation
}

func compileCEL(env *cel.Env, src string) (cel.Program, error) {
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	return env.Program(ast, cel.EvalOptions(cel.OptOptimize))
}

// CompileCEL compiles src for both representations.
func CompileCEL(src string) (*CELEval, error) {
	m, err := compileCEL(celMapEnv, src)
	if err != nil {
		return nil, err
	}
	b, err := compileCEL(celBidEnv, src)
	if err != nil {
		return nil, err
	}
	return &CELEval{mapProg: m, bidProg: b}, nil
}

// CompileCELMap compiles src against the map representation only.
func CompileCELMap(src string) error {
	_, err := compileCEL(celMapEnv, src)
	return err
}

// CompileCELBid compiles src against the typed representation only.
func CompileCELBid(src string) error {
	_, err := compileCEL(celBidEnv, src)
	return err
}

// EvalMap implements Evaluator.
func (e *CELEval) EvalMap(value map[string]any, r *Record) (any, error) {
	e.act = activation{value: value, key: types.String(r.Key), headers: r.Headers, ts: types.Int(r.Timestamp)}
	out, _, err := e.mapProg.Eval(&e.act)
	if err != nil {
		return nil, err
	}
	return out.Value(), nil
}

// EvalBid implements Evaluator.
func (e *CELEval) EvalBid(value *Bid, r *Record) (any, error) {
	e.act = activation{value: value, key: types.String(r.Key), headers: r.Headers, ts: types.Int(r.Timestamp)}
	out, _, err := e.bidProg.Eval(&e.act)
	if err != nil {
		return nil, err
	}
	return out.Value(), nil
}

var celBool = cel.BoolType
