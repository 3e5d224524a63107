package optest

import (
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/tidemark/tidemark/operators"
)

// CheckEquivalence is RunRestoreEquivalence over a script given as text,
// reporting to any testing.TB (so that a test can see it fail).
func CheckEquivalence(tb testing.TB, script string, newOp func() operators.Operator, opts ...Option) {
	var cmds []datadriven.TestData
	datadriven.RunTestFromStringAny(tb, script, func(_ testing.TB, d *datadriven.TestData) string {
		switch d.Cmd {
		case "process", "watermark", "time":
			cmds = append(cmds, *d)
		}
		return d.Expected
	})
	checkEquivalence(tb, cmds, newOp, opts)
}
