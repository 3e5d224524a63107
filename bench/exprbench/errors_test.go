package exprbench

import (
	"fmt"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
)

// badFilters are filters with a mistake each; every one must fail to
// compile against the typed view, and the message is printed for the
// design doc (go test -run TestErrors -v).
var badFilters = []struct{ name, src string }{
	{"syntax", `value.price > && key == "a"`},
	{"unclosed string", `key == "abc`},
	{"unknown variable", `vlaue.price > 10`},
	{"unknown field", `value.prize > 10`},
	{"type mismatch", `key + 1 == "a"`},
	{"not a bool", `value.price + 1`},
	{"unknown function", `lenght(key) > 2`},
}

func exprFilter(src string, typed bool) error {
	env := any(exprMapEnv{})
	if typed {
		env = exprBidEnv{}
	}
	_, err := expr.Compile(src, expr.Env(env), expr.AsBool())
	return err
}

func celFilter(src string, typed bool) error {
	env := celMapEnv
	if typed {
		env = celBidEnv
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return iss.Err()
	}
	if !ast.OutputType().IsExactType(celBool) && !typed && ast.OutputType().String() != "dyn" {
		return fmt.Errorf("filter must be a bool, is %s", ast.OutputType())
	}
	if typed && !ast.OutputType().IsExactType(celBool) {
		return fmt.Errorf("filter must be a bool, is %s", ast.OutputType())
	}
	return nil
}

func TestErrors(t *testing.T) {
	for _, typed := range []bool{false, true} {
		for _, bf := range badFilters {
			for _, lib := range []struct {
				name string
				f    func(string, bool) error
			}{{"expr", exprFilter}, {"cel", celFilter}} {
				err := lib.f(bf.src, typed)
				msg := "<compiles>"
				if err != nil {
					msg = strings.ReplaceAll(err.Error(), "\n", "\n\t\t")
				}
				t.Logf("typed=%v %s / %s: %s\n\t\t%s", typed, bf.name, lib.name, bf.src, msg)
				if typed && err == nil {
					t.Errorf("typed %s / %s: compiled", bf.name, lib.name)
				}
			}
		}
	}
}
