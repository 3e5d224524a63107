package cli

import (
	"context"
	"io"

	_ "github.com/tidemark/tidemark/operators/builtin" // registers the built-ins, as cmd/processor does
	"github.com/tidemark/tidemark/plugin"
)

// run runs the command line as cmd/processor does: the built-in operators
// of plugin.Default().
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Run(ctx, plugin.Default(), args, stdout, stderr)
}

// processorPkg is the package of the processor binary, for the tests that
// build and run it.
const processorPkg = "../cmd/processor"
