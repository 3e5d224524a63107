package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
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
self-contained and kept until savepoints.retained newer ones exist (by
default forever); restore it with
"processor run --config FILE --from savepoints/NAME".

The request carries http.token (or TIDEMARK_HTTP_TOKEN) as a bearer token.
When the processor refuses it for its rate limit (savepoints.min_interval,
or a savepoint being taken), savepoint waits as told and asks again, until
--timeout.

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
			token, err := cfg.HTTP.BearerToken(os.Getenv)
			if err != nil {
				return err
			}
			body, _ := json.Marshal(httpapi.SavepointRequest{Name: name, Stop: stop})
			url := "http://" + net.JoinHostPort(host, port) + "/api/v1/savepoints"
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			sr, err := postSavepoint(ctx, url, token, body, cmd.ErrOrStderr())
			if err != nil {
				return err
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

// postSavepoint posts a savepoint request to url with the bearer token (if
// any), waiting and asking again while the processor answers 429 (its rate
// limit), until ctx ends.
func postSavepoint(ctx context.Context, url, token string, body []byte, log io.Writer) (httpapi.SavepointResponse, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return httpapi.SavepointResponse{}, err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return httpapi.SavepointResponse{}, fmt.Errorf("savepoint: is the processor running? %w", err)
		}
		var sr httpapi.SavepointResponse
		derr := json.NewDecoder(resp.Body).Decode(&sr)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			wait := time.Second
			if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
				wait = time.Duration(n) * time.Second
			}
			fmt.Fprintf(log, "savepoint: %s; asking again in %s\n", sr.Error, wait)
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return sr, fmt.Errorf("savepoint: still refused when --timeout ran out: %s", sr.Error)
			}
		case derr != nil:
			return sr, fmt.Errorf("savepoint: %s answered %s", url, resp.Status)
		case resp.StatusCode != http.StatusOK:
			return sr, fmt.Errorf("savepoint failed: %s", sr.Error)
		}
		return sr, nil
	}
}
