package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/embedded"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/internal/kafkaconf"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/builtin"
	"github.com/tidemark/tidemark/sink"
	"github.com/tidemark/tidemark/source"
)

// Hooks let the caller follow the run; every field is optional.
type Hooks struct {
	// Ready is called once the job has restored and is about to process
	// records, with the brokers it uses (the embedded broker's address in
	// quickstart mode) and the job, for its checkpoint API.
	Ready func(brokers []string, j *job.Job)
	// Started is called once the job exists, before it restores: its
	// Status says what it is doing (restoring, restarting, running).
	Started func(j *job.Job)
}

// Options are the run's command-line choices.
type Options struct {
	// From names the checkpoint or savepoint to restore; "" for the newest.
	From string
	// Fallback restores the previous retained checkpoint when the newest
	// one is corrupted.
	Fallback bool
}

// ProgressInterval is how often Run logs progress.
const ProgressInterval = 5 * time.Second

// Run runs the job described by cfg until it fails or ctx is cancelled;
// then it stops cleanly: the sources stop reading, a final checkpoint is
// taken and committed (bounded by checkpoint.timeout), and it returns nil.
func Run(ctx context.Context, cfg *config.Config, opts Options, log *zap.Logger, hooks Hooks) error {
	log = log.With(zap.String("job", cfg.Job.Name))
	brokers := cfg.Kafka.Brokers
	stop := ctx
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	g, ctx := errgroup.WithContext(runCtx)
	if cfg.Kafka.Embedded {
		dataDir := filepath.Join(cfg.State.Dir, "embedded-kafka")
		b, err := embedded.Start(dataDir)
		if err != nil {
			return err
		}
		defer b.Close()
		brokers = b.Addrs()
		log.Info("embedded Kafka broker started: for trying Tidemark out, not for production",
			zap.Strings("addresses", brokers), zap.String("data_dir", dataDir))
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
	st, err := storage.Open(ctx, cfg.Checkpoint.Storage, storage.S3Config{Endpoint: cfg.S3.Endpoint, Region: cfg.S3.Region, PathStyle: cfg.S3.PathStyle})
	if err != nil {
		return fmt.Errorf("checkpoint.storage: %w", err)
	}
	defer st.Close()

	var written atomic.Int64
	var completed atomic.Int64
	spec, err := Spec(cfg, base, checkpoint.JobStore(st, cfg.Job.Name), &written, log)
	if err != nil {
		return err
	}
	spec.Restore = checkpoint.RestoreOptions{From: opts.From, Fallback: opts.Fallback}
	spec.Checkpoint.OnComplete = func(*checkpoint.Metadata) { completed.Add(1) }
	j := job.New(spec)
	if hooks.Started != nil {
		hooks.Started(j)
	}
	ready := make(chan struct{})
	j.SetOnReady(func() {
		select {
		case <-ready:
		default:
			close(ready)
		}
	})
	g.Go(func() error { return j.Run(ctx) })
	g.Go(func() error {
		select {
		case <-stop.Done():
		case <-ctx.Done():
			return nil
		}
		defer cancelRun()
		select {
		case <-ready:
		default:
			return nil // nothing restored yet: nothing to checkpoint
		}
		if !j.Ready() {
			// Restoring or waiting to restart: the next start recovers.
			log.Info("stopping while the job is not running: no final checkpoint", zap.String("state", j.Status().State))
			return nil
		}
		log.Info("stopping: sources stop reading, taking a final checkpoint")
		dctx, cancel := context.WithTimeout(ctx, cfg.Checkpoint.Timeout)
		defer cancel()
		if err := j.Drain(dctx); err != nil {
			return fmt.Errorf("clean stop: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		select {
		case <-ready:
		case <-ctx.Done():
			return nil
		}
		if hooks.Ready != nil {
			hooks.Ready(brokers, j)
		}
		log.Info("pipeline running",
			zap.Strings("from", sourceNames(cfg)), zap.String("to", cfg.Sink.Topic),
			zap.String("delivery", cfg.Sink.Delivery), zap.Strings("brokers", brokers),
			zap.Duration("checkpoint_interval", cfg.Checkpoint.Interval), zap.String("checkpoint_storage", cfg.Checkpoint.Storage))
		return report(ctx, cfg, base, j, &written, &completed, log)
	})
	return g.Wait()
}

// Spec builds the job of cfg: one Kafka source per source task, the
// pipeline's operators and the Kafka sink in each keyed task.
func Spec(cfg *config.Config, base []kgo.Opt, st storage.Store, written *atomic.Int64, log *zap.Logger) (job.Spec, error) {
	var chain, sourceChain []operators.OperatorSpec
	for i, op := range cfg.Pipeline.Operators {
		name := op.Name
		if name == "" {
			name = fmt.Sprintf("%s-%d", op.Type, i)
		}
		var mk func(int) (operators.Operator, error)
		switch op.Type {
		case "passthrough":
			mk = func(int) (operators.Operator, error) { return &builtin.Passthrough{}, nil }
		case "count":
			mk = func(int) (operators.Operator, error) { return &builtin.Count{}, nil }
		case "key_by":
			field := op.Field
			// Re-keying runs before the key exchange, so that state is
			// kept by the new key.
			sourceChain = append(sourceChain, operators.OperatorSpec{Name: name, New: func(int) (operators.Operator, error) {
				return &builtin.KeyBy{Field: field}, nil
			}})
			continue
		default:
			return job.Spec{}, fmt.Errorf("pipeline.operators[%d].type: unknown %q", i, op.Type)
		}
		chain = append(chain, operators.OperatorSpec{Name: name, New: mk})
	}
	exactlyOnce := cfg.Sink.Delivery == config.ExactlyOnce
	chain = append(chain, operators.OperatorSpec{Name: "sink", New: func(int) (operators.Operator, error) {
		if exactlyOnce {
			return sink.NewTransactional(cfg, base, written), nil
		}
		return sink.NewKafka(cfg, base, written), nil
	}})
	var settle func(context.Context, *checkpoint.Metadata, bool) (int64, error)
	if exactlyOnce {
		settle = func(ctx context.Context, m *checkpoint.Metadata, committed bool) (int64, error) {
			var id int64
			var pending []operators.Transaction
			if m != nil {
				id, pending = m.CheckpointID, m.PendingTransactions
			}
			err := sink.Settle(ctx, cfg, base, id, pending, committed, log.Named("sink"))
			var lost *sink.LostError
			if errors.As(err, &lost) {
				// Output is lost: restarting cannot cure it.
				return lost.Fallback, job.Permanent(err)
			}
			return 0, err
		}
	}
	n := cfg.Job.Parallelism
	return job.Spec{
		Name: cfg.Job.Name, MaxParallelism: cfg.Job.MaxParallelism, Parallelism: n,
		NewSources: func() ([]operators.Source, error) {
			srcs := make([]operators.Source, n)
			for i := range srcs {
				srcs[i] = source.NewKafka(cfg, base, i, n, log.Named("source"))
			}
			return srcs, nil
		},
		Settle:      settle,
		SourceChain: sourceChain,
		Chain:       chain,
		Store:       st,
		Checkpoint: checkpoint.Config{
			Interval: cfg.Checkpoint.Interval, Timeout: cfg.Checkpoint.Timeout, MinPause: cfg.Checkpoint.MinPause,
			MaxConcurrent: cfg.Checkpoint.MaxConcurrent, TolerableFailures: cfg.Checkpoint.TolerableFailures,
			Retained: cfg.Checkpoint.Retained,
		},
		ExactlyOnce:      cfg.Checkpoint.Mode == config.ExactlyOnce,
		AlignmentTimeout: cfg.Checkpoint.AlignmentTimeout,
		StateDir:         cfg.State.Dir,
		Restart:          cfg.Restart,
		Log:              log,
	}, nil
}

func sourceNames(cfg *config.Config) []string {
	if cfg.Source.TopicRegex != "" {
		return []string{"regex:" + cfg.Source.TopicRegex}
	}
	return cfg.Source.Topics
}

// report logs throughput, checkpoints and the sink topic's size every
// ProgressInterval.
func report(ctx context.Context, cfg *config.Config, base []kgo.Opt, j *job.Job, written, completed *atomic.Int64, log *zap.Logger) error {
	cl, err := kgo.NewClient(base...)
	if err != nil {
		return fmt.Errorf("progress client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	t := time.NewTicker(ProgressInterval)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			log.Info("pipeline stopped", zap.Int64("records_out", written.Load()), zap.Int64("checkpoints_completed", completed.Load()))
			return nil
		case <-t.C:
		}
		out := written.Load()
		fields := []zap.Field{
			zap.Int64("records_out", out),
			zap.Float64("out_per_s", float64(out-last)/ProgressInterval.Seconds()),
			zap.Int64("checkpoints_completed", completed.Load()),
			zap.Int64("dead_letters", j.DeadLetters()),
		}
		lctx, cancel := context.WithTimeout(ctx, ProgressInterval)
		ends, err := adm.ListEndOffsets(lctx, cfg.Sink.Topic)
		cancel()
		if err == nil && ends.Error() == nil {
			var total int64
			ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
			fields = append(fields, zap.String("sink_topic", cfg.Sink.Topic), zap.Int64("sink_end_offsets", total))
		}
		log.Info("progress", fields...)
		last = out
	}
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
	topics := append([]string{cfg.Sink.Topic, cfg.DeadLetterTopic()}, cfg.Source.Topics...)
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
