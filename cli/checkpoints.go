package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/drill"
	"github.com/tidemark/tidemark/checkpoint/inspect"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/logging"
)

// ckptFlags are the flags every `checkpoints` command takes: where the
// job's checkpoints are.
type ckptFlags struct {
	config       string
	storage, job string
	s3           storage.S3Config
	jsonOut      bool
	progress     string
}

// ckptTarget is the job's checkpoint storage, opened.
type ckptTarget struct {
	uri, job string
	root     storage.Store
	st       storage.Store // rooted at the job
	cfg      *config.Config
	s3       storage.S3Config
}

func (t *ckptTarget) Close() error { return t.root.Close() }

// open resolves --config or --storage/--job and opens the storage.
// withTarget makes a command's RunE that opens the checkpoint store the
// flags name, with a context that an interrupt cancels, and closes it after
// fn.
func (f *ckptFlags) withTarget(fn func(ctx context.Context, t *ckptTarget, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx, stop := interruptible(cmd.Context())
		defer stop()
		t, err := f.open(ctx)
		if err != nil {
			return err
		}
		defer t.Close()
		return fn(ctx, t, cmd, args)
	}
}

func (f *ckptFlags) open(ctx context.Context) (*ckptTarget, error) {
	t := &ckptTarget{s3: f.s3}
	switch {
	case f.config != "" && (f.storage != "" || f.job != ""):
		return nil, usageError{errors.New("give --config, or --storage with --job, not both")}
	case f.config != "":
		cfg, err := config.Load(f.config)
		if err != nil {
			return nil, err
		}
		t.cfg, t.uri, t.job = &cfg, cfg.Checkpoint.Storage, cfg.Job.Name
		t.s3 = storage.S3Config{Endpoint: cfg.S3.Endpoint, Region: cfg.S3.Region, PathStyle: cfg.S3.PathStyle}
	case f.storage == "" || f.job == "":
		return nil, usageError{errors.New("say where the checkpoints are: --config FILE, or --storage URI with --job NAME")}
	default:
		t.uri, t.job = f.storage, f.job
	}
	root, err := storage.Open(ctx, t.uri, t.s3)
	if err != nil {
		return nil, err
	}
	t.root, t.st = root, checkpoint.JobStore(root, t.job)
	return t, nil
}

// showProgress reports whether progress goes to w: a terminal, or
// --progress=always.
func (f *ckptFlags) showProgress(w io.Writer) bool {
	switch f.progress {
	case "always":
		return true
	case "never":
		return false
	}
	file, ok := w.(*os.File)
	return ok && logging.IsTerminal(file)
}

func newCheckpointsCmd() *cobra.Command {
	f := &ckptFlags{}
	cmd := &cobra.Command{
		Use:   "checkpoints",
		Short: "List, inspect, verify, collect and export a job's checkpoints, with no processor running",
		Long: `The checkpoints commands work on a job's checkpoint storage directly; no
processor needs to run. Say where the checkpoints are with --config FILE (the
job's configuration: checkpoint.storage, job.name, the s3 section), or with
--storage URI and --job NAME (and the --s3-* flags for an S3-compatible
server; credentials come from the AWS default chain, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY for instance).

A checkpoint is named by its id ("12" or "chk-0000000012"), a savepoint by
"savepoints/NAME" or "NAME", as run --from takes them; with no name, inspect,
verify and export take the checkpoint a start would restore.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{errors.New("name a subcommand: list, inspect, verify, gc or export")}
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&f.config, "config", "c", "", "the job's configuration file")
	pf.StringVar(&f.storage, "storage", "", "checkpoint storage URI (file:///path or s3://bucket/prefix), with --job")
	pf.StringVar(&f.job, "job", "", "job name (job.name), with --storage")
	pf.StringVar(&f.s3.Endpoint, "s3-endpoint", "", "S3 endpoint URL for S3-compatible servers, with --storage (s3.endpoint)")
	pf.StringVar(&f.s3.Region, "s3-region", "us-east-1", "S3 region, with --storage (s3.region)")
	pf.BoolVar(&f.s3.PathStyle, "s3-path-style", false, "address buckets as endpoint/bucket, with --storage (s3.path_style)")
	pf.BoolVar(&f.jsonOut, "json", false, "print JSON instead of text")
	pf.StringVar(&f.progress, "progress", "auto", "progress of long operations on stderr: auto (when stderr is a terminal), always or never")
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		switch f.progress {
		case "auto", "always", "never":
			return nil
		}
		return usageError{fmt.Errorf("--progress must be auto, always or never, got %q", f.progress)}
	}
	cmd.AddCommand(newCkptListCmd(f), newCkptInspectCmd(f), newCkptVerifyCmd(f), newCkptGCCmd(f), newCkptExportCmd(f))
	return cmd
}

// interruptible is ctx cancelled by SIGINT or SIGTERM, so that a long
// operation stops and cleans up.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newCkptListCmd(f *ckptFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List checkpoints and savepoints: time, size, lease generation, validity, and the one a start restores",
		Args:  cobra.NoArgs,
		RunE: f.withTarget(func(ctx context.Context, t *ckptTarget, cmd *cobra.Command, _ []string) error {
			l, err := inspect.List(ctx, t.st)
			if err != nil {
				return err
			}
			if f.jsonOut {
				return printJSON(cmd.OutOrStdout(), l)
			}
			printListing(cmd.OutOrStdout(), t, l, time.Now())
			return nil
		}),
	}
}

func printListing(w io.Writer, t *ckptTarget, l *inspect.Listing, now time.Time) {
	fmt.Fprintf(w, "job %s at %s\n", t.job, t.uri)
	fmt.Fprintf(w, "lease: %s\n\n", leaseText(l.Lease, now))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECKPOINT\tCOMPLETED\tSIZE\tINCREMENTAL\tGENERATION\tORIGIN\tVALID\t")
	row := func(e inspect.Entry) {
		name := e.Name
		if e.Restore {
			name += " *"
		}
		valid := "yes"
		if !e.Valid {
			valid = "NO: " + e.Problem
		}
		completed := "-"
		if !e.CompletedAt.IsZero() {
			completed = e.CompletedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		origin := e.Origin
		if origin == "" {
			origin = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t\n", name, completed, bytesText(e.Size), bytesText(e.Incremental), e.Generation, origin, valid)
	}
	for _, e := range l.Checkpoints {
		row(e)
	}
	if len(l.Checkpoints) == 0 {
		fmt.Fprintln(tw, "(none)\t\t\t\t\t\t\t")
	}
	tw.Flush()
	if len(l.Savepoints) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SAVEPOINT\tCOMPLETED\tSIZE\tOF CHECKPOINT\tGENERATION\tORIGIN\tVALID\t")
		for _, e := range l.Savepoints {
			completed := "-"
			if !e.CompletedAt.IsZero() {
				completed = e.CompletedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			valid := "yes"
			if !e.Valid {
				valid = "NO: " + e.Problem
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t\n", e.Name, completed, bytesText(e.Size), e.CheckpointID, e.Generation, dash(e.Origin), valid)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	switch {
	case l.Restore != "":
		fmt.Fprintf(w, "a start restores checkpoint %s (*)\n", l.Restore)
	case l.RestoreError != "":
		fmt.Fprintf(w, "a start would refuse: %s\n", l.RestoreError)
		if l.FallbackRestore != "" {
			fmt.Fprintf(w, "with --fallback it restores checkpoint %s\n", l.FallbackRestore)
		}
	default:
		fmt.Fprintln(w, "a start begins fresh: no complete checkpoint")
	}
	if len(l.Incomplete) > 0 {
		fmt.Fprintf(w, "checkpoint directories without metadata (in flight, failed or left by a crash): %s\n", idsText(l.Incomplete))
	}
	if len(l.PartialSavepoints) > 0 {
		fmt.Fprintf(w, "savepoint directories without metadata (being written, or left by a failed copy): %s\n", strings.Join(l.PartialSavepoints, ", "))
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func idsText(ids []int64) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, fmt.Sprint(id))
	}
	return strings.Join(parts, ", ")
}

func leaseText(s checkpoint.LeaseStatus, now time.Time) string {
	switch {
	case s.Generation == 0:
		return "never taken"
	case s.Released:
		return fmt.Sprintf("generation %d, released by %s", s.Generation, s.Holder)
	case s.Heartbeats < 0:
		return fmt.Sprintf("generation %d, held by %s, no heartbeat yet", s.Generation, s.Holder)
	}
	return fmt.Sprintf("generation %d, held by %s, heartbeat %d at %s (%s ago by the holder's clock)", s.Generation, s.Holder,
		s.Heartbeats, s.HeartbeatAt.UTC().Format(time.RFC3339), now.Sub(s.HeartbeatAt).Round(time.Second))
}

// bytesText formats n bytes with a binary unit.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func oneName(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

func newCkptInspectCmd(f *ckptFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect [ID|NAME]",
		Short: "Show a checkpoint's offsets, operators, state files and sizes per task, pending transactions, lease generation and origin",
		Args:  cobra.MaximumNArgs(1),
		RunE: f.withTarget(func(ctx context.Context, t *ckptTarget, cmd *cobra.Command, args []string) error {
			d, err := inspect.Describe(ctx, t.st, oneName(args))
			if err != nil {
				return err
			}
			if f.jsonOut {
				return printJSON(cmd.OutOrStdout(), d)
			}
			printDetails(cmd.OutOrStdout(), d)
			return nil
		}),
	}
}

func printDetails(w io.Writer, d *inspect.Details) {
	what := "checkpoint " + d.Name
	if d.Savepoint != "" {
		what = fmt.Sprintf("savepoint %s (of checkpoint %d)", d.Savepoint, d.CheckpointID)
	}
	fmt.Fprintf(w, "%s of job %s\n", what, d.Job)
	fmt.Fprintf(w, "  triggered %s, completed %s\n", d.TriggeredAt.UTC().Format(time.RFC3339Nano), d.CompletedAt.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(w, "  lease generation %d, origin %s\n", d.Generation, dash(d.Origin))
	fmt.Fprintf(w, "  size %s (%d bytes), %s not in the checkpoint before\n", bytesText(d.Size), d.Size, bytesText(d.Incremental))
	if d.Valid {
		fmt.Fprintln(w, "  valid: yes")
	} else {
		fmt.Fprintf(w, "  valid: NO: %s\n", d.Problem)
	}
	if d.Restore {
		fmt.Fprintln(w, "  a start restores it")
	}
	fmt.Fprintf(w, "  topology %s, max parallelism %d, unaligned %v\n", d.Topology, d.MaxParallelism, d.Unaligned)
	fmt.Fprintln(w, "\noperators (the job graph):")
	for _, o := range d.Operators {
		fmt.Fprintf(w, "  %s\n", o)
	}
	fmt.Fprintln(w, "\noffsets (where each partition resumes):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TOPIC\tPARTITION\tOFFSET\tSOURCE TASK\t")
	for _, p := range d.Partitions {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t\n", p.Topic, p.Partition, p.Offset, p.SourceTask)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nstate files:")
	for _, t := range d.Tasks {
		fmt.Fprintf(w, "  keyed-%d, key groups [%d,%d), %d files, %s\n", t.Task, t.KeyGroups[0], t.KeyGroups[1], len(t.Files), bytesText(t.Size))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		files := t.Files
		if t.InFlight != nil {
			files = append(files[:len(files):len(files)], *t.InFlight)
		}
		for _, f := range files {
			where := "own"
			if f.Shared {
				where = "shared"
			}
			stored := ""
			if !f.Stored {
				stored = "MISSING"
			}
			fmt.Fprintf(tw, "    %s\t%d\t%s\t%s\t%s\t\n", f.Name, f.Size, where, f.Key, stored)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\npending transactions (committed once it completes): %d\n", len(d.Pending))
	if len(d.Pending) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TRANSACTIONAL ID\tPRODUCER ID\tEPOCH\tTASK\tAFTER BARRIER\t")
		for _, tx := range d.Pending {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t\n", tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.Task, tx.After)
		}
		tw.Flush()
	}
	if d.Sink != nil {
		fmt.Fprintf(w, "sink transactional ids: %s-<task>-<slot>, %d tasks, %d slots\n", d.Sink.TransactionalIDPrefix, d.Sink.Tasks, d.Sink.PoolSize)
	}
	for _, p := range d.Sinks {
		fmt.Fprintf(w, "sink transactional ids of stage %s: %s-%s-<task>-<slot>, %d tasks, %d slots\n", p.Stage, p.TransactionalIDPrefix, p.Stage, p.Tasks, p.PoolSize)
	}
}

// progressLine draws a progress line on w (a terminal), at most every
// 100 ms, and clears it at the end.
type progressLine struct {
	w    io.Writer
	mu   sync.Mutex
	last time.Time
	drew bool
}

func (p *progressLine) show(format string, args ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		fmt.Fprintf(p.w, "\r\033[K"+format, args...)
		p.drew = true
	}
}

func (p *progressLine) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drew {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func percent(done, total int64) int64 {
	if total <= 0 {
		return 100
	}
	return done * 100 / total
}

func newCkptVerifyCmd(f *ckptFlags) *cobra.Command {
	var scratch string
	var bps int64
	cmd := &cobra.Command{
		Use:   "verify [ID|NAME]",
		Short: "Recovery drill: download every file, check every checksum, open each task's state and count its keys; exit 1 if it would not restore",
		Long: `Verify does what a restore does, short of running the job: it downloads every
file of the checkpoint (or savepoint), checks each against the size and
SHA-256 its metadata records, opens each task's state with Pebble in a
scratch directory, counts its keys per operator and checks that every key
belongs to the task's key groups, and decodes in-flight records. It prints
PASS or FAIL with every problem found and exits 0 or 1. With no name it
verifies the checkpoint a start would restore.`,
		Args: cobra.MaximumNArgs(1),
		RunE: f.withTarget(func(ctx context.Context, t *ckptTarget, cmd *cobra.Command, args []string) error {
			m, err := inspect.Resolve(ctx, t.st, oneName(args))
			if err != nil {
				return err
			}
			o := drill.Options{ScratchDir: scratch, BytesPerSecond: bps}
			var p *progressLine
			if f.showProgress(cmd.ErrOrStderr()) {
				p = &progressLine{w: cmd.ErrOrStderr()}
				name := inspect.NameOf(m)
				o.Progress = func(pr drill.Progress) {
					p.show("verifying %s: keyed-%d, %d/%d files, %s of %s (%d%%)", name, pr.Task, pr.Files, pr.FilesTotal,
						bytesText(pr.Bytes), bytesText(pr.BytesTotal), percent(pr.Bytes, pr.BytesTotal))
				}
			}
			r, err := drill.Verify(ctx, t.st, m, o)
			p.done()
			if err != nil {
				return err
			}
			if f.jsonOut {
				if err := printJSON(cmd.OutOrStdout(), r); err != nil {
					return err
				}
			} else {
				printReport(cmd.OutOrStdout(), r)
			}
			if !r.Passed {
				return fmt.Errorf("checkpoint %s failed the recovery drill: %s", r.Checkpoint, r.Reason)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&scratch, "scratch-dir", "", "directory to download into and open the state in (a new directory inside it, removed at the end; default the system's temporary directory)")
	cmd.Flags().Int64Var(&bps, "max-bytes-per-second", 0, "pace downloads to this many bytes per second (0: no limit)")
	return cmd
}

func printReport(w io.Writer, r *drill.Report) {
	fmt.Fprintf(w, "recovery drill of %s: %d files, %s checked in %s\n", r.Checkpoint, r.Files, bytesText(r.Bytes), r.Duration.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TASK\tKEY GROUPS\tFILES\tBYTES\tOPENED\tOPERATOR\tKEYS\t")
	for _, t := range r.Tasks {
		opened := "yes"
		if !t.Opened {
			opened = "no"
		}
		kg := fmt.Sprintf("[%d,%d)", t.KeyGroups[0], t.KeyGroups[1])
		if len(t.Operators) == 0 {
			fmt.Fprintf(tw, "  keyed-%d\t%s\t%d\t%s\t%s\t-\t%d\t\n", t.Task, kg, t.Files, bytesText(t.Bytes), opened, t.Keys)
		}
		for i, o := range t.Operators {
			if i == 0 {
				fmt.Fprintf(tw, "  keyed-%d\t%s\t%d\t%s\t%s\t%s\t%d\t\n", t.Task, kg, t.Files, bytesText(t.Bytes), opened, o.Operator, o.Keys())
				continue
			}
			fmt.Fprintf(tw, "  \t\t\t\t\t%s\t%d\t\n", o.Operator, o.Keys())
		}
	}
	tw.Flush()
	if r.Passed {
		fmt.Fprintln(w, "PASS")
		return
	}
	fmt.Fprintln(w, "FAIL")
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

func newCkptGCCmd(f *ckptFlags) *cobra.Command {
	var dry bool
	var retained, spRetained int
	var leaseTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "gc [--dry-run]",
		Short: "Delete what retention and garbage collection would: expired checkpoints, zombies' checkpoints, leftovers, unreferenced shared files",
		Long: `Gc runs the garbage collection a processor runs at start-up, with the same
rules: the newest checkpoint.retained checkpoints stay (and an older one a
recovery may fall back to), checkpoints completed by an instance that had
lost the job go, directories of checkpoints that never completed go, and so
do shared files no retained checkpoint references. Savepoints stay, but
those beyond savepoints.retained (--savepoints-retained; 0, the default,
keeps them all) and partial ones (a directory without metadata, left by a
copy that failed or was cut short).

--dry-run only prints what would go. A real run takes the job's lease first
and deletes nothing while an instance holds it and keeps renewing it (a
running processor collects its garbage itself): it names that instance and
exits 1. It waits up to about checkpoint.lease_timeout to tell a live holder
from a dead one.`,
		Args: cobra.NoArgs,
		RunE: f.withTarget(func(ctx context.Context, t *ckptTarget, cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("retained") && t.cfg != nil {
				retained = t.cfg.Checkpoint.Retained
			}
			if !cmd.Flags().Changed("savepoints-retained") && t.cfg != nil {
				spRetained = t.cfg.Savepoints.Retained
			}
			if spRetained < 0 {
				return usageError{fmt.Errorf("--savepoints-retained must not be negative, got %d", spRetained)}
			}
			if !cmd.Flags().Changed("lease-timeout") && t.cfg != nil {
				leaseTimeout = t.cfg.Checkpoint.LeaseTimeout
			}
			if retained < 1 {
				return usageError{fmt.Errorf("--retained must be at least 1, got %d", retained)}
			}
			log := cliLogger(cmd.ErrOrStderr())
			if !dry {
				if s, err := checkpoint.ReadLease(ctx, t.st); err == nil && s.Generation > 0 && !s.Released {
					fmt.Fprintf(cmd.ErrOrStderr(), "the job's lease is held by %s: waiting up to %s to see whether it still renews it\n",
						s.Holder, (leaseTimeout + leaseTimeout/2).Round(time.Second))
				}
			}
			host, _ := os.Hostname()
			r, err := inspect.Collect(ctx, t.st, inspect.CollectOptions{Retained: retained, SavepointsRetained: spRetained, DryRun: dry, LeaseTimeout: leaseTimeout, Log: log,
				Holder: checkpoint.Holder{Host: host, PID: os.Getpid(), Instance: "processor checkpoints gc", Started: time.Now()}})
			if err != nil {
				return err
			}
			if f.jsonOut {
				return printJSON(cmd.OutOrStdout(), r)
			}
			printGC(cmd.OutOrStdout(), r, dry)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "print what would be deleted, delete nothing")
	cmd.Flags().IntVar(&retained, "retained", 3, "complete checkpoints to keep (default checkpoint.retained with --config)")
	cmd.Flags().IntVar(&spRetained, "savepoints-retained", 0, "complete savepoints to keep, 0 for all (default savepoints.retained with --config)")
	cmd.Flags().DurationVar(&leaseTimeout, "lease-timeout", 15*time.Second, "checkpoint.lease_timeout: how long a lease holder's heartbeat must stand still for it to count as dead")
	return cmd
}

func printGC(w io.Writer, r *checkpoint.GCReport, dry bool) {
	verb := "deleted"
	if dry {
		verb = "would delete"
	}
	fmt.Fprintf(w, "retained checkpoints: %s\n", idsText(r.Retained))
	if len(r.Expired) > 0 {
		fmt.Fprintf(w, "expired checkpoints: %s\n", idsText(r.Expired))
	}
	if len(r.Zombies) > 0 {
		fmt.Fprintf(w, "checkpoints of instances that had lost the job: %s\n", idsText(r.Zombies))
	}
	if len(r.ExpiredSavepoints) > 0 {
		fmt.Fprintf(w, "expired savepoints: %s\n", strings.Join(r.ExpiredSavepoints, ", "))
	}
	if len(r.PartialSavepoints) > 0 {
		fmt.Fprintf(w, "partial savepoints: %s\n", strings.Join(r.PartialSavepoints, ", "))
	}
	fmt.Fprintf(w, "%s %d objects, %s:\n", verb, len(r.Deleted), bytesText(r.Bytes()))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, d := range r.Deleted {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t\n", d.Key, d.Size, d.Reason)
	}
	tw.Flush()
}

func newCkptExportCmd(f *ckptFlags) *cobra.Command {
	var to, name string
	cmd := &cobra.Command{
		Use:   "export [ID|NAME] --to DIR|URI",
		Short: "Copy a checkpoint or savepoint, self-contained, to a local directory or another store",
		Long: `Export copies a checkpoint or savepoint, with every state file it needs,
into DIR (or the store URI) as the savepoint savepoints/NAME of the job:
DIR/<job>/savepoints/NAME/. Every file is checked against its checksum on
the way, and the metadata is written last, so a failed export leaves no
savepoint. A processor whose checkpoint.storage is file://DIR restores it
with --from savepoints/NAME; verify and inspect read it with --storage
file://DIR --job <job>. NAME defaults to the savepoint's name, or
checkpoint-<id>.`,
		Args: cobra.MaximumNArgs(1),
		PreRunE: func(*cobra.Command, []string) error {
			if to == "" {
				return usageError{errors.New("--to is required: a directory or a store URI")}
			}
			return nil
		},
		RunE: f.withTarget(func(ctx context.Context, t *ckptTarget, cmd *cobra.Command, args []string) error {
			m, err := inspect.Resolve(ctx, t.st, oneName(args))
			if err != nil {
				return err
			}
			if name == "" {
				name = inspect.ExportName(m)
			}
			dstURI := to
			if !strings.Contains(to, "://") {
				abs, err := filepath.Abs(to)
				if err != nil {
					return err
				}
				dstURI = "file://" + abs
			}
			dstRoot, err := storage.Open(ctx, dstURI, t.s3)
			if err != nil {
				return err
			}
			defer dstRoot.Close()
			var p *progressLine
			var progress func(done, total int64)
			if f.showProgress(cmd.ErrOrStderr()) {
				p = &progressLine{w: cmd.ErrOrStderr()}
				progress = func(done, total int64) {
					p.show("exporting %s: %s of %s (%d%%)", inspect.NameOf(m), bytesText(done), bytesText(total), percent(done, total))
				}
			}
			dir, err := inspect.Export(ctx, t.st, checkpoint.JobStore(dstRoot, t.job), m, name, progress)
			p.done()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %s (%s) to %s/%s/%s\nrestore it with checkpoint.storage: %s and: processor run --config FILE --from savepoints/%s\n",
				inspect.NameOf(m), bytesText(m.StateSize()), strings.TrimSuffix(dstURI, "/"), t.job, dir, dstURI, name)
			return nil
		}),
	}
	cmd.Flags().StringVar(&to, "to", "", "destination: a directory or a store URI (file:///path, s3://bucket/prefix)")
	cmd.Flags().StringVar(&name, "name", "", "savepoint name at the destination (default the savepoint's name, or checkpoint-<id>)")
	return cmd
}

// cliLogger logs warnings and errors to w, for people.
func cliLogger(w io.Writer) *zap.Logger {
	ec := zap.NewDevelopmentEncoderConfig()
	ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(ec), zapcore.AddSync(w), zapcore.WarnLevel))
}
