package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/nexmark"
)

// newNexmarkCmd is `processor nexmark`: the Nexmark benchmark's events
// (package nexmark), written to Kafka by `nexmark generate`.
func newNexmarkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nexmark",
		Short: "Write the Nexmark benchmark's events to Kafka",
		Long: `The Nexmark benchmark (people, auctions and bids of an online auction) as
the Flink suite defines it: generate writes its events to a Kafka topic, and
configs/nexmark/qN.yaml run its queries over them. See docs/nexmark.md.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageError{errors.New("name a subcommand: generate")}
		},
	}
	cmd.AddCommand(newGenerateCmd())
	return cmd
}

type generateOptions struct {
	brokers     string
	topic       string
	partitions  int32
	replication int16
	events      int64
	rate        int
	seed        uint64
	baseTime    string
	group       int64
	emit        string
	proportions string
	appendOK    bool
	quiet       bool
}

func newGenerateCmd() *cobra.Command {
	o := generateOptions{}
	cmd := &cobra.Command{
		Use:   "generate --events N [flags]",
		Short: "Write N Nexmark events to a Kafka topic",
		Long: `Writes the events of the Nexmark benchmark (people, auctions and bids in
the proportions 1:3:46, Flink's generator model) to a Kafka topic in the Flink
suite's JSON layout, one record per event: event n to partition n mod P, no
key, record timestamp the wall clock, event time in the value. The same seed
and flags give byte-identical records (compare the printed digests).
Creates the topic if missing. See docs/nexmark.md.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unexpected arguments %q (every setting is a flag)", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Ctrl-C or SIGTERM stops the writing; what was acknowledged
			// stays and is reported.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return generate(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.brokers, "brokers", "localhost:9092", "Kafka bootstrap brokers, comma-separated host:port")
	f.StringVar(&o.topic, "topic", "nexmark", "topic to write; created if missing")
	f.Int32Var(&o.partitions, "partitions", 0, "partitions (event n goes to n mod P); 0: the existing topic's, or 1 for a new one")
	f.Int16Var(&o.replication, "replication-factor", -1, "replication factor of a new topic; -1: the broker's default")
	f.Int64Var(&o.events, "events", 0, "number of events; 0 with --emit realtime: until interrupted")
	f.IntVar(&o.rate, "rate", 10_000, "events per second of event time (Flink's first-event.rate)")
	f.Uint64Var(&o.seed, "seed", 0, "seed of every random choice")
	f.StringVar(&o.baseTime, "base-time", "2025-01-01T00:00:00Z", "event time of the first event (RFC 3339)")
	f.Int64Var(&o.group, "out-of-order-group", 1, "events shuffled in groups of this size (1: event time in order)")
	f.StringVar(&o.emit, "emit", "max", "max: as fast as the broker takes them; realtime: at --rate events per wall-clock second")
	f.StringVar(&o.proportions, "proportions", "1:3:46", "person:auction:bid proportions")
	f.BoolVar(&o.appendOK, "append", false, "allow writing to a topic that already holds records")
	f.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
	return cmd
}

func (o generateOptions) config() (nexmark.Config, nexmark.Emit, error) {
	cfg := nexmark.DefaultConfig()
	cfg.Seed, cfg.Rate, cfg.OutOfOrderGroup = o.seed, o.rate, o.group
	bt, err := time.Parse(time.RFC3339Nano, o.baseTime)
	if err != nil {
		return cfg, 0, usageError{fmt.Errorf("--base-time %q: want RFC 3339, such as 2025-01-01T00:00:00Z", o.baseTime)}
	}
	cfg.BaseTime = bt.UnixMilli()
	parts := strings.Split(o.proportions, ":")
	var props [3]int
	if len(parts) == 3 {
		for i, p := range parts {
			if props[i], err = strconv.Atoi(p); err != nil {
				break
			}
		}
	}
	if len(parts) != 3 || err != nil {
		return cfg, 0, usageError{fmt.Errorf("--proportions %q: want person:auction:bid, such as 1:3:46", o.proportions)}
	}
	cfg.PersonProportion, cfg.AuctionProportion, cfg.BidProportion = props[0], props[1], props[2]
	emit, err := nexmark.ParseEmit(o.emit)
	if err != nil {
		return cfg, 0, usageError{fmt.Errorf("--emit %q: want max or realtime", o.emit)}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, 0, usageError{err}
	}
	if o.events < 0 || (o.events == 0 && emit != nexmark.EmitRealtime) {
		return cfg, 0, usageError{fmt.Errorf("--events %d: want the number of events to write (0, until interrupted, needs --emit realtime)", o.events)}
	}
	return cfg, emit, nil
}

func generate(ctx context.Context, o generateOptions, stdout, stderr io.Writer) error {
	cfg, emit, err := o.config()
	if err != nil {
		return err
	}
	var brokers []string
	for _, b := range strings.Split(o.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		return usageError{errors.New("--brokers: no broker address")}
	}
	gen, err := nexmark.New(cfg)
	if err != nil {
		return usageError{err}
	}
	wo := nexmark.WriteOptions{
		Topic: o.topic, Partitions: o.partitions, ReplicationFactor: o.replication,
		Events: o.events, Emit: emit, Append: o.appendOK,
		Kafka: []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID("tidemark-nexmark")},
	}
	if !o.quiet {
		var last time.Time
		wo.Progress = func(s nexmark.Stats) {
			if time.Since(last) >= 5*time.Second {
				last = time.Now()
				fmt.Fprintf(stderr, "nexmark: %d events written, %.0f events/s, event time %s\n",
					s.Events, s.EventsPerSecond(), nexmark.FormatTime(s.MaxEventTime))
			}
		}
	}
	st, err := nexmark.Write(ctx, gen, wo)
	if st.Events > 0 || err == nil {
		report(stdout, cfg, emit, st)
	}
	return err
}

func report(w io.Writer, cfg nexmark.Config, emit nexmark.Emit, st nexmark.Stats) {
	created := "existing"
	if st.Created {
		created = "created"
	}
	fmt.Fprintf(w, "wrote %d events to topic %s (%s, %d partitions): %d persons, %d auctions, %d bids\n",
		st.Events, st.Topic, created, st.Partitions, st.Persons, st.Auctions, st.Bids)
	if st.Events > 0 {
		fmt.Fprintf(w, "event time %s … %s UTC (seed %d, rate %d/s, out-of-order group %d, proportions %d:%d:%d)\n",
			nexmark.FormatTime(st.MinEventTime), nexmark.FormatTime(st.MaxEventTime), cfg.Seed, cfg.Rate,
			cfg.OutOfOrderGroup, cfg.PersonProportion, cfg.AuctionProportion, cfg.BidProportion)
	}
	fmt.Fprintf(w, "%.1f MB of values in %.2f s (emit %s): %.0f events/s, %.1f MB/s\n",
		float64(st.Bytes)/1e6, st.Elapsed.Seconds(), emit, st.EventsPerSecond(),
		float64(st.Bytes)/1e6/max(st.Elapsed.Seconds(), 1e-9))
	fmt.Fprintf(w, "digest xxh64:%016x\n", st.Digest)
}
