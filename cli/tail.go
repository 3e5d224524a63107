package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/embedded"
	"github.com/tidemark/tidemark/internal/kafkaconf"
	"github.com/tidemark/tidemark/internal/logging"
	"github.com/tidemark/tidemark/internal/runner"
)

// tailOptions are the choices of `processor tail`.
type tailOptions struct {
	lines         int
	fromBeginning bool
	follow        bool
	max           int
	verbose       bool
}

// tailIdle is how long a read waits for more records before it takes the
// topic as read to its end.
const tailIdle = time.Second

func newTailCmd() *cobra.Command {
	var path string
	var o tailOptions
	cmd := &cobra.Command{
		Use:   "tail TOPIC --config FILE [-n N | --from-beginning] [-f] [--max N] [-v]",
		Short: "Print the records of a topic, as read_committed consumers see them",
		Long: `Tail prints the records of TOPIC from the Kafka cluster of FILE, one per line
as KEY<TAB>VALUE (-v adds partition, offset and timestamp in front), reading
with isolation.level=read_committed: only committed output, as downstream
consumers see it.

By default it prints the last N records (-n, 10) and exits; --from-beginning
prints every record; -f keeps printing new records until Ctrl-C; --max stops
after that many records.

With kafka.embedded it reads the embedded broker: the running processor's,
or, when no processor runs, the data it left under state.dir, on which it
starts the broker just for the read. Following (-f) with no processor
running, it prints what is there, lets the data go, and waits for a
processor to start, then follows its output.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.lines < 0 || o.max < 0 {
				return usageError{errors.New("-n and --max must not be negative")}
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			// Log to stderr: stdout holds the records alone.
			log, err := logging.New(config.Log{Level: "warn", Format: cfg.Log.Format}, os.Stderr)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			t := &tailer{w: cmd.OutOrStdout(), info: cmd.ErrOrStderr(), topic: args[0], o: o, cfg: &cfg, log: log}
			if !cfg.Kafka.Embedded {
				return t.run(ctx, cfg.Kafka.Brokers)
			}
			err = t.runEmbedded(ctx)
			if errors.Is(err, embedded.ErrNoData) {
				return fmt.Errorf("%w: the processor has not run with this configuration yet (state.dir %s); start it with: processor run --config %s", err, cfg.State.Dir, path)
			}
			return err
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().IntVarP(&o.lines, "lines", "n", 10, "print about the last N records (each partition's last N, newest N of those overall)")
	cmd.Flags().BoolVar(&o.fromBeginning, "from-beginning", false, "print every record from the start of the topic")
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing new records until interrupted")
	cmd.Flags().IntVar(&o.max, "max", 0, "stop after printing this many records (0: no limit)")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "print partition, offset and timestamp before key and value")
	return cmd
}

// tailer prints the records of one topic.
type tailer struct {
	w, info io.Writer
	topic   string
	o       tailOptions
	cfg     *config.Config
	log     *zap.Logger

	printed int
}

func (t *tailer) full() bool { return t.o.max > 0 && t.printed >= t.o.max }

func (t *tailer) print(r *kgo.Record) error {
	var err error
	if t.o.verbose {
		_, err = fmt.Fprintf(t.w, "%d\t%d\t%s\t%s\t%s\n", r.Partition, r.Offset, r.Timestamp.UTC().Format(time.RFC3339Nano), r.Key, r.Value)
	} else {
		_, err = fmt.Fprintf(t.w, "%s\t%s\n", r.Key, r.Value)
	}
	t.printed++
	return err
}

func (t *tailer) opts(brokers []string) ([]kgo.Opt, error) {
	return kafkaconf.Options(t.cfg.Kafka, brokers, t.log)
}

// run reads from brokers: up to the end, then on if following.
func (t *tailer) run(ctx context.Context, brokers []string) error {
	base, err := t.opts(brokers)
	if err != nil {
		return err
	}
	next, err := t.catchUp(ctx, base)
	if err != nil || !t.o.follow || t.full() || ctx.Err() != nil {
		return err
	}
	return t.follow(ctx, base, next)
}

// runEmbedded reads the embedded broker: the running processor's, or its
// own on the processor's data. Following, it lets its own go after the
// catch-up and waits for a processor to follow.
func (t *tailer) runEmbedded(ctx context.Context) error {
	command, err := embeddedCommand()
	if err != nil {
		return err
	}
	dataDir := runner.EmbeddedDataDir(t.cfg)
	addrs, own, err := embedded.Attach(ctx, command, dataDir, t.log.Named("embedded-broker"))
	if err != nil {
		return err
	}
	if own == nil {
		fmt.Fprintf(t.info, "reading the running processor's embedded broker at %s\n", strings.Join(addrs, ","))
		return t.run(ctx, addrs)
	}
	fmt.Fprintf(t.info, "no processor running: reading the embedded broker's data in %s\n", dataDir)
	base, err := t.opts(addrs)
	var next map[int32]kgo.Offset
	if err == nil {
		next, err = t.catchUp(ctx, base)
	}
	// A processor that starts must not wait for a tail: let the data go.
	if cerr := own.Close(); cerr != nil {
		t.log.Error("embedded broker", zap.Error(cerr))
	}
	if err != nil || !t.o.follow || t.full() || ctx.Err() != nil {
		return err
	}
	fmt.Fprintf(t.info, "waiting for a processor to start on %s (Ctrl-C to stop)\n", dataDir)
	for {
		lock, err := embedded.TryLock(dataDir)
		switch {
		case err == nil:
			if err := lock.Unlock(); err != nil {
				return err
			}
		case errors.Is(err, embedded.ErrLocked):
			if info, err := embedded.ReadInfo(dataDir); err == nil && info.State == embedded.StateRunning && info.Address != "" {
				fmt.Fprintf(t.info, "following the processor's embedded broker at %s\n", info.Address)
				if base, err = t.opts([]string{info.Address}); err != nil {
					return err
				}
				return t.follow(ctx, base, next)
			}
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// catchUp prints the records up to the topic's read_committed end at its
// start: all of them with --from-beginning, as they come, else the newest
// o.lines. Following, records beyond the end read meanwhile are printed
// after those. It returns where each partition's reading got to.
func (t *tailer) catchUp(ctx context.Context, base []kgo.Opt) (map[int32]kgo.Offset, error) {
	starts, ends, err := t.offsets(ctx, base)
	if err != nil {
		return nil, err
	}
	from := map[int32]kgo.Offset{}
	end := map[int32]int64{}
	next := map[int32]int64{}
	starts.Each(func(s kadm.ListedOffset) {
		e, _ := ends.Lookup(s.Topic, s.Partition)
		end[s.Partition], next[s.Partition] = e.Offset, e.Offset
		at := s.Offset
		if !t.o.fromBeginning {
			at = max(s.Offset, e.Offset-int64(t.o.lines))
		}
		from[s.Partition] = kgo.NewOffset().At(at)
	})
	cl, err := kgo.NewClient(append(base,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t.topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	var last, newer []*kgo.Record
	done := map[int32]bool{}
	for len(done) < len(end) && !t.full() {
		pctx, cancel := context.WithTimeout(ctx, tailIdle)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil, nil // interrupted
		}
		if err := fetchErr(fs); err != nil {
			return nil, err
		}
		if fs.NumRecords() == 0 {
			break // idle: every partition is read to its end
		}
		for it := fs.RecordIter(); !it.Done() && !t.full(); {
			r := it.Next()
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
			switch {
			case r.Offset >= end[r.Partition]:
				done[r.Partition] = true
				if t.o.follow {
					newer = append(newer, r)
				}
			case t.o.fromBeginning:
				if err := t.print(r); err != nil {
					return nil, err
				}
			default:
				last = append(last, r)
			}
		}
	}
	sort.SliceStable(last, func(i, j int) bool {
		a, b := last[i], last[j]
		if !a.Timestamp.Equal(b.Timestamp) {
			return a.Timestamp.Before(b.Timestamp)
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Offset < b.Offset
	})
	for _, r := range append(last[max(0, len(last)-t.o.lines):], newer...) {
		if t.full() {
			break
		}
		if err := t.print(r); err != nil {
			return nil, err
		}
	}
	at := map[int32]kgo.Offset{}
	for p, o := range next {
		at[p] = kgo.NewOffset().At(o)
	}
	return at, nil
}

// offsets lists the topic's start and read_committed end offsets, and
// says how many records wait in open transactions.
func (t *tailer) offsets(ctx context.Context, base []kgo.Opt) (starts, ends kadm.ListedOffsets, err error) {
	cl, err := kgo.NewClient(base...)
	if err != nil {
		return nil, nil, fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var hwms kadm.ListedOffsets
	list := func(f func(context.Context, ...string) (kadm.ListedOffsets, error)) kadm.ListedOffsets {
		if err != nil {
			return nil
		}
		var l kadm.ListedOffsets
		if l, err = f(ctx, t.topic); err == nil {
			err = l.Error()
		}
		return l
	}
	starts, ends, hwms = list(adm.ListStartOffsets), list(adm.ListCommittedOffsets), list(adm.ListEndOffsets)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		topics, _ := adm.ListTopics(ctx)
		var names []string
		for _, d := range topics.Sorted() {
			if d.Err == nil {
				names = append(names, d.Topic)
			}
		}
		return nil, nil, fmt.Errorf("topic %s does not exist (topics: %s)", t.topic, strings.Join(names, ", "))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("tail %s: %w", t.topic, err)
	}
	var open int64
	hwms.Each(func(h kadm.ListedOffset) {
		if e, ok := ends.Lookup(h.Topic, h.Partition); ok {
			open += h.Offset - e.Offset
		}
	})
	if open > 0 {
		fmt.Fprintf(t.info, "%s: up to %d records are in transactions not committed yet, and not shown: a checkpoint commits them (or, if the processor was stopped, its next start settles them)\n", t.topic, open)
	}
	return starts, ends, nil
}

// follow prints the records from next on until ctx is done or --max.
func (t *tailer) follow(ctx context.Context, base []kgo.Opt, next map[int32]kgo.Offset) error {
	cl, err := kgo.NewClient(append(base,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t.topic: next}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)...)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	for !t.full() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil // interrupted
		}
		if err := fetchErr(fs); err != nil {
			return err
		}
		for it := fs.RecordIter(); !it.Done() && !t.full(); {
			if err := t.print(it.Next()); err != nil {
				return err
			}
		}
	}
	return nil
}

// fetchErr is the first error of fs but a poll's own deadline.
func fetchErr(fs kgo.Fetches) error {
	var ferr error
	fs.EachError(func(t string, p int32, err error) {
		if ferr == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			ferr = fmt.Errorf("read %s[%d]: %w", t, p, err)
		}
	})
	return ferr
}
