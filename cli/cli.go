package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/httpapi"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/internal/logging"
	"github.com/tidemark/tidemark/internal/runner"
	"github.com/tidemark/tidemark/plugin"
)

// version is set at build time with
// -ldflags "-X github.com/tidemark/tidemark/cli.version=…"; without it the
// module version and VCS revision of the build are printed.
var version = ""

// Main runs the processor's command line (os.Args) with the operator types
// of env, and exits the process with its exit code. A program that adds
// its own operators registers them in env (plugin.Default() holds the
// built-ins once package operators/builtin is imported) and calls Main
// from its main function:
//
//	func main() {
//		if err := plugin.RegisterOperator("mask", spec, newMask); err != nil {
//			panic(err)
//		}
//		cli.Main(plugin.Default())
//	}
func Main(env *plugin.Environment) {
	os.Exit(Run(context.Background(), env, os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// Run executes the command line args (without the program's name) with
// the operator types of env and returns the process's exit code: 0 on
// success, 2 for bad usage (an unknown command or flag, a missing required
// flag, extra arguments), 1 when a command fails. Errors go to stderr.
func Run(ctx context.Context, env *plugin.Environment, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(env, stdout, stderr)
	root.SetArgs(args)
	var started bool
	trackStart(root, &started)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "processor: %v\n", err)
	var ue usageError
	if !started || errors.As(err, &ue) {
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
	return exitFailed
}

func newRootCmd(env *plugin.Environment, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "processor",
		Short: "Tidemark: exactly-once stream processing beside Kafka",
		Long: `Tidemark consumes Kafka partitions, runs stateful operators on local state,
checkpoints that state to S3 or a directory, and writes results back to Kafka
in transactions that commit with each checkpoint.

One YAML file configures a job; see the README's configuration reference.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRunCmd(env), newValidateCmd(env), newMigrateCmd(), newSavepointCmd(), newTailCmd(), newVersionCmd(),
		newEmbeddedBrokerCmd(), newCheckpointsCmd(), newDocsCmd(env), newNexmarkCmd())
	return root
}

func configFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVarP(path, "config", "c", "", "path of the YAML configuration file (required)")
	_ = cmd.MarkFlagRequired("config")
}

func newValidateCmd(env *plugin.Environment) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "Check a configuration file and report every problem in it",
		Long: `Validate decodes the configuration strictly (unknown keys are errors), substitutes
${VAR} references from the environment and checks every value; it parses every
operator with its type's spec, compiles every expression and plans the job
graph (inputs, cycles, changelog modes). It prints each problem with its key
and line (and an expression's column) and exits 1 if there is any; otherwise
it prints the plan: stages, nodes and key exchanges. It contacts neither Kafka
nor S3.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return validate(cmd.OutOrStdout(), cmd.ErrOrStderr(), env, path)
		},
	}
	configFlag(cmd, &path)
	return cmd
}

func sources(cfg *config.Config) any {
	if cfg.Source.TopicRegex != "" {
		return "regex " + cfg.Source.TopicRegex
	}
	return cfg.Source.Topics
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this build",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "processor", buildVersion())
		},
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		return v + " " + bi.GoVersion
	}
	return "unknown"
}

func newRunCmd(env *plugin.Environment) *cobra.Command {
	var path, cpuProfile, memProfile string
	var opts runner.Options
	cmd := &cobra.Command{
		Use:   "run --config FILE [--from CHECKPOINT|SAVEPOINT] [--fallback] [--fresh] [--accept-loss] [--cpuprofile FILE] [--memprofile FILE]",
		Short: "Run the job described by a configuration file",
		Long: `Run restores the job from its newest complete checkpoint (or the checkpoint or
savepoint named by --from), then runs it until SIGTERM or SIGINT. The first
signal stops the job cleanly; a second SIGINT exits at once.

--from takes a checkpoint id ("12" or "chk-0000000012") or a savepoint name
("savepoints/NAME" or "NAME"). The restore is recorded as a new checkpoint,
so a restart (even with the same arguments) goes on from there. If the
newest checkpoint's metadata is corrupted, run refuses to start unless
--fallback allows it to restore the previous retained checkpoint.

--fresh starts without state after a change of the job graph that makes
its checkpoints unusable. --accept-loss carries on when sink transactions
were lost (the broker aborted them) and no checkpoint can write them again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			if err := runnable(env, path, &cfg); err != nil {
				return err
			}
			opts.Env = env
			if cfg.Kafka.Embedded {
				if opts.EmbeddedCommand, err = embeddedCommand(); err != nil {
					return err
				}
			}
			log, err := logging.New(cfg.Log, os.Stderr)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			log.Info("starting", zap.String("version", buildVersion()), zap.String("config", path))
			defer applyMemoryLimit(&cfg, log)()
			unlock, err := lockStateDir(&cfg, log)
			if err != nil {
				return err
			}
			defer unlock()
			if cpuProfile != "" {
				stopProfile, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stopProfile()
			}
			if memProfile != "" {
				stopMem, err := startMemProfile(memProfile)
				if err != nil {
					return err
				}
				defer func() {
					if merr := stopMem(); merr != nil {
						log.Warn("heap profile not written", zap.Error(merr))
					}
				}()
			}
			ctx, stop := signalContext(cmd.Context(), log)
			defer stop()
			if err := checkKafka(ctx, &cfg, log); err != nil {
				return err
			}
			return runJob(ctx, &cfg, opts, log)
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVar(&opts.From, "from", "", "checkpoint id or savepoint name to restore instead of the newest checkpoint")
	cmd.Flags().BoolVar(&opts.Fallback, "fallback", false, "restore the previous retained checkpoint if the newest one is corrupted")
	cmd.Flags().BoolVar(&opts.Fresh, "fresh", false, "start without state, ignoring every checkpoint (after a change of the job graph); output already committed stays")
	cmd.Flags().BoolVar(&opts.AcceptLoss, "accept-loss", false, "carry on even if sink transactions whose records precede the restored checkpoint were lost (the error names them)")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) of the whole run to this file")
	cmd.Flags().StringVar(&memProfile, "memprofile", "", "write a heap profile (go tool pprof -sample_index=inuse_space) taken when the live heap was largest to this file at exit")
	return cmd
}

// startCPUProfile starts writing a CPU profile to path; the function it
// returns stops it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// runJob runs the HTTP server and the job side by side until ctx is done or
// either fails.
func runJob(ctx context.Context, cfg *config.Config, opts runner.Options, log *zap.Logger) error {
	g, ctx := errgroup.WithContext(ctx)
	var srv *httpapi.Server
	ends := &endOffsets{cfg: cfg, log: log.Named("http")}
	defer ends.Close()
	if cfg.HTTP.Listen != "" {
		var err error
		if srv, err = listenHTTP(cfg, log); err != nil {
			return err
		}
		// The job's metrics, on a registry of its own (no globals).
		reg := newRegistry()
		opts.Metrics = reg
		srv.SetMetrics(reg)
		g.Go(func() error { return srv.Serve(ctx, log.Named("http")) })
	}
	g.Go(func() error {
		err := runner.Run(ctx, cfg, opts, log, runner.Hooks{Started: func(j *job.Job) {
			if srv != nil {
				// /readyz, /api/v1/job and the checkpoint API follow the
				// job from its first restore on, restarts included.
				srv.SetJob(j)
				srv.SetCheckpoints(j)
				srv.SetSources(j)
			}
		}, Ready: func(brokers []string, _ *job.Job) {
			if srv != nil {
				srv.SetEndOffsets(ends.lookup(brokers))
			}
		}, Stopper: func(stop func(context.Context, string) (string, error)) {
			if srv != nil {
				srv.SetStopper(stop)
			}
		}})
		if err != nil {
			return fmt.Errorf("job %s: %w", cfg.Job.Name, err)
		}
		return context.Canceled // stop the HTTP server too
	})
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("stopped with an error", zap.Error(err))
		return err
	}
	log.Info("stopped")
	return nil
}

// signalContext returns a context cancelled by the first SIGTERM or SIGINT;
// a second SIGINT exits the process at once (recovery handles the rest).
func signalContext(parent context.Context, log *zap.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			log.Info("signal received, shutting down cleanly (SIGINT again to exit at once)", zap.String("signal", s.String()))
			cancel()
		case <-done:
			return
		}
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGINT {
					log.Warn("second SIGINT: exiting at once")
					_ = log.Sync()
					os.Exit(130)
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
