package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/embedded"
	"github.com/tidemark/tidemark/internal/kafkaconf"
)

// Hooks let the caller follow the run; every field is optional.
type Hooks struct {
	// Ready is called once the pipeline is about to process records, with
	// the brokers it uses (the embedded broker's address in quickstart mode).
	Ready func(brokers []string)
}

// ProgressInterval is how often Run logs progress.
const ProgressInterval = 5 * time.Second

// Run runs the job described by cfg until ctx is cancelled or it fails. It
// returns nil after a clean shutdown.
func Run(ctx context.Context, cfg *config.Config, log *zap.Logger, hooks Hooks) error {
	log = log.With(zap.String("job", cfg.Job.Name))
	brokers := cfg.Kafka.Brokers
	g, ctx := errgroup.WithContext(ctx)
	if cfg.Kafka.Embedded {
		dataDir := filepath.Join(cfg.State.Dir, "embedded-kafka")
		b, err := embedded.Start(dataDir)
		if err != nil {
			return err
		}
		defer b.Close()
		brokers = b.Addrs()
		log.Info("embedded Kafka broker started: for trying Tidemark out, not for production",
			zap.Strings("address", brokers), zap.String("data_dir", dataDir))
		seeder, err := seed(ctx, cfg, brokers, log)
		if err != nil {
			return err
		}
		defer seeder.Client.Close()
		g.Go(func() error { return seeder.Run(ctx) })
	}

	base, err := kafkaconf.Options(cfg.Kafka, brokers, log)
	if err != nil {
		return err
	}
	p, err := newPassthrough(cfg, base, log)
	if err != nil {
		return err
	}
	defer p.close()
	if hooks.Ready != nil {
		hooks.Ready(brokers)
	}
	log.Info("pipeline running",
		zap.Strings("from", sourceNames(cfg)), zap.String("to", cfg.Sink.Topic),
		zap.String("delivery", cfg.Sink.Delivery), zap.Strings("brokers", brokers))
	g.Go(func() error { return p.run(ctx) })
	g.Go(func() error { return p.report(ctx, ProgressInterval) })
	return g.Wait()
}

func sourceNames(cfg *config.Config) []string {
	if cfg.Source.TopicRegex != "" {
		return []string{"regex:" + cfg.Source.TopicRegex}
	}
	return cfg.Source.Topics
}

// seed creates the quickstart's topics and fills the source topics with
// sample events, continuing the sequence after whatever a previous run left.
func seed(ctx context.Context, cfg *config.Config, brokers []string, log *zap.Logger) (*embedded.Seeder, error) {
	opts, err := kafkaconf.Options(cfg.Kafka, brokers, log)
	if err != nil {
		return nil, err
	}
	client, err := kgo.NewClient(append(opts, kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		return nil, fmt.Errorf("embedded seed client: %w", err)
	}
	topics := append([]string{cfg.Sink.Topic}, cfg.Source.Topics...)
	if err := embedded.EnsureTopics(ctx, client, int32(cfg.Kafka.Seed.Partitions), topics...); err != nil {
		client.Close()
		return nil, err
	}
	ends, err := kadm.NewClient(client).ListEndOffsets(ctx, cfg.Source.Topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("embedded seed: list end offsets: %w", err)
	}
	var existing int64
	ends.Each(func(o kadm.ListedOffset) { existing += o.Offset })
	s := &embedded.Seeder{Client: client, Topics: cfg.Source.Topics, Seed: cfg.Kafka.Seed, Log: log.Named("seed"), Start: existing}
	if err := s.Fill(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return s, nil
}
