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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/internal/kafkabench"
)

// Environment variables of the test services, as `integration/services.sh
// env` prints them.
const (
	envBrokers = "TIDEMARK_KAFKA_BROKERS"
	envRunDir  = "TIDEMARK_RUN_DIR"
)

type options struct {
	brokers      []string
	records      int64
	valueSize    int
	keys         int
	partitions   int
	parallelism  int
	interval     time.Duration
	rounds       int
	systems      []string
	processor    string
	peersDir     string
	java         string
	latShare     float64
	latRate      float64
	latDuration  time.Duration
	latWarmup    time.Duration
	recBytes     int64
	recKeySize   int
	recProbes    int
	timeout      time.Duration
	recTimeout   time.Duration
	dir          string
	keep         bool
	charts       string
	markdown     bool
	seed         uint64
	skipLatency  bool
	skipRecovery bool
	profile      string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "rawpipe" {
		if err := rawPipeMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "peerbench rawpipe:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(1)
	}
}

// allSystems are the systems in the order they run.
var allSystems = []string{"raw", "tidemark", "flink", "kstreams"}

func parseFlags(args []string) (options, error) {
	var o options
	var brokers, systems, recBytes string
	fs := flag.NewFlagSet("peerbench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: peerbench [flags]\n\nMeasures Tidemark, a raw franz-go pipe, Apache Flink and Kafka Streams on one\nKafka broker, each as its own process, on the same keyed count, exactly once.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&brokers, "brokers", "", "Kafka seed brokers, comma-separated (default $"+envBrokers+")")
	fs.Int64Var(&o.records, "records", 2_000_000, "records of the throughput input")
	fs.IntVar(&o.valueSize, "value", 100, "value size in bytes (at least 64)")
	fs.IntVar(&o.keys, "keys", 10_000, "distinct keys of the throughput and latency inputs, uniformly random")
	fs.IntVar(&o.partitions, "partitions", 4, "partitions of every input and output topic")
	fs.IntVar(&o.parallelism, "parallelism", 2, "parallelism of every system: raw pipes, Tidemark job.parallelism, Flink parallelism, Kafka Streams threads")
	fs.DurationVar(&o.interval, "interval", time.Second, "checkpoint or transaction commit interval of every system")
	fs.IntVar(&o.rounds, "rounds", 2, "throughput rounds; each runs every system once, interleaved")
	fs.StringVar(&systems, "systems", strings.Join(allSystems, ","), "systems to run, comma-separated: "+strings.Join(allSystems, ", "))
	fs.StringVar(&o.processor, "processor", "", "Tidemark's processor binary (default: go build ./cmd/processor into the work directory)")
	fs.StringVar(&o.peersDir, "peers", "bench/peers", "the Maven project of Flink and Kafka Streams, built (mvn package)")
	fs.StringVar(&o.java, "java", "java", "the java command")
	fs.Float64Var(&o.latShare, "latency-share", 0.5, "latency runs' input rate as a share of the slowest system's median throughput")
	fs.Float64Var(&o.latRate, "latency-rate", 0, "latency runs' input rate in records/s (overrides -latency-share)")
	fs.DurationVar(&o.latDuration, "latency-duration", 15*time.Second, "how long each latency run produces")
	fs.DurationVar(&o.latWarmup, "latency-warmup", 5*time.Second, "records produced in the first part of a latency run are left out")
	fs.StringVar(&recBytes, "recovery-state", "1GiB", "keyed state of the recovery runs (keys × key size), e.g. 1GiB, 64MiB")
	fs.IntVar(&o.recKeySize, "recovery-key-size", 1000, "key size of the recovery input in bytes (the count state holds the keys)")
	fs.IntVar(&o.recProbes, "recovery-probes", 1000, "records of existing keys produced at the kill, whose outputs mark the recovery")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound on each throughput or latency run")
	fs.DurationVar(&o.recTimeout, "recovery-timeout", 15*time.Minute, "bound on each recovery run")
	fs.StringVar(&o.dir, "dir", "", "work directory for the systems' state, checkpoints and logs (default: a new temporary directory, removed afterwards unless -keep)")
	fs.BoolVar(&o.keep, "keep", false, "keep topics and the work directory")
	fs.StringVar(&o.charts, "charts", "", "write PNG charts into this directory (peers-*.png)")
	fs.BoolVar(&o.markdown, "markdown", false, "print the tables as Markdown")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated keys and values")
	fs.BoolVar(&o.skipLatency, "no-latency", false, "skip the latency runs")
	fs.BoolVar(&o.skipRecovery, "no-recovery", false, "skip the recovery runs")
	fs.StringVar(&o.profile, "profile", "", "write Tidemark's CPU and peak heap profiles of each throughput run into this directory (processor run --cpuprofile DIR/tidemark-<run>.pprof --memprofile DIR/tidemark-<run>-heap.pprof; the processor then stops with SIGTERM, not SIGKILL)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
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
		return o, fmt.Errorf("no broker: set -brokers or %s (bash integration/services.sh start kafka; eval \"$(bash integration/services.sh env kafka)\"), or run make bench-peers", envBrokers)
	}
	for s := range strings.SplitSeq(systems, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allSystems, s) {
			return o, fmt.Errorf("-systems: unknown system %q (want %s)", s, strings.Join(allSystems, ", "))
		}
		if slices.Contains(o.systems, s) {
			return o, fmt.Errorf("-systems: %s given twice", s)
		}
		o.systems = append(o.systems, s)
	}
	var err error
	if o.recBytes, err = parseBytes(recBytes); err != nil {
		return o, fmt.Errorf("-recovery-state: %w", err)
	}
	switch {
	case o.records < 1:
		return o, errors.New("-records: at least 1")
	case o.valueSize < kafkabench.MinValueSize:
		return o, fmt.Errorf("-value: at least %d bytes", kafkabench.MinValueSize)
	case o.keys < 1 || o.keys > 1_000_000:
		return o, errors.New("-keys: 1 to 1000000")
	case o.partitions < 1:
		return o, errors.New("-partitions: at least 1")
	case o.parallelism < 1 || o.parallelism > o.partitions:
		return o, errors.New("-parallelism: 1 to -partitions")
	case o.interval < 10*time.Millisecond:
		return o, errors.New("-interval: at least 10ms")
	case o.rounds < 1:
		return o, errors.New("-rounds: at least 1")
	case o.latShare <= 0 || o.latShare > 1:
		return o, errors.New("-latency-share: a share in (0, 1]")
	case o.latRate < 0:
		return o, errors.New("-latency-rate: not negative")
	case o.latWarmup < 0 || o.latWarmup >= o.latDuration:
		return o, errors.New("-latency-warmup: at least 0 and shorter than -latency-duration")
	case o.recKeySize < 16 || o.recKeySize > 100_000:
		return o, errors.New("-recovery-key-size: 16 to 100000 bytes")
	case o.recBytes < int64(o.recKeySize):
		return o, errors.New("-recovery-state: at least one key")
	case o.recProbes < 1:
		return o, errors.New("-recovery-probes: at least 1")
	}
	return o, nil
}

// parseBytes reads a size such as 1GiB, 64MiB, 500MB or 1000000.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 1GiB, 64MiB)", s)
	}
	return int64(f * float64(mult)), nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if o.dir == "" {
		dir, err := os.MkdirTemp("", "peerbench-")
		if err != nil {
			return err
		}
		o.dir = dir
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	}
	if o.dir, err = filepath.Abs(o.dir); err != nil {
		return err
	}
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	e := &env{o: o, runID: time.Now().UTC().Format("150405") + "-" + hex.EncodeToString(rnd[:])}
	if err := e.setupSystems(ctx); err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(o.brokers...), kgo.ClientID("peerbench"))
	if err != nil {
		return err
	}
	defer cl.Close()
	e.adm = kadm.NewClient(cl)
	e.brokerPID = brokerPID()
	defer e.cleanup(context.WithoutCancel(ctx))

	host, _ := os.Hostname()
	fmt.Printf("peerbench: %s, %s/%s, %d CPUs, host %s, load average %s, %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), host, loadAvg(), time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("broker %s (%s); systems %s; %d records of %d B values (%d keys) over %d partitions; parallelism %d, interval %s\n",
		strings.Join(o.brokers, ","), e.describeBroker(ctx), strings.Join(o.systems, ","), o.records, o.valueSize, o.keys, o.partitions, o.parallelism, o.interval)
	for _, s := range o.systems {
		fmt.Printf("  %-8s %s\n", s, e.sys[s].describe)
	}
	start := time.Now()
	res := &results{o: o}
	if err := e.measure(ctx, res); err != nil {
		if len(res.tput)+len(res.lats)+len(res.recs) > 0 {
			fmt.Println("\npeerbench failed; the runs completed before (each output checked):")
			res.report(os.Stdout, e)
			if o.charts != "" {
				if files, cerr := res.charts(o.charts); cerr == nil {
					fmt.Printf("\ncharts: %s\n", strings.Join(files, ", "))
				}
			}
		}
		return err
	}
	fmt.Println()
	fmt.Println("Every run's committed output was checked: for every key, the counts 1..n exactly once each.")
	res.report(os.Stdout, e)
	if o.charts != "" {
		files, err := res.charts(o.charts)
		if err != nil {
			return fmt.Errorf("charts: %w", err)
		}
		fmt.Printf("\ncharts: %s\n", strings.Join(files, ", "))
	}
	fmt.Printf("\ntotal run time %s, load average at the end %s\n", time.Since(start).Round(time.Second), loadAvg())
	return nil
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

// brokerPID is the pid of the broker `integration/services.sh` started in
// $TIDEMARK_RUN_DIR, or 0.
func brokerPID() int {
	dir := os.Getenv(envRunDir)
	if dir == "" {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(dir, "kafka", "kafka.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if _, err := kafkabench.ProcCPU(pid); err != nil {
		return 0
	}
	return pid
}

// measure runs every phase, appending each run's figures to res once its
// output is checked.
func (e *env) measure(ctx context.Context, res *results) error {
	o := e.o

	in := e.topic("in")
	progress("producing %d records into %s ...", o.records, in)
	expected, took, err := e.fillRandom(ctx, in)
	if err != nil {
		return fmt.Errorf("produce the input: %w", err)
	}
	progress("produced in %s (%s records/s)", fmtDur(took), fmtRate(float64(o.records)/took.Seconds()))
	for round := 1; round <= o.rounds; round++ {
		for _, s := range o.systems {
			r, err := e.throughput(ctx, e.sys[s], in, expected, round)
			if err != nil {
				return fmt.Errorf("throughput %s, round %d: %w", s, round, err)
			}
			progress("round %d %s: %s records/s, %s CPU/record, peak RSS %s, start-up %s, first output %s (output checked)",
				round, s, fmtRate(r.rate()), fmtNs(r.cpuPerRecord()), fmtBytes(r.peakRSS), fmtDur(r.startup), fmtDur(r.firstOutput))
			res.tput = append(res.tput, r)
		}
	}
	e.deleteTopics(ctx, in)

	if !o.skipLatency {
		res.latRate = o.latRate
		if res.latRate == 0 {
			slowest := 0.0
			for _, s := range o.systems {
				if m := median(res.rates(s)); slowest == 0 || m < slowest {
					slowest = m
				}
			}
			res.latRate = o.latShare * slowest
		}
		for _, s := range o.systems {
			r, err := e.latency(ctx, e.sys[s], res.latRate)
			if err != nil {
				return fmt.Errorf("latency %s: %w", s, err)
			}
			progress("latency %s: p50 %s, p99 %s over %d records (output checked)", s, fmtDur(r.pct(50)), fmtDur(r.pct(99)), len(r.lat))
			res.lats = append(res.lats, r)
		}
	}

	if !o.skipRecovery {
		rin := e.topic("rec-in")
		keys := int(o.recBytes / int64(o.recKeySize))
		progress("producing the recovery input: %d keys of %d B (%s of keys) into %s ...", keys, o.recKeySize, fmtBytes(o.recBytes), rin)
		took, err := e.fillKeys(ctx, rin, keys)
		if err != nil {
			return fmt.Errorf("produce the recovery input: %w", err)
		}
		progress("produced in %s", fmtDur(took))
		for i, s := range o.systems {
			r, err := e.recovery(ctx, e.sys[s], rin, keys, i)
			if err != nil {
				return fmt.Errorf("recovery %s: %w", s, err)
			}
			progress("recovery %s: first new output %s after the kill (restarted and ready after %s; state %s) (output checked)",
				s, fmtDur(r.firstOutput), fmtDur(r.ready), fmtBytes(r.stateBytes))
			res.recs = append(res.recs, r)
		}
		e.deleteTopics(ctx, rin)
	}

	return nil
}
