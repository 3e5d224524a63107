package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/plan"
	"github.com/tidemark/tidemark/plugin"
)

// validate checks the configuration at path and plans its job, printing
// the plan (and the planner's warnings on stderr).
func validate(stdout, stderr io.Writer, env *plugin.Environment, path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	j, err := plan.Build(&cfg, env)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) && ce.File == "" {
			ce.File = path
		}
		return err
	}
	for _, w := range j.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if cfg.IsGraph() {
		fmt.Fprintf(stdout, "%s: valid (job %q, %s, %d sources, %d operators, %d sinks, dead letters to %s)\n",
			path, cfg.Job.Name, cfg.Output.Delivery, len(cfg.Sources), len(cfg.Operators), len(cfg.Sinks), j.DeadLetterTopic)
	} else {
		fmt.Fprintf(stdout, "%s: valid (job %q, %s from %v to %s)\n",
			path, cfg.Job.Name, cfg.Sink.Delivery, sources(&cfg), cfg.Sink.Topic)
	}
	fmt.Fprint(stdout, j.Explain())
	return nil
}

// runnable plans the job of cfg as validate does, so that run refuses
// what validate refuses before anything starts.
func runnable(env *plugin.Environment, path string, cfg *config.Config) error {
	if _, err := plan.Build(cfg, env); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) && ce.File == "" {
			ce.File = path
		}
		return err
	}
	return nil
}

func newMigrateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "migrate --config FILE",
		Short: "Print a single-chain configuration in the job graph form",
		Long: `Migrate rewrites a configuration of the single-chain form (source, pipeline,
sink) into the job graph form (sources, operators, sinks, output,
dead_letter) and prints it: every other section, ${VAR} reference and comment
stays as it is. The single-chain form keeps working; migrate when the job needs
operators of the graph form. The migrated job is a new topology: start it with
run --fresh (its checkpoints do not restore the old form's).

  processor migrate --config old.yaml > new.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("config: %w", err)
			}
			// The file must be valid as it is, so that the new one is too.
			if _, err := config.Parse(path, data, os.LookupEnv); err != nil {
				return err
			}
			out, err := config.Migrate(data)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	configFlag(cmd, &path)
	return cmd
}
