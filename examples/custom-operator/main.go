// Command custom-operator is the processor with two operators of its own,
// registered by name through package plugin and used from YAML like the
// built-ins: running_max (stateful: the largest value per key so far, in
// keyed state that checkpoints restore) and redact (stateless: masks
// fields of the value). Everything else (run, validate, docs operators,
// tail, …) is the processor's command line, package cli:
//
//	go run ./examples/custom-operator validate --config examples/custom-operator/config.yaml
//	go run ./examples/custom-operator docs operators
//
// See the README's "Custom operators in Go".
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
