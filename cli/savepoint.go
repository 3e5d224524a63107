package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/httpapi"
)

func newSavepointCmd() *cobra.Command {
	var path, name, addr string
	var stop bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "savepoint --config FILE [--name NAME] [--stop]",
		Short: "Ask a running processor to write a savepoint",
		Long: `Savepoint asks the processor running the job of FILE, through its HTTP port
(http.listen, or --address), to take a checkpoint now and copy it into
savepoints/NAME/ under the job's checkpoint storage. A savepoint is
self-contained and never garbage-collected; restore it with
"processor run --config FILE --from savepoints/NAME".

With --stop the job stops with the savepoint: the sources stop reading, the
final checkpoint is written as the savepoint and committed, and the
processor exits. Restoring such a savepoint writes no output twice: the way
to upgrade or move a job.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			if addr == "" {
				if cfg.HTTP.Listen == "" {
					return usageError{errors.New("http.listen is empty in the configuration: give --address")}
				}
				addr = cfg.HTTP.Listen
			}
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return usageError{fmt.Errorf("--address: %w", err)}
			}
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			body, _ := json.Marshal(httpapi.SavepointRequest{Name: name, Stop: stop})
			client := &http.Client{Timeout: timeout}
			url := "http://" + net.JoinHostPort(host, port) + "/api/v1/savepoints"
			resp, err := client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				return fmt.Errorf("savepoint: is the processor running? %w", err)
			}
			defer resp.Body.Close()
			var sr httpapi.SavepointResponse
			if err := json.NewDecoder(resp.Body).Decode(&sr); err != nil {
				return fmt.Errorf("savepoint: %s answered %s", url, resp.Status)
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("savepoint failed: %s", sr.Error)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "savepoint written to %s/%s/%s\nrestore it with: processor run --config %s --from %s\n",
				cfg.Checkpoint.Storage, cfg.Job.Name, sr.Savepoint, path, sr.Savepoint)
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVar(&name, "name", "", "savepoint name (default savepoint-<UTC time>)")
	cmd.Flags().StringVar(&addr, "address", "", "host:port of the processor's HTTP server (default http.listen)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for the savepoint")
	cmd.Flags().BoolVar(&stop, "stop", false, "stop the job with the savepoint: its final checkpoint is the savepoint, so restoring it repeats nothing (for upgrades)")
	return cmd
}
