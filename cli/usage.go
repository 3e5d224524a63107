package cli

import (
	"github.com/spf13/cobra"
)

// usageError marks an error as bad command-line usage: exit code 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// trackStart makes every command below root (root included) set *started
// when its Run or RunE is entered. Whatever fails before that (an unknown
// command, an unknown or malformed flag, a missing required flag, extra
// arguments) is bad usage: cobra checks all of these before it runs a
// command.
func trackStart(root *cobra.Command, started *bool) {
	if f := root.RunE; f != nil {
		root.RunE = func(cmd *cobra.Command, args []string) error {
			*started = true
			return f(cmd, args)
		}
	} else if f := root.Run; f != nil {
		root.Run = func(cmd *cobra.Command, args []string) {
			*started = true
			f(cmd, args)
		}
	}
	for _, c := range root.Commands() {
		trackStart(c, started)
	}
}
