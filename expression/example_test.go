package expression_test

import (
	"errors"
	"fmt"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
)

func Example() {
	// Compiled once, when the job starts.
	filter := expression.MustCompile(`value.price > 1000 && value.channel == "Google"`, expression.RecordContext, expression.Bool())
	euros := expression.MustCompile(`round_to(value.price * 0.908, 3)`, expression.RecordContext)

	// Evaluated per record, with one Env per goroutine.
	var env expression.Env
	r := operators.Record{Data: map[string]any{"price": int64(18870), "channel": "Google"}}
	env.SetRecord(&r)
	keep, _ := filter.EvalBool(&env)
	price, _ := euros.Eval(&env)
	fmt.Println(keep, price)

	// Errors name the position in the expression.
	_, err := expression.Compile(`value.price > 1 && colour == "red"`, expression.RecordContext)
	var e *expression.Error
	if errors.As(err, &e) {
		fmt.Println(e.Line, e.Col, e.Msg)
	}
	// Output:
	// true 17133.96
	// 1 20 unknown name colour
}
