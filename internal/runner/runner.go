package runner

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	"github.com/tidemark/tidemark/internal/restart"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/builtin"
	"github.com/tidemark/tidemark/plugin"
	"github.com/tidemark/tidemark/sink"
	"github.com/tidemark/tidemark/source"
)

// Hooks let the caller follow the run; every field is optional.
type Hooks struct {
	// Ready is called once the job has restored and is about to process
	// records, with the brokers it uses (the embedded broker's address in
	// quickstart mode) and the job, for its checkpoint API.
	Ready func(brokers []string, j *job.Job)
	// Stopper, if set, is given (once ready) the function that stops the
	// job with a savepoint: it drains the job, writes its final checkpoint
	// as savepoint name too, and returns the savepoint's directory; Run
	// then returns.
	Stopper func(stop func(ctx context.Context, name string) (string, error))
	// Started is called once the job exists, before it restores: its
	// Status says what it is doing (restoring, restarting, running).
	Started func(j *job.Job)
}

// Options are the run's command-line choices.
type Options struct {
	// Fresh starts without state, ignoring every checkpoint (the newest
	// one's transactions are still settled).
	Fresh bool
	// AcceptLoss restores even if sink transactions whose records precede
	// the restore point are lost.
	AcceptLoss bool
	// From names the checkpoint or savepoint to restore; "" for the newest.
	From string
	// Fallback restores the previous retained checkpoint when the newest
	// one is corrupted.
	Fallback bool
	// EmbeddedCommand, if set, runs the embedded broker in a child process
	// started with this command (see embedded.Spawn), so that it saves its
	// data whole even if this process is killed; otherwise it runs in this
	// process.
	EmbeddedCommand []string
	// Env holds the operator types a job graph's operators are planned
	// with; plugin.Default() when nil.
	Env *plugin.Environment
	// Metrics, if set, is where the job's metrics are registered (what
	// /metrics serves); none are kept when nil.
	Metrics prometheus.Registerer
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
		b, err := startEmbedded(ctx, cfg, opts, log)
		if err != nil {
			return err
		}
		defer func() {
			if err := b.Close(); err != nil {
				log.Error("embedded broker", zap.Error(err))
			}
		}()
		brokers = b.Addrs()
		seeder, err := seed(ctx, cfg, brokers, log)
		if err != nil {
			return err
		}
		defer seeder.Client.Close()
		g.Go(func() error { return seeder.Run(ctx) })
		g.Go(func() error {
			select {
			case <-b.Done():
				return errors.New("the embedded broker's process exited (see its log lines above); the next start recovers")
			case <-ctx.Done():
				return nil
			}
		})
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
	ms, err := newMetrics(opts.Metrics)
	if err != nil {
		return err
	}
	if opts.Metrics != nil {
		if st, err = storage.WrapWithMetrics(st, opts.Metrics); err != nil {
			return err
		}
	}

	jobStore := checkpoint.JobStore(st, cfg.Job.Name)
	lease, err := acquireLeaseRetrying(stop, cfg, jobStore, log)
	if err != nil {
		if stop.Err() != nil {
			return nil // stopped while waiting for the job
		}
		return err
	}
	released := false
	defer func() {
		if !released {
			lease.Close()
		}
	}()

	var written atomic.Int64
	var completed atomic.Int64
	spec, err := specWith(opts.Env, cfg, base, jobStore, &written, ms, log)
	if err != nil {
		return err
	}
	spec.Metrics = ms.jobMetrics()
	drills, err := newDrill(cfg, jobStore, ms.registerer(), log)
	if err != nil {
		return err
	}
	if drills != nil {
		g.Go(func() error { return drills.Run(ctx) })
	}
	spec.Owner = lease
	spec.AcceptLoss = opts.AcceptLoss
	spec.Restore = checkpoint.RestoreOptions{From: opts.From, Fallback: opts.Fallback, Fresh: opts.Fresh}
	spec.Checkpoint.OnComplete = func(*checkpoint.Metadata) { completed.Add(1) }
	j := job.New(spec)
	type stopResult struct {
		dir string
		err error
	}
	type stopRequest struct {
		name  string
		reply chan stopResult
	}
	stopReq := make(chan stopRequest)
	stopWithSavepoint := func(ctx context.Context, name string) (string, error) {
		if err := checkpoint.ValidateSavepointName(name); err != nil {
			return "", fmt.Errorf("%w; the job keeps running", err)
		}
		r := stopRequest{name: name, reply: make(chan stopResult, 1)}
		select {
		case stopReq <- r:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		select {
		case res := <-r.reply:
			return res.dir, res.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
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
	g.Go(func() error {
		err := j.Run(ctx)
		if err == nil && j.Finished() {
			// stop_at: end: the input is processed and committed.
			log.Info("the job reached the end of its input and stops")
			cancelRun()
		}
		return err
	})
	g.Go(func() error {
		// A stop asked for through the API (savepoint --stop) that cannot
		// be served (the job is restoring or restarting, or its final
		// checkpoint failed) is refused, and the job keeps running: it
		// restarts from its newest complete checkpoint when the final
		// checkpoint failed, since its sources stopped reading. A signal
		// stops the process in any case.
		defer cancelRun()
		var req stopRequest
		for {
			req = stopRequest{}
			select {
			case <-stop.Done():
			case req = <-stopReq:
			case <-ctx.Done():
				return nil
			}
			asked := req.reply != nil
			select {
			case <-ready:
			default:
				if asked {
					req.reply <- stopResult{err: errors.New("the job has not restored yet: it keeps running; ask again once it runs")}
					continue
				}
				return nil // nothing restored yet: nothing to checkpoint
			}
			if !j.Ready() {
				// Restoring or waiting to restart: the next start recovers.
				if asked {
					req.reply <- stopResult{err: errors.New("the job is not running (" + j.Status().State + "): it keeps running; ask again once it runs")}
					continue
				}
				log.Info("stopping while the job is not running: no final checkpoint", zap.String("state", j.Status().State))
				return nil
			}
			if req.name != "" {
				log.Info("stopping with savepoint: sources stop reading, the final checkpoint is written as the savepoint", zap.String("savepoint", req.name))
			} else {
				log.Info("stopping: sources stop reading, taking a final checkpoint")
			}
			dctx, cancel := context.WithTimeout(ctx, cfg.Checkpoint.Timeout)
			dir, err := j.DrainSavepoint(dctx, req.name)
			cancel()
			if err != nil && asked && ctx.Err() == nil {
				log.Warn("stop with savepoint failed: the job restarts from its newest complete checkpoint and keeps running", zap.Error(err))
				req.reply <- stopResult{err: fmt.Errorf("%w; the job restarts from its newest complete checkpoint and keeps running", err)}
				continue
			}
			if asked {
				req.reply <- stopResult{dir: dir, err: err}
			}
			if err != nil {
				return fmt.Errorf("clean stop: %w", err)
			}
			break
		}
		dctx, cancel := context.WithTimeout(ctx, cfg.Checkpoint.Timeout)
		defer cancel()
		// The next instance need not wait for the lease to time out.
		released = true
		if err := lease.Release(dctx); err != nil {
			log.Warn("job lease not released: the next instance waits for it to time out", zap.Error(err))
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
		if hooks.Stopper != nil {
			hooks.Stopper(stopWithSavepoint)
		}
		log.Info("pipeline running",
			zap.Strings("from", sourceNames(cfg)), zap.String("to", strings.Join(cfg.SinkTopics(), ",")),
			zap.String("delivery", cfg.Output.Delivery), zap.Strings("brokers", brokers),
			zap.Duration("checkpoint_interval", cfg.Checkpoint.Interval), zap.String("checkpoint_storage", cfg.Checkpoint.Storage))
		return report(ctx, cfg, base, j, &written, &completed, ms, log)
	})
	return g.Wait()
}

// acquireLeaseRetrying is acquireLease that rides out transient failures
// (checkpoint storage unreachable at start-up) with the restart strategy's
// delays, as the job's own restarts do; a permanent one (refused
// credentials, a missing bucket) ends it.
func acquireLeaseRetrying(ctx context.Context, cfg *config.Config, st storage.Store, log *zap.Logger) (*checkpoint.Lease, error) {
	strategy := restart.New(cfg.Restart, rand.Float64)
	for {
		lease, err := acquireLease(ctx, cfg, st, log)
		if err == nil || ctx.Err() != nil || restart.Classify(err) == restart.Permanent {
			return lease, err
		}
		pause, lerr := strategy.Failed(time.Now(), restart.Attempt{})
		if lerr != nil {
			return nil, fmt.Errorf("%w; last failure: %w", lerr, err)
		}
		log.Warn("cannot take the job's lease in its checkpoint storage: retrying", zap.Error(err), zap.Duration("after", pause))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// acquireLease takes the job's lease in its checkpoint storage, waiting
// while another live instance holds it. A previous holder with this host
// and state directory is known to be dead (this process holds the state
// directory's lock) and is taken over at once.
func acquireLease(ctx context.Context, cfg *config.Config, st storage.Store, log *zap.Logger) (*checkpoint.Lease, error) {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	dir, err := filepath.Abs(cfg.State.Dir)
	if err != nil {
		return nil, fmt.Errorf("state.dir: %w", err)
	}
	var inst [8]byte
	_, _ = crand.Read(inst[:])
	return checkpoint.AcquireLease(ctx, st, checkpoint.LeaseConfig{
		Holder:      checkpoint.Holder{Host: host, PID: os.Getpid(), StateDir: dir, Instance: hex.EncodeToString(inst[:]), Started: time.Now()},
		Timeout:     cfg.Checkpoint.LeaseTimeout,
		Wait:        true,
		Reclaimable: func(h checkpoint.Holder) bool { return h.Host == host && h.StateDir == dir },
		Log:         log.Named("lease"),
	})
}

// Spec builds the job of cfg. A single-chain config: one Kafka source per
// source task, the pipeline's operators and the Kafka sink in each keyed
// task, as before. A job graph: see graphSpec.
func Spec(cfg *config.Config, base []kgo.Opt, st storage.Store, written *atomic.Int64, log *zap.Logger) (job.Spec, error) {
	return specWith(nil, cfg, base, st, written, nil, log)
}

// SpecWith is Spec planning a job graph's operators with the operator
// types of env (plugin.Default() when nil).
func SpecWith(env *plugin.Environment, cfg *config.Config, base []kgo.Opt, st storage.Store, written *atomic.Int64, log *zap.Logger) (job.Spec, error) {
	return specWith(env, cfg, base, st, written, nil, log)
}

// specWith is SpecWith with the sources, sinks and operators recording
// into ms (none when nil).
func specWith(env *plugin.Environment, cfg *config.Config, base []kgo.Opt, st storage.Store, written *atomic.Int64, ms *metrics, log *zap.Logger) (job.Spec, error) {
	if cfg.IsGraph() {
		if env == nil {
			env = plugin.Default()
		}
		return graphSpec(env, cfg, base, st, written, ms, log)
	}
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
			sourceChain = append(sourceChain, operators.OperatorSpec{Name: name, Describe: "type=key_by field=" + field,
				New: func(int) (operators.Operator, error) { return &builtin.KeyBy{Field: field}, nil }})
			continue
		default:
			return job.Spec{}, fmt.Errorf("pipeline.operators[%d].type: unknown %q", i, op.Type)
		}
		chain = append(chain, operators.OperatorSpec{Name: name, Describe: "type=" + op.Type, New: mk})
	}
	exactlyOnce := cfg.Sink.Delivery == config.ExactlyOnce
	chain = append(chain, operators.OperatorSpec{Name: "sink", Describe: "type=kafka", New: func(int) (operators.Operator, error) {
		if exactlyOnce {
			s := sink.NewTransactional(cfg, base, written)
			s.Metrics = ms.sinkMetrics()
			return s, nil
		}
		s := sink.NewKafka(cfg, base, written)
		s.Metrics = ms.sinkMetrics()
		return s, nil
	}})
	var rec job.Recoverer
	var pool *checkpoint.SinkPool
	if exactlyOnce {
		rec = recoverer{cfg: cfg, base: base, log: log.Named("sink")}
		p := sink.ConfiguredPool(cfg)
		pool = &checkpoint.SinkPool{TransactionalIDPrefix: p.Prefix, Tasks: p.Tasks, PoolSize: p.Slots}
	}
	n := cfg.Job.Parallelism
	spec := common(cfg, st, log)
	spec.NewSources = func() ([]operators.Source, error) {
		srcs := make([]operators.Source, n)
		for i := range srcs {
			srcs[i] = source.NewKafka(cfg, base, i, n, log.Named("source"), source.WithMetrics(ms.sourceMetrics()))
		}
		return srcs, nil
	}
	spec.Recovery, spec.SinkPool = rec, pool
	spec.SourceChain, spec.Chain = sourceChain, chain
	return spec, nil
}

// common is the part of a job's spec that does not depend on its form.
func common(cfg *config.Config, st storage.Store, log *zap.Logger) job.Spec {
	return job.Spec{
		Name: cfg.Job.Name, MaxParallelism: cfg.Job.MaxParallelism, Parallelism: cfg.Job.Parallelism,
		Store: st,
		Checkpoint: checkpoint.Config{
			Interval: cfg.Checkpoint.Interval, Timeout: cfg.Checkpoint.Timeout, MinPause: cfg.Checkpoint.MinPause,
			FirstAfter:    cfg.Checkpoint.Interval / 2,
			MaxConcurrent: cfg.Checkpoint.MaxConcurrent, TolerableFailures: cfg.Checkpoint.TolerableFailures,
			Retained: cfg.Checkpoint.Retained, SavepointsRetained: cfg.Savepoints.Retained,
		},
		ExactlyOnce:      cfg.Checkpoint.Mode == config.ExactlyOnce,
		AlignmentTimeout: cfg.Checkpoint.AlignmentTimeout,
		StateDir:         cfg.State.Dir,
		StateMemory:      cfg.StateMemory(),
		Restart:          cfg.Restart,
		Log:              log,
	}
}

// recoverer settles the transactional sink's transactions at a restore.
type recoverer struct {
	cfg  *config.Config
	base []kgo.Opt
	log  *zap.Logger
}

func (r recoverer) Examine(ctx context.Context, pending []operators.Transaction) ([]sink.Examined, error) {
	return sink.Examine(ctx, r.cfg, r.base, pending, r.log)
}

func (r recoverer) Execute(ctx context.Context, plan sink.Plan, examined []sink.Examined, pools []sink.Pool) error {
	return sink.Execute(ctx, r.cfg, r.base, plan, examined, pools, r.log)
}

func sourceNames(cfg *config.Config) []string {
	if !cfg.IsGraph() {
		if cfg.Source.TopicRegex != "" {
			return []string{"regex:" + cfg.Source.TopicRegex}
		}
		return cfg.Source.Topics
	}
	var out []string
	for _, s := range cfg.Sources {
		if s.TopicRegex != "" {
			out = append(out, "regex:"+s.TopicRegex)
		} else {
			out = append(out, s.Topics...)
		}
	}
	return out
}

// report logs throughput, checkpoints and the sum of the sink topic's log
// end offsets (markers included) every ProgressInterval.
func report(ctx context.Context, cfg *config.Config, base []kgo.Opt, j *job.Job, written, completed *atomic.Int64, ms *metrics, log *zap.Logger) error {
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
		ms.updateLag(ctx, func(ctx context.Context, m *source.Metrics) error {
			lctx, cancel := context.WithTimeout(ctx, ProgressInterval)
			defer cancel()
			return m.UpdateEndOffsets(lctx, adm)
		}, log)
		out := written.Load()
		fields := []zap.Field{
			zap.Int64("records_out", out),
			zap.Float64("out_per_s", float64(out-last)/ProgressInterval.Seconds()),
			zap.Int64("checkpoints_completed", completed.Load()),
			zap.Int64("dead_letters", j.DeadLetters()),
		}
		lctx, cancel := context.WithTimeout(ctx, ProgressInterval)
		sinkTopics := cfg.SinkTopics()
		ends, err := adm.ListEndOffsets(lctx, sinkTopics...)
		cancel()
		if err == nil && ends.Error() == nil {
			var total int64
			ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
			// Log end offsets count every record written, committed or
			// not, and a control record (transaction marker) per
			// partition per transaction: they run ahead of the results
			// a read_committed consumer sees. The name says so.
			fields = append(fields, zap.String("sink_topic", strings.Join(sinkTopics, ",")), zap.Int64("sink_log_end_offsets", total))
		}
		log.Info("progress", fields...)
		last = out
	}
}

// EmbeddedDataDir is where the embedded broker of cfg keeps its data.
func EmbeddedDataDir(cfg *config.Config) string {
	return filepath.Join(cfg.State.Dir, "embedded-kafka")
}

// startEmbedded starts the embedded broker of cfg, in a child process if
// opts say how.
func startEmbedded(ctx context.Context, cfg *config.Config, opts Options, log *zap.Logger) (embedded.Running, error) {
	o := embedded.Options{DataDir: EmbeddedDataDir(cfg), Listen: cfg.Kafka.EmbeddedListen, Log: log.Named("embedded-broker")}
	var b embedded.Running
	var err error
	if len(opts.EmbeddedCommand) > 0 {
		b, err = embedded.Spawn(ctx, opts.EmbeddedCommand, o, true)
	} else {
		b, err = embedded.Start(ctx, o)
	}
	if err != nil {
		return nil, fmt.Errorf("kafka.embedded: %w", err)
	}
	log.Info("embedded Kafka broker started: for trying Tidemark out, not for production",
		zap.Strings("addresses", b.Addrs()), zap.String("data_dir", o.DataDir))
	return b, nil
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
	sources := cfg.SourceTopics()
	topics := append(append(cfg.SinkTopics(), cfg.DeadLetterTopic()), sources...)
	if err := embedded.EnsureTopics(ctx, client, int32(cfg.Kafka.Seed.Partitions), topics...); err != nil {
		client.Close()
		return nil, err
	}
	ends, err := kadm.NewClient(client).ListEndOffsets(ctx, sources...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("embedded seed: list end offsets: %w", err)
	}
	var existing int64
	ends.Each(func(o kadm.ListedOffset) { existing += o.Offset })
	s := &embedded.Seeder{Client: client, Topics: sources, Seed: cfg.Kafka.Seed, Log: log.Named("seed"), Start: existing}
	if err := s.Fill(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return s, nil
}
