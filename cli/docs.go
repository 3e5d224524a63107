package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/plugin"
)

// newDocsCmd is `processor docs`: reference documentation generated from
// this build.
func newDocsCmd(env *plugin.Environment) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "docs",
		Short: "Print reference documentation generated from this build",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageError{errors.New("name a subcommand: operators")}
		},
	}
	cmd.AddCommand(newDocsOperatorsCmd(env))
	return cmd
}

func newDocsOperatorsCmd(env *plugin.Environment) *cobra.Command {
	var update string
	cmd := &cobra.Command{
		Use:   "operators [--update FILE]",
		Short: "Print the operator reference (Markdown) generated from the operators' specs",
		Long: `Operators prints the reference of every operator type this binary knows
(the built-ins and those its program registered), generated from their specs:
per type its summary, inputs, state, side outputs, a table of its keys and
examples. It is the text between the README's operator markers.

--update FILE replaces the text between the markers
  ` + plugin.DocsBegin + `
  ` + plugin.DocsEnd + `
in FILE with it instead (for a custom binary's own README).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if update == "" {
				_, err := fmt.Fprint(cmd.OutOrStdout(), env.OperatorDocs())
				return err
			}
			doc, err := os.ReadFile(update)
			if err != nil {
				return fmt.Errorf("docs operators --update: %w", err)
			}
			out, err := env.UpdateOperatorDocs(doc)
			if err != nil {
				return fmt.Errorf("docs operators --update %s: %w", update, err)
			}
			info, err := os.Stat(update)
			if err != nil {
				return fmt.Errorf("docs operators --update: %w", err)
			}
			if err := os.WriteFile(update, out, info.Mode().Perm()); err != nil {
				return fmt.Errorf("docs operators --update: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: operator reference of %d operator types written between the markers\n", update, len(env.Names()))
			return nil
		},
	}
	cmd.Flags().StringVar(&update, "update", "", "Markdown file whose operator reference (between the markers) to rewrite instead of printing it")
	return cmd
}
