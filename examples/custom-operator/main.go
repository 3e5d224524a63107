package main

import (
	"fmt"
	"os"

	"github.com/tidemark/tidemark/cli"
	_ "github.com/tidemark/tidemark/operators/builtin" // the built-in operators, beside ours
	"github.com/tidemark/tidemark/plugin"
)

func main() {
	if err := register(plugin.Default()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cli.Main(plugin.Default())
}

// register adds this program's operators to env.
func register(env *plugin.Environment) error {
	if err := env.RegisterOperator("running_max", runningMaxSpec(), newRunningMax); err != nil {
		return err
	}
	return env.RegisterOperator("redact", redactSpec(), newRedact)
}
