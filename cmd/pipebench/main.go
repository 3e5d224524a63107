package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/benchfmt"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/logging"
)

// Environment variables of the test services, as `integration/services.sh
// env` prints them.
const (
	envBrokers     = "TIDEMARK_KAFKA_BROKERS"
	envRunDir      = "TIDEMARK_RUN_DIR"
	envS3Endpoint  = "TIDEMARK_S3_ENDPOINT"
	envS3Region    = "TIDEMARK_S3_REGION"
	envS3AccessKey = "TIDEMARK_S3_ACCESS_KEY"
	envS3SecretKey = "TIDEMARK_S3_SECRET_KEY"
	envS3Bucket    = "TIDEMARK_S3_BUCKET"
)

type options struct {
	brokers        []string
	records        int64
	valueSize      int
	keys           int
	partitions     int
	parallelism    int
	interval       time.Duration
	rounds         int
	variants       []variant
	pipes          int
	linger         time.Duration
	latShare       float64
	latOwn         bool
	latRate        float64
	latDuration    time.Duration
	latWarmup      time.Duration
	timeout        time.Duration
	storage        string // "file" or "s3"
	dir            string
	keep           bool
	cpuprofile     string
	trace          bool
	profile        []string
	markdown       bool
	verbose        bool
	seed           uint64
	brokerPID      int
	skipLatency    bool
	skipThroughput bool
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pipebench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o options
	var brokers, variants, profile string
	fs := flag.NewFlagSet("pipebench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: pipebench [flags]\n\nMeasures Tidemark's throughput and end-to-end latency on a real Kafka broker\nagainst a raw franz-go consume→produce pipe, in one run.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&brokers, "brokers", "", "Kafka seed brokers, comma-separated (default $"+envBrokers+")")
	fs.Int64Var(&o.records, "records", 10_000_000, "records pre-produced and piped per throughput run")
	fs.IntVar(&o.valueSize, "value", 100, "value size in bytes (a JSON event padded with random letters; at least 64)")
	fs.IntVar(&o.keys, "keys", 10_000, "distinct keys, uniformly random")
	fs.IntVar(&o.partitions, "partitions", 4, "partitions of the input and output topics")
	fs.IntVar(&o.parallelism, "parallelism", 2, "Tidemark job.parallelism (source and keyed tasks)")
	fs.DurationVar(&o.interval, "interval", time.Second, "Tidemark checkpoint.interval")
	fs.IntVar(&o.rounds, "rounds", 3, "throughput rounds; each runs every variant once, interleaved")
	fs.StringVar(&variants, "variants", "a,b,c,d", "variants to run, comma-separated: a baseline, b passthrough exactly once, c count exactly once, d count at least once; also e passthrough at least once, f franz-go pipe in transactions committed every -interval")
	fs.IntVar(&o.pipes, "baseline-pipes", 0, "consume→produce pipes of the baseline (0: -parallelism)")
	fs.DurationVar(&o.linger, "baseline-linger", 0, "producer linger of the baseline (Tidemark's sinks use 0; the client's default is 10ms)")
	fs.Float64Var(&o.latShare, "latency-share", 0.2, "latency runs' input rate as a share of (a)'s median throughput, at most half the slowest variant's")
	fs.BoolVar(&o.latOwn, "latency-own", false, "run each variant's latency run at -latency-share of its own median throughput (0.5: half of its maximum) instead of one rate for all")
	fs.Float64Var(&o.latRate, "latency-rate", 0, "latency runs' input rate in records/s (overrides -latency-share)")
	fs.DurationVar(&o.latDuration, "latency-duration", 20*time.Second, "how long each latency run produces")
	fs.DurationVar(&o.latWarmup, "latency-warmup", 3*time.Second, "records produced in the first part of a latency run are left out")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound on each run")
	fs.StringVar(&o.storage, "storage", "file", "Tidemark checkpoint storage: file (a temporary directory) or s3 (needs the "+envS3Endpoint+" etc. variables)")
	fs.StringVar(&o.dir, "dir", "", "directory for state and file:// checkpoints (default: a new temporary directory, removed afterwards)")
	fs.BoolVar(&o.keep, "keep", false, "keep topics, state and checkpoints")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the first throughput run of each variant in -profile to this file (FILE-<variant>.ext when several)")
	fs.BoolVar(&o.trace, "trace", false, "with -cpuprofile, also write an execution trace of the same runs to <profile>.trace (go tool trace -pprof=sync|net|sched)")
	fs.StringVar(&profile, "profile", "b", "variants -cpuprofile profiles, comma-separated")
	fs.BoolVar(&o.markdown, "markdown", false, "print the tables as Markdown")
	fs.BoolVar(&o.verbose, "v", false, "log Tidemark at info level (default warn)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated keys and values")
	fs.IntVar(&o.brokerPID, "broker-pid", 0, "pid of the broker, to report its CPU time (0: from $"+envRunDir+"/kafka/kafka.pid if there; -1: don't)")
	fs.BoolVar(&o.skipLatency, "no-latency", false, "skip the latency runs")
	fs.BoolVar(&o.skipThroughput, "no-throughput", false, "skip the throughput runs (needs -latency-rate)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if brokers == "" {
		brokers = os.Getenv(envBrokers)
	}
	for b := range strings.SplitSeq(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.brokers = append(o.brokers, b)
		}
	}
	if len(o.brokers) == 0 {
		return fmt.Errorf("no broker: set -brokers or %s (bash integration/services.sh start kafka; eval \"$(bash integration/services.sh env kafka)\"), or run make bench-pipeline", envBrokers)
	}
	for name := range strings.SplitSeq(variants, ",") {
		v, ok := variantByName(strings.TrimSpace(name))
		if !ok {
			return fmt.Errorf("-variants: unknown variant %q (want a, b, c, d, e or f)", name)
		}
		if slices.ContainsFunc(o.variants, func(w variant) bool { return w.name == v.name }) {
			return fmt.Errorf("-variants: %s given twice", v.name)
		}
		o.variants = append(o.variants, v)
	}
	for name := range strings.SplitSeq(profile, ",") {
		if name = strings.TrimSpace(name); name != "" {
			o.profile = append(o.profile, name)
		}
	}
	if o.pipes == 0 {
		o.pipes = o.parallelism
	}
	switch {
	case o.records < 1:
		return errors.New("-records: at least 1")
	case o.valueSize < minValueSize:
		return fmt.Errorf("-value: at least %d bytes", minValueSize)
	case o.keys < 1 || o.keys > 1_000_000:
		return errors.New("-keys: 1 to 1000000")
	case o.partitions < 1:
		return errors.New("-partitions: at least 1")
	case o.parallelism < 1 || o.parallelism > 128:
		return errors.New("-parallelism: 1 to 128")
	case o.pipes < 1 || o.pipes > o.partitions:
		return errors.New("-baseline-pipes: 1 to -partitions")
	case o.interval < 10*time.Millisecond:
		return errors.New("-interval: at least 10ms")
	case o.rounds < 1:
		return errors.New("-rounds: at least 1")
	case o.latShare <= 0 || o.latShare > 1:
		return errors.New("-latency-share: a share in (0, 1]")
	case o.latRate < 0:
		return errors.New("-latency-rate: not negative")
	case o.latWarmup < 0 || o.latWarmup >= o.latDuration:
		return errors.New("-latency-warmup: at least 0 and shorter than -latency-duration")
	case o.storage != "file" && o.storage != "s3":
		return fmt.Errorf("-storage: file or s3, got %q", o.storage)
	case o.skipThroughput && o.latRate == 0 && !o.skipLatency:
		return errors.New("-no-throughput needs -latency-rate")
	}
	if !o.skipLatency && o.latRate == 0 && !slices.ContainsFunc(o.variants, func(v variant) bool { return v.name == "a" }) {
		return errors.New("without variant a, give -latency-rate")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if o.dir == "" {
		dir, err := os.MkdirTemp("", "pipebench-")
		if err != nil {
			return err
		}
		o.dir = dir
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	}
	level := "warn"
	if o.verbose {
		level = "info"
	}
	log, err := logging.New(config.Log{Level: level, Format: "console"}, os.Stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	runID := time.Now().UTC().Format("150405") + "-" + hex.EncodeToString(rnd[:])
	env := &env{o: o, runID: runID, log: log, cpu: newCPUMeter(o.brokerPID)}
	if o.storage == "s3" {
		if err := env.setupS3(); err != nil {
			return err
		}
	} else {
		env.storageRoot = "file://" + filepath.Join(o.dir, "checkpoints")
	}
	adm, err := newAdmin(o.brokers)
	if err != nil {
		return err
	}
	defer adm.close()
	env.adm = adm
	defer env.cleanup(context.WithoutCancel(ctx))

	host, _ := os.Hostname()
	fmt.Printf("pipebench: %s, %s/%s, %d CPUs (GOMAXPROCS %d), host %s, load average %s, %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), host, loadAvg(), time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("broker %s (%s); %d records of %d B values (%d keys) over %d partitions; job.parallelism %d, checkpoint.interval %s, checkpoints %s; baseline %d pipe(s)\n",
		strings.Join(o.brokers, ","), adm.describe(ctx), o.records, o.valueSize, o.keys, o.partitions, o.parallelism, o.interval, env.storageRoot, o.pipes)
	if env.cpu.brokerPID > 0 {
		fmt.Printf("broker pid %d: its CPU time is reported\n", env.cpu.brokerPID)
	}

	start := time.Now()
	var tput []runResult
	if !o.skipThroughput {
		in := env.topic("in")
		progress("producing %d records into %s ...", o.records, in)
		took, err := env.fill(ctx, in)
		if err != nil {
			return fmt.Errorf("pre-produce: %w", err)
		}
		progress("produced in %s (%.0f records/s)", benchfmt.Dur(took), float64(o.records)/took.Seconds())
		profiled := map[string]bool{}
		for round := 1; round <= o.rounds; round++ {
			for _, v := range o.variants {
				prof := ""
				if o.cpuprofile != "" && slices.Contains(o.profile, v.name) && !profiled[v.name] {
					profiled[v.name] = true
					prof = profilePath(o.cpuprofile, v.name, len(o.profile) > 1)
				}
				r, err := env.throughput(ctx, v, in, round, prof)
				if err != nil {
					return fmt.Errorf("throughput %s, round %d: %w", v.name, round, err)
				}
				progress("round %d %s: %s records/s (visible after %s, start-up %s, %d checkpoints)",
					round, v.name, benchfmt.Rate(r.rate()), benchfmt.Dur(r.visible), benchfmt.Dur(r.startup), r.checkpoints)
				tput = append(tput, r)
			}
		}
		if !o.keep {
			env.deleteTopics(ctx, in)
		}
	}

	var lats []latencyResult
	var rate float64
	var rateNote string
	if !o.skipLatency {
		rate = o.latRate
		if rate == 0 {
			rate = o.latShare * benchfmt.Median(rates(tput, "a"))
			// Moderate for every variant: at most half the slowest one's
			// median throughput, so that latency is not queueing.
			for _, v := range o.variants {
				if m := benchfmt.Median(rates(tput, v.name)); m > 0 && rate > m/2 {
					rate = m / 2
					rateNote = fmt.Sprintf("%.2g × (a)'s median throughput, capped at half of %s's", o.latShare, v.name)
				}
			}
			if rateNote == "" {
				rateNote = fmt.Sprintf("%.2g × (a)'s median throughput", o.latShare)
			}
		}
		if o.latOwn && o.latRate == 0 {
			rateNote = fmt.Sprintf("%.2g × each variant's own median throughput (the rate column)", o.latShare)
		}
		for _, v := range o.variants {
			rate := rate
			if o.latOwn && o.latRate == 0 {
				rate = o.latShare * benchfmt.Median(rates(tput, v.name))
			}
			r, err := env.latency(ctx, v, rate)
			if err != nil {
				return fmt.Errorf("latency %s: %w", v.name, err)
			}
			progress("latency %s: p50 %s, p99 %s over %d records", v.name, benchfmt.Dur(r.pct(50)), benchfmt.Dur(r.pct(99)), len(r.lat))
			lats = append(lats, r)
		}
	}
	report(os.Stdout, o, tput, lats, rate, rateNote, env.cpu.brokerPID > 0)
	fmt.Printf("\ntotal run time %s, load average at the end %s\n", time.Since(start).Round(time.Second), loadAvg())
	return nil
}

// profilePath is path, or path with "-<variant>" before its extension when
// several variants are profiled.
func profilePath(path, variant string, several bool) string {
	if !several {
		return path
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + variant + ext
}

// tracePath is where the execution trace that goes with CPU profile path
// is written.
func tracePath(path string) string { return path + ".trace" }

// startProfile starts a CPU profile into path and, with withTrace, an
// execution trace into tracePath(path); the function it returns stops
// them.
func startProfile(path string, withTrace bool) (func() error, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var tf *os.File
	if withTrace {
		if tf, err = os.Create(tracePath(path)); err == nil {
			err = trace.Start(tf)
		}
		if err != nil {
			pprof.StopCPUProfile()
			f.Close()
			if tf != nil {
				tf.Close()
			}
			return nil, err
		}
	}
	return func() error {
		pprof.StopCPUProfile()
		err := f.Close()
		if tf != nil {
			trace.Stop()
			err = errors.Join(err, tf.Close())
		}
		return err
	}, nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05")+" "+format+"\n", args...)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// env is what every run of one invocation shares.
type env struct {
	o           options
	runID       string
	log         *zap.Logger
	adm         *admin
	cpu         *cpuMeter
	storageRoot string
	s3          config.S3
	topics      []string // created, to delete at the end
}

func (e *env) topic(name string) string {
	return "pipebench-" + e.runID + "-" + name
}

// setupS3 points checkpoint storage at the test S3 server.
func (e *env) setupS3() error {
	get := func(k string) (string, error) {
		v := strings.TrimSpace(os.Getenv(k))
		if v == "" {
			return "", fmt.Errorf("-storage s3: %s is not set (eval \"$(bash integration/services.sh env)\")", k)
		}
		return v, nil
	}
	var vals [4]string
	for i, k := range []string{envS3Endpoint, envS3AccessKey, envS3SecretKey, envS3Bucket} {
		v, err := get(k)
		if err != nil {
			return err
		}
		vals[i] = v
	}
	// The S3 client takes credentials from the AWS default chain, of which
	// the environment comes first.
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": vals[1], "AWS_SECRET_ACCESS_KEY": vals[2]} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	if err := os.Unsetenv("AWS_SESSION_TOKEN"); err != nil {
		return err
	}
	region := strings.TrimSpace(os.Getenv(envS3Region))
	if region == "" {
		region = "us-east-1"
	}
	e.s3 = config.S3{Endpoint: vals[0], Region: region, PathStyle: true}
	e.storageRoot = "s3://" + vals[3] + "/pipebench-" + e.runID
	return nil
}

// cleanup deletes the topics the run created, unless -keep.
func (e *env) cleanup(ctx context.Context) {
	if e.o.keep || len(e.topics) == 0 {
		return
	}
	e.deleteTopics(ctx, e.topics...)
}
