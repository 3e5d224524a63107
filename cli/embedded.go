package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/embedded"
	"github.com/tidemark/tidemark/internal/logging"
)

// embeddedBrokerCmd is the name of the hidden command that runs the
// embedded broker as a child of `run` and `tail`.
const embeddedBrokerCmd = "embedded-broker"

// embeddedCommand is how this binary starts its embedded broker process.
func embeddedCommand() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("kafka.embedded: cannot find this program to start the embedded broker: %w", err)
	}
	return []string{exe, embeddedBrokerCmd}, nil
}

// newEmbeddedBrokerCmd is the child process that runs the embedded broker
// for `run` and `tail` (embedded.Spawn): it serves until its stdin reaches
// EOF, which happens when its parent stops or dies, and then saves the
// broker's data whole. It ignores the terminal's and the supervisor's
// signals: the parent handles them and ends it.
func newEmbeddedBrokerCmd() *cobra.Command {
	var o embedded.Options
	var noWait bool
	cmd := &cobra.Command{
		Use:    embeddedBrokerCmd + " --" + embedded.FlagDataDir + " DIR --" + embedded.FlagListen + " HOST:PORT",
		Short:  "Run the embedded Kafka broker for a parent processor (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
			// JSON at debug level: the parent relays each line at its
			// level to its own logger, which filters.
			log, err := logging.New(config.Log{Level: "debug", Format: "json"}, os.Stderr)
			if err != nil {
				return err
			}
			o.Log = log
			err = embedded.Serve(cmd.Context(), o, noWait, os.Stdin, cmd.OutOrStdout())
			if noWait && errors.Is(err, embedded.ErrLocked) {
				return nil // "busy" told the parent
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.DataDir, embedded.FlagDataDir, "", "the broker's data directory")
	cmd.Flags().StringVar(&o.Listen, embedded.FlagListen, "", "host:port to listen on")
	cmd.Flags().BoolVar(&noWait, embedded.FlagNoWait, false, "say \"busy\" and exit if another broker holds the data directory")
	return cmd
}
