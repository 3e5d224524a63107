package main

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

// tailIdle is how long a read that does not follow waits for more records
// before it takes the topic as read to its end.
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
or, when no processor runs, the data it left under state.dir (it then starts
the broker on that data for as long as it reads, and a processor started
meanwhile waits for it).`,
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
			brokers := cfg.Kafka.Brokers
			if cfg.Kafka.Embedded {
				command, err := embeddedCommand()
				if err != nil {
					return err
				}
				dataDir := runner.EmbeddedDataDir(&cfg)
				addrs, own, err := embedded.Attach(ctx, command, dataDir, log.Named("embedded-broker"))
				if errors.Is(err, embedded.ErrNoData) {
					return fmt.Errorf("%w: the processor has not run with this configuration yet (state.dir %s); start it with: processor run --config %s", err, cfg.State.Dir, path)
				}
				if err != nil {
					return err
				}
				if own != nil {
					defer func() {
						if err := own.Close(); err != nil {
							log.Error("embedded broker", zap.Error(err))
						}
					}()
					fmt.Fprintf(cmd.ErrOrStderr(), "no processor running: reading the embedded broker's data in %s\n", dataDir)
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "reading the running processor's embedded broker at %s\n", strings.Join(addrs, ","))
				}
				brokers = addrs
			}
			base, err := kafkaconf.Options(cfg.Kafka, brokers, log)
			if err != nil {
				return err
			}
			return tail(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), base, args[0], o)
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

// tail prints the records of topic to w as o says, and notes to info.
func tail(ctx context.Context, w, info io.Writer, base []kgo.Opt, topic string, o tailOptions) error {
	admCl, err := kgo.NewClient(base...)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	adm := kadm.NewClient(admCl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	var ends kadm.ListedOffsets
	if err == nil {
		ends, err = adm.ListCommittedOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
	}
	var hwms kadm.ListedOffsets
	if err == nil {
		hwms, err = adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = hwms.Error()
		}
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		topics, _ := adm.ListTopics(ctx)
		err = fmt.Errorf("topic %s does not exist (topics: %s)", topic, strings.Join(topics.Names(), ", "))
	}
	admCl.Close()
	if err != nil {
		return fmt.Errorf("tail %s: %w", topic, err)
	}
	var open int64
	hwms.Each(func(h kadm.ListedOffset) {
		if e, ok := ends.Lookup(h.Topic, h.Partition); ok {
			open += h.Offset - e.Offset
		}
	})
	if open > 0 {
		fmt.Fprintf(info, "%s: up to %d records are in transactions not committed yet, and not shown: a checkpoint commits them (or, if the processor was stopped, its next start settles them)\n", topic, open)
	}
	// Each partition from its start, or its last o.lines records; its
	// read_committed end at the start bounds the read unless following.
	from := map[int32]kgo.Offset{}
	end := map[int32]int64{}
	starts.Each(func(s kadm.ListedOffset) {
		e, _ := ends.Lookup(s.Topic, s.Partition)
		end[s.Partition] = e.Offset
		at := s.Offset
		if !o.fromBeginning {
			at = max(s.Offset, e.Offset-int64(o.lines))
		}
		from[s.Partition] = kgo.NewOffset().At(at)
	})
	cl, err := kgo.NewClient(append(base,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer cl.Close()

	printed := 0
	print := func(r *kgo.Record) error {
		var err error
		if o.verbose {
			_, err = fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\n", r.Partition, r.Offset, r.Timestamp.UTC().Format(time.RFC3339Nano), r.Key, r.Value)
		} else {
			_, err = fmt.Fprintf(w, "%s\t%s\n", r.Key, r.Value)
		}
		printed++
		return err
	}
	full := func() bool { return o.max > 0 && printed >= o.max }

	// First the records up to the ends: printed as they come with
	// --from-beginning, else the newest o.lines of them. Newer records
	// read meanwhile wait for their turn if following.
	var last, newer []*kgo.Record
	done := map[int32]bool{}
	for len(done) < len(end) && !full() {
		pctx, cancel := context.WithTimeout(ctx, tailIdle)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil // interrupted
		}
		if err := fetchErr(fs); err != nil {
			return err
		}
		if fs.NumRecords() == 0 {
			break // idle: every partition is read to its end
		}
		for it := fs.RecordIter(); !it.Done() && !full(); {
			r := it.Next()
			switch {
			case r.Offset >= end[r.Partition]:
				done[r.Partition] = true
				if o.follow {
					newer = append(newer, r)
				}
			case o.fromBeginning:
				if err := print(r); err != nil {
					return err
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
	for _, r := range append(last[max(0, len(last)-o.lines):], newer...) {
		if full() {
			return nil
		}
		if err := print(r); err != nil {
			return err
		}
	}
	for o.follow && !full() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil // interrupted
		}
		if err := fetchErr(fs); err != nil {
			return err
		}
		for it := fs.RecordIter(); !it.Done() && !full(); {
			if err := print(it.Next()); err != nil {
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
