package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/embedded"
	"github.com/tidemark/tidemark/internal/kafkaconf"
	"github.com/tidemark/tidemark/internal/sampledata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage: seed --config FILE [--data DIR] [--force]")

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", "", "the example's configuration")
	dir := fs.String("data", "", "directory of the sample files (default: data/ beside the configuration)")
	force := fs.Bool("force", false, "write the sample even into topics that already hold records")
	if err := fs.Parse(args); err != nil || *path == "" || fs.NArg() > 0 {
		return errUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if *dir == "" {
		*dir = filepath.Join(filepath.Dir(*path), "data")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return seed(ctx, &cfg, *dir, *force, stdout)
}

// seed loads the sample files of cfg's source topics from dir.
func seed(ctx context.Context, cfg *config.Config, dir string, force bool, stdout io.Writer) error {
	topics := cfg.SourceTopics()
	if len(topics) == 0 {
		return errors.New("the configuration reads no named topic (topic_regex only): nothing to seed")
	}
	brokers := cfg.Kafka.Brokers
	if cfg.Kafka.Embedded {
		addrs, own, err := broker(ctx, cfg)
		if err != nil {
			return err
		}
		if own != nil {
			defer func() {
				if err := own.Close(); err != nil {
					fmt.Fprintln(os.Stderr, "seed: stop the embedded broker:", err)
				}
			}()
		}
		brokers = addrs
	}
	opts, err := kafkaconf.Options(cfg.Kafka, brokers, zap.NewNop())
	if err != nil {
		return err
	}
	client, err := kgo.NewClient(append(opts, kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer client.Close()
	if cfg.Kafka.Embedded {
		all := slices.Concat(topics, cfg.SinkTopics(), []string{cfg.DeadLetterTopic()})
		if err := embedded.EnsureTopics(ctx, client, int32(cfg.Kafka.Seed.Partitions), all...); err != nil {
			return err
		}
	}
	written, err := sampledata.Load(ctx, client, dir, topics, force)
	if err != nil {
		return err
	}
	for _, t := range topics {
		if written[t] == 0 {
			fmt.Fprintf(stdout, "%s: already holds records, left alone (--force writes the sample again)\n", t)
			continue
		}
		fmt.Fprintf(stdout, "%s: wrote %d records from %s\n", t, written[t], sampledata.Path(dir, t))
	}
	return nil
}

// broker finds the embedded broker of cfg: the running processor's, or one
// started here on its data (own, to Close: that saves the data whole).
func broker(ctx context.Context, cfg *config.Config) (addrs []string, own *embedded.Broker, err error) {
	dataDir := filepath.Join(cfg.State.Dir, "embedded-kafka")
	deadline := time.Now().Add(embedded.LockWait)
	for {
		b, err := embedded.Start(ctx, embedded.Options{DataDir: dataDir, Listen: "127.0.0.1:0"})
		if err == nil {
			return b.Addrs(), b, nil
		}
		if !errors.Is(err, embedded.ErrLocked) {
			return nil, nil, fmt.Errorf("kafka.embedded: %w", err)
		}
		if info, ierr := embedded.ReadInfo(dataDir); ierr == nil && info.State == embedded.StateRunning && info.Address != "" {
			return []string{info.Address}, nil, nil
		}
		// A processor is starting or stopping its broker: wait for it.
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("kafka.embedded: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
